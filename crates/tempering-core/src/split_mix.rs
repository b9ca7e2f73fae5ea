//! SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", OOPSLA
//! 2014): the one small seeded generator tempering uses where results must depend on a seed
//! alone (Burn's `Tensor::random` draws from a process-wide generator shared by every thread).

/// The SplitMix64 finalizer: a well-mixed 64-bit hash of `z`.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The golden-ratio increment between successive states.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The value at position `index` of the stream seeded with `seed`, without stepping through
/// the ones before it.
pub fn at(seed: u64, index: u64) -> u64 {
    mix(seed.wrapping_add(GAMMA.wrapping_mul(index.wrapping_add(1))))
}

/// A SplitMix64 generator.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        mix(self.0)
    }

    /// Uniform in (0, 1], 53 bits.
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`0` when `n` is 0), by modulo (bias below 2⁻³² for `n` < 2³²).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// `n` standard normal values of stream `stream` under `seed` (Box–Muller, both outputs used):
/// reproducible Gaussian noise that depends on the seed and the stream number alone.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_normal_is_reproducible_distinct_and_standard() {
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

    /// The first outputs for seed 1234567, from the reference C implementation
    /// (`splitmix64.c`, Vigna, prng.di.unimi.it).
    #[test]
    fn matches_the_reference_outputs() {
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(at(1_234_567, 0), 6_457_827_717_110_365_317);
        assert_eq!(at(1_234_567, 1), 3_203_168_211_198_807_973);
    }
}
