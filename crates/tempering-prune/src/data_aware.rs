//! Data-aware pruning over a module, with calibration data and the model code:
//! - **Wanda** (Sun et al., "A Simple and Effective Pruning Approach for Large Language
//!   Models", ICLR 2024): weight `W[i, o]` of a linear layer scores `|W[i, o]|·‖X_i‖₂`, `X_i`
//!   the `i`-th input feature over the calibration inputs, and each output's inputs compete
//!   among themselves (the lowest `⌊s·d_in⌋` scores of every output are pruned);
//! - **ECoFLaP** (Sung et al., "ECoFLaP: Efficient Coarse-to-Fine Layer-wise Pruning for
//!   Vision-Language Models", ICLR 2024): each layer's importance is the zeroth-order estimate
//!   `Σ |L(W + εz) − L(W − εz)| / 2ε` of its loss sensitivity (no backward pass); every layer
//!   keeps at least `⌈n(1 − max_sp)⌉` weights (`max_sp` = target + 0.1), the rest of the keep
//!   budget goes to the layers in proportion to importance (capped at their size), and each
//!   layer is then pruned by Wanda at its own sparsity.
//!
//! Burn's `Linear` stores `[d_in, d_out]`: input `i` is row `i`, output `o` column `o`.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::tensor::{Tensor, TensorData};
pub use tempering_core::compression::{InputNorms, LinearInputs};
use tempering_core::split_mix::SplitMix64;

use crate::error::PruneError;
use crate::module_masks::{ModuleMasks, Weight, collect_weights};

/// Wanda masks over the layers named in `sparsities` (each with its own sparsity in `[0, 1)`),
/// scored with the calibration `norms`.
pub fn wanda_masks<M: Module>(
    module: &M,
    norms: &InputNorms,
    sparsities: &BTreeMap<String, f64>,
) -> Result<ModuleMasks, PruneError> {
    let weights = collect_weights(module)?;
    let mut entries = Vec::with_capacity(sparsities.len());
    for (name, &sparsity) in sparsities {
        if !(0.0..1.0).contains(&sparsity) {
            return Err(PruneError::bad(
                "sparsity",
                format!("{sparsity} for '{name}' is not in [0, 1)"),
            ));
        }
        let Some(weight) = weights.iter().find(|w| &w.name == name) else {
            let known: Vec<_> = weights.iter().map(|w| w.name.as_str()).collect();
            return Err(PruneError::bad(
                "sparsity",
                format!(
                    "no parameter '{name}' (the module has {})",
                    known.join(", ")
                ),
            ));
        };
        let Some(input_norms) = norms.norms(name) else {
            return Err(PruneError::bad(
                "calibration",
                format!("no inputs were recorded for '{name}'"),
            ));
        };
        let keep = wanda_keep(weight, &input_norms, sparsity)?;
        entries.push((weight.id, name.clone(), weight.shape.clone(), keep));
    }
    Ok(ModuleMasks::from_keep(entries))
}

/// Wanda at the same sparsity in every layer `norms` has seen.
pub fn wanda_uniform<M: Module>(
    module: &M,
    norms: &InputNorms,
    sparsity: f64,
) -> Result<ModuleMasks, PruneError> {
    let sparsities = norms.names().map(|n| (n.to_string(), sparsity)).collect();
    wanda_masks(module, norms, &sparsities)
}

/// Keep flags of one `[d_in, d_out]` weight: per output, the `⌊s·d_in⌋` lowest scores pruned
/// (ties: the lower input index first).
fn wanda_keep(weight: &Weight, norms: &[f64], sparsity: f64) -> Result<Vec<bool>, PruneError> {
    let bad_shape = |reason: String| PruneError::BadShape {
        tensor: weight.name.clone(),
        reason,
    };
    let &[d_in, d_out] = weight.shape.as_slice() else {
        return Err(bad_shape(format!(
            "Wanda needs a [d_in, d_out] matrix, not shape {:?}",
            weight.shape
        )));
    };
    if norms.len() != d_in {
        return Err(bad_shape(format!(
            "{} input norms were recorded for {d_in} inputs",
            norms.len()
        )));
    }
    let values = weight.values();
    if let Some(index) = values.iter().position(|v| v.is_nan()) {
        return Err(PruneError::NotANumber {
            tensor: weight.name.clone(),
            index,
        });
    }
    let pruned_per_output = (sparsity * d_in as f64).floor() as usize;
    let mut keep = vec![true; d_in * d_out];
    let mut order: Vec<(f64, usize)> = Vec::with_capacity(d_in);
    for o in 0..d_out {
        order.clear();
        order.extend((0..d_in).map(|i| (f64::from(values[i * d_out + o].abs()) * norms[i], i)));
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for &(_, i) in &order[..pruned_per_output] {
            keep[i * d_out + o] = false;
        }
    }
    Ok(keep)
}

/// One layer's zeroth-order importance.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerImportance {
    /// The weight's module path.
    pub name: String,
    /// `Σ_samples |L(W + εz) − L(W − εz)| / 2ε`.
    pub importance: f64,
    /// Elements of the weight.
    pub parameters: usize,
}

