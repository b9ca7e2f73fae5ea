//! Networks for local learning, trained by tempering-train's local-learning loop through
//! [`LocalStages`](tempering_core::local_stages::LocalStages), and end to end as their baseline:
//! - [`LocalResNet`]: a small residual network in K stages with greedy, DGL or AugLocal
//!   auxiliary networks ([`AuxiliaryKind`]; AugLocal's rules in [`auglocal_rule`]);
//! - [`FeatureReconstructionVit`]: a ViT in K modules with feature-reconstruction decoders;
//! - [`MonoForwardMlp`]: Mono-Forward's per-layer projections.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use tempering_core::local_stages::LocalStages;
//! use tempering_models::local::{AuxiliaryKind, LocalResNetConfig};
//! let device = Device::default();
//! let net = LocalResNetConfig::new()
//!     .with_auxiliary(AuxiliaryKind::AugLocal { depth: 2, tau: 0.5 })
//!     .init(&device);
//! assert_eq!(net.stage_count(), 7);
//! assert_eq!(net.logits(Tensor::zeros([2, 28, 28], &device)).dims(), [2, 10]);
//! ```

pub mod auglocal_rule;
pub mod auxiliary_heads;
pub mod factorized_resnet;
pub mod feature_reconstruction;
pub mod local_resnet;
pub mod mono_forward;
pub mod residual_layer;
#[cfg(test)]
mod tests;

pub use auxiliary_heads::{AuxiliaryHead, AuxiliaryKind};

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Int, Tensor};

/// Mean cross-entropy of `logits` `[batch, classes]` against class `targets`: every local and
/// final classification loss here.
pub(crate) fn cross_entropy(logits: Tensor<2>, targets: &Tensor<1, Int>) -> Tensor<1> {
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, targets.clone())
}
pub use factorized_resnet::FactorizedResNetConfig;
pub use feature_reconstruction::{FeatureReconstructionVit, FeatureReconstructionVitConfig};
pub use local_resnet::{LocalResNet, LocalResNetConfig};
pub use mono_forward::{MonoForwardMlp, MonoForwardMlpConfig};
