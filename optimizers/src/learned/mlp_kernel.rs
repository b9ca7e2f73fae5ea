//! The learned optimizer's MLP (`39 → 32 → ReLU → 32 → ReLU → 2`) over a block of elements, as
//! register-blocked products: the weights of one input row are loaded once for a tile of
//! elements (12 with AVX-512, 2 with AVX2), each element's feature broadcast against them.
//!
//! What is the same for many elements is folded out of the per-element product before the step
//! runs: the feature normalization into the first layer's rows, the 11 step-count features into
//! its bias, and, with factored statistics, the 12 row and column features into one vector per
//! row and per column of the parameter ([`FirstLayerStart`]). The per-element first layer then
//! has 16 inputs instead of 39, and every element still computes exactly the reference's MLP
//! (up to float rounding).

use super::element_layout::Segment;
use super::features::{BLOCK, flush};
use super::weights::{HIDDEN, LoptWeights, TENSOR_FEATURES, TIMESCALES};

/// The MLP with the per-element rows of its first layer normalized.
pub struct FoldedMlp {
    /// Per-element inputs.
    k: usize,
    /// `[k, HIDDEN]`: row `j` is the first layer's row of feature `rows[j]` times its
    /// normalization.
    first: Vec<f32>,
    /// `[HIDDEN, HIDDEN]`.
    second: Vec<f32>,
    second_bias: [f32; HIDDEN],
    /// The last layer's two columns, each contiguous.
    out_cols: [[f32; HIDDEN]; 2],
    out_bias: [f32; 2],
}

/// The first layer's bias with the step-count features `tanh(t/τ − 1)` of step `t` folded in
/// (they are the same for every element).
pub fn step_bias(weights: &LoptWeights, t: usize) -> Vec<f32> {
    let mut bias = weights.biases[0].clone();
    for (j, tau) in TIMESCALES.iter().enumerate() {
        let s = ((t as f64 / tau) - 1.0).tanh() as f32;
        let row = &weights.weights[0][(TENSOR_FEATURES + j) * HIDDEN..][..HIDDEN];
        for (b, &w) in bias.iter_mut().zip(row) {
            *b += s * w;
        }
    }
    bias
}

/// Adds `value · norm · W₀[feature]` to `out`.
fn add_row(out: &mut [f32], weights: &LoptWeights, feature: usize, value: f32, norm: f32) {
    let x = flush(value) * norm;
    let row = &weights.weights[0][feature * HIDDEN..][..HIDDEN];
    for (o, &w) in out.iter_mut().zip(row) {
        *o += x * w;
    }
}

/// Where each element's first-layer sum starts before its per-element features are added.
pub enum FirstLayerStart {
    /// The same vector for every element (elementwise statistics): the bias.
    Shared(Vec<f32>),
    /// Factored statistics: the bias and the row features folded per row, the column features
    /// per column; an element starts from its row's vector plus its column's.
    Tables {
        /// `[rows, HIDDEN]`.
        rows: Vec<f32>,
        /// `[cols, HIDDEN]`.
        cols: Vec<f32>,
        /// Step of the row index along a segment (0 or 1).
        row_stride: usize,
        /// Step of the column index along a segment (0 or 1).
        col_stride: usize,
    },
}

impl FirstLayerStart {
    /// The tables of a parameter with factored statistics `rows` and `cols` (per decay, after the
    /// update), features 13–24 normalized by `norm`.
    pub fn tables(
        weights: &LoptWeights,
        bias: &[f32],
        norm: &[f32; TENSOR_FEATURES],
        (rows, cols): ([&[f32]; 3], [&[f32]; 3]),
        (row_stride, col_stride): (usize, usize),
    ) -> Self {
        let table = |stats: [&[f32]; 3], plain: usize, root: usize, start: &[f32]| {
            let mut out = Vec::with_capacity(stats[0].len() * HIDDEN);
            let entries = stats[0].iter().zip(stats[1]).zip(stats[2]);
            for ((&s0, &s1), &s2) in entries {
                let mut v = start.to_vec();
                for (k, s) in [s0, s1, s2].into_iter().enumerate() {
                    add_row(&mut v, weights, plain + k, s, norm[plain + k]);
                    let inv = 1.0 / (s + 1e-8).sqrt();
                    add_row(&mut v, weights, root + k, inv, norm[root + k]);
                }
                out.extend(v.into_iter().map(flush));
            }
            out
        };
        FirstLayerStart::Tables {
            rows: table(rows, 13, 19, bias),
            cols: table(cols, 16, 22, &[0.0; HIDDEN]),
            row_stride,
            col_stride,
        }
    }

