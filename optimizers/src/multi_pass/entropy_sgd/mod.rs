//! Entropy-SGD (Chaudhari, Choromanska, Soatto, LeCun, Baldassi, Borgs, Chayes, Sagun &
//! Zecchina, "Entropy-SGD: Biasing Gradient Descent Into Wide Valleys", ICLR 2017; official code
//! ucla-vision/entropy-sgd `python/optim.py`).
//!
//! `1 + L` evaluations per step, **each on a fresh minibatch** (the closure should draw the next
//! batch on every call). The first evaluates the loss at `x`; then `L` Langevin steps explore
//! around `x`, their running average `μ` estimates the local-entropy gradient `x − μ`, and the
//! outer step moves `x` along it. The scoping `γ = γ₀·(1 + γ₁)^t` grows with the step count.
//!
//! The official repository holds two implementations that step differently, and
//! [`EntropySgdSemantics`] picks one:
//! - [`Lua`](EntropySgdSemantics::Lua) (default): `entropyoptim.lua`, the code the paper's
//!   experiments ran. With `L > 0` the outer step is `x ← x − lr·(x − μ)`, with no momentum and
//!   no weight decay on `x − μ` (the first gradient only moves the outer momentum buffer); the
//!   inner momentum acts on the raw gradient and weight decay is added after it. See `lua.rs`.
//! - [`PythonPort`](EntropySgdSemantics::PythonPort): `python/optim.py`, the later port, which
//!   passes `x − μ` through weight decay and the outer Nesterov momentum, about ten times longer
//!   outer steps at the same learning rate with momentum 0.9. Two of its behaviours are options
//!   here, both off by default: `freeze_scoping` (the port never increments `t`, so `γ` stays
//!   `γ₀`) and `seed_momentum_with_first_gradient` (the port starts the outer buffer as a copy
//!   of the first gradient). [`EntropySgdConfig::with_reference_quirks`] sets the port with both,
//!   its exact trajectory. See `python_port.rs`.
//!
//! `optimizers/tests/reference/entropy_sgd.py` transcribes both in float64; the trajectories in
//! `optimizers/tests/multi_pass_trajectories.rs` come from it. Batch-norm running statistics keep
//! the values of the first evaluation of a step.

mod lua;
mod python_port;

use burn::config::Config;
use burn::module::Module;
use burn::optim::{GradientsParams, LearningRate};
use burn::tensor::Tensor;

use super::{ClosureOptimizer, StateRecord, record_of, state_from};
use crate::RecordState;
use crate::config_error::{Check, OptimConfigError};
use crate::finite_guard::SkipCounter;

/// Which official implementation's step [`EntropySgd`] takes (see the module docs).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum EntropySgdSemantics {
    /// `entropyoptim.lua`, the code of the paper's experiments.
    Lua,
    /// `python/optim.py`, the later port.
    PythonPort,
}

/// Configuration of [`EntropySgd`]; defaults from the official `train.lua` (momentum 0.9,
/// Nesterov, dampening 0, γ₀ = 10⁻⁴, scoping γ₁ = 10⁻³, noise 10⁻⁴, Langevin step 0.1,
/// averaging 0.75), with the paper's `L = 20`.
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
    /// η', the Langevin step size (fixed at 0.1 in both official implementations).
    #[config(default = 0.1)]
    pub langevin_lr: f64,
    /// α, the averaging of `μ` (fixed at 0.75 in both official implementations).
    #[config(default = 0.75)]
    pub averaging: f64,
    /// Seed of the Langevin noise (drawn on the host from this seed and a draw counter kept in
    /// the state, so runs reproduce and resume exactly whatever else uses the device's
    /// generator).
    #[config(default = 0)]
    pub seed: u64,
    /// Which official implementation's step to take.
    #[config(default = "EntropySgdSemantics::Lua")]
    pub semantics: EntropySgdSemantics,
    /// Python port only: reproduce its step counter that never moves (see the module docs).
    #[config(default = false)]
    pub freeze_scoping: bool,
    /// Python port only: reproduce its outer momentum buffer seeded with the first gradient.
    #[config(default = false)]
    pub seed_momentum_with_first_gradient: bool,
}

impl EntropySgdConfig {
    /// The Python port exactly: its semantics with both of its quirks on (see the module docs).
    pub fn with_reference_quirks(self) -> Self {
        self.with_semantics(EntropySgdSemantics::PythonPort)
            .with_freeze_scoping(true)
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
    /// The outer momentum buffer over all parameters, flat (under the Lua semantics with
    /// `L > 0` it follows the first gradients but does not move `x`, as in the Lua code).
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

    fn step<M, F>(&mut self, lr: LearningRate, module: M, closure: F) -> (M, f64)
    where
        M: Module + Clone,
        F: FnMut(M) -> (f64, GradientsParams),
    {
        match self.config.semantics {
            EntropySgdSemantics::Lua => self.step_lua(lr, module, closure),
            EntropySgdSemantics::PythonPort => self.step_python_port(lr, module, closure),
        }
    }

    fn to_record(&self) -> StateRecord {
        record_of("entropy_sgd", Some(&self.state))
    }

    fn load_record(&mut self, record: StateRecord) {
        self.state = state_from(&record, "entropy_sgd").unwrap_or_default();
    }
}
