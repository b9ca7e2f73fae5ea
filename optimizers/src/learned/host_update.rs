//! One learned-optimizer step on a parameter held in host memory: accumulators, the 28
//! per-element features normalized over the tensor, the MLP over every element, the update.
//! The rules follow `learned_optimization`'s `adafac_mlp_lopt.py` and `common.py` (see
//! `docs/references.md`); `straightforward.rs` writes them element by
//! element and is the oracle the tests hold this step to.
//!
//! The step makes two passes over the elements, both in segments of `BLOCK` elements along the
//! last axis (`element_layout.rs`): the first sums the squares of each
//! per-element feature for the normalization, the second computes the features again, runs the
//! MLP (`mlp_kernel.rs`) and updates the parameter. Chunk sums are added in
//! chunk order, so the result does not depend on the thread count. Accumulators are flushed to
//! zero when they fall subnormal (see `features.rs`).

use rayon::prelude::*;

use super::element_layout::{FactoredLayout, Segment, plain_segment_at, reduced_index};
use super::features::{
    BLOCK, ElementFeatures, ElementState, FactoredFeatures, FullFeatures, add_squares, flush,
    safe_rsqrt,
};
use super::mlp_kernel::{FirstLayerStart, FoldedMlp, step_bias};
use super::weights::{HIDDEN, LoptWeights, TENSOR_FEATURES};

/// Elements per parallel chunk of the two passes.
const CHUNK: usize = 4096;

