//! Row softmax of attention scores, optionally causal, as host loops: the forward pass reads a
//! row once for its maximum and once for `exp` and the sum, then scales; the backward pass is
//! `dx = y ⊙ (g − Σ g ⊙ y)`. Burn's attention on Flex spells the same as about ten tensor
//! operations, each a pass over the scores forward and again backward (with the causal mask
//! built and applied as two more). `exp` is the vectorized one of the GELU kernel.

use rayon::prelude::*;
use tempering_core::simd_dispatch::wide_dispatch;

use super::gelu_kernel::{exp, flush_subnormal};

/// Scores this far below their row's maximum get probability 0: `e^-46 ≈ 1e-20` cannot move a
/// sum of probabilities at f32 precision, and kept, such probabilities (down to `exp`'s floor
/// of 1.6e-38, scaled) are subnormal floats, which cost a microcode assist in every
/// multiplication of the matrix products after the softmax on x86. Measured: a char LM trained
/// by a learned optimizer, whose attention sharpened, ran those products 6× slower.
const NEGLIGIBLE_SCORE: f32 = -46.0;

/// Rows per parallel task (a row is one query's scores).
const ROWS_PER_TASK: usize = 256;

/// How many leading entries of row `row` (of a `[.., t, t]` score matrix) a causal softmax
/// keeps: query `i` sees keys `0..=i`.
#[inline(always)]
fn visible(row: usize, t: usize, causal: bool) -> usize {
    if causal { row % t + 1 } else { t }
}

/// Softmax of `row[..visible]` in place; the entries after it get probability 0. Inlined into
/// its caller, which runs it inside `wide_dispatch` so that `exp` is vectorized.
#[inline(always)]
pub(crate) fn softmax_row_in_place(row: &mut [f32], visible: usize) {
    let (keep, hidden) = row.split_at_mut(visible);
    let max = keep.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in keep.iter_mut() {
        let below = *x - max;
        *x = if below < NEGLIGIBLE_SCORE {
            0.0
        } else {
            exp(below)
        };
        sum += *x;
    }
    let scale = 1.0 / sum;
    keep.iter_mut().for_each(|x| *x *= scale);
    hidden.fill(0.0);
}

/// One row of the softmax's backward pass in place: `g ← y ⊙ (g − Σ g ⊙ y)` for the row's
/// output `y` and output gradient `g`.
#[inline(always)]
pub(crate) fn softmax_row_gradient_in_place(y: &[f32], g: &mut [f32]) {
    let dot: f32 = y.iter().zip(g.iter()).map(|(y, g)| y * g).sum();
    for (g, &y) in g.iter_mut().zip(y) {
        *g = flush_subnormal(y * (*g - dot));
    }
}

/// Softmax over each row of `x` (rows of `t` entries; when `causal`, rows are grouped in
/// `t × t` matrices and query `i` of a matrix sees keys `0..=i`, the rest get probability 0).
pub fn softmax_rows(x: &[f32], out: &mut [f32], t: usize, causal: bool) {
    assert!(t > 0 && x.len() == out.len() && x.len().is_multiple_of(t));
    out.par_chunks_mut(ROWS_PER_TASK * t)
        .zip(x.par_chunks(ROWS_PER_TASK * t))
        .enumerate()
        .for_each(|(task, (out, x))| {
            wide_dispatch(|| {
                for (r, (o, x)) in out.chunks_exact_mut(t).zip(x.chunks_exact(t)).enumerate() {
                    o.copy_from_slice(x);
                    softmax_row_in_place(o, visible(task * ROWS_PER_TASK + r, t, causal));
                }
            })
        });
}

