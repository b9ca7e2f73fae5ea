//! Calibrated pruning of a whole model, block by block, as the official SparseGPT
//! (`opt.py` `opt_sequential`) and Wanda (`lib/prune.py` `prune_wanda`) loops run it:
//!
//! 1. every calibration batch is embedded (the hidden state entering block 0);
//! 2. for each block, the still-dense block runs on every batch while the inputs of each of its
//!    linear layers are gathered into that layer's [`InputHessian`] (`XᵀX`);
//! 3. each linear layer of the block is pruned ([`SequentialMethod`]);
//! 4. the pruned block runs on every batch again, and its outputs are the next block's inputs.
//!
//! With [`SequentialMethod::SparseLlm`], step 3 prunes each feed-forward pair the model names
//! jointly ([`sparsellm_feed_forward`](super::sparsellm_feed_forward), from the pair's inputs
//! kept in step 2) and every other layer by SparseGPT.
//!
//! Blocks therefore see what the already-pruned blocks before them produce, while inside a
//! block every statistic comes from the dense block. Only one block's hidden states (one
//! `[batch, tokens, width]` tensor per calibration batch) and one block's Hessians are held.

use std::collections::BTreeMap;

use burn::nn::Linear;
use burn::tensor::Tensor;
use tempering_core::compression::SequentialBlocks;

use super::linear_rows::{edit_rows, weight_rows};
use super::wanda::{LayerSparsity, magnitude, wanda};
use super::{InputHessian, SparseGptConfig, SparseLlmConfig, sparsegpt, sparsellm_feed_forward};
use crate::PruneError;

/// How each linear layer is pruned.
#[derive(Clone, Debug, PartialEq)]
pub enum SequentialMethod {
    /// Per-layer magnitude threshold (the papers' baseline; needs no calibration data).
    Magnitude,
    /// Wanda: `|W_ij|·‖X_j‖`, each output row its own group.
    Wanda,
    /// SparseGPT with this column block size and dampening (the official 128 and 0.01).
    SparseGpt {
        /// Columns per lazy-update block.
        block_size: usize,
        /// Dampening as a fraction of the mean diagonal of `H`.
        dampening: f64,
    },
    /// SparseLLM on every feed-forward pair the model names
    /// ([`SequentialBlocks::block_feed_forwards`]), SparseGPT with the same block size and
    /// dampening on every other layer, as the official code does.
    SparseLlm(SparseLlmConfig),
}

impl SequentialMethod {
    /// SparseGPT with the official defaults.
    pub fn sparsegpt() -> Self {
        Self::SparseGpt {
            block_size: 128,
            dampening: 0.01,
        }
    }

    /// The method's name as the command line spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Magnitude => "magnitude",
            Self::Wanda => "wanda",
            Self::SparseGpt { .. } => "sparsegpt",
            Self::SparseLlm(_) => "sparsellm",
        }
    }

    /// SparseGPT's column block size and dampening, for the methods that prune by SparseGPT
    /// (SparseLLM does so on every layer outside its feed-forward pairs).
    fn sparsegpt_settings(&self) -> Option<(usize, f64)> {
        match self {
            Self::SparseGpt {
                block_size,
                dampening,
            } => Some((*block_size, *dampening)),
            Self::SparseLlm(config) => Some((config.block_size, config.dampening)),
            Self::Magnitude | Self::Wanda => None,
        }
    }
}

/// What happened to one linear layer.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayerOutcome {
    /// The layer's name (its weight's module path less `.weight`).
    pub name: String,
    /// `[d_in, d_out]`.
    pub shape: [usize; 2],
    /// Zero weights after pruning.
    pub zeros: usize,
    /// `‖WX − ŴX‖² / ‖WX‖²` on the calibration inputs this layer received (see
    /// [`InputHessian::relative_output_error`]); `None` without calibration data.
    pub relative_error: Option<f64>,
    /// SparseLLM, on the first layer of each feed-forward pair: the pair's
    /// `‖Ŷ − Y‖²/‖Y‖²` after each round ([`SparseLlmReport::output_errors`](super::SparseLlmReport)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pair_output_errors: Option<Vec<f64>>,
}

/// Where a sequential prune is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockProgress {
    /// Blocks finished.
    pub done: usize,
    /// Blocks in the model.
    pub total: usize,
}

