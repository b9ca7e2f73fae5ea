//! Entropy-SGD (Chaudhari, Choromanska, Soatto, LeCun, Baldassi, Borgs, Chayes, Sagun &
//! Zecchina, "Entropy-SGD: Biasing Gradient Descent Into Wide Valleys", ICLR 2017; official code
//! ucla-vision/entropy-sgd `python/optim.py`).
//!
//! `1 + L` evaluations per step, **each on a fresh minibatch** (the closure should draw the next
//! batch on every call). The first evaluates the loss at `x`. Then `L` Langevin steps from
//! `x' = x` with an inner Nesterov buffer `b` (reset every step):
//! `d = ∇f(x') + wd·x'`, `b ← mom·b + (1-damp)·d`, `d ← d + mom·b`,
//! `d ← d - γ·(x - x') + ε/√(0.5·η')·N(0,1)`, `x' ← x' - η'·d`, `μ ← α·μ + (1-α)·x'` (`μ = x`
//! at the start). The outer gradient is `x - μ`, and an outer Nesterov SGD step (same `mom`,
//! `damp`, `wd`) moves `x`. The scoping `γ = γ₀·(1 + γ₁)^t` grows with the step count `t`.
//!
//! Two behaviours of the reference are options here, both off by default:
//! - `freeze_scoping`: the reference never increments `t`, so `γ` stays `γ₀` (scoping inert).
//!   Here `t` counts steps unless this is set.
//! - `seed_momentum_with_first_gradient`: the reference starts the outer momentum buffer as a
//!   copy of the first gradient (at `x`, before the inner loop) instead of zeros. Here it starts
//!   at zero unless this is set.
//!
//! With both set, the trajectory is the reference's.

use burn::config::Config;
use burn::module::Module;
use burn::optim::{GradientsParams, LearningRate};
use burn::tensor::Tensor;

use super::flat::{flatten_grads, flatten_params, load_flat_params, norm};
use super::{ClosureOptimizer, StateRecord, record_of, state_from};
use crate::RecordState;
use crate::config_error::{Check, OptimConfigError};
use crate::finite_guard::{SkipCounter, report_skip};
use crate::seeded_noise::standard_normal_tensor;

/// Configuration of [`EntropySgd`]; defaults from the official `train.py` (momentum 0.9,
/// Nesterov, γ₀ = 10⁻⁴, scoping γ₁ = 10⁻³, noise 10⁻⁴), with the paper's `L = 20`.
#[derive(Config, Debug)]
pub struct EntropySgdConfig {
    /// Langevin iterations `L` per step (the reference's default of 0 makes it plain SGD).
    #[config(default = 20)]
    pub langevin_steps: usize,
    /// Momentum of the inner and outer buffers.
    #[config(default = 0.9)]
    pub momentum: f64,
    /// Dampening of the momentum buffers.
    #[config(default = 0.0)]
    pub dampening: f64,
    /// Nesterov momentum (otherwise heavy ball).
    #[config(default = true)]
    pub nesterov: bool,
    /// Coupled L2 weight decay, inner and outer.
    #[config(default = 0.0)]
    pub weight_decay: f64,
    /// γ₀, the coupling of `x'` to `x`.
    #[config(default = 1e-4)]
    pub gamma: f64,
    /// γ₁, the scoping rate: `γ = γ₀·(1 + γ₁)^t`.
    #[config(default = 1e-3)]
    pub scoping: f64,
    /// ε, the Langevin noise scale (0 turns the noise off).
    #[config(default = 1e-4)]
    pub noise: f64,
    /// η', the Langevin step size (fixed at 0.1 in the reference).
    #[config(default = 0.1)]
    pub langevin_lr: f64,
    /// α, the averaging of `μ` (fixed at 0.75 in the reference).
    #[config(default = 0.75)]
    pub averaging: f64,
    /// Seed of the Langevin noise (drawn on the host from this seed and a draw counter kept in
    /// the state, so runs reproduce and resume exactly whatever else uses the device's
    /// generator).
    #[config(default = 0)]
    pub seed: u64,
    /// Reproduce the reference's step counter that never moves (see the module docs).
    #[config(default = false)]
    pub freeze_scoping: bool,
    /// Reproduce the reference's outer momentum buffer seeded with the first gradient.
    #[config(default = false)]
    pub seed_momentum_with_first_gradient: bool,
}

