//! The learned-optimizer step written the plain way, element by element, exactly as the rules
//! read (the implementation tempering shipped first): the oracle the fast step in
//! [`host_update`](super::host_update) is tested against on shapes and gradients the reference
//! trajectories do not reach (large tensors, zero-gradient rows, every factoring case).

use rayon::prelude::*;

use super::host_update::{Accumulators, Factored, UpdateScales, mean_over, reduced_shape};
use super::weights::{HIDDEN, LoptWeights, TENSOR_FEATURES, TIMESCALES};

/// Elements per parallel chunk of the feature and MLP passes.
const CHUNK: usize = 4096;

/// Index into the array reduced over `axis` (kept as size 1) of element `i` of `shape`.
#[inline]
fn reduced_index(i: usize, shape: &[usize], axis: usize) -> usize {
    let inner: usize = shape[axis + 1..].iter().product();
    let len = shape[axis];
    (i / (len * inner)) * inner + i % inner
}

/// `1/√max(x, 1e-9)`: the reference's `safe_rsqrt`.
#[inline]
fn safe_rsqrt(x: f32) -> f32 {
    1.0 / x.max(1e-9).sqrt()
}

/// One step of the learned optimizer on parameter `p` of `shape` with gradient `g` (finite),
/// at step count `t` (0 on the first step): updates the accumulators and `p` in place.
pub(super) fn update(
    weights: &LoptWeights,
    scales: UpdateScales,
    shape: &[usize],
    t: usize,
    p: &mut [f32],
    g: &[f32],
    acc: Accumulators<'_>,
) {
    let n = p.len();
    let decays = weights.decays();
    let Accumulators {
        momenta,
        second,
        factored,
    } = acc;
    // Accumulators (before the features, as the reference does).
    let [m0, m1, m2] = momenta;
    let (b0, b1, b2, bv) = (decays[0], decays[1], decays[2], decays[3]);
    m0.par_iter_mut()
        .zip(m1.par_iter_mut())
        .zip(m2.par_iter_mut().zip(second.par_iter_mut()))
        .zip(g.par_iter())
        .for_each(|(((a, b), (c, v)), &g)| {
            *a = b0 * *a + (1.0 - b0) * g;
            *b = b1 * *b + (1.0 - b1) * g;
            *c = b2 * *c + (1.0 - b2) * g;
            *v = bv * *v + (1.0 - bv) * g * g;
        });
    let squared: Vec<f32> = g.iter().map(|&g| g * g + 1e-30).collect();
    // Per-decay factors of the Adafactor-normalized gradient and features.
    let shape: Vec<usize> = if shape.is_empty() {
        vec![1]
    } else {
        shape.to_vec()
    };
    let stats = FactorStats::update(
        factored,
        &shape,
        &squared,
        [decays[4], decays[5], decays[6]],
    );
    drop(squared);
    let momenta = [&*m0, &*m1, &*m2];
    let second = &*second;
    // `p` is read for its feature and written by the update; the features read a copy.
    let p_before: Vec<f32> = p.to_vec();
    let features = |i: usize, out: &mut [f32; TENSOR_FEATURES]| {
        let (gi, vi) = (g[i], second[i]);
        out[0] = gi;
        out[1] = p_before[i];
        let r = 1.0 / (vi + 1e-6).sqrt();
        out[5] = vi;
        out[9] = r;
        for k in 0..3 {
            let m = momenta[k][i];
            out[2 + k] = m;
            out[6 + k] = m * r;
        }
        stats.features(i, gi, [momenta[0][i], momenta[1][i], momenta[2][i]], out);
    };
    // Pass 1: the mean square of each feature over the tensor (chunk sums in order, so the
    // result does not depend on the thread count).
    let chunk_sums: Vec<[f64; TENSOR_FEATURES]> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut sums = [0.0f64; TENSOR_FEATURES];
            let mut f = [0.0f32; TENSOR_FEATURES];
            for i in c * CHUNK..((c + 1) * CHUNK).min(n) {
                features(i, &mut f);
                for (s, &x) in sums.iter_mut().zip(&f) {
                    *s += (x as f64) * (x as f64);
                }
            }
            sums
        })
        .collect();
    let mut norm = [0.0f32; TENSOR_FEATURES];
    for (k, nk) in norm.iter_mut().enumerate() {
        let mean = chunk_sums.iter().map(|s| s[k]).sum::<f64>() / n as f64;
        *nk = (1.0 / (1e-5 + mean).sqrt()) as f32;
    }
    // The step features are the same for every element: fold them into the first bias.
    let mut first_bias = weights.biases[0].clone();
    for (j, tau) in TIMESCALES.iter().enumerate() {
        let s = ((t as f64 / tau) - 1.0).tanh() as f32;
        let row = &weights.weights[0][(TENSOR_FEATURES + j) * HIDDEN..][..HIDDEN];
        for (b, &w) in first_bias.iter_mut().zip(row) {
            *b += s * w;
        }
    }
    // Pass 2: normalized features → MLP → update, chunk by chunk, in blocks of `BLOCK`
    // elements so the MLP runs over a small batch at a time.
    const BLOCK: usize = 256;
    p.par_chunks_mut(CHUNK).enumerate().for_each(|(c, chunk)| {
        let mut feats = vec![[0.0f32; TENSOR_FEATURES]; BLOCK];
        let mut outs = vec![[0.0f32; 2]; BLOCK];
        for (b, block) in chunk.chunks_mut(BLOCK).enumerate() {
            let start = c * CHUNK + b * BLOCK;
            let feats = &mut feats[..block.len()];
            for (j, f) in feats.iter_mut().enumerate() {
                features(start + j, f);
                for (x, s) in f.iter_mut().zip(&norm) {
                    *x *= s;
                }
            }
            let outs = &mut outs[..block.len()];
            for (f, out) in feats.iter().zip(outs.iter_mut()) {
                *out = mlp(weights, &first_bias, f);
            }
            for (pj, [direction, magnitude]) in block.iter_mut().zip(outs.iter()) {
                *pj -=
                    scales.lr * direction * (scales.exp_mult * magnitude).exp() * scales.step_mult;
            }
        }
    });
}