/// The input gradient of [`softmax_rows`] from its output `y` and the output gradient `g`:
/// `dx = y ⊙ (g − Σ_row g ⊙ y)` (entries a causal softmax hid have `y = 0`, so `dx = 0`).
pub fn softmax_rows_backward(y: &[f32], g: &[f32], out: &mut [f32], t: usize) {
    assert!(t > 0 && y.len() == g.len() && g.len() == out.len() && y.len().is_multiple_of(t));
    out.par_chunks_mut(ROWS_PER_TASK * t)
        .zip(
            y.par_chunks(ROWS_PER_TASK * t)
                .zip(g.par_chunks(ROWS_PER_TASK * t)),
        )
        .for_each(|(out, (y, g))| {
            wide_dispatch(|| {
                for ((o, y), g) in out
                    .chunks_exact_mut(t)
                    .zip(y.chunks_exact(t))
                    .zip(g.chunks_exact(t))
                {
                    o.copy_from_slice(g);
                    softmax_row_gradient_in_place(y, o);
                }
            })
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f64 softmax of one row's visible part, zeros after.
    fn reference(x: &[f32], n: usize) -> Vec<f64> {
        let max = x[..n]
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let e: Vec<f64> = x[..n].iter().map(|&v| (v as f64 - max).exp()).collect();
        let s: f64 = e.iter().sum();
        let mut out: Vec<f64> = e.iter().map(|v| v / s).collect();
        out.resize(x.len(), 0.0);
        out
    }

    /// A sharp row (scores spread over 200) gives exact zeros far below the maximum, never
    /// subnormal probabilities or gradients, and still sums to one.
    #[test]
    fn sharp_rows_give_no_subnormal_values() {
        let x: Vec<f32> = (0..64).map(|i| -(i as f32) * 3.2).collect();
        let mut y = x.clone();
        softmax_row_in_place(&mut y, 64);
        assert!(y.iter().all(|p| !p.is_subnormal()), "{y:?}");
        assert!(
            y[63] == 0.0 && y[14] > 0.0,
            "e^-44.8 kept, e^-201.6 dropped"
        );
        assert!((y.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let mut g: Vec<f32> = (0..64).map(|i| 1e-3 * (i as f32).sin()).collect();
        softmax_row_gradient_in_place(&y, &mut g);
        assert!(g.iter().all(|d| !d.is_subnormal()), "{g:?}");
    }

    #[test]
    fn causal_rows_match_f64_softmax_and_hide_the_future() {
        let t = 7;
        let rows = 2 * t * 40; // 80 matrices of 7 × 7, across several tasks
        let x: Vec<f32> = (0..rows * t)
            .map(|i| (i as f32 * 0.731).sin() * 9.0)
            .collect();
        for causal in [true, false] {
            let mut y = vec![f32::NAN; x.len()];
            softmax_rows(&x, &mut y, t, causal);
            for r in 0..rows {
                let n = if causal { r % t + 1 } else { t };
                let want = reference(&x[r * t..(r + 1) * t], n);
                for (j, w) in want.iter().enumerate() {
                    let got = y[r * t + j] as f64;
                    assert!((got - w).abs() < 1e-6, "row {r} col {j}: {got} vs {w}");
                }
                if causal && n < t {
                    assert_eq!(y[r * t + n], 0.0);
                }
            }
        }
    }

    /// The backward pass against central differences of `Σ g ⊙ softmax(x)` in f64.
    #[test]
    fn backward_matches_finite_differences() {
        let t = 5;
        let x: Vec<f32> = (0..3 * t * t)
            .map(|i| (i as f32 * 1.37).cos() * 2.0)
            .collect();
        let g: Vec<f32> = (0..x.len()).map(|i| (i as f32 * 0.29).sin()).collect();
        let mut y = vec![0.0; x.len()];
        softmax_rows(&x, &mut y, t, true);
        let mut dx = vec![0.0; x.len()];
        softmax_rows_backward(&y, &g, &mut dx, t);
        for r in 0..x.len() / t {
            let n = r % t + 1;
            let row = &x[r * t..(r + 1) * t];
            let gr = &g[r * t..(r + 1) * t];
            let loss = |row: &[f32]| -> f64 {
                reference(row, n)
                    .iter()
                    .zip(gr)
                    .map(|(y, &g)| y * g as f64)
                    .sum()
            };
            for j in 0..t {
                let h = 1e-3f32;
                let mut plus = row.to_vec();
                plus[j] += h;
                let mut minus = row.to_vec();
                minus[j] -= h;
                let want = (loss(&plus) - loss(&minus)) / (2.0 * h as f64);
                let got = dx[r * t + j] as f64;
                assert!(
                    (got - want).abs() < 2e-4,
                    "row {r} col {j}: {got} vs {want}"
                );
            }
        }
    }
}
