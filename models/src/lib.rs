//! Models for tempering: image classifiers now; transformers, GNN matchers and local-learning
//! auxiliary networks as the model-family issues land.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use tempering_models::{ImageClassifier, MlpClassifierConfig};
//! let device = Device::default();
//! let model = MlpClassifierConfig::new().init(&device);
//! assert_eq!(model.logits(Tensor::zeros([2, 28, 28], &device)).dims(), [2, 10]);
//! ```

pub mod image_classifier;
pub mod mlp_classifier;

pub use image_classifier::ImageClassifier;
pub use mlp_classifier::{MlpClassifier, MlpClassifierConfig};
