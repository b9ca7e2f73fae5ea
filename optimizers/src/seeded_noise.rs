//! Reproducible Gaussian noise from a seed, generated on the host.
//!
//! Burn's `Tensor::random` draws from a generator shared by the whole process, so two
//! optimizers (or two tests) running in parallel threads would perturb each other's draws and
//! no run could be resumed exactly. Optimizers that need noise (Entropy-SGD's Langevin steps)
//! and diagnostics that need a random start (power iteration) draw from here instead: the values
//! depend only on the seed and the stream number.

use burn::tensor::{Device, Tensor, TensorData};

/// SplitMix64 (Steele, Lea & Flood, OOPSLA 2014): a small, fast, well-mixed generator.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1], 53 bits.
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
}

/// `n` standard normal values of stream `stream` under `seed` (Box–Muller, both outputs used).
pub fn standard_normal(n: usize, seed: u64, stream: u64) -> Vec<f32> {
    let mut rng = SplitMix64(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
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
