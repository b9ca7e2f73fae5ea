//! The fused loop's per-element kernel: the moments, the update and cautious masking, run over
//! host slices in parallel chunks, each chunk loop compiled for the baseline target, AVX2 and
//! AVX-512 and chosen at run time.

use burn::tensor::Tensor;

use super::sign;
use crate::cautious_normalization::CautiousNormalization;
use crate::host_step::{CautiousTally, par_chunks, par_sum, with_host_slices};
#[cfg(target_arch = "x86_64")]
use crate::host_step::{wide_simd, widest_simd};

/// The per-step constants of a fused loop and its denominator `h(√v̂)`.
#[derive(Clone, Copy)]
pub(super) struct Kernel<H> {
    pub(super) b1: f32,
    pub(super) b2: f32,
    pub(super) decay: f32,
    pub(super) coupled: f32,
    pub(super) inv_bc2: f32,
    pub(super) h: H,
    /// The cautious wrapper's decoupled decay `1 - lr·λ`, applied to `x` before the rule (1
    /// otherwise, which changes nothing).
    pub(super) pre_decay: f32,
    /// Cautious masking (two passes) when set.
    pub(super) cautious: Option<CautiousNormalization>,
}

/// What [`Cautious`](crate::Cautious) asks of a fused step: its decay factor and normalization.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CautiousMask {
    pub(crate) pre_decay: f32,
    pub(crate) normalization: CautiousNormalization,
}

impl<H: Fn(f32) -> f32 + Sync + Copy> Kernel<H> {
    /// `x`'s new value, from the updated moments (`v_hat` already maximized) and the gradient.
    #[inline(always)]
    fn update<const GRAMS: bool>(&self, x: f32, g: f32, m: f32, v_hat: f32) -> f32 {
        let dir = if GRAMS { sign(g) * m.abs() } else { m };
        let h = (self.h)(v_hat.sqrt());
        // ε = 0 and a coordinate without gradient history: 0/0 → no step.
        let h = if h.is_finite() { h } else { 0.0 };
        x * self.decay - dir * h
    }

    #[inline(always)]
    fn moments(&self, x: f32, g: f32, m: &mut f32, v: &mut f32) {
        let g = g + self.coupled * x;
        *m = self.b1 * *m + (1.0 - self.b1) * g;
        *v = self.b2 * *v + (1.0 - self.b2) * g * g;
    }

    /// The new `x` from the old one, with cautious masking when `scale` is set: a component
    /// whose update `x - x_new` disagrees with the gradient stays, the others are scaled.
    #[inline(always)]
    fn finish<const MASK: bool>(x: f32, x_new: f32, g: f32, scale: f32) -> f32 {
        if MASK {
            let u = x - x_new;
            if u * g > 0.0 { x - u * scale } else { x }
        } else {
            x_new
        }
    }

    /// The cautious scale from a read-only pass: `Some(None)` without cautious masking,
    /// `Some(Some(scale))` with it, `None` when the gradient holds NaN or ±∞ (the caller has
    /// checked finiteness itself when not cautious).
    fn cautious_scale<const N: usize>(
        &self,
        slices: [&[f32]; N],
        agrees: impl Fn([f32; N]) -> bool + Sync,
    ) -> Option<Option<f32>> {
        let Some(normalization) = self.cautious else {
            return Some(None);
        };
        let n = slices[0].len();
        let tally = par_sum(slices, &|_, chunk| {
            CautiousTally::count_dispatched::<N, 1>(chunk, &agrees)
        });
        (!tally.non_finite).then(|| Some(normalization.scale(tally.kept, n)))
    }