/// The MLP on one normalized feature vector (the step features folded into `first_bias`):
/// `39 → 32 → ReLU → 32 → ReLU → 2`.
#[inline(always)]
fn mlp(weights: &LoptWeights, first_bias: &[f32], f: &[f32; TENSOR_FEATURES]) -> [f32; 2] {
    let mut h1 = [0.0f32; HIDDEN];
    h1.copy_from_slice(first_bias);
    for (k, &x) in f.iter().enumerate() {
        let row = &weights.weights[0][k * HIDDEN..(k + 1) * HIDDEN];
        for (h, &w) in h1.iter_mut().zip(row) {
            *h += x * w;
        }
    }
    let mut h2 = [0.0f32; HIDDEN];
    h2.copy_from_slice(&weights.biases[1]);
    for (k, &x) in h1.iter().enumerate() {
        let x = x.max(0.0);
        let row = &weights.weights[1][k * HIDDEN..(k + 1) * HIDDEN];
        for (h, &w) in h2.iter_mut().zip(row) {
            *h += x * w;
        }
    }
    let mut out = [weights.biases[2][0], weights.biases[2][1]];
    for (k, &x) in h2.iter().enumerate() {
        let x = x.max(0.0);
        out[0] += x * weights.weights[2][2 * k];
        out[1] += x * weights.weights[2][2 * k + 1];
    }
    out
}

/// The Adafactor statistics after this step's update, and the factors derived from them.
enum FactorStats {
    Factored(Box<FactoredStats>),
    Full([Vec<f32>; 3]),
}

/// Factored statistics of a rank ≥ 2 tensor after the update, and their factors.
struct FactoredStats {
    shape: Vec<usize>,
    dims: (usize, usize),
    /// Row statistics per decay, indexed by [`reduced_index`] over `d0`.
    rows: [Vec<f32>; 3],
    /// Column statistics per decay, over `d1`.
    cols: [Vec<f32>; 3],
    /// `safe_rsqrt(row / (mean of row over d1 + 1e-9))` per decay.
    row_factors: [Vec<f32>; 3],
    /// `safe_rsqrt(col)` per decay.
    col_factors: [Vec<f32>; 3],
}