/// ECoFLaP's stage 1: for each weight in `names`, `samples` two-sided loss differences along
/// seeded Gaussian directions `z` of that weight alone, at step `epsilon` (the paper's 1e-3).
/// `loss(model, sample)` evaluates the calibration loss (`sample` counts the directions, so a
/// loss may take a different calibration batch for each).
pub fn zeroth_order_importance<M: Module>(
    module: &M,
    names: &[String],
    epsilon: f64,
    samples: usize,
    seed: u64,
    mut loss: impl FnMut(&M, usize) -> f64,
) -> Result<Vec<LayerImportance>, PruneError> {
    if !(epsilon.is_finite() && epsilon > 0.0) || samples == 0 {
        return Err(PruneError::bad(
            "epsilon",
            format!("needs a positive epsilon and at least one sample (got {epsilon}, {samples})"),
        ));
    }
    let weights = collect_weights(module)?;
    let mut rng = SplitMix64::new(seed);
    names
        .iter()
        .map(|name| {
            let weight = weights.iter().find(|w| &w.name == name).ok_or_else(|| {
                PruneError::bad("layers", format!("no parameter '{name}' in the module"))
            })?;
            let n: usize = weight.shape.iter().product();
            let mut importance = 0.0;
            for sample in 0..samples {
                let z: Vec<f32> = (0..n).map(|_| gaussian(&mut rng) as f32).collect();
                let mut at = |sign: f64| {
                    let shifted = module.clone().map(&mut Shift {
                        id: weight.id,
                        step: (sign * epsilon) as f32,
                        direction: &z,
                    });
                    loss(&shifted, sample)
                };
                let (plus, minus) = (at(1.0), at(-1.0));
                if !(plus.is_finite() && minus.is_finite()) {
                    return Err(PruneError::bad(
                        "loss",
                        format!("not finite while perturbing '{name}' ({plus}, {minus})"),
                    ));
                }
                importance += (plus - minus).abs() / (2.0 * epsilon);
            }
            Ok(LayerImportance {
                name: name.clone(),
                importance,
                parameters: n,
            })
        })
        .collect()
}

/// A standard normal draw (Box–Muller).
fn gaussian(rng: &mut SplitMix64) -> f64 {
    let u = rng.unit().max(f64::MIN_POSITIVE);
    let v = rng.unit();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Adds `step · direction` to one parameter.
struct Shift<'a> {
    id: ParamId,
    step: f32,
    direction: &'a [f32],
}

impl ModuleMapper for Shift<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if param.id != self.id {
            return param;
        }
        param.map(|tensor| {
            let dims = tensor.dims();
            let direction = Tensor::<1>::from_data(
                TensorData::new(self.direction.to_vec(), [self.direction.len()]),
                &tensor.device(),
            )
            .reshape(dims);
            tensor + direction * self.step
        })
    }
}

/// The cap ECoFLaP's allocation uses (`max_sparsity`, default `target + 0.1`, at most 1), once
/// the target, the cap and every importance are checked.
pub(crate) fn check_ecoflap_request(
    layers: &[LayerImportance],
    target: f64,
    max_sparsity: Option<f64>,
) -> Result<f64, PruneError> {
    if !(0.0..1.0).contains(&target) {
        return Err(PruneError::bad(
            "sparsity",
            format!("{target} is not in [0, 1)"),
        ));
    }
    let max_sparsity = max_sparsity.unwrap_or(target + 0.1).min(1.0);
    if max_sparsity < target {
        return Err(PruneError::bad(
            "max_sparsity",
            format!("{max_sparsity} is below the target {target}"),
        ));
    }
    if let Some(l) = layers
        .iter()
        .find(|l| l.importance.is_nan() || l.importance < 0.0)
    {
        return Err(PruneError::bad(
            "importance",
            format!("'{}' has importance {}", l.name, l.importance),
        ));
    }
    Ok(max_sparsity)
}

/// ECoFLaP's stage 2 as water-filling, a variant of the official integer allocation
/// ([`ecoflap_sparsities_official`](crate::ecoflap_allocation::ecoflap_sparsities_official)):
/// per-layer sparsities with overall sparsity `target` (by weight count).
/// Every layer keeps at least `⌈n(1 − max_sparsity)⌉` (`max_sparsity` defaults to
/// `target + 0.1`, at most 1); the rest of the keep budget is shared in proportion to
/// importance, each layer capped at its size, what a cap leaves over going to the others.
pub fn ecoflap_sparsities(
    layers: &[LayerImportance],
    target: f64,
    max_sparsity: Option<f64>,
) -> Result<BTreeMap<String, f64>, PruneError> {
    let max_sparsity = check_ecoflap_request(layers, target, max_sparsity)?;
    let total: usize = layers.iter().map(|l| l.parameters).sum();
    let budget = (1.0 - target) * total as f64;
    let mut keep: Vec<f64> = layers
        .iter()
        .map(|l| (l.parameters as f64 * (1.0 - max_sparsity)).ceil())
        .collect();
    let mut left = budget - keep.iter().sum::<f64>();
    // Water-filling: share what is left among the uncapped layers by importance until it is
    // spent or every layer is full.
    let mut open: Vec<usize> = (0..layers.len())
        .filter(|&i| keep[i] < layers[i].parameters as f64)
        .collect();
    while left > 1e-9 && !open.is_empty() {
        let weight: f64 = open.iter().map(|&i| layers[i].importance).sum();
        let share = |i: usize| match weight > 0.0 {
            true => left * layers[i].importance / weight,
            false => left / open.len() as f64,
        };
        let mut spent = 0.0;
        for &i in &open {
            let room = layers[i].parameters as f64 - keep[i];
            let add = share(i).min(room);
            keep[i] += add;
            spent += add;
        }
        left -= spent;
        open.retain(|&i| keep[i] < layers[i].parameters as f64 - 1e-9);
        if spent <= 1e-12 {
            break;
        }
    }
    Ok(layers
        .iter()
        .zip(keep)
        .map(|(l, k)| {
            let sparsity = (1.0 - k / l.parameters.max(1) as f64).clamp(0.0, 1.0);
            (l.name.clone(), sparsity.min(1.0 - f64::EPSILON))
        })
        .collect())
}

#[cfg(test)]
#[path = "data_aware_tests.rs"]
mod tests;