    /// Writes the starting vector of each element of `segment` to `out[e·HIDDEN..]` (zeros past
    /// the segment).
    #[inline(always)]
    pub fn fill(&self, segment: Segment, out: &mut [f32]) {
        let out = &mut out[..BLOCK * HIDDEN];
        let (filled, rest) = out.split_at_mut(segment.len * HIDDEN);
        match self {
            FirstLayerStart::Shared(bias) => {
                for o in filled.chunks_exact_mut(HIDDEN) {
                    o.copy_from_slice(bias);
                }
            }
            FirstLayerStart::Tables {
                rows,
                cols,
                row_stride,
                col_stride,
            } => {
                // Slices held in locals and fixed-size rows: no bounds checks and no reloads
                // of the tables' headers, so the 32 additions vectorize.
                let (rows, cols): (&[f32], &[f32]) = (rows, cols);
                let (row_stride, col_stride) = (*row_stride, *col_stride);
                for (e, o) in filled.as_chunks_mut::<HIDDEN>().0.iter_mut().enumerate() {
                    let r: &[f32; HIDDEN] = rows[(segment.row + e * row_stride) * HIDDEN..]
                        [..HIDDEN]
                        .try_into()
                        .expect("32");
                    let c: &[f32; HIDDEN] = cols[(segment.col + e * col_stride) * HIDDEN..]
                        [..HIDDEN]
                        .try_into()
                        .expect("32");
                    *o = std::array::from_fn(|j| r[j] + c[j]);
                }
            }
        }
        rest.fill(0.0);
    }
}

impl FoldedMlp {
    /// The MLP of `weights` with per-element inputs `rows` (indices among the 28 features), each
    /// scaled by `norm`.
    pub fn new(weights: &LoptWeights, rows: &[usize], norm: &[f32; TENSOR_FEATURES]) -> Self {
        let mut first = Vec::with_capacity(rows.len() * HIDDEN);
        for &f in rows {
            let row = &weights.weights[0][f * HIDDEN..][..HIDDEN];
            first.extend(row.iter().map(|&w| norm[f] * w));
        }
        let w2 = &weights.weights[2];
        Self {
            k: rows.len(),
            first,
            second: weights.weights[1].clone(),
            second_bias: weights.biases[1].as_slice().try_into().expect("32 biases"),
            out_cols: [
                std::array::from_fn(|k| w2[2 * k]),
                std::array::from_fn(|k| w2[2 * k + 1]),
            ],
            out_bias: [weights.biases[2][0], weights.biases[2][1]],
        }
    }

    /// The MLP's two outputs, direction and magnitude, for each element of a block: `feats` the
    /// per-element inputs feature-major (`[k, BLOCK]`, normalized by the folded rows), `start`
    /// each element's first-layer starting vector (`[BLOCK, HIDDEN]`).
    #[inline]
    pub fn run(&self, feats: &[f32], start: &[f32], out: &mut [[f32; BLOCK]; 2]) {
        assert!(feats.len() >= self.k * BLOCK && start.len() >= BLOCK * HIDDEN);
        #[cfg(target_arch = "x86_64")]
        {
            if tempering_core::simd_dispatch::widest_simd() {
                // SAFETY: the CPU has AVX-512F (checked just above); sizes asserted above.
                unsafe { self.run_avx512(feats, start, out) };
                return;
            }
            if tempering_core::simd_dispatch::wide_simd() {
                // SAFETY: the CPU has AVX2 and FMA (checked just above); sizes asserted above.
                unsafe { self.run_avx2(feats, start, out) };
                return;
            }
        }
        self.run_portable(feats, start, out);
    }

    /// One element at a time, multiplications and additions rounded separately.
    pub fn run_portable(&self, feats: &[f32], start: &[f32], out: &mut [[f32; BLOCK]; 2]) {
        for e in 0..BLOCK {
            let mut h1: [f32; HIDDEN] = start[e * HIDDEN..][..HIDDEN].try_into().expect("32");
            for j in 0..self.k {
                let x = feats[j * BLOCK + e];
                for (h, &w) in h1.iter_mut().zip(&self.first[j * HIDDEN..][..HIDDEN]) {
                    *h += x * w;
                }
            }
            let mut h2 = self.second_bias;
            for (j, &x) in h1.iter().enumerate() {
                let x = x.max(0.0);
                for (h, &w) in h2.iter_mut().zip(&self.second[j * HIDDEN..][..HIDDEN]) {
                    *h += x * w;
                }
            }
            for (o, (col, bias)) in out.iter_mut().zip(self.out_cols.iter().zip(self.out_bias)) {
                let mut sum = bias;
                for (&h, &w) in h2.iter().zip(col) {
                    sum += h.max(0.0) * w;
                }
                o[e] = sum;
            }
        }
    }

