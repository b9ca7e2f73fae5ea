//! Activation layers and attention's softmax with their own CPU kernels where Burn's are slow.

pub mod gelu;
pub mod gelu_kernel;
pub mod softmax;
pub mod softmax_kernel;

pub use gelu::{Gelu, GeluBackend};
#[cfg(feature = "flex")]
pub use softmax::SoftmaxBackend;
pub use softmax::attention_softmax;
