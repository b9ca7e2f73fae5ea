//! Reproducible Gaussian noise from a seed, generated on the host.
//!
//! Burn's `Tensor::random` draws from a generator shared by the whole process, so two
//! optimizers (or two tests) running in parallel threads would perturb each other's draws and
//! no run could be resumed exactly. Optimizers that need noise (Entropy-SGD's Langevin steps)
//! and diagnostics that need a random start (power iteration) draw from here instead: the values
//! depend only on the seed and the stream number (tempering-core's
//! [`standard_normal`](tempering_core::split_mix::standard_normal)).

use burn::tensor::{Device, Tensor, TensorData};
pub use tempering_core::split_mix::standard_normal;

/// [`standard_normal`] as a vector tensor on `device`.
pub fn standard_normal_tensor(n: usize, seed: u64, stream: u64, device: &Device) -> Tensor<1> {
    Tensor::from_data(
        TensorData::new(standard_normal(n, seed, stream), [n]),
        device,
    )
}
