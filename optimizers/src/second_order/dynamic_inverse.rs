//! M-FAC's dynamic algorithm for one block: the coefficients that turn products with the last
//! `m` gradients into a product with the inverse empirical Fisher (Frantar, Kurtic & Alistarh,
//! "M-FAC: Efficient Matrix-Free Approximations of Second-Order Information", NeurIPS 2021,
//! Section 4; official code IST-DASLab/M-FAC `optim.py`, class `HInvFastUpMulti`).
//!
//! With the gradients as the rows of `G` (`m × d`) and `λ = 1/damp`,
//! `F⁻¹x = (damp·I + (1/m) Σᵢ gᵢgᵢᵀ)⁻¹x = λx − Gᵀc` where `c` depends on `x` only through the
//! `m` dot products `Gx`. This type holds everything `m × m`: the Gram matrix `GGᵀ` (one row and
//! column replaced per step, ring-buffer order), the unpivoted LU of `λGGᵀ + mI` and the lower
//! triangular coefficient matrix `B` of the official code, in `f64` on the host. The `m × d`
//! products with `G` stay with the caller, on the tensors' device.

use rayon::prelude::*;

/// Multiply-adds below which one LU elimination step stays on one thread.
const PARALLEL_WORK: usize = 128 * 128;

/// The `m × m` side of the dynamic algorithm for one block (row-major `f64` matrices).
#[derive(Clone, Debug)]
pub(crate) struct DynamicInverse {
    m: usize,
    lambda: f64,
    /// `GGᵀ`.
    dots: Vec<f64>,
    /// `D`: the upper triangle of `U − mI`, `U` the LU's upper factor (`giHig` officially).
    upper: Vec<f64>,
    /// `m + diag(D)`, the diagonal of `U`.
    denom: Vec<f64>,
    /// `B`: lower triangular, `λ` on the diagonal (`coef` officially).
    coef: Vec<f64>,
}

impl DynamicInverse {
    /// No gradients yet (`G = 0`), window `m`, dampening `damp`.
    pub(crate) fn new(m: usize, damp: f64) -> Self {
        Self::from_dots(m, damp, vec![0.0; m * m])
    }

    /// From a saved Gram matrix (`m × m`, row-major). The coefficients are recomputed in full;
    /// the rows the official code keeps between steps are exactly the ones a full recomputation
    /// gives (row `i` of `B` depends only on the leading `(i+1) × (i+1)` block of `GGᵀ`).
    pub(crate) fn from_dots(m: usize, damp: f64, dots: Vec<f64>) -> Self {
        assert_eq!(dots.len(), m * m, "M-FAC: Gram matrix of the wrong size");
        let lambda = 1.0 / damp;
        let mut coef = vec![0.0; m * m];
        for i in 0..m {
            coef[i * m + i] = lambda;
        }
        let mut inverse = Self {
            m,
            lambda,
            dots,
            upper: vec![0.0; m * m],
            denom: vec![0.0; m],
            coef,
        };
        inverse.setup(1);
        inverse
    }

    /// The Gram matrix `GGᵀ` (row-major), what a checkpoint saves.
    pub(crate) fn dots(&self) -> &[f64] {
        &self.dots
    }

    /// `m`, the window.
    pub(crate) fn m(&self) -> usize {
        self.m
    }

    /// `λ = 1/damp`.
    pub(crate) fn lambda(&self) -> f64 {
        self.lambda
    }

    /// Row `slot` of `G` now holds a new gradient `g`, whose dot products with every row of
    /// `G` (itself included) are `g_dots`: updates `GGᵀ` and the coefficients.
    pub(crate) fn replace(&mut self, slot: usize, g_dots: &[f64]) {
        let m = self.m;
        assert_eq!(g_dots.len(), m);
        for (j, &v) in g_dots.iter().enumerate() {
            self.dots[slot * m + j] = v;
            self.dots[j * m + slot] = v;
        }
        // Rows of B before `slot` depend only on the unchanged leading block (official:
        // `range(max(self.last, 1), self.m)`).
        self.setup(slot.max(1));
    }

    /// `c` with `F⁻¹x = λx − Gᵀc`, from `x_dots = Gx` (official `mul`, before its last line).
    pub(crate) fn coefficients(&self, x_dots: &[f64]) -> Vec<f64> {
        let m = self.m;
        let mut y: Vec<f64> = x_dots.iter().map(|v| self.lambda * v).collect();
        for i in 1..m {
            let f = y[i - 1] / self.denom[i - 1];
            let row = &self.upper[(i - 1) * m..i * m];
            for (yj, dj) in y[i..].iter_mut().zip(&row[i..]) {
                *yj -= dj * f;
            }
        }
        let mut c = vec![0.0; m];
        for ((yi, denom), row) in y.iter().zip(&self.denom).zip(self.coef.chunks(m)) {
            let z = yi / denom;
            for (cj, bij) in c.iter_mut().zip(row) {
                *cj += z * bij;
            }
        }
        c
    }

