//! ProxSparse's mask learning over a whole model of blocks (Liu et al., ICML 2025; the loop of
//! amazon-science/ProxSparse @4a558bc, `end-to-end/patch_transformers_trainer.py`
//! `prox_inner_training_loop`, with `end-to-end/main.py`'s trainer settings):
//!
//! 1. the whole model trains on its ordinary loss with AdamW (β 0.9/0.999, ε 1e-8, no weight
//!    decay: Hugging Face's defaults), the learning rate warming up linearly from 0 over the
//!    first 10 % of the steps and decaying linearly to 0 after (Hugging Face's `linear`
//!    schedule, whose first step has rate 0);
//! 2. after every optimizer step, every linear layer of every block goes through
//!    [`prox_two_of_four`] with the same `λ` (not scaled by the learning rate, as in the code);
//! 3. at the end, the mask of each layer is the two largest magnitudes of each group of 4 of
//!    the learned weights ([`keep_two_of_four`]), and it is applied to the *original* weights:
//!    the learned weights, embeddings and norms are discarded.
//!
//! One departure: Hugging Face clips the global gradient norm to 1; Burn's optimizer clips each
//! tensor's gradient to norm 1.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Tensor;
use tempering_core::compression::SequentialBlocks;

use super::linear_rows::{edit_rows, weight_rows};
use super::proxsparse::{GroupSparsity, keep_two_of_four, prox_two_of_four};
use super::sequential::LayerOutcome;
use crate::PruneError;

/// ProxSparse's mask-learning settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxSparseConfig {
    /// `λ₁`, the strength of the proximal step taken after every optimizer step. The paper's
    /// values (0.25 to 25 on 7B–14B models) depend on the weights' scale; re-tune it per model.
    pub lambda: f64,
    /// AdamW's peak learning rate (the official scripts' 1e-4).
    pub learning_rate: f64,
    /// Optimizer steps (the official scripts: 400 documents of up to 4,096 tokens, batch 1).
    pub steps: usize,
    /// Fraction of the steps spent warming up (0.1).
    pub warmup_ratio: f64,
    /// Gradient norm limit, per tensor (1.0).
    pub max_grad_norm: f64,
}

impl ProxSparseConfig {
    /// `λ` with the official learning rate, warm-up and clipping, for `steps` steps.
    pub fn new(lambda: f64, steps: usize) -> Self {
        Self {
            lambda,
            learning_rate: 1e-4,
            steps,
            warmup_ratio: 0.1,
            max_grad_norm: 1.0,
        }
    }

    /// The learning rate of optimizer step `step` (0-based): Hugging Face's linear schedule.
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        let warmup = (self.warmup_ratio * self.steps as f64).ceil() as usize;
        if step < warmup {
            self.learning_rate * step as f64 / warmup as f64
        } else {
            let left = self.steps.saturating_sub(step) as f64;
            self.learning_rate * left / self.steps.saturating_sub(warmup).max(1) as f64
        }
    }

    fn validate(&self) -> Result<(), PruneError> {
        for (field, value) in [
            ("--proxsparse-lambda", self.lambda),
            ("learning rate", self.learning_rate),
            ("warm-up ratio", self.warmup_ratio),
            ("gradient norm limit", self.max_grad_norm),
        ] {
            if !(value >= 0.0 && value.is_finite()) {
                return Err(PruneError::bad(
                    field,
                    format!("{value} is not a non-negative number"),
                ));
            }
        }
        if self.steps == 0 {
            return Err(PruneError::bad("--proxsparse-steps", "must be at least 1"));
        }
        Ok(())
    }
}

/// What mask learning did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ProxSparseReport {
    /// The training loss of each step.
    pub losses: Vec<f64>,
    /// The learned weights' groups by number of zeros, over all layers, before the mask is
    /// taken (most should be 2-sparse or sparser).
    pub groups: GroupSparsity,
    /// `‖W − W₀‖/‖W₀‖` over the blocks' linear weights, learned against original.
    pub weight_change: f64,
}

