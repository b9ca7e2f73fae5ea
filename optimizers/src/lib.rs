//! tempering-optim: optimizers of recent papers as Burn optimizer plugins.
//!
//! Per-parameter optimizers implement `burn::optim::Optimizer`, so they drop into
//! `ModuleOptimizer`, parameter groups, gradient clipping, learning-rate schedulers and
//! burn-train's `Learner`; their state saves and loads through burnpack like Burn's own:
//! - [`AmsGradConfig`]: AMSGrad with the convention as an explicit choice (PyTorch/Burn, optax,
//!   the paper), L2 or decoupled weight decay (AdamW + AMSGrad);
//! - [`AdaBoundConfig`]: AdaBound and AMSBound; [`PAdamConfig`]: partially adaptive momentum;
//! - [`GramsConfig`]: Grams (sign of the gradient, magnitude of the momentum);
//! - [`Cautious`]: cautious masking over any of them, or over Burn's Lion ([`LionConfig`],
//!   re-exported, reused rather than copied; `CautiousConfig::init_lion` is C-Lion, fused on
//!   CPU): C-Lion and C-AdamW.
//!
//! All of them share one moment transform ([`adaptive`]), which [`AdaptiveRule`] composes by
//! hand; on CPU backends each step is a single fused pass over parameter, gradient and state
//! ([`host_step`], public for fused steps of your own). A gradient with NaN or infinity skips
//! the step and leaves parameter and state untouched ([`SkipCounter`] counts the skips).
//!
//! Beyond them, the multi-pass optimizers ([`multi_pass`]: SAM, GAM, Entropy-SGD, OPT-AMSGrad)
//! and M-FAC ([`second_order`]) see the whole model and step through a closure.
//!
//! ```
//! use tempering_optim::GramsConfig;
//! // Where you had `AdamConfig::new().init()`:
//! let optimizer = GramsConfig::new().with_weight_decay(0.01).init();
//! # let _ = optimizer;
//! ```

pub mod adabound;
pub mod adaptive;
pub mod amsgrad;
pub mod cautious;
mod cautious_lion_kernel;
mod cautious_normalization;
pub mod config_error;
mod deferred_release;
mod finite_guard;
mod float_bits;
pub mod grams;
pub mod host_step;
pub mod learned;
pub mod lr_scaled;
pub mod multi_pass;
pub mod padam;
pub mod second_order;
pub mod seeded_noise;

pub use adabound::AdaBoundConfig;
pub use adaptive::{
    AdaptiveOptimizer, AdaptiveRule, AdaptiveState, Denominator, Direction, MaxOfSecondMoment,
};
pub use amsgrad::{AmsGradConfig, AmsGradConvention};
pub use burn::optim::{Lion, LionConfig};
pub use cautious::{Cautious, CautiousConfig, CautiousNormalization};
pub use config_error::OptimConfigError;
pub use finite_guard::{GradientCheck, SkipCounter};
pub use grams::GramsConfig;
pub use host_step::StepPath;
pub use lr_scaled::{LrScaled, mup_module_optimizer};
pub use multi_pass::{
    ClosureOptimizer, EntropySgd, EntropySgdConfig, EntropySgdSemantics, EntropySgdState, Gam,
    GamConfig, OptAmsGrad, OptAmsGradConfig, OptAmsGradPrediction, OptAmsGradState,
    RunningStatistics, Sam, SamConfig, StateRecord,
};
pub use padam::PAdamConfig;
pub use second_order::{Mfac, MfacConfig};

// The `RecordState` derive refers to these at the crate root.
use burn::optim::{RecordState, StateSink, StateSource, join_index};
// And `Vec<Tensor>` fields to `::alloc`.
extern crate alloc;

use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{ModuleOptimizer, Optimizer};

/// Wraps a bare optimizer for a whole module, with optional gradient clipping (the `init`
/// convention of burn-optim's configs).
pub(crate) fn module_optimizer<O: Optimizer>(
    optimizer: O,
    grad_clipping: &Option<GradientClippingConfig>,
) -> ModuleOptimizer {
    let optim = ModuleOptimizer::from(optimizer);
    match grad_clipping {
        Some(config) => optim.with_grad_clipping(config.init()),
        None => optim,
    }
}
