//! Týr-the-Pruner's supernet: for every unit layer of every block, the layer pruned to each
//! sparsity level around its own, from one calibration pass (`Pruner.prune` and
//! `LocalPruner.prune`/`.step`, AMD-AGI/Tyr-the-Pruner @c69d040, `src/pruner.py` and
//! `src/local_pruner.py`). Blocks are visited in order, as SparseGPT's loop does; what the
//! next block sees is the [`Propagation`] choice.

use std::collections::BTreeMap;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Tensor, TensorData};
use tempering_core::compression::linear_units::host_values;
use tempering_core::compression::{SequentialBlocks, UnitKind, UnitLayer};

use super::levels::{kept_units, level_sparsities};
use super::local::{hessian_inverse, least_squares_problem, local_prune_from_inverse};
use crate::PruneError;
use crate::calibrated::InputHessian;

/// What the blocks after a pruned block are calibrated on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    /// The layer's level-0 candidate (the "median version" of the paper's expectation error
    /// accumulation, the update the official code's comment names).
    TargetLevel,
    /// The candidates' mean weighted by their density `1 − s` (the paper's expectation, the
    /// official code's commented-out lines).
    Expectation,
    /// The dense weights: what the released code computes, since `LocalPruner.step` resets
    /// the expected sparsity to 0 before comparing, so only a level at sparsity exactly 0
    /// replaces the layer, and that level is the dense weight.
    Dense,
}

/// One layer at one level.
#[derive(Clone, Debug)]
pub struct TyrCandidate {
    /// The level (0 is the layer's own sparsity).
    pub level: i64,
    /// The fraction of units removed.
    pub sparsity: f64,
    /// The units kept, ascending.
    pub kept: Vec<usize>,
    /// The refit weight in Burn's `[d_in, d_out]` layout, removed units' rows zero.
    pub weight: Tensor<2>,
}

/// Every level of one unit layer.
#[derive(Clone, Debug)]
pub struct SupernetLayer {
    /// The layer, its unit group and kind.
    pub unit: UnitLayer,
    /// Its block.
    pub block: usize,
    /// Units before pruning.
    pub units: usize,
    /// Weights of the layer (`d_in·d_out`).
    pub numel: usize,
    /// The sparsity level 0 stands for.
    pub center: f64,
    /// Weights between neighbouring levels.
    pub step_weights: usize,
    /// Candidates by ascending level, with at least one unit kept.
    pub candidates: Vec<TyrCandidate>,
}

impl SupernetLayer {
    /// The candidate at `level`, if the layer has it.
    pub fn candidate(&self, level: i64) -> Option<&TyrCandidate> {
        let first = self.candidates.first()?.level;
        usize::try_from(level - first)
            .ok()
            .and_then(|i| self.candidates.get(i))
    }
}

/// Settings of the local pruner.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SupernetSettings {
    /// Levels per layer (official 9: four below, four above).
    pub levels: usize,
    /// Removal rounds for channels (official `mlp_update_iter` 16).
    pub channel_rounds: usize,
    /// Removal rounds for heads (official `mha_update_iter` 1).
    pub head_rounds: usize,
    /// `H += dampening·mean(diag H)·I` (official 0.01).
    pub dampening: f64,
    /// What later blocks are calibrated on.
    pub propagation: Propagation,
}

pub(super) fn set_weight(linear: &mut Linear, weight: Tensor<2>) {
    linear.weight = Param::initialized(linear.weight.id, weight);
}

pub(super) fn find_linear<'a, M: SequentialBlocks>(
    model: &'a mut M,
    block: usize,
    name: &str,
) -> Result<&'a mut Linear, PruneError> {
    model
        .block_linears_mut(block)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, linear)| linear)
        .ok_or_else(|| {
            PruneError::bad(
                "unit layers",
                format!("block {block} has no linear layer '{name}'"),
            )
        })
}

/// The candidates of one layer from its inputs' Hessian.
fn layer_candidates(
    linear: &Linear,
    unit: &UnitLayer,
    hessian: &InputHessian,
    center: f64,
    step_weights: usize,
    settings: &SupernetSettings,
) -> Result<(usize, usize, Vec<TyrCandidate>), PruneError> {
    let [d_in, d_out] = linear.weight.dims();
    let device = linear.weight.device();
    let named = |reason: String| PruneError::bad("layer", format!("'{}': {reason}", unit.layer));
    if unit.unit_width == 0 || !d_in.is_multiple_of(unit.unit_width) {
        return Err(named(format!(
            "{d_in} inputs are not units of {}",
            unit.unit_width
        )));
    }
    let units = d_in / unit.unit_width;
    let dense: Vec<f64> = host_values(linear.weight.val())
        .into_iter()
        .map(f64::from)
        .collect();
    let (b, h, g) = least_squares_problem(&dense, hessian.matrix(), d_in, settings.dampening);
    let numel = d_in * d_out;
    let (lowest, sparsities) = level_sparsities(center, step_weights, numel, settings.levels);
    let rounds = match unit.kind {
        UnitKind::AttentionHeads => settings.head_rounds,
        UnitKind::FeedForwardChannels => settings.channel_rounds,
    };
    // Every level starts from the same H⁻¹: computed once, when some level needs it.
    let mut h_inv: Option<Vec<f64>> = None;
    let mut candidates = Vec::new();
    for (i, &sparsity) in sparsities.iter().enumerate() {
        let level = lowest + i as i64;
        let keep = kept_units(units, sparsity);
        // A Burn layer cannot have zero width: levels that remove every unit are left out.
        if sparsity == 1.0 || keep == 0 {
            continue;
        }
        let (weight, kept) = if sparsity == 0.0 {
            (b.clone(), (0..units).collect())
        } else {
            if h_inv.is_none() {
                h_inv = Some(hessian_inverse(&h, d_in).map_err(named)?);
            }
            let h_inv = h_inv.as_deref().expect("computed above");
            let pruned = local_prune_from_inverse(&b, &h, h_inv, &g, d_in, units, keep, rounds)
                .map_err(named)?;
            (pruned.weight, pruned.kept)
        };
        let values: Vec<f32> = weight.iter().map(|&v| v as f32).collect();
        candidates.push(TyrCandidate {
            level,
            sparsity,
            kept,
            weight: Tensor::from_data(TensorData::new(values, [d_in, d_out]), &device),
        });
    }
    if !candidates.iter().any(|c| c.level == 0) {
        return Err(named(format!(
            "its sparsity {center} keeps no unit of {units}; ask for a lower ratio"
        )));
    }
    Ok((units, numel, candidates))
}

