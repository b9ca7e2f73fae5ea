//! The exact (erf) GELU of Hendrycks & Gimpel, "Gaussian Error Linear Units (GELUs)" (2016),
//! and its derivative, as host loops that vectorize: erf by Abramowitz & Stegun 7.1.26 (absolute
//! error below 1.5e-7, the approximation Burn's WGPU kernels use) and `exp` by a Cody–Waite
//! reduction with a degree-6 polynomial, both branch-free, so that one pass over a tensor runs
//! 8 lanes at a time instead of one `libm` call per element.

use std::f32::consts::{FRAC_1_SQRT_2, LOG2_E};

use rayon::prelude::*;
use tempering_core::simd_dispatch::wide_dispatch;

/// Elements per parallel task: below this a tensor runs on one thread.
const CHUNK: usize = 16 * 1024;

/// `1 / sqrt(2π)`, the standard normal density at 0.
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// `ln 2` split in two (Cody & Waite; Cephes' values) so that `x - n·ln 2` loses no bits.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// `e^x` for f32, branch-free: `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`, `e^r` by Cephes' expf
/// polynomial, `2^n` assembled in the exponent bits. Inputs are clamped to [-87, 88], inside
/// the normal range, so the result is never ∞ nor subnormal (GELU needs neither).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    // 1.5 · 2^23: adding it rounds to an integer, which then sits in the low mantissa bits.
    const ROUNDER: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2_E + ROUNDER;
    let n = shifted - ROUNDER;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_2e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e_r = p * r * r + r + 1.0;
    let exponent = shifted
        .to_bits()
        .wrapping_sub(ROUNDER.to_bits())
        .wrapping_add(127);
    e_r * f32::from_bits(exponent << 23)
}

/// erf by Abramowitz & Stegun 7.1.26 on `|x|`, the sign restored after.
#[inline(always)]
fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152_1,
        1.061_405_4,
    ];
    // Past 3.9 the result rounds to exactly ±1 in f32; capping |x| at 9 keeps
    // `poly · e^{-a²}` (≥ 3e-37) out of the subnormal range, where each multiplication costs a
    // microcode assist on x86.
    let a = x.abs();
    let a = if a > 9.0 { 9.0 } else { a }; // NaN stays NaN
    let t = 1.0 / (1.0 + P * a);
    let poly = ((((A[4] * t + A[3]) * t + A[2]) * t + A[1]) * t + A[0]) * t;
    (1.0 - poly * exp(-a * a)).copysign(x)
}

/// `GELU(x) = x · Φ(x) = x/2 · (1 + erf(x / √2))`.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2))
}

/// Derivatives smaller than this are taken as 0 (below `x ≈ -9.5`, where `GELU'` is a tail of
/// the Gaussian): they cannot move a gradient sum at f32 precision, and kept they turn the
/// gradients they multiply into subnormal floats, which cost a microcode assist in every
/// multiplication downstream on x86. Measured: a char LM trained by a learned optimizer, whose
/// pre-activations grew past -13, ran its backward matrix products 6× slower.
const NEGLIGIBLE_DERIVATIVE: f32 = 1e-20;

/// `x`, or 0 when `x` is subnormal.
#[inline(always)]
pub(crate) fn flush_subnormal(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE { 0.0 } else { x }
}

/// `g · GELU'(x)`, with `GELU'(x) = Φ(x) + x · φ(x)`; derivatives below
/// [`NEGLIGIBLE_DERIVATIVE`] and subnormal results are 0.
#[inline(always)]
pub fn gelu_backward(x: f32, g: f32) -> f32 {
    let cdf = 0.5 * (1.0 + erf(x * FRAC_1_SQRT_2));
    // The exponent is capped at -80 so that φ (≥ 7e-36) is never subnormal.
    let pdf = INV_SQRT_2PI * exp((-0.5 * x * x).max(-80.0));
    let derivative = cdf + x * pdf;
    let derivative = if derivative.abs() < NEGLIGIBLE_DERIVATIVE {
        0.0
    } else {
        derivative
    };
    flush_subnormal(g * derivative)
}

/// Writes `GELU(x)` for every element of `x` into `out` (same length), in parallel chunks.
pub fn gelu_slice(x: &[f32], out: &mut [f32]) {
    assert_eq!(
        x.len(),
        out.len(),
        "gelu_slice: input and output lengths differ"
    );
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(o, x)| {
            wide_dispatch(|| {
                for (o, &x) in o.iter_mut().zip(x) {
                    *o = gelu(x);
                }
            })
        });
}

