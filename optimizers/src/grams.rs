//! Grams, gradient descent with adaptive momentum scaling (Yang Cao, Xiaoyu Li & Zhao Song,
//! "Grams: Gradient Descent with Adaptive Momentum Scaling", arXiv:2412.17107, 2024; ICLR 2025
//! workshop on scalable optimization; official code Gunale0926/Grams).
//!
//! Adam's step size and magnitude, but the direction is the sign of the *current* gradient:
//! `x ← x - lr·λ·x`, then `x -= lr·√bc₂/bc₁ · sign(g)·|m|/(√v + ε)`. A zero gradient gives no
//! update. Follows the official code, not kozistr/pytorch_optimizer's variant (which swaps the
//! lerp weight and divides `v` by `√bc₂`).
//!
//! Tuning (official defaults): lr 1e-3, β (0.9, 0.999), ε 1e-6, decoupled weight decay 0.
//!
//! ```
//! use tempering_optim::GramsConfig;
//! let optim = GramsConfig::new().init(); // where you had AdamConfig::new().init()
//! # let _ = optim;
//! ```

use burn::config::Config;
use burn::optim::ModuleOptimizer;
use burn::optim::grad_clipping::GradientClippingConfig;

use crate::adaptive::{AdaptiveOptimizer, Denominator, Direction, MaxOfSecondMoment};
use crate::config_error::{Check, OptimConfigError};

/// Configuration of Grams.
#[derive(Config, Debug)]
pub struct GramsConfig {
    /// Decay of the first moment.
    #[config(default = 0.9)]
    pub beta_1: f32,
    /// Decay of the second moment.
    #[config(default = 0.999)]
    pub beta_2: f32,
    /// Added to `√v`.
    #[config(default = 1e-6)]
    pub epsilon: f32,
    /// Decoupled weight decay λ: `x ← x - lr·λ·x`.
    #[config(default = 0.0)]
    pub weight_decay: f32,
    /// Apply Adam's bias corrections (`lr·√bc₂/bc₁`).
    #[config(default = true)]
    pub correct_bias: bool,
    /// Gradient clipping applied by [`init`](Self::init).
    pub grad_clipping: Option<GradientClippingConfig>,
}

impl GramsConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), OptimConfigError> {
        let check = Check("Grams");
        check.beta("beta_1", self.beta_1)?;
        check.beta("beta_2", self.beta_2)?;
        check.positive("epsilon", self.epsilon.into())?;
        check.non_negative("weight_decay", self.weight_decay.into())
    }

    /// The optimizer, or the first invalid field.
    pub fn try_build(&self) -> Result<AdaptiveOptimizer, OptimConfigError> {
        self.validate()?;
        Ok(AdaptiveOptimizer::assemble(
            "Grams",
            (self.beta_1, self.beta_2, self.epsilon),
            (self.weight_decay, true),
            MaxOfSecondMoment::Off,
            // lr·√bc₂/bc₁/(√v + ε) is the partial denominator at p = 1/2; without bias
            // correction it is lr/(√v + ε).
            if self.correct_bias {
                Denominator::Partial { p: 0.5 }
            } else {
                Denominator::Adam {
                    correct_m: false,
                    correct_v: false,
                }
            },
            Direction::GradientSign,
        ))
    }

    /// The bare optimizer. Panics with the field's error if the config is invalid.
    pub fn build(&self) -> AdaptiveOptimizer {
        self.try_build().unwrap_or_else(|e| panic!("{e}"))
    }

    /// A `ModuleOptimizer` with the configured gradient clipping. Panics if the config is
    /// invalid.
    pub fn init(&self) -> ModuleOptimizer {
        crate::module_optimizer(self.build(), &self.grad_clipping)
    }
}