/// Learns a 2:4 mask for every linear layer of every block of `model` (on an autodiff device;
/// every parameter is set to track gradients)
/// by ProxSparse (module docs). `loss(model, step)` is the training loss of step `step`.
/// Returns the masks by layer name (row-major `[outputs, d_in]`, `true` = kept) and the report;
/// `progress(step)` hears of each finished step.
pub fn proxsparse_masks<M, L>(
    model: M,
    config: &ProxSparseConfig,
    mut loss: L,
    progress: &mut dyn FnMut(usize),
) -> Result<(BTreeMap<String, Vec<bool>>, ProxSparseReport), PruneError>
where
    M: Module + SequentialBlocks,
    L: FnMut(&M, usize) -> Tensor<1>,
{
    config.validate()?;
    // The whole model trains, as in the official loop (a loaded model's parameters may not
    // track gradients yet).
    let mut model = model.set_require_grad(true);
    check_groups(&mut model)?;
    let original: Vec<Vec<f32>> = (0..model.block_count())
        .flat_map(|b| {
            let rows: Vec<Vec<f32>> = model
                .block_linears_mut(b)
                .into_iter()
                .map(|(_, l)| weight_rows(l))
                .collect();
            rows
        })
        .collect();
    let mut optimizer = AdamWConfig::new()
        .with_weight_decay(0.0)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(
            config.max_grad_norm as f32,
        )))
        .init();
    let mut losses = Vec::with_capacity(config.steps);
    for step in 0..config.steps {
        let value = loss(&model, step);
        let scalar = value.clone().into_scalar::<f64>();
        if !scalar.is_finite() {
            return Err(PruneError::bad(
                "ProxSparse",
                format!("the training loss is {scalar} at step {step}"),
            ));
        }
        losses.push(scalar);
        let grads = GradientsParams::from_grads(value.backward(), &model);
        model = optimizer.step(config.learning_rate_at(step), model, grads);
        for b in 0..model.block_count() {
            for (name, linear) in model.block_linears_mut(b) {
                edit_rows(linear, |rows, _, _| prox_two_of_four(rows, config.lambda))
                    .map_err(|e| PruneError::bad("layer", format!("'{name}': {e}")))?;
            }
        }
        progress(step + 1);
    }
    let mut groups = GroupSparsity::default();
    let mut masks = BTreeMap::new();
    let (mut moved, mut norm) = (0.0, 0.0);
    let mut originals = original.iter();
    for b in 0..model.block_count() {
        for (name, linear) in model.block_linears_mut(b) {
            let learned = weight_rows(linear);
            for (w, w0) in learned.iter().zip(originals.next().into_iter().flatten()) {
                moved += f64::from(w - w0).powi(2);
                norm += f64::from(*w0).powi(2);
            }
            groups.add(GroupSparsity::of(&learned));
            masks.insert(name, keep_two_of_four(&learned));
        }
    }
    let report = ProxSparseReport {
        losses,
        groups,
        weight_change: (moved / norm.max(f64::MIN_POSITIVE)).sqrt(),
    };
    Ok((masks, report))
}

/// Zeroes what each layer's mask drops in the weights of `model` (the original, dense model),
/// layer by layer; every layer of every block must have its mask.
pub fn apply_two_of_four_masks<M: SequentialBlocks>(
    model: &mut M,
    masks: &BTreeMap<String, Vec<bool>>,
) -> Result<Vec<LayerOutcome>, PruneError> {
    let mut outcomes = Vec::new();
    for b in 0..model.block_count() {
        for (name, linear) in model.block_linears_mut(b) {
            let shape = linear.weight.dims();
            let mask = masks.get(&name).filter(|m| m.len() == shape[0] * shape[1]);
            let Some(mask) = mask else {
                return Err(PruneError::bad(
                    "mask",
                    format!("no mask of {} values for '{name}'", shape[0] * shape[1]),
                ));
            };
            let zeros = edit_rows(linear, |rows, _, _| {
                rows.iter_mut()
                    .zip(mask)
                    .filter(|(_, keep)| !**keep)
                    .for_each(|(w, _)| *w = 0.0);
                Ok(rows.iter().filter(|w| **w == 0.0).count())
            })?;
            outcomes.push(LayerOutcome {
                name,
                shape,
                zeros,
                relative_error: None,
                pair_output_errors: None,
            });
        }
    }
    Ok(outcomes)
}

fn check_groups<M: SequentialBlocks>(model: &mut M) -> Result<(), PruneError> {
    for b in 0..model.block_count() {
        for (name, linear) in model.block_linears_mut(b) {
            let [d_in, _] = linear.weight.dims();
            if !d_in.is_multiple_of(4) {
                return Err(PruneError::bad(
                    "--nm",
                    format!("'{name}' has {d_in} inputs, not groups of 4"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_warms_up_then_decays_to_zero() {
        // 20 steps, 10 % warm-up: ⌈2⌉ = 2 warm-up steps (rates 0 and lr/2), then
        // lr·(20 − k)/18 down to lr/18 at the last step, as Hugging Face's linear schedule.
        let config = ProxSparseConfig::new(0.1, 20);
        let lr = config.learning_rate;
        assert_eq!(config.learning_rate_at(0), 0.0);
        assert_eq!(config.learning_rate_at(1), lr / 2.0);
        assert_eq!(config.learning_rate_at(2), lr);
        assert!((config.learning_rate_at(19) - lr / 18.0).abs() < 1e-18);
    }
}