impl EntropySgdConfig {
    /// The reference's behaviour: both quirks on (see the module docs).
    pub fn with_reference_quirks(self) -> Self {
        self.with_freeze_scoping(true)
            .with_seed_momentum_with_first_gradient(true)
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimConfigError> {
        let check = Check("Entropy-SGD");
        check.within("momentum", self.momentum, 0.0, 1.0, "must be in [0, 1]")?;
        check.within("dampening", self.dampening, 0.0, 1.0, "must be in [0, 1]")?;
        check.non_negative("weight_decay", self.weight_decay)?;
        check.non_negative("gamma", self.gamma)?;
        check.non_negative("scoping", self.scoping)?;
        check.non_negative("noise", self.noise)?;
        check.positive("langevin_lr", self.langevin_lr)?;
        check.within("averaging", self.averaging, 0.0, 1.0, "must be in [0, 1]")
    }

    /// The optimizer, or the first invalid field.
    pub fn try_build(&self) -> Result<EntropySgd, OptimConfigError> {
        self.validate()?;
        Ok(EntropySgd {
            config: self.clone(),
            state: EntropySgdState::default(),
            skips: SkipCounter::default(),
        })
    }

    /// The optimizer. Panics with the field's error if the config is invalid.
    pub fn build(&self) -> EntropySgd {
        self.try_build().unwrap_or_else(|e| panic!("{e}"))
    }
}

/// What [`EntropySgd`] carries between steps.
#[derive(RecordState, Clone, Default)]
pub struct EntropySgdState {
    /// Steps taken (the `t` of the scoping).
    pub step: usize,
    /// The outer momentum buffer over all parameters, flat.
    pub momentum: Option<Tensor<1>>,
    /// Langevin noise vectors drawn so far (the next draw's stream number).
    pub noise_draws: u64,
}

/// Entropy-SGD; see the module docs.
pub struct EntropySgd {
    config: EntropySgdConfig,
    state: EntropySgdState,
    skips: SkipCounter,
}

impl EntropySgd {
    /// Steps skipped because a gradient held NaN or infinity.
    pub fn skip_counter(&self) -> SkipCounter {
        self.skips.clone()
    }

    /// The state carried between steps.
    pub fn state(&self) -> &EntropySgdState {
        &self.state
    }

    /// `buffer ← mom·buffer + (1-damp)·d`, then the direction (Nesterov or the buffer).
    fn momentum(&self, buffer: &mut Tensor<1>, d: Tensor<1>) -> Tensor<1> {
        let c = &self.config;
        *buffer = buffer.clone().mul_scalar(c.momentum) + d.clone().mul_scalar(1.0 - c.dampening);
        if c.nesterov {
            d + buffer.clone().mul_scalar(c.momentum)
        } else {
            buffer.clone()
        }
    }
}

impl ClosureOptimizer for EntropySgd {
    fn evaluations_per_step(&self) -> usize {
        1 + self.config.langevin_steps
    }

    fn fresh_batch_per_evaluation(&self) -> bool {
        true
    }

    fn step<M, F>(&mut self, lr: LearningRate, module: M, mut closure: F) -> (M, f64)
    where
        M: Module + Clone,
        F: FnMut(M) -> (f64, GradientsParams),
    {
        let c = self.config.clone();
        let (loss, grads) = closure(module.clone());
        let first = flatten_grads(&module, &grads);
        if !norm(&first).is_finite() {
            report_skip(&self.skips, "Entropy-SGD", &first.dims());
            return (module, loss);
        }
        let x = flatten_params(&module);
        let device = x.device();
        // A copy of the handle: the saved buffer stays as it is until the step succeeds.
        let mut outer = match self.state.momentum.clone() {
            Some(buffer) => buffer.to_device(&device),
            None if c.seed_momentum_with_first_gradient => first.clone(),
            None => x.zeros_like(),
        };
        let gamma = c.gamma * (1.0 + c.scoping).powi(self.state.step as i32);
        let noise_scale = c.noise / (0.5 * c.langevin_lr).sqrt();
        let grad = if c.langevin_steps == 0 {
            first
        } else {
            let (mut w, mut mu, mut inner) = (x.clone(), x.clone(), x.zeros_like());
            for _ in 0..c.langevin_steps {
                let (_, grads) = closure(load_flat_params(module.clone(), &w));
                let mut d = flatten_grads(&module, &grads);
                if c.weight_decay > 0.0 {
                    d = d + w.clone().mul_scalar(c.weight_decay);
                }
                if c.momentum > 0.0 {
                    d = self.momentum(&mut inner, d);
                }
                d = d - (x.clone() - w.clone()).mul_scalar(gamma);
                if noise_scale > 0.0 {
                    let stream = self.state.noise_draws;
                    self.state.noise_draws += 1;
                    let eta = standard_normal_tensor(w.dims()[0], c.seed, stream, &device);
                    d = d + eta.mul_scalar(noise_scale);
                }
                w = w - d.mul_scalar(c.langevin_lr);
                mu = mu.mul_scalar(c.averaging) + w.clone().mul_scalar(1.0 - c.averaging);
            }
            x.clone() - mu
        };
        let mut d = grad;
        if c.weight_decay > 0.0 {
            d = d + x.clone().mul_scalar(c.weight_decay);
        }
        if c.momentum > 0.0 {
            d = self.momentum(&mut outer, d);
        }
        if !norm(&d).is_finite() {
            report_skip(&self.skips, "Entropy-SGD", &d.dims());
            return (module, loss);
        }
        let x = x - d.mul_scalar(lr);
        self.state.momentum = Some(outer);
        if !c.freeze_scoping {
            self.state.step += 1;
        }
        (load_flat_params(module, &x), loss)
    }

    fn to_record(&self) -> StateRecord {
        record_of("entropy_sgd", Some(&self.state))
    }

    fn load_record(&mut self, record: StateRecord) {
        self.state = state_from(&record, "entropy_sgd").unwrap_or_default();
    }
}
