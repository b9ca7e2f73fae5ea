//! The common face of image classifiers, so training code can take any of them.

use burn::module::{Module, ModuleDisplay};
use burn::tensor::Tensor;

/// A module that maps a batch of single-channel images `[batch, height, width]` to class logits
/// `[batch, classes]`.
pub trait ImageClassifier: Module + ModuleDisplay + core::fmt::Display {
    /// Class logits for a batch of images.
    fn logits(&self, images: Tensor<3>) -> Tensor<2>;
}
