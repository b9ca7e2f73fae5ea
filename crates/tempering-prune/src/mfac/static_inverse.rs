//! M-FAC's static algorithm in blocked form: products with, and the diagonal of, the inverse
//! empirical Fisher of a fixed set of gradients (Frantar, Kurtic & Alistarh, "M-FAC: Efficient
//! Matrix-Free Approximations of Second-Order Information", NeurIPS 2021, Section 3; official
//! code IST-DASLab/M-FAC `prun.py`, classes `HInvFastBatch` and `HInvFastBlock`).
//!
//! For gradients `g₀ … g_{m−1}` and `F = damp·I + (1/m) Σᵢ gᵢgᵢᵀ`, with `λ = 1/damp`:
//! `Hg₀ = λg₀`, `Hgᵢ = λgᵢ − Σ_{j<i} (Hgⱼ·gᵢ / denomⱼ) Hgⱼ`, `denomᵢ = m + gᵢ·Hgᵢ` (so
//! `Hgᵢ` is `F⁻¹` of the first `i` gradients times `gᵢ`), after which
//! `F⁻¹x = λx − Σᵢ (Hgᵢ·x / denomᵢ) Hgᵢ` and `diag(F⁻¹) = λ − Σᵢ Hgᵢ² / denomᵢ`: `O(m²·d)` to
//! build, `O(m·d)` per product, never a `d × d` matrix. The blocked form keeps one such
//! inverse per run of `block` consecutive coordinates (the last run shorter), the
//! block-diagonal approximation the paper prunes with.

use rayon::prelude::*;

/// The inverse empirical Fisher of fixed gradients, block by block (see the module docs).
#[derive(Clone, Debug)]
pub struct InverseFisher {
    lambda: f64,
    /// Coordinates per block (the last block may hold fewer).
    block: usize,
    /// Coordinates in all.
    dims: usize,
    blocks: Vec<Block>,
}

/// One block's `Hgᵢ` (row-major `m × len`) and `denomᵢ`.
#[derive(Clone, Debug)]
struct Block {
    len: usize,
    hg: Vec<f64>,
    denom: Vec<f64>,
}

impl InverseFisher {
    /// From `gradients` (each of the same length `d`), blocks of `block` coordinates (`None`:
    /// one block, the full Fisher) and the dampening `damp`. `m` is the number of gradients
    /// given, zero rows included.
    ///
    /// # Panics
    /// If there are no gradients, their lengths differ, `block` is `Some(0)` or `damp` is not
    /// positive.
    pub fn new(gradients: &[Vec<f32>], block: Option<usize>, damp: f64) -> Self {
        assert!(!gradients.is_empty(), "M-FAC needs at least one gradient");
        assert!(damp > 0.0, "M-FAC's dampening must be positive");
        let dims = gradients[0].len();
        assert!(
            gradients.iter().all(|g| g.len() == dims),
            "M-FAC: gradients of different lengths"
        );
        let block = block.unwrap_or(dims).max(1);
        assert!(block > 0, "M-FAC: blocks must hold a coordinate");
        let lambda = 1.0 / damp;
        let m = gradients.len();
        let starts: Vec<usize> = (0..dims).step_by(block).collect();
        let blocks = starts
            .par_iter()
            .map(|&start| {
                let len = block.min(dims - start);
                let rows: Vec<&[f32]> = gradients.iter().map(|g| &g[start..start + len]).collect();
                Block::new(&rows, lambda, m)
            })
            .collect();
        Self {
            lambda,
            block,
            dims,
            blocks,
        }
    }

    /// `diag(F⁻¹)`, one value per coordinate.
    pub fn diagonal(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.dims);
        for b in &self.blocks {
            let mut d = vec![self.lambda; b.len];
            for (row, denom) in b.hg.chunks(b.len.max(1)).zip(&b.denom) {
                for (dk, h) in d.iter_mut().zip(row) {
                    *dk -= h * h / denom;
                }
            }
            out.extend(d);
        }
        out
    }

    /// `F⁻¹x`.
    ///
    /// # Panics
    /// If `x` does not have one value per coordinate.
    pub fn mul(&self, x: &[f64]) -> Vec<f64> {
        assert_eq!(x.len(), self.dims, "M-FAC: vector of the wrong length");
        let parts: Vec<Vec<f64>> = self
            .blocks
            .par_iter()
            .enumerate()
            .map(|(i, b)| {
                let x = &x[i * self.block..i * self.block + b.len];
                let mut res: Vec<f64> = x.iter().map(|v| self.lambda * v).collect();
                for (row, denom) in b.hg.chunks(b.len.max(1)).zip(&b.denom) {
                    let c = dot(row, x) / denom;
                    for (r, h) in res.iter_mut().zip(row) {
                        *r -= c * h;
                    }
                }
                res
            })
            .collect();
        parts.concat()
    }
}

impl Block {
    fn new(rows: &[&[f32]], lambda: f64, m: usize) -> Self {
        let len = rows[0].len();
        let mut hg = vec![0.0f64; m * len];
        let mut denom = vec![0.0f64; m];
        for (i, g) in rows.iter().enumerate() {
            let g: Vec<f64> = g.iter().map(|&v| v as f64).collect();
            let (done, rest) = hg.split_at_mut(i * len);
            let h = &mut rest[..len];
            for (hk, gk) in h.iter_mut().zip(&g) {
                *hk = lambda * gk;
            }
            for (j, hj) in done.chunks(len.max(1)).enumerate() {
                let c = dot(hj, &g) / denom[j];
                for (hk, hjk) in h.iter_mut().zip(hj) {
                    *hk -= c * hjk;
                }
            }
            denom[i] = m as f64 + dot(&g, h);
        }
        Self { len, hg, denom }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
