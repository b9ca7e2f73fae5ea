//! Activation layers and attention's softmax with their own CPU kernels where Burn's are slow.

pub mod gelu;
mod gelu_kernel;
pub mod softmax;
pub(crate) mod softmax_kernel;

pub use gelu::{Gelu, GeluApproximation, GeluBackend};
#[cfg(feature = "flex")]
pub use softmax::SoftmaxBackend;
pub use softmax::attention_softmax;