/// Writes `g · GELU'(x)` elementwise into `out` (all three the same length), in parallel chunks.
pub fn gelu_backward_slice(x: &[f32], g: &[f32], out: &mut [f32]) {
    assert!(
        x.len() == g.len() && g.len() == out.len(),
        "gelu_backward_slice: input, gradient and output lengths differ"
    );
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
        .for_each(|(o, (x, g))| {
            wide_dispatch(|| {
                for ((o, &x), &g) in o.iter_mut().zip(x).zip(g) {
                    *o = gelu_backward(x, g);
                }
            })
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The f64 reference erf: std has none, so `2/√π ∫₀ˣ e^{-t²} dt` by composite Simpson with
    /// 4,000 panels (error below 1e-10 for |x| ≤ 8). The bounds below are A&S 7.1.26's 1.5e-7
    /// plus f32 rounding.
    fn erf_f64(x: f64) -> f64 {
        let n = 4000;
        let h = x / n as f64;
        let f = |t: f64| (-t * t).exp();
        let mut s = f(0.0) + f(x);
        for i in 1..n {
            s += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn ln2_split_is_ln2() {
        assert!(((LN2_HI as f64 + LN2_LO as f64) - std::f64::consts::LN_2).abs() < 1e-9);
    }

    #[test]
    fn exp_matches_std_to_two_ulps_over_the_range() {
        let mut worst = 0.0f64;
        for i in 0..=20_000 {
            let x = -87.0 + 175.0 * i as f32 / 20_000.0;
            let want = (x as f64).exp();
            let rel = ((exp(x) as f64 - want) / want).abs();
            worst = worst.max(rel);
        }
        assert!(worst < 2.5e-7, "worst relative error {worst:e}");
        assert_eq!(exp(-1e30), exp(-87.0));
        assert!(exp(0.0) == 1.0);
    }

    #[test]
    fn erf_is_within_a_and_s_bound() {
        let mut worst = 0.0f64;
        for i in -600..=600 {
            let x = i as f64 / 100.0;
            worst = worst.max((erf(x as f32) as f64 - erf_f64(x)).abs());
        }
        assert!(worst < 2.5e-7, "worst absolute error {worst:e}");
        assert_eq!(erf(f32::INFINITY), 1.0);
        assert_eq!(erf(f32::NEG_INFINITY), -1.0);
        assert!(erf(f32::NAN).is_nan());
    }

    #[test]
    fn gelu_and_its_derivative_match_the_f64_formulas() {
        let phi = |x: f64| 0.5 * (1.0 + erf_f64(x / 2f64.sqrt()));
        for i in -800..=800 {
            let x = i as f64 / 100.0;
            let want = x * phi(x);
            let got = gelu(x as f32) as f64;
            assert!(
                (got - want).abs() <= 2e-7 * (1.0 + x.abs()),
                "GELU({x}): {got} vs {want}"
            );
            let density = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let want = -1.5 * (phi(x) + x * density);
            let got = gelu_backward(x as f32, -1.5) as f64;
            assert!(
                (got - want).abs() <= 4e-7 * (1.0 + x.abs()),
                "GELU'({x}): {got} vs {want}"
            );
        }
        assert!(gelu(f32::NAN).is_nan() && gelu_backward(f32::NAN, 1.0).is_nan());
        assert_eq!(gelu(f32::INFINITY), f32::INFINITY);
    }

    /// Saturated units (pre-activations far below zero) give exact zeros, never subnormal
    /// floats, forward or backward, whatever the gradient's size; and the derivative where it is
    /// not negligible is unchanged (GELU'(-9) ≈ -1e-17 stays).
    #[test]
    fn saturated_units_give_no_subnormal_values() {
        for i in -4000..=4000 {
            let x = i as f32 * 0.01;
            assert!(!gelu(x).is_subnormal(), "GELU({x})");
            for g in [1.0, 1e-6, 1e-12, -3e-15] {
                let d = gelu_backward(x, g);
                assert!(!d.is_subnormal(), "GELU'({x}) · {g} = {d:e}");
            }
        }
        assert_eq!(gelu_backward(-13.5, 1e-3), 0.0);
        assert!(gelu_backward(-9.0, 1.0) < -1e-18);
    }

    #[test]
    fn slices_equal_the_scalar_kernel_across_chunks() {
        let n = 3 * CHUNK + 17;
        let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 6.0).collect();
        let g: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut y = vec![0.0; n];
        let mut dx = vec![0.0; n];
        gelu_slice(&x, &mut y);
        gelu_backward_slice(&x, &g, &mut dx);
        for i in 0..n {
            assert_eq!(y[i].to_bits(), gelu(x[i]).to_bits(), "{i}");
            assert_eq!(dx[i].to_bits(), gelu_backward(x[i], g[i]).to_bits(), "{i}");
        }
    }
}
