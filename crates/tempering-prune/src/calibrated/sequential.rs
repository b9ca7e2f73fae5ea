//! Calibrated pruning of a whole model, block by block, as the official SparseGPT
//! (`opt.py` `opt_sequential`) and Wanda (`lib/prune.py` `prune_wanda`) loops run it:
//!
//! 1. every calibration batch is embedded (the hidden state entering block 0);
//! 2. for each block, the still-dense block runs on every batch while the inputs of each of its
//!    linear layers are gathered into that layer's [`InputHessian`] (`XᵀX`);
//! 3. each linear layer of the block is pruned ([`SequentialMethod`]);
//! 4. the pruned block runs on every batch again, and its outputs are the next block's inputs.
//!
//! Blocks therefore see what the already-pruned blocks before them produce, while inside a
//! block every statistic comes from the dense block. Only one block's hidden states (one
//! `[batch, tokens, width]` tensor per calibration batch) and one block's Hessians are held.

use std::collections::BTreeMap;

use burn::nn::Linear;
use burn::tensor::Tensor;
use tempering_core::compression::SequentialBlocks;

use super::linear_rows::edit_rows;
use super::wanda::{LayerSparsity, magnitude, wanda};
use super::{InputHessian, SparseGptConfig, sparsegpt};
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
            if let SequentialMethod::SparseGpt { block_size, .. } = method
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
        let mut failure = None;
        for x in &hidden {
            let sequences = x.dims()[0];
            model.block_forward(b, x.clone(), &mut |name, rows| {
                if failure.is_some() {
                    return;
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
        for (name, linear) in model.block_linears_mut(b) {
            let hessian = hessians.get(&name);
            if calibrated && hessian.is_none() {
                return Err(PruneError::bad(
                    "calibration",
                    format!("block {b} never showed the inputs of '{name}'"),
                ));
            }
            outcomes.push(prune_layer(name, linear, hessian, method, pattern)?);
        }
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
            (
                SequentialMethod::SparseGpt {
                    block_size,
                    dampening,
                },
                Some(h),
            ) => {
                let config = SparseGptConfig {
                    sparsity: pattern.fraction(),
                    n_of_m: match pattern {
                        LayerSparsity::NOfM { keep, m } => Some((keep, m)),
                        LayerSparsity::Unstructured(_) => None,
                    },
                    block_size: *block_size,
                    dampening: *dampening,
                };
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
    })
}
