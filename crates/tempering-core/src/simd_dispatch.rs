//! Running a host loop compiled for a wider instruction set where the CPU has it, chosen at run
//! time: the fused optimizer steps (tempering-optim) and the CPU activation kernels
//! (tempering-models) share it.

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