    /// The cautious scale by C-Optim's own test, `1[m·g > 0]` on the new first moment (for
    /// Grams its direction `sign(g)·|m|`), read from the gradient and `m` alone (and the
    /// parameter under coupled L2 decay): two or three arrays instead of all of them, and no
    /// square root or division. Used when the kernel has no decoupled decay of its own: then the
    /// update is `dir·h` with `h > 0`, whose sign is `dir`'s, so this keeps exactly the
    /// components the full rule keeps, save updates so small they round away (which change
    /// nothing either way, but count here as in C-Optim). Returns as
    /// [`cautious_scale`](Self::cautious_scale) does.
    fn momentum_scale<const GRAMS: bool>(
        &self,
        x: &[f32],
        g: &[f32],
        m: &[f32],
    ) -> Option<Option<f32>> {
        let Some(normalization) = self.cautious else {
            return Some(None);
        };
        let k = *self;
        let agrees = move |xd: f32, g: f32, m: f32| {
            let m = k.b1 * m + (1.0 - k.b1) * (g + k.coupled * xd);
            let dir = if GRAMS { sign(g) * m.abs() } else { m };
            dir * g > 0.0
        };
        let tally = if k.coupled == 0.0 {
            par_sum([g, m], &|_, c| {
                CautiousTally::count_dispatched::<2, 0>(c, |[g, m]| agrees(0.0, g, m))
            })
        } else {
            par_sum([x, g, m], &|_, c| {
                CautiousTally::count_dispatched::<3, 1>(c, |[x, g, m]| {
                    agrees(x * k.pre_decay, g, m)
                })
            })
        };
        (!tally.non_finite).then(|| Some(normalization.scale(tally.kept, g.len())))
    }

    /// Parameter, gradient, `m`, `v`: one parallel pass (two with cautious masking). The flag
    /// is false when the cautious pass found a non-finite gradient and nothing was written.
    pub(super) fn run<const D: usize, const GRAMS: bool>(
        &self,
        tensors: [Tensor<D>; 4],
    ) -> ([Tensor<D>; 4], bool) {
        let mut applied = false;
        let tensors = with_host_slices(tensors, |[x, g, m, v]| {
            // `k` by value (`move`): the loop keeps the constants in registers and vectorizes.
            let k = *self;
            let scale = if k.decay == 1.0 {
                self.momentum_scale::<GRAMS>(x, g, m)
            } else {
                self.cautious_scale([&*x, &*g, &*m, &*v], move |[x, g, mut m, mut v]| {
                    let xd = x * k.pre_decay;
                    k.moments(xd, g, &mut m, &mut v);
                    (xd - k.update::<GRAMS>(xd, g, m, v)) * g > 0.0
                })
            };
            // The mask is a const parameter so the plain loop carries no trace of it.
            match scale {
                None => return,
                Some(None) => par_chunks([x, g, m, v], &|_, c| {
                    chunk4::<H, GRAMS, false>(self, c, 0.0)
                }),
                Some(Some(sc)) => {
                    par_chunks([x, g, m, v], &|_, c| chunk4::<H, GRAMS, true>(self, c, sc))
                }
            }
            applied = true;
        });
        (tensors, applied)
    }

    /// Parameter, gradient, `m`, `v`, `v̂`: one parallel pass (two with cautious masking);
    /// `CORRECTED` maximizes `v/bc₂`. The flag is as for [`run`](Self::run).
    pub(super) fn run_max<const D: usize, const CORRECTED: bool, const GRAMS: bool>(
        &self,
        tensors: [Tensor<D>; 5],
    ) -> ([Tensor<D>; 5], bool) {
        let inv_bc2 = self.inv_bc2;
        let v_hat = move |v: f32, vm: f32| vm.max(if CORRECTED { v * inv_bc2 } else { v });
        let mut applied = false;
        let tensors = with_host_slices(tensors, |[x, g, m, v, vm]| {
            let slices = [&*x, &*g, &*m, &*v, &*vm];
            let k = *self;
            let scale = if k.decay == 1.0 {
                self.momentum_scale::<GRAMS>(x, g, m)
            } else {
                self.cautious_scale(slices, move |[x, g, mut m, mut v, vm]| {
                    let xd = x * k.pre_decay;
                    k.moments(xd, g, &mut m, &mut v);
                    let x_new = k.update::<GRAMS>(xd, g, m, v_hat(v, vm));
                    (xd - x_new) * g > 0.0
                })
            };
            match scale {
                None => return,
                Some(None) => par_chunks([x, g, m, v, vm], &|_, c| {
                    chunk5::<H, CORRECTED, GRAMS, false>(self, c, 0.0)
                }),
                Some(Some(sc)) => par_chunks([x, g, m, v, vm], &|_, c| {
                    chunk5::<H, CORRECTED, GRAMS, true>(self, c, sc)
                }),
            }
            applied = true;
        });
        (tensors, applied)
    }
}

