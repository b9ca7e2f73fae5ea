//! AdaBound and AMSBound (Luo, Xiong, Liu & Sun, "Adaptive Gradient Methods with Dynamic Bound of
//! Learning Rate", ICLR 2019; official code Luolc/AdaBound).
//!
//! Adam whose per-coordinate step size `lr·√bc₂/bc₁/(√v̂ + ε)` is clipped to
//! `[η(1 - 1/(γt+1)), η(1 + 1/(γt))]` with `η = final_lr·lr/base_lr`: early on it behaves like
//! Adam, later like SGD at `final_lr`. AMSBound uses AMSGrad's running max of `v`.
//! Bias correction happens before clipping; weight decay is L2 (added to the gradient), as in
//! the official code. `base_lr` is the learning rate the bounds were set for: keep it equal to the
//! learning rate you train with (schedulers then scale the bounds along).
//!
//! Tuning (official defaults): lr 1e-3, final_lr 0.1, γ 1e-3.

use burn::config::Config;
use burn::optim::ModuleOptimizer;
use burn::optim::grad_clipping::GradientClippingConfig;

use crate::adaptive::{AdaptiveOptimizer, Denominator, Direction, MaxOfSecondMoment};
use crate::config_error::{Check, OptimConfigError};

/// Configuration of AdaBound (`amsbound = false`) and AMSBound (`amsbound = true`).
#[derive(Config, Debug)]
pub struct AdaBoundConfig {
    /// Decay of the first moment.
    #[config(default = 0.9)]
    pub beta_1: f32,
    /// Decay of the second moment.
    #[config(default = 0.999)]
    pub beta_2: f32,
    /// Added to `√v̂`.
    #[config(default = 1e-8)]
    pub epsilon: f32,
    /// The SGD learning rate the bounds converge to.
    #[config(default = 0.1)]
    pub final_lr: f32,
    /// Convergence speed γ of the bounds.
    #[config(default = 1e-3)]
    pub gamma: f32,
    /// The learning rate the bounds are set for (the official code's lr at construction).
    #[config(default = 1e-3)]
    pub base_lr: f32,
    /// L2 weight decay λ, added to the gradient.
    #[config(default = 0.0)]
    pub weight_decay: f32,
    /// Use AMSGrad's running maximum of the second moment (AMSBound).
    #[config(default = false)]
    pub amsbound: bool,
    /// Gradient clipping applied by [`init`](Self::init).
    pub grad_clipping: Option<GradientClippingConfig>,
}

impl AdaBoundConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), OptimConfigError> {
        let check = Check(self.name());
        check.beta("beta_1", self.beta_1)?;
        check.beta("beta_2", self.beta_2)?;
        check.positive("epsilon", self.epsilon.into())?;
        check.positive("final_lr", self.final_lr.into())?;
        check.positive("gamma", self.gamma.into())?;
        check.positive("base_lr", self.base_lr.into())?;
        check.non_negative("weight_decay", self.weight_decay.into())
    }

    fn name(&self) -> &'static str {
        if self.amsbound {
            "AmsBound"
        } else {
            "AdaBound"
        }
    }

    /// The optimizer, or the first invalid field.
    pub fn try_build(&self) -> Result<AdaptiveOptimizer, OptimConfigError> {
        self.validate()?;
        Ok(AdaptiveOptimizer::assemble(
            self.name(),
            (self.beta_1, self.beta_2, self.epsilon),
            (self.weight_decay, false),
            if self.amsbound {
                MaxOfSecondMoment::Raw
            } else {
                MaxOfSecondMoment::Off
            },
            Denominator::Bounded {
                final_lr: self.final_lr,
                gamma: self.gamma,
                base_lr: self.base_lr,
            },
            Direction::Momentum,
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
