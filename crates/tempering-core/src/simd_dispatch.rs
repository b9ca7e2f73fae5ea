//! Running a host loop compiled for a wider instruction set where the CPU has it, chosen at run
//! time: the fused optimizer steps and their NaN check (tempering-optim), the CPU activation
//! kernels (tempering-models) and checkpoint pruning's ranking and masking loops
//! (tempering-prune) share it. [`wide_dispatch`] goes up to AVX2; [`widest_dispatch`] on to
//! AVX-512, for the loops where it was measured.

/// True when the CPU runs the AVX2+FMA builds of the loops (detected by std, then cached).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn wide_simd() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// Runs `f` compiled with AVX2 and FMA where the CPU has them (chosen at run time), so that the
/// loop inside it, once inlined, runs on 8 lanes instead of SSE2's 4. The features change no
/// result: Rust never fuses `a * b + c` on its own.
#[inline(always)]
pub fn wide_dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn wide<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if wide_simd() {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { wide(f) };
        }
    }
    f()
}

/// True when the CPU also runs the AVX-512 builds of the loops (AVX-512F and VL, besides AVX2
/// and FMA).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn widest_simd() -> bool {
    wide_simd()
        && std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512vl")
}

/// [`wide_dispatch`] with one more level: `f` compiled with AVX-512 (16 lanes) where the CPU
/// has it. For loops whose arithmetic (square roots, divisions, selects) competes with their
/// memory traffic: the fused optimizer steps of tempering-optim. On an AVX-512 Xeon (Sapphire
/// Rapids, 2 cores) it cut AdaBound's step on 1M parameters from 0.73–0.97 ms to 0.51–0.61 ms,
/// the slowest kernel there, and changed no other row beyond the run-to-run spread. Like the
/// other levels it changes no result: each lane computes exactly what the scalar loop does.
#[inline(always)]
pub fn widest_dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
        fn widest<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if widest_simd() {
            // SAFETY: the CPU supports AVX-512F, AVX-512VL, AVX2 and FMA, checked just above.
            return unsafe { widest(f) };
        }
    }
    wide_dispatch(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An optimizer-like loop (square root, division, select): the dispatched builds must give
    /// the same bits as the baseline build, whatever this CPU runs.
    fn kernel(x: &mut [f32], v: &[f32]) {
        let n = x.len();
        let v = &v[..n];
        for i in 0..n {
            let h = 1e-3 / (v[i].sqrt() + 1e-8);
            let h = if h.is_finite() { h } else { 0.0 };
            x[i] = x[i] * 0.999 - h * x[i].clamp(-0.5, 0.5);
        }
    }

    #[test]
    fn every_dispatch_level_gives_the_baseline_bits() {
        let v: Vec<f32> = (0..4099)
            .map(|i| (i as f32 * 0.37).sin().abs() * 1e-3)
            .collect();
        let x0: Vec<f32> = (0..4099).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut baseline = x0.clone();
        kernel(std::hint::black_box(&mut baseline), &v);
        let mut wide = x0.clone();
        wide_dispatch(|| kernel(&mut wide, &v));
        let mut widest = x0;
        widest_dispatch(|| kernel(&mut widest, &v));
        let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&wide), bits(&baseline));
        assert_eq!(bits(&widest), bits(&baseline));
    }
}