/// Prunes every linear layer of every block of `model` by `method` to `pattern`, with the
/// calibration `batches` run through the blocks in sequence (see the module docs). Every
/// layer's shape is checked against the pattern before anything changes; `progress` hears of
/// each finished block.
pub fn prune_sequentially<M: SequentialBlocks>(
    model: &mut M,
    batches: Vec<M::Input>,
    method: &SequentialMethod,
    pattern: LayerSparsity,
    progress: &mut dyn FnMut(BlockProgress),
) -> Result<Vec<LayerOutcome>, PruneError> {
    let per_block = vec![pattern; model.block_count()];
    prune_blocks_sequentially(model, batches, method, &per_block, progress)
}

/// [`prune_sequentially`] with a pattern of its own for each block (`per_block[b]` for block
/// `b`), as ECoFLaP's allocation gives ([`ecoflap_block_sparsities`](super::ecoflap_block_sparsities)).
pub fn prune_blocks_sequentially<M: SequentialBlocks>(
    model: &mut M,
    batches: Vec<M::Input>,
    method: &SequentialMethod,
    per_block: &[LayerSparsity],
    progress: &mut dyn FnMut(BlockProgress),
) -> Result<Vec<LayerOutcome>, PruneError> {
    let blocks = model.block_count();
    if per_block.len() != blocks {
        return Err(PruneError::bad(
            "sparsity",
            format!("{} block patterns for {blocks} blocks", per_block.len()),
        ));
    }
    for (b, &pattern) in per_block.iter().enumerate() {
        for (name, linear) in model.block_linears_mut(b) {
            let [d_in, _] = linear.weight.dims();
            pattern.check(d_in).map_err(|e| match e {
                PruneError::BadConfig { field, reason } => PruneError::BadConfig {
                    field,
                    reason: format!("{reason} ('{name}')"),
                },
                other => other,
            })?;
            if let Some((block_size, _)) = method.sparsegpt_settings()
                && let LayerSparsity::NOfM { m, .. } = pattern
                && !block_size.is_multiple_of(m)
            {
                return Err(PruneError::bad(
                    "--nm",
                    format!("M = {m} does not divide SparseGPT's block size {block_size}"),
                ));
            }
        }
    }
    let calibrated = !batches.is_empty();
    if !calibrated && *method != SequentialMethod::Magnitude {
        return Err(PruneError::bad(
            "calibration",
            format!("{} needs calibration data; none was given", method.name()),
        ));
    }
    let mut hidden: Vec<Tensor<3>> = batches.into_iter().map(|x| model.embed(x)).collect();
    let mut outcomes = Vec::new();
    for (b, &pattern) in per_block.iter().enumerate() {
        let mut hessians: BTreeMap<String, InputHessian> = BTreeMap::new();
        let pairs = match method {
            SequentialMethod::SparseLlm(_) => model.block_feed_forwards(b),
            _ => Vec::new(),
        };
        // SparseLLM refits the expand layers from their inputs: those rows are kept.
        let mut pair_inputs: BTreeMap<String, (Vec<Tensor<2>>, usize)> = pairs
            .iter()
            .map(|pair| (pair.expand.clone(), (Vec::new(), 0)))
            .collect();
        let mut failure = None;
        for x in &hidden {
            let sequences = x.dims()[0];
            model.block_forward(b, x.clone(), &mut |name, rows| {
                if failure.is_some() {
                    return;
                }
                if let Some((kept, kept_sequences)) = pair_inputs.get_mut(name) {
                    kept.push(rows.clone());
                    *kept_sequences += sequences;
                }
                let d_in = rows.dims()[1];
                let hessian = hessians
                    .entry(name.to_string())
                    .or_insert_with(|| InputHessian::new(d_in));
                if let Err(e) = hessian.add_tensor(rows, sequences) {
                    failure = Some((name.to_string(), e));
                }
            });
        }
        if let Some((name, e)) = failure {
            return Err(PruneError::bad(
                "calibration",
                format!("the inputs of '{name}': {e}"),
            ));
        }
        let mut linears = model.block_linears_mut(b);
        let order: Vec<String> = linears.iter().map(|(name, _)| name.clone()).collect();
        if let Some(name) = order
            .iter()
            .find(|name| calibrated && !hessians.contains_key(*name))
        {
            return Err(PruneError::bad(
                "calibration",
                format!("block {b} never showed the inputs of '{name}'"),
            ));
        }
        let mut block_outcomes: BTreeMap<String, LayerOutcome> = BTreeMap::new();
        if let SequentialMethod::SparseLlm(config) = method {
            for pair in &pairs {
                let (inputs, sequences) = pair_inputs.remove(&pair.expand).unwrap_or_default();
                let mut take = |name: &str| match linears.iter().position(|(n, _)| n == name) {
                    Some(at) => Ok(linears.swap_remove(at).1),
                    None => Err(PruneError::bad(
                        "feed-forward pair",
                        format!("block {b} has no linear layer '{name}'"),
                    )),
                };
                let (expand, contract) = (take(&pair.expand)?, take(&pair.contract)?);
                let dense = (weight_rows(expand), weight_rows(contract));
                let report = sparsellm_feed_forward(
                    expand,
                    contract,
                    pair.activation,
                    Tensor::cat(inputs, 0),
                    sequences,
                    pattern,
                    config,
                )
                .map_err(|e| PruneError::bad("layer", format!("'{}': {e}", pair.expand)))?;
                for (name, linear, dense, zeros, rounds) in [
                    (
                        &pair.expand,
                        expand,
                        dense.0,
                        report.expand_zeros,
                        Some(report.output_errors.clone()),
                    ),
                    (
                        &pair.contract,
                        contract,
                        dense.1,
                        report.contract_zeros,
                        None,
                    ),
                ] {
                    let relative_error =
                        hessians[name.as_str()].relative_output_error(&dense, &weight_rows(linear));
                    let outcome = LayerOutcome {
                        name: name.clone(),
                        shape: linear.weight.dims(),
                        zeros,
                        relative_error,
                        pair_output_errors: rounds,
                    };
                    block_outcomes.insert(name.clone(), outcome);
                }
            }
        }
        for (name, linear) in linears {
            let hessian = hessians.get(&name);
            let outcome = prune_layer(name.clone(), linear, hessian, method, pattern)?;
            block_outcomes.insert(name, outcome);
        }
        outcomes.extend(order.iter().filter_map(|name| block_outcomes.remove(name)));
        hidden = hidden
            .into_iter()
            .map(|x| model.block_forward(b, x, &mut |_, _| {}))
            .collect();
        progress(BlockProgress {
            done: b + 1,
            total: blocks,
        });
    }
    Ok(outcomes)
}

