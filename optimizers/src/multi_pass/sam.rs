//! SAM, sharpness-aware minimization (Foret, Kleiner, Mobahi & Neyshabur, "Sharpness-Aware
//! Minimization for Efficiently Improving Generalization", ICLR 2021), the baseline GAM extends.
//!
//! Two evaluations per step on the same batch: `g₀` at `w`, then `g₁` at the ascent point
//! `w + ρ·g₀/(‖g₀‖ + 10⁻¹²)` (global norm over all parameters, as the widely used PyTorch
//! implementation davda54/sam does); the base optimizer then steps from `w` with `g₁`. Batch-norm
//! running statistics keep the values of the first evaluation.

use burn::config::Config;
use burn::module::Module;
use burn::optim::{GradientsParams, LearningRate, Optimizer};

use super::flat::{flatten_grads, flatten_params, load_flat_params, norm};
use super::flat_base::{ElementwiseOptimizer, FlatBase};
use super::running_stats::RunningStatistics;
use super::{ClosureOptimizer, StateRecord};
use crate::config_error::{Check, OptimConfigError};
use crate::finite_guard::{SkipCounter, report_skip};

/// Configuration of [`Sam`].
#[derive(Config, Debug)]
pub struct SamConfig {
    /// Radius ρ of the ascent step (davda54/sam's default).
    #[config(default = 0.05)]
    pub rho: f64,
}

impl SamConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimConfigError> {
        Check("SAM").positive("rho", self.rho)
    }

    /// SAM over the per-parameter optimizer `base`, or the first invalid field.
    pub fn try_build<O: ElementwiseOptimizer>(&self, base: O) -> Result<Sam<O>, OptimConfigError> {
        self.validate()?;
        Ok(Sam {
            rho: self.rho,
            base: FlatBase::new(base),
            skips: SkipCounter::default(),
        })
    }

    /// SAM over `base`. Panics with the field's error if the config is invalid.
    pub fn build<O: ElementwiseOptimizer>(&self, base: O) -> Sam<O> {
        self.try_build(base).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Sharpness-aware minimization over a per-parameter base optimizer; see the module docs.
///
/// The base optimizer sees all parameters as one flat vector (its state is that vector's), which
/// is exact for elementwise rules (SGD, Adam, the optimizers of this crate).
pub struct Sam<O: Optimizer> {
    rho: f64,
    base: FlatBase<O>,
    skips: SkipCounter,
}

impl<O: Optimizer> Sam<O> {
    /// Steps skipped because a gradient held NaN or infinity.
    pub fn skip_counter(&self) -> SkipCounter {
        self.skips.clone()
    }
}

impl<O: Optimizer> ClosureOptimizer for Sam<O> {
    fn evaluations_per_step(&self) -> usize {
        2
    }

    fn step<M, F>(&mut self, lr: LearningRate, module: M, mut closure: F) -> (M, f64)
    where
        M: Module + Clone,
        F: FnMut(M) -> (f64, GradientsParams),
    {
        let (loss, grads) = closure(module.clone());
        let g0 = flatten_grads(&module, &grads);
        let g0_norm = norm(&g0);
        if !g0_norm.is_finite() {
            report_skip(&self.skips, "SAM", &g0.dims());
            return (module, loss);
        }
        let frozen = RunningStatistics::capture(&module);
        let w = flatten_params(&module);
        let ascent = w.clone() + g0.mul_scalar(self.rho / (g0_norm + 1e-12));
        let (_, grads) = closure(load_flat_params(module.clone(), &ascent));
        let g1 = flatten_grads(&module, &grads);
        if !norm(&g1).is_finite() {
            report_skip(&self.skips, "SAM", &g1.dims());
            return (frozen.restore(module), loss);
        }
        let x = self.base.step(lr, w, g1);
        (load_flat_params(frozen.restore(module), &x), loss)
    }

    fn to_record(&self) -> StateRecord {
        self.base.to_record()
    }

    fn load_record(&mut self, record: StateRecord) {
        self.base.load_record(&record);
    }
}
