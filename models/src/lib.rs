//! Models for tempering: image classifiers (MLPs, low-rank MLPs, a muP MLP, a ViT) and a decoder-only
//! transformer language model now;
//! networks for local learning ([`local`]: AugLocal, DGL and greedy heads on a small ResNet,
//! feature reconstruction on a ViT, Mono-Forward); keypoint matchers ([`matcher`]: GIMS,
//! SuperGlue, LightGlue-style).
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use tempering_models::{ImageClassifier, MlpClassifierConfig};
//! let device = Device::default();
//! let model = MlpClassifierConfig::new().init(&device);
//! assert_eq!(model.logits(Tensor::zeros([2, 28, 28], &device)).dims(), [2, 10]);
//! ```

pub mod activation;
pub mod compression;
mod host_op;
pub mod image_classifier;
pub mod local;
pub mod low_rank_conv;
pub mod low_rank_linear;
pub mod low_rank_mlp;
pub mod matcher;
pub mod mlp_classifier;
pub mod multitask_cnn;
pub mod mup_mlp;
pub mod mup_roles;
pub mod saved_classifier;
pub mod transformer;
pub mod vit;
pub mod vit_factorized;

pub use image_classifier::ImageClassifier;
pub use low_rank_conv::{ConvLayer, ConvProjection, LowRankConv2d};
pub use low_rank_linear::{LinearLayer, LowRankLinear, LowRankLinearConfig};
pub use low_rank_mlp::{LowRankMlpClassifier, LowRankMlpClassifierConfig};
pub use mlp_classifier::{MlpClassifier, MlpClassifierConfig};
pub use multitask_cnn::{MultitaskCnn, MultitaskCnnConfig};
pub use mup_mlp::{MupMlp, MupMlpConfig};
pub use transformer::{TransformerLm, TransformerLmConfig};
pub use vit::{VitClassifier, VitClassifierConfig, VitPooling};
pub use vit_factorized::FactorizedVitConfig;
