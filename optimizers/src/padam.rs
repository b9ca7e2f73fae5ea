//! PAdam, the partially adaptive momentum method (Chen, Zhou, Tang, Yang, Cao & Gu, "Closing the
//! Generalization Gap of Adaptive Gradient Methods in Training Deep Neural Networks", IJCAI 2020;
//! official code uclaml/Padam).
//!
//! `x -= lr·√bc₂/bc₁ · m/(√v̂ + ε)^(2p)`: `p = 1/2` is AMSGrad, `p → 0` approaches SGD with
//! momentum. Weight decay is L2 (added to the gradient) as in the official code.
//!
//! Tuning (official defaults): lr 0.1, p 1/8 to 1/4 (default here 1/4), AMSGrad maximum on.

use burn::config::Config;
use burn::optim::ModuleOptimizer;
use burn::optim::grad_clipping::GradientClippingConfig;

use crate::adaptive::{AdaptiveOptimizer, Denominator, Direction, MaxOfSecondMoment};
use crate::config_error::{Check, OptimConfigError};

/// Configuration of PAdam.
#[derive(Config, Debug)]
pub struct PAdamConfig {
    /// Decay of the first moment.
    #[config(default = 0.9)]
    pub beta_1: f32,
    /// Decay of the second moment.
    #[config(default = 0.999)]
    pub beta_2: f32,
    /// Added to `√v̂` before the power.
    #[config(default = 1e-8)]
    pub epsilon: f32,
    /// The partial exponent `p` in (0, 1/2].
    #[config(default = 0.25)]
    pub partial: f32,
    /// L2 weight decay λ, added to the gradient.
    #[config(default = 0.0)]
    pub weight_decay: f32,
    /// Use AMSGrad's running maximum of the second moment (the official default).
    #[config(default = true)]
    pub amsgrad: bool,
    /// Gradient clipping applied by [`init`](Self::init).
    pub grad_clipping: Option<GradientClippingConfig>,
}

impl PAdamConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), OptimConfigError> {
        let check = Check("PAdam");
        check.beta("beta_1", self.beta_1)?;
        check.beta("beta_2", self.beta_2)?;
        check.positive("epsilon", self.epsilon.into())?;
        check.within(
            "partial",
            self.partial.into(),
            f64::MIN_POSITIVE,
            0.5,
            "must be in (0, 1/2]",
        )?;
        check.non_negative("weight_decay", self.weight_decay.into())
    }

    /// The optimizer, or the first invalid field.
    pub fn try_build(&self) -> Result<AdaptiveOptimizer, OptimConfigError> {
        self.validate()?;
        Ok(AdaptiveOptimizer::assemble(
            "PAdam",
            (self.beta_1, self.beta_2, self.epsilon),
            (self.weight_decay, false),
            if self.amsgrad {
                MaxOfSecondMoment::Raw
            } else {
                MaxOfSecondMoment::Off
            },
            Denominator::Partial { p: self.partial },
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