impl FactorStats {
    /// Updates `acc` with the squared gradient (`g² + 1e-30`) at `decays`, and keeps copies
    /// and factors for the features.
    fn update(acc: Factored<'_>, shape: &[usize], squared: &[f32], decays: [f32; 3]) -> Self {
        match acc {
            Factored::Full(full) => {
                let mut copies: [Vec<f32>; 3] = Default::default();
                for (k, v) in full.into_iter().enumerate() {
                    let beta = decays[k];
                    v.par_iter_mut()
                        .zip(squared.par_iter())
                        .for_each(|(v, &s)| *v = beta * *v + (1.0 - beta) * s);
                    copies[k] = v.to_vec();
                }
                FactorStats::Full(copies)
            }
            Factored::Factored { dims, rows, cols } => {
                let (d0, d1) = dims;
                let row_mean = mean_over(squared, shape, d0);
                let col_mean = mean_over(squared, shape, d1);
                let row_shape = reduced_shape(shape, d0);
                let mut row_copies: [Vec<f32>; 3] = Default::default();
                let mut col_copies: [Vec<f32>; 3] = Default::default();
                let mut row_factors: [Vec<f32>; 3] = Default::default();
                let mut col_factors: [Vec<f32>; 3] = Default::default();
                for (k, (row, col)) in rows.into_iter().zip(cols).enumerate() {
                    let beta = decays[k];
                    for (v, &s) in row.iter_mut().zip(&row_mean) {
                        *v = beta * *v + (1.0 - beta) * s;
                    }
                    for (v, &s) in col.iter_mut().zip(&col_mean) {
                        *v = beta * *v + (1.0 - beta) * s;
                    }
                    let across = mean_over(row, &row_shape, d1);
                    row_factors[k] = row
                        .iter()
                        .enumerate()
                        .map(|(r, &v)| {
                            safe_rsqrt(v / (across[reduced_index(r, &row_shape, d1)] + 1e-9))
                        })
                        .collect();
                    col_factors[k] = col.iter().map(|&v| safe_rsqrt(v)).collect();
                    row_copies[k] = row.to_vec();
                    col_copies[k] = col.to_vec();
                }
                FactorStats::Factored(Box::new(FactoredStats {
                    shape: shape.to_vec(),
                    dims,
                    rows: row_copies,
                    cols: col_copies,
                    row_factors,
                    col_factors,
                }))
            }
        }
    }

    /// Features 10–27 of element `i` (gradient `g`, momenta `m`).
    #[inline]
    fn features(&self, i: usize, g: f32, m: [f32; 3], out: &mut [f32; TENSOR_FEATURES]) {
        match self {
            FactorStats::Full(full) => {
                for k in 0..3 {
                    let v = full[k][i];
                    out[10 + k] = g * safe_rsqrt(v + 1e-9);
                    out[13 + k] = v;
                    out[16 + k] = v;
                    out[19 + k] = 1.0 / (v + 1e-8).sqrt();
                    out[22 + k] = 1.0 / (v + 1e-8).sqrt();
                    out[25 + k] = m[k] / (v + 1e-6).sqrt();
                }
            }
            FactorStats::Factored(stats) => {
                let FactoredStats {
                    shape,
                    dims: (d0, d1),
                    rows,
                    cols,
                    row_factors,
                    col_factors,
                } = &**stats;
                let r = reduced_index(i, shape, *d0);
                let c = reduced_index(i, shape, *d1);
                for k in 0..3 {
                    let scale = row_factors[k][r] * col_factors[k][c];
                    let (row, col) = (rows[k][r], cols[k][c]);
                    out[10 + k] = g * scale;
                    out[13 + k] = row;
                    out[16 + k] = col;
                    out[19 + k] = 1.0 / (row + 1e-8).sqrt();
                    out[22 + k] = 1.0 / (col + 1e-8).sqrt();
                    out[25 + k] = m[k] * scale;
                }
            }
        }
    }
}
