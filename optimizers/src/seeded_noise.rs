//! Reproducible Gaussian noise from a seed, generated on the host.
//!
//! Burn's `Tensor::random` draws from a generator shared by the whole process, so two
//! optimizers (or two tests) running in parallel threads would perturb each other's draws and
//! no run could be resumed exactly. Optimizers that need noise (Entropy-SGD's Langevin steps)
//! and diagnostics that need a random start (power iteration) draw from here instead: the values
//! depend only on the seed and the stream number.

use burn::tensor::{Device, Tensor, TensorData};
use tempering_core::split_mix::SplitMix64;

/// `n` standard normal values of stream `stream` under `seed` (Box–Muller, both outputs used).
pub fn standard_normal(n: usize, seed: u64, stream: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let (u1, u2) = (rng.unit(), rng.unit());
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        out.push((r * c) as f32);
        out.push((r * s) as f32);
    }
    out.truncate(n);
    out
}

/// [`standard_normal`] as a vector tensor on `device`.
pub fn standard_normal_tensor(n: usize, seed: u64, stream: u64, device: &Device) -> Tensor<1> {
    Tensor::from_data(
        TensorData::new(standard_normal(n, seed, stream), [n]),
        device,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproducible_distinct_and_standard() {
        let a = standard_normal(100_001, 7, 0);
        assert_eq!(a, standard_normal(100_001, 7, 0));
        assert_ne!(a[..10], standard_normal(10, 7, 1)[..]);
        assert_ne!(a[..10], standard_normal(10, 8, 0)[..]);
        let n = a.len() as f64;
        let mean = a.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = a.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        // Standard error of the mean is 1/√n ≈ 0.003; of the variance ≈ √(2/n) ≈ 0.0045.
        assert!(mean.abs() < 0.015, "{mean}");
        assert!((var - 1.0).abs() < 0.025, "{var}");
    }
}