    /// Tiles of 12 elements, each hidden layer's 32 outputs in two 16-lane registers per element
    /// (24 accumulators), one fused multiply-add per weight and element.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn run_avx512(&self, feats: &[f32], start: &[f32], out: &mut [[f32; BLOCK]; 2]) {
        use std::arch::x86_64::*;
        const T: usize = 12;
        const _: () = assert!(BLOCK.is_multiple_of(T) && HIDDEN == 32);
        let zero = _mm512_setzero_ps();
        let mut hidden = [0.0f32; T * HIDDEN];
        // SAFETY (every load and store): offsets stay inside `feats` ([k, BLOCK]), `start`
        // ([BLOCK, HIDDEN]), the weight arrays and `hidden`, whose sizes are fixed above.
        unsafe {
            let load = |p: *const f32| _mm512_loadu_ps(p);
            let first = self.first.as_ptr();
            let second = self.second.as_ptr();
            let b1 = [
                load(self.second_bias.as_ptr()),
                load(self.second_bias.as_ptr().add(16)),
            ];
            let cols = self
                .out_cols
                .map(|c| [load(c.as_ptr()), load(c.as_ptr().add(16))]);
            for t0 in (0..BLOCK).step_by(T) {
                let mut acc = [[zero; 2]; T];
                for (t, a) in acc.iter_mut().enumerate() {
                    let s = start.as_ptr().add((t0 + t) * HIDDEN);
                    *a = [load(s), load(s.add(16))];
                }
                for j in 0..self.k {
                    let w = [
                        load(first.add(j * HIDDEN)),
                        load(first.add(j * HIDDEN + 16)),
                    ];
                    let x = feats.as_ptr().add(j * BLOCK + t0);
                    for (t, a) in acc.iter_mut().enumerate() {
                        let xb = _mm512_set1_ps(*x.add(t));
                        a[0] = _mm512_fmadd_ps(xb, w[0], a[0]);
                        a[1] = _mm512_fmadd_ps(xb, w[1], a[1]);
                    }
                }
                for (t, a) in acc.iter().enumerate() {
                    let h = hidden.as_mut_ptr().add(t * HIDDEN);
                    _mm512_storeu_ps(h, _mm512_max_ps(a[0], zero));
                    _mm512_storeu_ps(h.add(16), _mm512_max_ps(a[1], zero));
                }
                let mut acc = [b1; T];
                for j in 0..HIDDEN {
                    let w = [
                        load(second.add(j * HIDDEN)),
                        load(second.add(j * HIDDEN + 16)),
                    ];
                    for (t, a) in acc.iter_mut().enumerate() {
                        let xb = _mm512_set1_ps(hidden[t * HIDDEN + j]);
                        a[0] = _mm512_fmadd_ps(xb, w[0], a[0]);
                        a[1] = _mm512_fmadd_ps(xb, w[1], a[1]);
                    }
                }
                for (t, a) in acc.iter().enumerate() {
                    let h = [_mm512_max_ps(a[0], zero), _mm512_max_ps(a[1], zero)];
                    for (o, (c, bias)) in out.iter_mut().zip(cols.iter().zip(self.out_bias)) {
                        let sum = _mm512_fmadd_ps(h[1], c[1], _mm512_mul_ps(h[0], c[0]));
                        o[t0 + t] = bias + _mm512_reduce_add_ps(sum);
                    }
                }
            }
        }
    }

    /// Pairs of elements, each hidden layer's 32 outputs in four 8-lane registers per element
    /// (eight independent fused multiply-add chains).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, feats: &[f32], start: &[f32], out: &mut [[f32; BLOCK]; 2]) {
        use std::arch::x86_64::*;
        const T: usize = 2;
        const _: () = assert!(BLOCK.is_multiple_of(T) && HIDDEN == 32);
        let zero = _mm256_setzero_ps();
        let mut hidden = [0.0f32; T * HIDDEN];
        let hsum = |x: __m256| {
            let pair = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
            let pair = _mm_add_ps(pair, _mm_movehl_ps(pair, pair));
            _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)))
        };
        // SAFETY (every load and store): as in `run_avx512`, 8 lanes at offsets `8·v` (v < 4)
        // inside rows of 32.
        unsafe {
            let load = |p: *const f32| _mm256_loadu_ps(p);
            let four = |p: *const f32| [0, 1, 2, 3].map(|v| load(p.add(8 * v)));
            let first = self.first.as_ptr();
            let second = self.second.as_ptr();
            let b1 = four(self.second_bias.as_ptr());
            let cols = self.out_cols.map(|c| four(c.as_ptr()));
            for t0 in (0..BLOCK).step_by(T) {
                let mut acc = [[zero; 4]; T];
                for (t, a) in acc.iter_mut().enumerate() {
                    *a = four(start.as_ptr().add((t0 + t) * HIDDEN));
                }
                for j in 0..self.k {
                    let w = four(first.add(j * HIDDEN));
                    let x = feats.as_ptr().add(j * BLOCK + t0);
                    for (t, a) in acc.iter_mut().enumerate() {
                        let xb = _mm256_set1_ps(*x.add(t));
                        for v in 0..4 {
                            a[v] = _mm256_fmadd_ps(xb, w[v], a[v]);
                        }
                    }
                }
                for (t, a) in acc.iter().enumerate() {
                    let h = hidden.as_mut_ptr().add(t * HIDDEN);
                    for (v, &x) in a.iter().enumerate() {
                        _mm256_storeu_ps(h.add(8 * v), _mm256_max_ps(x, zero));
                    }
                }
                let mut acc = [b1; T];
                for j in 0..HIDDEN {
                    let w = four(second.add(j * HIDDEN));
                    for (t, a) in acc.iter_mut().enumerate() {
                        let xb = _mm256_set1_ps(hidden[t * HIDDEN + j]);
                        for v in 0..4 {
                            a[v] = _mm256_fmadd_ps(xb, w[v], a[v]);
                        }
                    }
                }
                for (t, a) in acc.iter().enumerate() {
                    for (o, (c, bias)) in out.iter_mut().zip(cols.iter().zip(self.out_bias)) {
                        let mut sum = zero;
                        for v in 0..4 {
                            sum = _mm256_fmadd_ps(_mm256_max_ps(a[v], zero), c[v], sum);
                        }
                        o[t0 + t] = bias + hsum(sum);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learned::features::FACTORED_ROWS;

    /// Every kernel this CPU runs (and the one it dispatches to) computes the portable kernel's outputs (fused
    /// multiply-adds round once instead of twice: ~1e-6 on outputs of order one).
    #[test]
    fn the_dispatched_kernel_matches_the_portable_one() {
        let weights = LoptWeights::init(11);
        let norm: [f32; TENSOR_FEATURES] = std::array::from_fn(|k| 0.5 + 0.1 * k as f32);
        let mlp = FoldedMlp::new(&weights, &FACTORED_ROWS, &norm);
        let feats = tempering_core::split_mix::standard_normal(16 * BLOCK, 3, 0);
        let start: Vec<f32> = tempering_core::split_mix::standard_normal(BLOCK * HIDDEN, 4, 0)
            .iter()
            .map(|x| 0.3 * x)
            .collect();
        let mut portable = [[0.0; BLOCK]; 2];
        mlp.run_portable(&feats, &start, &mut portable);
        let mut kernels: Vec<[[f32; BLOCK]; 2]> = Vec::new();
        let mut fast = [[0.0; BLOCK]; 2];
        mlp.run(&feats, &start, &mut fast);
        kernels.push(fast);
        #[cfg(target_arch = "x86_64")]
        {
            use tempering_core::simd_dispatch::{wide_simd, widest_simd};
            if wide_simd() {
                // SAFETY: the CPU has AVX2 and FMA; the sizes are the kernel's.
                unsafe { mlp.run_avx2(&feats, &start, &mut fast) };
                kernels.push(fast);
            }
            if widest_simd() {
                // SAFETY: the CPU has AVX-512F; the sizes are the kernel's.
                unsafe { mlp.run_avx512(&feats, &start, &mut fast) };
                kernels.push(fast);
            }
        }
        for outputs in &kernels {
            for (f, p) in outputs.iter().flatten().zip(portable.iter().flatten()) {
                assert!((f - p).abs() <= 1e-5 * (1.0 + p.abs()), "{f} vs {p}");
            }
        }
        assert!(portable[0].iter().any(|o| o.abs() > 0.01), "non-trivial");
    }
}
