//! The fused loop's per-element kernel: the moments, the update and cautious masking, run over
//! host slices in parallel chunks, each chunk loop compiled for the baseline target, AVX2 and
//! AVX-512 and chosen at run time.

use super::sign;
use crate::cautious_normalization::CautiousNormalization;
use tempering_core::simd_dispatch::widest_dispatch;

use crate::host_step::{CautiousTally, par_chunks, par_sum};

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

    /// Parameter, gradient, `m`, `v`: one parallel pass (two with cautious masking). False when
    /// the cautious pass found a non-finite gradient and nothing was written.
    pub(super) fn run<const GRAMS: bool>(&self, [x, g, m, v]: [&mut [f32]; 4]) -> bool {
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
            None => return false,
            Some(None) => par_chunks([x, g, m, v], &|_, c| {
                chunk4::<H, GRAMS, false>(self, c, 0.0)
            }),
            Some(Some(sc)) => {
                par_chunks([x, g, m, v], &|_, c| chunk4::<H, GRAMS, true>(self, c, sc))
            }
        }
        true
    }

    /// Parameter, gradient, `m`, `v`, `v̂`: one parallel pass (two with cautious masking);
    /// `CORRECTED` maximizes `v/bc₂`. Returns as [`run`](Self::run) does.
    pub(super) fn run_max<const CORRECTED: bool, const GRAMS: bool>(
        &self,
        [x, g, m, v, vm]: [&mut [f32]; 5],
    ) -> bool {
        let inv_bc2 = self.inv_bc2;
        let v_hat = move |v: f32, vm: f32| vm.max(if CORRECTED { v * inv_bc2 } else { v });
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
            None => return false,
            Some(None) => par_chunks([x, g, m, v, vm], &|_, c| {
                chunk5::<H, CORRECTED, GRAMS, false>(self, c, 0.0)
            }),
            Some(Some(sc)) => par_chunks([x, g, m, v, vm], &|_, c| {
                chunk5::<H, CORRECTED, GRAMS, true>(self, c, sc)
            }),
        }
        true
    }
}

/// One chunk of the four-array loop (`x`, `g`, `m`, `v`), compiled for AVX-512 or AVX2 + FMA
/// where the CPU has them (`widest_dispatch`, chosen at run time: the loop is compute-bound on
/// `sqrt` and `/`); no level changes a result.
#[inline(always)]
fn chunk4<H: Fn(f32) -> f32 + Sync + Copy, const GRAMS: bool, const MASK: bool>(
    k: &Kernel<H>,
    s: [&mut [f32]; 4],
    scale: f32,
) {
    // The loop is a function of its own, called from the closure rather than written in it:
    // inlined, its reference parameters keep their no-alias scopes, so the constants stay in
    // registers and the loop vectorizes (written inside the closure, under cautious masking it
    // ran scalar, three times slower).
    widest_dispatch(
        #[inline(always)]
        move || chunk4_loop::<H, GRAMS, MASK>(k, s, scale),
    )
}

/// The loop of [`chunk4`].
#[inline(always)]
fn chunk4_loop<H: Fn(f32) -> f32 + Sync + Copy, const GRAMS: bool, const MASK: bool>(
    k: &Kernel<H>,
    s: [&mut [f32]; 4],
    scale: f32,
) {
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

/// [`chunk4`] with the running maximum `v̂` as a fifth array.
#[inline(always)]
fn chunk5<
    H: Fn(f32) -> f32 + Sync + Copy,
    const CORRECTED: bool,
    const GRAMS: bool,
    const MASK: bool,
>(
    k: &Kernel<H>,
    s: [&mut [f32]; 5],
    scale: f32,
) {
    widest_dispatch(
        #[inline(always)]
        move || chunk5_loop::<H, CORRECTED, GRAMS, MASK>(k, s, scale),
    )
}

/// The loop of [`chunk5`].
#[inline(always)]
fn chunk5_loop<
    H: Fn(f32) -> f32 + Sync + Copy,
    const CORRECTED: bool,
    const GRAMS: bool,
    const MASK: bool,
>(
    k: &Kernel<H>,
    s: [&mut [f32]; 5],
    scale: f32,
) {
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
