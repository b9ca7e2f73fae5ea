//! AMSGrad (Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018), with the
//! convention as an explicit choice, and AdamW + AMSGrad through decoupled weight decay.
//!
//! Three conventions are in use and give different trajectories:
//! - [`AmsGradConvention::Torch`] (PyTorch's `Adam(amsgrad=True)`, Burn's `AdamConfig::amsgrad`):
//!   `v̂ = max(v̂, v)` on the raw `v`, then `x -= lr·(m/bc₁)/(√v̂/√bc₂ + ε)`.
//! - [`AmsGradConvention::Optax`] (optax `amsgrad`): `v̂ = max(v̂, v/bc₂)`, then
//!   `x -= lr·(m/bc₁)/(√v̂ + ε)`.
//! - [`AmsGradConvention::Paper`] (Algorithm 2): no bias corrections, `x -= lr·m/(√v̂ + ε)`. The
//!   golden trajectories (`docs/references.md`) include `ε = 1e-8` here;
//!   set `epsilon = 0` for the algorithm exactly as printed (a coordinate with no gradient
//!   history then takes no step instead of 0/0).
//!
//! Tuning: as Adam (lr 1e-3); AMSGrad only differs once `v` shrinks, i.e. after large gradients
//! are followed by small ones. For AdamW + AMSGrad set `decoupled_weight_decay = true` and a
//! weight decay around 1e-2 (PyTorch's AdamW default).
//!
//! ```
//! use tempering_optim::AmsGradConfig;
//! let optim = AmsGradConfig::new().init(); // where you had AdamConfig::new().init()
//! # let _ = optim;
//! ```

use burn::config::Config;
use burn::optim::ModuleOptimizer;
use burn::optim::grad_clipping::GradientClippingConfig;

use crate::adaptive::{AdaptiveOptimizer, Denominator, Direction, MaxOfSecondMoment};
use crate::config_error::{Check, OptimConfigError};

/// Which AMSGrad convention to follow; see the [module docs](self).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum AmsGradConvention {
    /// PyTorch and Burn: maximum of the raw second moment, both bias corrections.
    Torch,
    /// optax: maximum of the bias-corrected second moment.
    Optax,
    /// Reddi et al., Algorithm 2: no bias corrections.
    Paper,
}

/// Configuration of AMSGrad; `build` gives an [`AdaptiveOptimizer`].
#[derive(Config, Debug)]
pub struct AmsGradConfig {
    /// Decay of the first moment.
    #[config(default = 0.9)]
    pub beta_1: f32,
    /// Decay of the second moment.
    #[config(default = 0.999)]
    pub beta_2: f32,
    /// Added to the denominator (PyTorch's default 1e-8; Burn's Adam uses 1e-5).
    #[config(default = 1e-8)]
    pub epsilon: f32,
    /// Weight decay factor λ (0 disables it).
    #[config(default = 0.0)]
    pub weight_decay: f32,
    /// `true`: decoupled decay `x ← x(1 - lr·λ)` (AdamW); `false`: L2, `g ← g + λx` (Adam).
    #[config(default = false)]
    pub decoupled_weight_decay: bool,
    /// The convention of the maximum and the bias corrections.
    #[config(default = "AmsGradConvention::Torch")]
    pub convention: AmsGradConvention,
    /// Gradient clipping applied by [`init`](Self::init).
    pub grad_clipping: Option<GradientClippingConfig>,
}

impl AmsGradConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), OptimConfigError> {
        let check = Check("AmsGrad");
        check.beta("beta_1", self.beta_1)?;
        check.beta("beta_2", self.beta_2)?;
        check.non_negative("epsilon", self.epsilon.into())?;
        check.non_negative("weight_decay", self.weight_decay.into())
    }

    /// The optimizer, or the first invalid field.
    pub fn try_build(&self) -> Result<AdaptiveOptimizer, OptimConfigError> {
        self.validate()?;
        let (max_mode, correct) = match self.convention {
            AmsGradConvention::Torch => (MaxOfSecondMoment::Raw, (true, true)),
            AmsGradConvention::Optax => (MaxOfSecondMoment::BiasCorrected, (true, false)),
            AmsGradConvention::Paper => (MaxOfSecondMoment::Raw, (false, false)),
        };
        Ok(AdaptiveOptimizer::assemble(
            "AmsGrad",
            (self.beta_1, self.beta_2, self.epsilon),
            (self.weight_decay, self.decoupled_weight_decay),
            max_mode,
            Denominator::Adam {
                correct_m: correct.0,
                correct_v: correct.1,
            },
            Direction::Momentum,
        ))
    }

    /// The bare optimizer, for `ModuleOptimizer::with_group`.
    ///
    /// # Panics
    /// With the message of [`validate`](Self::validate) if a field is invalid.
    pub fn build(&self) -> AdaptiveOptimizer {
        self.try_build().unwrap_or_else(|e| panic!("{e}"))
    }

    /// A `ModuleOptimizer` for a whole module, with the configured gradient clipping.
    ///
    /// # Panics
    /// With the message of [`validate`](Self::validate) if a field is invalid.
    pub fn init(&self) -> ModuleOptimizer {
        crate::module_optimizer(self.build(), &self.grad_clipping)
    }
}
