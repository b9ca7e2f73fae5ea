//! C-Lion's fused host step (Liang et al. 2024, "Cautious Optimizers", kyleliang919/C-Optim,
//! over Burn's Lion) in two passes that together touch each array no more often than one
//! Lion step does.
//!
//! C-Lion rescales the kept components by `n / (kept + 1)`, a count over the whole tensor, so no
//! component can be written before every one has been read. The plain way is a read-only
//! counting pass over gradient and momentum, then the update pass over parameter, gradient and
//! momentum: five array reads where Lion needs three. Here the first pass reads gradient and
//! momentum once, counts, writes the new momentum over the consumed gradient (the momentum
//! itself stays untouched until the count says the gradient was finite) and leaves each
//! component's signed mask `u·1[u·g > 0]` as one byte; the second pass reads only the parameter
//! and those bytes. Three array reads, two array writes and one byte per component each way:
//! the traffic of the memory bound, plus a quarter array twice.

use std::cell::Cell;

use crate::cautious_normalization::CautiousNormalization;
use crate::float_bits::non_finite;
use tempering_core::simd_dispatch::widest_dispatch;

use crate::host_step::{CautiousTally, par_fold_with_codes};

thread_local! {
    /// The mask bytes of the last step on this thread, kept so the next step does not fault in
    /// fresh pages (one byte per component of the largest tensor this thread stepped).
    static MASK_BYTES: Cell<Vec<i8>> = const { Cell::new(Vec::new()) };
}

/// Lion's constants and C-Lion's: `β₁`, `β₂`, the decoupled decay factor `1 - lr·λ`, the
/// learning rate, and the normalization of the kept components.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CautiousLion {
    pub(crate) beta_1: f32,
    pub(crate) beta_2: f32,
    pub(crate) decay: f32,
    pub(crate) lr: f32,
    pub(crate) normalization: CautiousNormalization,
}

impl CautiousLion {
    /// One C-Lion step on host slices: `u = sign(β₁m + (1-β₁)g)`, `x ← x·decay - lr·s·u` where
    /// `u·g > 0` (`x·decay` elsewhere), `m ← β₂m + (1-β₂)g`. The new momentum is left in `g`
    /// (the consumed gradient's memory): the caller takes `g` as the new momentum when this
    /// returns true. Returns false, with `x` and `m` untouched, when `g` holds NaN or ±∞.
    pub(crate) fn step(self, x: &mut [f32], g: &mut [f32], m: &mut [f32]) -> bool {
        let n = x.len();
        let mut mask = MASK_BYTES.take();
        if mask.len() < n {
            mask.resize(n, 0);
        }
        let applied = self.step_with(x, g, m, &mut mask[..n]);
        // A step re-entered on this thread (rayon work-stealing) found the cell empty and used
        // its own buffer; keep the larger one.
        let other = MASK_BYTES.take();
        MASK_BYTES.set(if other.len() > mask.len() {
            other
        } else {
            mask
        });
        applied
    }

    fn step_with(self, x: &mut [f32], g: &mut [f32], m: &mut [f32], mask: &mut [i8]) -> bool {
        let CautiousLion {
            beta_1,
            beta_2,
            decay,
            lr,
            normalization,
        } = self;
        let n = x.len();
        // Pass 1: read g and m; count; new momentum into g; the signed mask into `mask`.
        let tally = par_fold_with_codes(
            [g, m],
            mask,
            &move |[g, m], mask| {
                widest_dispatch(move || {
                    let len = g.len();
                    let (m, mask) = (&m[..len], &mut mask[..len]);
                    let (mut kept, mut bad) = (0u32, 0u32);
                    for i in 0..len {
                        let (gi, mi) = (g[i], m[i]);
                        let c = beta_1 * mi + (1.0 - beta_1) * gi;
                        // u·g > 0 exactly when c and g are both positive or both negative.
                        let up = (c > 0.0) & (gi > 0.0);
                        let down = (c < 0.0) & (gi < 0.0);
                        mask[i] = i8::from(up) - i8::from(down);
                        // Wrapping: a chunk is far shorter than u32::MAX, and a checked add
                        // (debug builds) would keep the loop from vectorizing.
                        kept = kept.wrapping_add(u32::from(up | down));
                        bad |= u32::from(non_finite(gi));
                        g[i] = beta_2 * mi + (1.0 - beta_2) * gi;
                    }
                    CautiousTally {
                        kept: kept as usize,
                        non_finite: bad != 0,
                    }
                })
            },
            &|a, b| a + b,
        );
        if tally.non_finite {
            return false;
        }
        let step = normalization.scale(tally.kept, n) * lr;
        // Pass 2: read x and the mask bytes; write x.
        par_fold_with_codes(
            [x],
            mask,
            &move |[x], mask| {
                widest_dispatch(move || {
                    let len = x.len();
                    let mask = &mask[..len];
                    for i in 0..len {
                        x[i] = x[i] * decay - f32::from(mask[i]) * step;
                    }
                })
            },
            &|(), ()| (),
        );
        true
    }
}