/// The weight the next blocks are calibrated on.
fn propagated(candidates: &[TyrCandidate], propagation: Propagation) -> Option<Tensor<2>> {
    match propagation {
        Propagation::Dense => None,
        Propagation::TargetLevel => candidates
            .iter()
            .find(|c| c.level == 0)
            .map(|c| c.weight.clone()),
        Propagation::Expectation => {
            let total: f64 = candidates.iter().map(|c| 1.0 - c.sparsity).sum();
            candidates
                .iter()
                .map(|c| c.weight.clone().mul_scalar((1.0 - c.sparsity) / total))
                .reduce(|a, b| a + b)
        }
    }
}

/// Builds the supernet of `model`: `centers[i]` and `steps[i]` (weights per level) for the
/// `i`-th unit layer in block order ([`SequentialBlocks::block_unit_layers`]). The model's
/// unit layers end as the propagation leaves them.
pub fn build_supernet<M: SequentialBlocks>(
    model: &mut M,
    batches: &[M::Input],
    centers: &[f64],
    steps: &[usize],
    settings: &SupernetSettings,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<SupernetLayer>, PruneError>
where
    M::Input: Clone,
{
    let blocks = model.block_count();
    let mut hidden: Vec<Tensor<3>> = batches.iter().map(|x| model.embed(x.clone())).collect();
    let mut layers = Vec::new();
    for b in 0..blocks {
        let units = model.block_unit_layers(b);
        let mut hessians: BTreeMap<String, InputHessian> = units
            .iter()
            .map(|u| (u.layer.clone(), InputHessian::new(0)))
            .collect();
        let mut failure = None;
        for x in &hidden {
            let sequences = x.dims()[0];
            model.block_forward(b, x.clone(), &mut |name, rows| {
                if let Some(h) = hessians.get_mut(name) {
                    if h.d_in() == 0 {
                        *h = InputHessian::new(rows.dims()[1]);
                    }
                    if let Err(e) = h.add_tensor(rows, sequences)
                        && failure.is_none()
                    {
                        failure = Some(format!("the inputs of '{name}': {e}"));
                    }
                }
            });
        }
        if let Some(reason) = failure {
            return Err(PruneError::bad("calibration", reason));
        }
        for unit in units {
            let at = layers.len();
            let (center, step) = match (centers.get(at), steps.get(at)) {
                (Some(&c), Some(&s)) => (c, s),
                _ => {
                    return Err(PruneError::bad(
                        "sparsity",
                        format!("no sparsity was given for '{}'", unit.layer),
                    ));
                }
            };
            let hessian = &hessians[&unit.layer];
            if hessian.sequences() == 0 {
                return Err(PruneError::bad(
                    "calibration",
                    format!("block {b} never showed the inputs of '{}'", unit.layer),
                ));
            }
            let linear = find_linear(model, b, &unit.layer)?;
            let (count, numel, candidates) =
                layer_candidates(linear, &unit, hessian, center, step, settings)?;
            if let Some(weight) = propagated(&candidates, settings.propagation) {
                set_weight(linear, weight);
            }
            layers.push(SupernetLayer {
                unit,
                block: b,
                units: count,
                numel,
                center,
                step_weights: step,
                candidates,
            });
        }
        hidden = hidden
            .into_iter()
            .map(|x| model.block_forward(b, x, &mut |_, _| {}))
            .collect();
        progress(b + 1, blocks);
    }
    if layers.len() != centers.len() {
        return Err(PruneError::bad(
            "sparsity",
            format!(
                "{} sparsities for {} unit layers",
                centers.len(),
                layers.len()
            ),
        ));
    }
    Ok(layers)
}

/// Sets every supernet layer of `model` to the candidate at its level in `state`.
pub fn load_levels<M: SequentialBlocks>(
    model: &mut M,
    layers: &[SupernetLayer],
    state: &[i64],
) -> Result<(), PruneError> {
    for (layer, &level) in layers.iter().zip(state) {
        let candidate = layer.candidate(level).ok_or_else(|| {
            PruneError::bad(
                "level",
                format!("'{}' has no level {level}", layer.unit.layer),
            )
        })?;
        let linear = find_linear(model, layer.block, &layer.unit.layer)?;
        set_weight(linear, candidate.weight.clone());
    }
    Ok(())
}
