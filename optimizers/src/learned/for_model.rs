//! The one place a learned optimizer becomes a `ModuleOptimizer` for a network: μLO's config
//! with each tensor's step scaled by its muP role under muP, the standard-parametrization config
//! with one scale under SP (Therien et al. 2024, arXiv:2405.14658, §4). The shipped optimizers
//! ([`mulo_optimizer`](super::mulo_optimizer), [`splo_optimizer`](super::splo_optimizer)), the
//! examples' `--optimizer mulo|splo` and meta-training's inner tasks all build through it, so
//! a meta-trained optimizer is applied exactly as it was trained.

use burn::optim::ModuleOptimizer;
use burn::optim::grad_clipping::GradientClippingConfig;
use tempering_core::mup::{MupGroups, MupTensorRole, Parametrization};

use super::{LearnedOptimizerConfig, LoptWeights};
use crate::lr_scaled::mup_module_optimizer;

/// A learned optimizer with meta-trained `weights` for a network of `parametrization` whose
/// tensors have the muP `roles` (as `MupModule::mup_roles` lists them; unused under SP), every
/// group's gradients clipped as `grad_clipping` says. Step it with learning rate 1.0, and build
/// it for the very model instance you train (the muP scales are keyed by its parameters' ids).
///
/// ```
/// use tempering_core::mup::Parametrization;
/// use tempering_optim::learned::{LoptWeights, learned_module_optimizer};
/// let optimizer = learned_module_optimizer(LoptWeights::splo(), Parametrization::Standard, &[], None);
/// # let _ = optimizer;
/// ```
pub fn learned_module_optimizer(
    weights: LoptWeights,
    parametrization: Parametrization,
    roles: &[MupTensorRole],
    grad_clipping: Option<GradientClippingConfig>,
) -> ModuleOptimizer {
    let (config, scaled_roles) = match parametrization {
        Parametrization::Mup => (LearnedOptimizerConfig::mu(), roles),
        Parametrization::Standard => (LearnedOptimizerConfig::new(), &[][..]),
    };
    mup_module_optimizer(
        &MupGroups::by(scaled_roles, MupTensorRole::step_scale),
        config.build(weights),
        grad_clipping,
    )
}