/// Generates a chunk loop three times, for the baseline target and, on x86-64, with AVX2 and FMA
/// enabled (8 lanes instead of SSE2's 4: the loops are compute-bound on `sqrt` and `/`) and with
/// AVX-512 (16 lanes), plus a dispatcher that chooses at run time. The features change no result: Rust never fuses
/// `a * b + c` on its own.
macro_rules! simd_dispatch {
    ($name:ident, $base:ident, $wide:ident, [$($c:ident),*], $n:literal,
     |$k:ident, $s:ident, $scale:ident| $body:block) => {
        #[inline(always)]
        fn $base<H: Fn(f32) -> f32 + Sync + Copy, $(const $c: bool),*>(
            $k: &Kernel<H>,
            $s: [&mut [f32]; $n],
            $scale: f32,
        ) $body

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        fn $wide<H: Fn(f32) -> f32 + Sync + Copy, $(const $c: bool),*>(
            k: &Kernel<H>,
            s: [&mut [f32]; $n],
            scale: f32,
        ) {
            $base::<H, $($c),*>(k, s, scale)
        }

        fn $name<H: Fn(f32) -> f32 + Sync + Copy, $(const $c: bool),*>(
            k: &Kernel<H>,
            s: [&mut [f32]; $n],
            scale: f32,
        ) {
            // AVX-512 where the CPU has it (16 lanes; see `widest_dispatch`), declared here
            // so each loop gets its own.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
            fn widest<H: Fn(f32) -> f32 + Sync + Copy, $(const $c: bool),*>(
                k: &Kernel<H>,
                s: [&mut [f32]; $n],
                scale: f32,
            ) {
                $base::<H, $($c),*>(k, s, scale)
            }
            #[cfg(target_arch = "x86_64")]
            if widest_simd() {
                // SAFETY: the CPU supports AVX-512F, AVX-512VL, AVX2 and FMA, checked just
                // above.
                return unsafe { widest::<H, $($c),*>(k, s, scale) };
            }
            #[cfg(target_arch = "x86_64")]
            if wide_simd() {
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                return unsafe { $wide::<H, $($c),*>(k, s, scale) };
            }
            $base::<H, $($c),*>(k, s, scale)
        }
    };
}

simd_dispatch!(
    chunk4,
    chunk4_base,
    chunk4_wide,
    [GRAMS, MASK],
    4,
    |k, s, scale| {
        let n = s[0].len();
        let [x, g, m, v] = s.map(|s| &mut s[..n]);
        for i in 0..n {
            // Only the cautious wrapper decays here (1 otherwise): skip the multiply then.
            let xd = if MASK { x[i] * k.pre_decay } else { x[i] };
            k.moments(xd, g[i], &mut m[i], &mut v[i]);
            let x_new = k.update::<GRAMS>(xd, g[i], m[i], v[i]);
            x[i] = Kernel::<H>::finish::<MASK>(xd, x_new, g[i], scale);
        }
    }
);

simd_dispatch!(
    chunk5,
    chunk5_base,
    chunk5_wide,
    [CORRECTED, GRAMS, MASK],
    5,
    |k, s, scale| {
        let n = s[0].len();
        let [x, g, m, v, vm] = s.map(|s| &mut s[..n]);
        for i in 0..n {
            // Only the cautious wrapper decays here (1 otherwise): skip the multiply then.
            let xd = if MASK { x[i] * k.pre_decay } else { x[i] };
            k.moments(xd, g[i], &mut m[i], &mut v[i]);
            vm[i] = vm[i].max(if CORRECTED { v[i] * k.inv_bc2 } else { v[i] });
            let x_new = k.update::<GRAMS>(xd, g[i], m[i], vm[i]);
            x[i] = Kernel::<H>::finish::<MASK>(xd, x_new, g[i], scale);
        }
    }
);
