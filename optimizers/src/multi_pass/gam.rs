//! GAM, gradient norm aware minimization (Zhang, Xu, Wang, Zhang & Cui, "Gradient Norm Aware
//! Minimization Seeks First-Order Flatness and Improves Generalization", CVPR 2023; official code
//! xxgege/GAM `gam/gam.py`).
//!
//! Four evaluations per step on the same batch, norms global over all parameters:
//! `g₀` at `w₀`; `g₁` at `w₀ + ρ·g₀/‖g₀‖`; `d = g₁ - g₀` (a finite-difference Hessian-vector
//! product, no second-order autodiff); `g₂` at `w₂ = w₀ + ρ'·d/‖d‖`; `g₃` at `w₂ + ρ·g₂/‖g₂‖`.
//! Then `p = g₀ + |β₂|·g₂`, `q = β₁·g₁ + β₃·g₃`, `cos = ⟨p,q⟩/(‖q‖‖p‖ + 10⁻¹²)` and the base
//! optimizer steps from `w₀` on `q - γ·(p - cos·‖p‖·q/(‖q‖ + 10⁻¹²))`. Batch-norm running
//! statistics keep the values of the first evaluation (passes 2–4 do not update them).
//! A zero norm in a perturbation adds 10⁻¹² to the denominator, so it perturbs by nothing.

use burn::config::Config;
use burn::module::Module;
use burn::optim::{GradientsParams, LearningRate, Optimizer};
use burn::tensor::Tensor;

use super::flat::{dot, flatten_grads, flatten_params, load_flat_params, norm};
use super::flat_base::{ElementwiseOptimizer, FlatBase};
use super::running_stats::RunningStatistics;
use super::{ClosureOptimizer, StateRecord};
use crate::config_error::{Check, OptimConfigError};
use crate::finite_guard::{SkipCounter, report_skip};

/// Configuration of [`Gam`]; defaults are the official `main_cifar.py` configuration for
/// CIFAR-100 ResNets (ρ = `grad_rho`, ρ' = `grad_norm_rho`, β₁ = `grad_beta_1`,
/// β₂ = `1 - grad_beta_0`, β₃ = `1 - grad_beta_1`, γ = `grad_gamma`; SGD momentum 0.9 as the
/// base optimizer there).
#[derive(Config, Debug)]
pub struct GamConfig {
    /// Radius ρ of the two gradient-ascent perturbations.
    #[config(default = 0.02)]
    pub rho: f64,
    /// Radius ρ' of the step along the Hessian-vector product.
    #[config(default = 0.2)]
    pub rho_prime: f64,
    /// Weight β₁ of `g₁` in `q`.
    #[config(default = 0.6)]
    pub beta_1: f64,
    /// Weight |β₂| of `g₂` in `p`.
    #[config(default = 0.5)]
    pub beta_2: f64,
    /// Weight β₃ of `g₃` in `q`.
    #[config(default = 0.4)]
    pub beta_3: f64,
    /// Strength γ of the projection that removes `p`'s component off `q`.
    #[config(default = 0.03)]
    pub gamma: f64,
}

impl GamConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimConfigError> {
        let check = Check("GAM");
        check.positive("rho", self.rho)?;
        check.positive("rho_prime", self.rho_prime)?;
        check.non_negative("beta_1", self.beta_1)?;
        check.non_negative("beta_3", self.beta_3)?;
        check.non_negative("gamma", self.gamma)?;
        check.within("beta_2", self.beta_2, f64::MIN, f64::MAX, "must be finite")
    }

    /// GAM over the per-parameter optimizer `base`, or the first invalid field.
    pub fn try_build<O: ElementwiseOptimizer>(&self, base: O) -> Result<Gam<O>, OptimConfigError> {
        self.validate()?;
        Ok(Gam {
            config: self.clone(),
            base: FlatBase::new(base),
            skips: SkipCounter::default(),
        })
    }

    /// GAM over `base`. Panics with the field's error if the config is invalid.
    pub fn build<O: ElementwiseOptimizer>(&self, base: O) -> Gam<O> {
        self.try_build(base).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Gradient norm aware minimization over a per-parameter base optimizer; see the module docs.
/// The base optimizer sees all parameters as one flat vector, as in [`Sam`](super::Sam).
pub struct Gam<O: Optimizer> {
    config: GamConfig,
    base: FlatBase<O>,
    skips: SkipCounter,
}

impl<O: Optimizer> Gam<O> {
    /// Steps skipped because a gradient held NaN or infinity.
    pub fn skip_counter(&self) -> SkipCounter {
        self.skips.clone()
    }
}

/// `w + radius·direction/(‖direction‖ + 10⁻¹²)`.
fn perturb(w: &Tensor<1>, direction: &Tensor<1>, radius: f64) -> Tensor<1> {
    w.clone()
        + direction
            .clone()
            .mul_scalar(radius / (norm(direction) + 1e-12))
}

/// GAM's combined gradient from the four evaluations.
pub(crate) fn combine(c: &GamConfig, [g0, g1, g2, g3]: [Tensor<1>; 4]) -> Tensor<1> {
    let p = g0 + g2.mul_scalar(c.beta_2.abs());
    let q = g1.mul_scalar(c.beta_1) + g3.mul_scalar(c.beta_3);
    let (p_norm, q_norm) = (norm(&p), norm(&q));
    let cos = dot(&p, &q) / (q_norm * p_norm + 1e-12);
    let off = p - q.clone().mul_scalar(cos * p_norm / (q_norm + 1e-12));
    q - off.mul_scalar(c.gamma)
}

impl<O: Optimizer> ClosureOptimizer for Gam<O> {
    fn evaluations_per_step(&self) -> usize {
        4
    }

    fn step<M, F>(&mut self, lr: LearningRate, module: M, mut closure: F) -> (M, f64)
    where
        M: Module + Clone,
        F: FnMut(M) -> (f64, GradientsParams),
    {
        let c = &self.config;
        let (loss, grads) = closure(module.clone());
        let frozen = RunningStatistics::capture(&module);
        let w0 = flatten_params(&module);
        let mut grad_at = |point: &Tensor<1>| {
            let (_, grads) = closure(load_flat_params(module.clone(), point));
            flatten_grads(&module, &grads)
        };
        let g0 = flatten_grads(&module, &grads);
        let g1 = grad_at(&perturb(&w0, &g0, c.rho));
        let w2 = perturb(&w0, &(g1.clone() - g0.clone()), c.rho_prime);
        let g2 = grad_at(&w2);
        let g3 = grad_at(&perturb(&w2, &g2, c.rho));
        let grad = combine(c, [g0, g1, g2, g3]);
        let module = frozen.restore(module);
        if !norm(&grad).is_finite() {
            report_skip(&self.skips, "GAM", &grad.dims());
            return (module, loss);
        }
        let x = self.base.step(lr, w0, grad);
        (load_flat_params(module, &x), loss)
    }

    fn to_record(&self) -> StateRecord {
        self.base.to_record()
    }

    fn load_record(&mut self, record: StateRecord) {
        self.base.load_record(&record);
    }
}