    /// The LU of `λGGᵀ + mI` without pivoting, `D`, `denom`, and rows `first..m` of `B`.
    fn setup(&mut self, first: usize) {
        let m = self.m;
        let mf = m as f64;
        let mut lu: Vec<f64> = self.dots.iter().map(|v| self.lambda * v).collect();
        for i in 0..m {
            lu[i * m + i] += mf;
        }
        // Doolittle, in place: U on and above the diagonal, L (unit) below. Row by row over
        // slices, so the inner loop vectorizes; rows in parallel while many remain.
        for k in 0..m {
            let (top, bottom) = lu.split_at_mut((k + 1) * m);
            let pivot_row = &top[k * m..(k + 1) * m];
            let eliminate = |row: &mut [f64]| {
                let l = row[k] / pivot_row[k];
                row[k] = l;
                for (a, b) in row[k + 1..].iter_mut().zip(&pivot_row[k + 1..]) {
                    *a -= l * b;
                }
            };
            if (m - k) * (m - k) >= PARALLEL_WORK {
                bottom.par_chunks_mut(m).for_each(eliminate);
            } else {
                bottom.chunks_mut(m).for_each(eliminate);
            }
        }
        for i in 0..m {
            for j in 0..m {
                self.upper[i * m + j] = if j < i {
                    0.0
                } else if j == i {
                    lu[i * m + j] - mf
                } else {
                    lu[i * m + j]
                };
            }
            self.denom[i] = mf + self.upper[i * m + i];
        }
        // B[i, :i] = T[i, :i] · B[:i, :i] with T[i][k] = −D[k][i] / denom[k]; row k of B is
        // zero right of its diagonal, so only its first k + 1 entries are added.
        for i in first..m {
            let (done, rest) = self.coef.split_at_mut(i * m);
            let row = &mut rest[..i];
            row.fill(0.0);
            for k in 0..i {
                let t = -self.upper[k * m + i] / self.denom[k];
                for (r, b) in row.iter_mut().zip(&done[k * m..=k * m + k]) {
                    *r += t * b;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(damp·I + (1/m) Σ gᵢgᵢᵀ)⁻¹x` by `m` rank-one Woodbury updates of `(1/damp)·I` (the
    /// official `HInvSlow`), in `f64`.
    fn woodbury(grads: &[Vec<f64>], damp: f64, x: &[f64]) -> Vec<f64> {
        let (m, d) = (grads.len() as f64, x.len());
        let mut h: Vec<Vec<f64>> = (0..d)
            .map(|i| {
                (0..d)
                    .map(|j| if i == j { 1.0 / damp } else { 0.0 })
                    .collect()
            })
            .collect();
        for g in grads {
            let hg: Vec<f64> = h
                .iter()
                .map(|r| r.iter().zip(g).map(|(a, b)| a * b).sum())
                .collect();
            let s = m + g.iter().zip(&hg).map(|(a, b)| a * b).sum::<f64>();
            for i in 0..d {
                for j in 0..d {
                    h[i][j] -= hg[i] * hg[j] / s;
                }
            }
        }
        h.iter()
            .map(|r| r.iter().zip(x).map(|(a, b)| a * b).sum())
            .collect()
    }

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// After the ring has wrapped (10 gradients through a window of 4), `λx − Gᵀc` is the
    /// explicit inverse's product; the official test does the same against `HInvSlow`.
    #[test]
    fn product_matches_the_explicit_inverse() {
        let (m, d, damp) = (4, 7, 1e-2);
        let mut rows = vec![vec![0.0; d]; m];
        let mut inverse = DynamicInverse::new(m, damp);
        // A deterministic, varied stream of gradients.
        for step in 0..10 {
            let g: Vec<f64> = (0..d)
                .map(|k| ((step * 7 + k * 3) as f64 * 0.37).sin() * (1.0 + k as f64 * 0.1))
                .collect();
            let slot = step % m;
            rows[slot] = g;
            let g_dots: Vec<f64> = rows.iter().map(|r| dot(r, &rows[slot])).collect();
            inverse.replace(slot, &g_dots);
        }
        let x: Vec<f64> = (0..d).map(|k| (k as f64 - 3.0) * 0.25).collect();
        let c = inverse.coefficients(&rows.iter().map(|r| dot(r, &x)).collect::<Vec<_>>());
        let fast: Vec<f64> = (0..d)
            .map(|k| inverse.lambda() * x[k] - (0..m).map(|j| c[j] * rows[j][k]).sum::<f64>())
            .collect();
        let slow = woodbury(&rows, damp, &x);
        for (a, b) in fast.iter().zip(&slow) {
            assert!(
                (a - b).abs() < 1e-8 * b.abs().max(1.0),
                "{fast:?} vs {slow:?}"
            );
        }
        // A checkpoint restores the same coefficients from the Gram matrix alone.
        let restored = DynamicInverse::from_dots(m, damp, inverse.dots().to_vec());
        assert_eq!(restored.coef, inverse.coef);
        assert_eq!(restored.upper, inverse.upper);
    }
}