fn prune_layer(
    name: String,
    linear: &mut Linear,
    hessian: Option<&InputHessian>,
    method: &SequentialMethod,
    pattern: LayerSparsity,
) -> Result<LayerOutcome, PruneError> {
    let shape = linear.weight.dims();
    let named = |e: PruneError| PruneError::bad("layer", format!("'{name}': {e}"));
    let (zeros, relative_error) = edit_rows(linear, |rows, outputs, d_in| {
        // The dense rows, for the error, in the [out, in] order the Hessian's form reads.
        let dense = hessian.map(|_| rows.to_vec());
        let zeros = match (method, hessian) {
            (SequentialMethod::Magnitude, _) => magnitude(rows, outputs, d_in, pattern),
            (SequentialMethod::Wanda, Some(h)) => wanda(rows, outputs, &h.diagonal(), pattern),
            (SequentialMethod::SparseGpt { .. } | SequentialMethod::SparseLlm(_), Some(h)) => {
                let (block_size, dampening) = method
                    .sparsegpt_settings()
                    .expect("both methods prune by SparseGPT");
                let config = SparseGptConfig::for_pattern(pattern, block_size, dampening);
                sparsegpt(rows, outputs, h, &config).map(|r| r.zeros)
            }
            (_, None) => unreachable!("calibrated methods were refused without calibration data"),
        }?;
        let error = hessian
            .zip(dense)
            .and_then(|(h, dense)| h.relative_output_error(&dense, rows));
        Ok((zeros, error))
    })
    .map_err(named)?;
    Ok(LayerOutcome {
        name,
        shape,
        zeros,
        relative_error,
        pair_output_errors: None,
    })
}
