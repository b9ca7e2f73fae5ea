//! Activation layers with their own CPU kernels where Burn's are slow.

pub mod gelu;
pub mod gelu_kernel;

pub use gelu::{Gelu, GeluBackend};