/// Runs the method call `$call` (an `#[inline(always)]` method of [`Step`]) inside a function
/// compiled for AVX-512 or AVX2+FMA where the CPU has them, so that the per-element loops it
/// inlines run 16 or 8 lanes wide. A closure handed to `widest_dispatch` was measured not to be
/// inlined here, leaving the loops on SSE2; these functions take the arguments directly.
macro_rules! simd_build {
    ($self:ident . $method:ident ( $($arg:expr),* $(,)? )) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
            fn widest<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            #[target_feature(enable = "avx2,fma")]
            fn wide<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            if tempering_core::simd_dispatch::widest_simd() {
                // SAFETY: the CPU has AVX-512F, AVX-512VL, AVX2 and FMA (checked just above).
                unsafe { widest(#[inline(always)] || $self.$method($($arg),*)) }
            } else if tempering_core::simd_dispatch::wide_simd() {
                // SAFETY: the CPU has AVX2 and FMA (checked just above).
                unsafe { wide(#[inline(always)] || $self.$method($($arg),*)) }
            } else {
                $self.$method($($arg),*)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $self.$method($($arg),*)
        }
    }};
}

/// The two axes a tensor's second-moment statistics are factored over (Adafactor): `d0` the
/// largest axis, `d1` the second largest; ties go to the later axis for `d0` (numpy's argsort
/// of the shape, as the reference uses). `None` below rank 2.
pub fn factored_dims(shape: &[usize]) -> Option<(usize, usize)> {
    if shape.len() < 2 {
        return None;
    }
    let mut order: Vec<usize> = (0..shape.len()).collect();
    order.sort_by_key(|&a| shape[a]); // stable: equal sizes keep axis order
    Some((order[order.len() - 1], order[order.len() - 2]))
}

/// `shape` with `axis` reduced to 1.
pub fn reduced_shape(shape: &[usize], axis: usize) -> Vec<usize> {
    let mut out = shape.to_vec();
    out[axis] = 1;
    out
}

/// The per-parameter accumulators, as host slices.
pub struct Accumulators<'a> {
    /// Momenta at the 3 momentum decays.
    pub momenta: [&'a mut [f32]; 3],
    /// The second moment.
    pub second: &'a mut [f32],
    /// The Adafactor statistics at the 3 Adafactor decays.
    pub factored: Factored<'a>,
}

/// Adafactor statistics: factored for rank ≥ 2, full otherwise.
pub enum Factored<'a> {
    /// Row statistics (reduced over `d0`) and column statistics (reduced over `d1`).
    Factored {
        /// `(d0, d1)` of [`factored_dims`].
        dims: (usize, usize),
        /// Means of g² over `d0`.
        rows: [&'a mut [f32]; 3],
        /// Means of g² over `d1`.
        cols: [&'a mut [f32]; 3],
    },
    /// Elementwise running means of g².
    Full([&'a mut [f32]; 3]),
}

/// Step-independent settings of an update.
#[derive(Clone, Copy, Debug)]
pub struct UpdateScales {
    /// The reference's `step_mult` (0.001 SP, 0.01 μLO).
    pub step_mult: f32,
    /// The reference's `exp_mult` (0.001).
    pub exp_mult: f32,
    /// The learning rate given to the step, multiplying the update (1 for the reference
    /// behaviour; μLO's per-tensor scales arrive through it).
    pub lr: f32,
}

/// One step of the learned optimizer on parameter `p` of `shape` with gradient `g` (finite),
/// at step count `t` (0 on the first step): updates the accumulators and `p` in place.
pub fn update(
    weights: &LoptWeights,
    scales: UpdateScales,
    shape: &[usize],
    t: usize,
    p: &mut [f32],
    g: &[f32],
    acc: Accumulators<'_>,
) {
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
        .with_min_len(CHUNK)
        .for_each(|(((a, b), (c, v)), &g)| {
            *a = flush(b0 * *a + (1.0 - b0) * g);
            *b = flush(b1 * *b + (1.0 - b1) * g);
            *c = flush(b2 * *c + (1.0 - b2) * g);
            *v = flush(bv * *v + (1.0 - bv) * g * g);
        });
    let shape: Vec<usize> = if shape.is_empty() {
        vec![1]
    } else {
        shape.to_vec()
    };
    let state = ElementState {
        g,
        momenta: [&*m0, &*m1, &*m2],
        second: &*second,
    };
    let factor_decays = [decays[4], decays[5], decays[6]];
    let step = Step {
        weights,
        scales,
        bias: step_bias(weights, t),
        state,
    };
    match factored {
        Factored::Full(mut full) => {
            for (v, beta) in full.iter_mut().zip(factor_decays) {
                v.par_iter_mut()
                    .zip(g.par_iter())
                    .with_min_len(CHUNK)
                    .for_each(|(v, &g)| *v = flush(beta * *v + (1.0 - beta) * (g * g + 1e-30)));
            }
            let features = FullFeatures {
                full: [&*full[0], &*full[1], &*full[2]],
            };
            let start = FirstLayerStart::Shared(step.bias.clone());
            step.run(
                &features,
                &Segments::Plain,
                [1.0; TENSOR_FEATURES],
                &start,
                p,
            );
        }
        Factored::Factored { dims, rows, cols } => {
            let layout = FactoredLayout::new(&shape, dims);
            let stats = FactoredStats::update(rows, cols, &layout, &shape, g, factor_decays);
            let strides = (layout.row_stride(), layout.col_stride());
            let segments = Segments::Factored(layout);
            match strides {
                (0, 1) => step.run_factored::<0, 1>(&segments, &stats, p),
                (1, 0) => step.run_factored::<1, 0>(&segments, &stats, p),
                _ => step.run_factored::<1, 1>(&segments, &stats, p),
            }
        }
    }
}

/// How a tensor's elements are cut into segments.
enum Segments {
    /// Elementwise statistics: any consecutive elements.
    Plain,
    /// Factored statistics: segments inside runs of the last axis.
    Factored(FactoredLayout),
}

impl Segments {
    /// The segment starting at element `i`, at most [`BLOCK`] elements and none past `end`.
    #[inline(always)]
    fn at(&self, i: usize, end: usize) -> Segment {
        match self {
            Segments::Plain => plain_segment_at(i, end, BLOCK),
            Segments::Factored(layout) => layout.segment_at(i, end, BLOCK),
        }
    }
}

/// What both passes of one step share.
struct Step<'a> {
    weights: &'a LoptWeights,
    scales: UpdateScales,
    /// The first layer's bias with the step-count features folded in.
    bias: Vec<f32>,
    state: ElementState<'a>,
}

impl Step<'_> {
    /// The factored case: the row and column features folded into per-row and per-column
    /// starting vectors, the rest per element.
    fn run_factored<const RS: usize, const CS: usize>(
        &self,
        segments: &Segments,
        stats: &FactoredStats,
        p: &mut [f32],
    ) {
        let features = &FactoredFeatures::<RS, CS> {
            row_factors: [0, 1, 2].map(|k| stats.row_factors[k].as_slice()),
            col_factors: [0, 1, 2].map(|k| stats.col_factors[k].as_slice()),
        };
        let norm = self.normalization(features, segments, stats.norms(), p);
        let rows = [0, 1, 2].map(|k| stats.rows[k].as_slice());
        let cols = [0, 1, 2].map(|k| stats.cols[k].as_slice());
        let start =
            FirstLayerStart::tables(self.weights, &self.bias, &norm, (rows, cols), (RS, CS));
        self.apply(features, segments, &norm, &start, p);
    }

    /// The elementwise case: every feature per element.
    fn run<F: ElementFeatures>(
        &self,
        features: &F,
        segments: &Segments,
        norm: [f32; TENSOR_FEATURES],
        start: &FirstLayerStart,
        p: &mut [f32],
    ) {
        let norm = self.normalization(features, segments, norm, p);
        self.apply(features, segments, &norm, start, p);
    }

    /// Pass 1: `norm` with the entries of the per-element features replaced by
    /// `1/√(1e-5 + mean square over the tensor)`.
    fn normalization<F: ElementFeatures>(
        &self,
        features: &F,
        segments: &Segments,
        mut norm: [f32; TENSOR_FEATURES],
        p: &[f32],
    ) -> [f32; TENSOR_FEATURES] {
        let n = p.len();
        let k = F::ROWS.len();
        let chunk_sums: Vec<Vec<f64>> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let mut sums = vec![0.0f64; k];
                let range = c * CHUNK..((c + 1) * CHUNK).min(n);
                simd_build!(self.square_sums(features, segments, range, p, &mut sums));
                sums
            })
            .collect();
        for (j, &feature) in F::ROWS.iter().enumerate() {
            let mean = chunk_sums.iter().map(|s| s[j]).sum::<f64>() / n as f64;
            norm[feature] = normalizer(mean);
        }
        norm
    }

    /// Pass 2: features → MLP → update, segment by segment.
    fn apply<F: ElementFeatures>(
        &self,
        features: &F,
        segments: &Segments,
        norm: &[f32; TENSOR_FEATURES],
        start: &FirstLayerStart,
        p: &mut [f32],
    ) {
        let mlp = FoldedMlp::new(self.weights, F::ROWS, norm);
        p.par_chunks_mut(CHUNK).enumerate().for_each(|(c, chunk)| {
            simd_build!(self.apply_chunk(features, segments, &mlp, start, c * CHUNK, chunk))
        });
    }

    /// Pass 1 over elements `range`: adds the square of each per-element feature to `sums`.
    /// Inlined into its caller's instruction-set build (no closures between, so that the feature
    /// loops compile for the same SIMD width).
    #[inline(always)]
    fn square_sums<F: ElementFeatures>(
        &self,
        features: &F,
        segments: &Segments,
        range: std::ops::Range<usize>,
        p: &[f32],
        sums: &mut [f64],
    ) {
        let k = F::ROWS.len();
        let mut block = [0.0f32; TENSOR_FEATURES * BLOCK];
        let mut i = range.start;
        while i < range.end {
            let s = segments.at(i, range.end);
            features.fill(&self.state, s, &p[s.start..][..s.len], &mut block);
            add_squares(&block[..k * BLOCK], sums);
            i += s.len;
        }
    }

    /// Pass 2 over `chunk`, the parameters from element `base` on; inlined like
    /// [`square_sums`](Self::square_sums).
    #[inline(always)]
    fn apply_chunk<F: ElementFeatures>(
        &self,
        features: &F,
        segments: &Segments,
        mlp: &FoldedMlp,
        start: &FirstLayerStart,
        base: usize,
        chunk: &mut [f32],
    ) {
        let scales = self.scales;
        let mut block = [0.0f32; TENSOR_FEATURES * BLOCK];
        let mut starts = [0.0f32; BLOCK * HIDDEN];
        let mut out = [[0.0f32; BLOCK]; 2];
        let end = base + chunk.len();
        let mut i = base;
        while i < end {
            let s = segments.at(i, end);
            let local = &mut chunk[s.start - base..][..s.len];
            features.fill(&self.state, s, local, &mut block);
            start.fill(s, &mut starts);
            mlp.run(&block, &starts, &mut out);
            for (pj, (&direction, &magnitude)) in local.iter_mut().zip(out[0].iter().zip(&out[1])) {
                *pj -=
                    scales.lr * direction * (scales.exp_mult * magnitude).exp() * scales.step_mult;
            }
            i += s.len;
        }
    }
}

/// `1/√(1e-5 + mean)`: the reference's feature normalization from a mean square.
fn normalizer(mean: f64) -> f32 {
    (1.0 / (1e-5 + mean).sqrt()) as f32
}

/// Mean of `values` (of `shape`) over `axis`, as an array of [`reduced_shape`].
pub(super) fn mean_over(values: &[f32], shape: &[usize], axis: usize) -> Vec<f32> {
    let inner: usize = shape[axis + 1..].iter().product();
    let len = shape[axis];
    let mut sums = vec![0.0f64; values.len() / len.max(1)];
    for (i, &v) in values.iter().enumerate() {
        sums[(i / (len * inner)) * inner + i % inner] += v as f64;
    }
    sums.into_iter().map(|s| (s / len as f64) as f32).collect()
}

/// The means of `g² + 1e-30` over `d0` (rows) and over `d1` (columns), run by run.
fn squared_means(g: &[f32], layout: &FactoredLayout, shape: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let (d0, d1) = layout.dims();
    let n = g.len();
    let mut rows = vec![0.0f64; n / shape[d0]];
    let mut cols = vec![0.0f64; n / shape[d1]];
    let (rs, cs) = (layout.row_stride(), layout.col_stride());
    layout.segments(0, n, usize::MAX).for_each(|s| {
        let squares = g[s.start..][..s.len].iter().map(|&x| x * x + 1e-30);
        for (target, at, stride) in [(&mut rows, s.row, rs), (&mut cols, s.col, cs)] {
            if stride == 0 {
                target[at] += squares.clone().map(f64::from).sum::<f64>();
            } else {
                for (t, x) in target[at..][..s.len].iter_mut().zip(squares.clone()) {
                    *t += x as f64;
                }
            }
        }
    });
    let mean = |sums: Vec<f64>, count: usize| {
        sums.into_iter()
            .map(|s| (s / count as f64) as f32)
            .collect()
    };
    (mean(rows, shape[d0]), mean(cols, shape[d1]))
}

/// Factored statistics of a rank ≥ 2 tensor after the update, and their factors.
struct FactoredStats {
    /// Row statistics per decay (the means over `d0`).
    rows: [Vec<f32>; 3],
    /// Column statistics per decay (the means over `d1`).
    cols: [Vec<f32>; 3],
    /// `safe_rsqrt(row / (mean of row over d1 + 1e-9))` per decay.
    row_factors: [Vec<f32>; 3],
    /// `safe_rsqrt(col)` per decay.
    col_factors: [Vec<f32>; 3],
}

impl FactoredStats {
    /// Updates the accumulators `rows` and `cols` with the squared gradient at `decays`, and
    /// keeps copies and factors for the features.
    fn update(
        rows: [&mut [f32]; 3],
        cols: [&mut [f32]; 3],
        layout: &FactoredLayout,
        shape: &[usize],
        g: &[f32],
        decays: [f32; 3],
    ) -> Self {
        let (row_mean, col_mean) = squared_means(g, layout, shape);
        let d1 = layout.dims().1;
        let row_shape = reduced_shape(shape, layout.dims().0);
        let mut out = FactoredStats {
            rows: Default::default(),
            cols: Default::default(),
            row_factors: Default::default(),
            col_factors: Default::default(),
        };
        for (k, (row, col)) in rows.into_iter().zip(cols).enumerate() {
            let beta = decays[k];
            for (v, &s) in row.iter_mut().zip(&row_mean) {
                *v = flush(beta * *v + (1.0 - beta) * s);
            }
            for (v, &s) in col.iter_mut().zip(&col_mean) {
                *v = flush(beta * *v + (1.0 - beta) * s);
            }
            let across = mean_over(row, &row_shape, d1);
            out.row_factors[k] = row
                .iter()
                .enumerate()
                .map(|(r, &v)| safe_rsqrt(v / (across[reduced_index(r, &row_shape, d1)] + 1e-9)))
                .collect();
            out.col_factors[k] = col.iter().map(|&v| safe_rsqrt(v)).collect();
            out.rows[k] = row.to_vec();
            out.cols[k] = col.to_vec();
        }
        out
    }

    /// The normalization of features 13–24 (the statistics and their reciprocal roots), from
    /// the reduced arrays: each entry stands for the same number of elements, so the mean over
    /// the tensor is the mean over the array. The other entries are 1.
    fn norms(&self) -> [f32; TENSOR_FEATURES] {
        let mut norm = [1.0f32; TENSOR_FEATURES];
        let mean = |values: &[f32], f: fn(f32) -> f32| {
            values.iter().map(|&v| (f(v) as f64).powi(2)).sum::<f64>() / values.len() as f64
        };
        let plain: fn(f32) -> f32 = |v| v;
        let root: fn(f32) -> f32 = |v| 1.0 / (v + 1e-8).sqrt();
        for k in 0..3 {
            norm[13 + k] = normalizer(mean(&self.rows[k], plain));
            norm[16 + k] = normalizer(mean(&self.cols[k], plain));
            norm[19 + k] = normalizer(mean(&self.rows[k], root));
            norm[22 + k] = normalizer(mean(&self.cols[k], root));
        }
        norm
    }
}
