//! The per-element features of a learned-optimizer step, a segment at a time, feature-major
//! (`out[k·BLOCK + e]`): the layout the MLP kernel broadcasts from and the sums of squares
//! reduce over.
//!
//! Which features are per element depends on the statistics. With factored statistics (rank ≥ 2)
//! the 12 row and column features (13–24) are the same for every element of a row or a column,
//! so the step folds them into the first layer once per row and column
//! ([`FirstLayerStart`](super::mlp_kernel::FirstLayerStart)); the other 16 are computed here.
//! With elementwise statistics all 28 are.
//!
//! Every feature is flushed to zero when it is subnormal: a zero gradient decays the momenta
//! geometrically into the subnormal range, where each multiplication takes a microcode assist
//! on x86 (hundreds of cycles). The values flushed are below 1.2e-38, against normalized
//! features of order one.

use super::element_layout::Segment;
use super::weights::TENSOR_FEATURES;

/// Elements per block: the unit the features are computed in and the MLP kernel runs over.
pub const BLOCK: usize = 48;

/// `x`, or 0 when `x` is subnormal.
#[inline(always)]
pub fn flush(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE { 0.0 } else { x }
}

/// `1/√max(x, 1e-9)`: the reference's `safe_rsqrt`.
#[inline(always)]
pub fn safe_rsqrt(x: f32) -> f32 {
    1.0 / x.max(1e-9).sqrt()
}

/// The per-element accumulators a step's features read (after this step's update).
#[derive(Clone, Copy)]
pub struct ElementState<'a> {
    /// The gradient.
    pub g: &'a [f32],
    /// Momenta at the 3 momentum decays.
    pub momenta: [&'a [f32]; 3],
    /// The second moment.
    pub second: &'a [f32],
}

/// The per-element features of one kind of statistics.
pub trait ElementFeatures: Sync {
    /// Which of the 28 features [`fill`](Self::fill) computes, in its order.
    const ROWS: &'static [usize];
    /// Writes feature `k` of element `segment.start + e` to `out[k·BLOCK + e]` for
    /// `e < segment.len`, and zeros for the rest of the block; `p` is the segment's parameters.
    fn fill(&self, state: &ElementState<'_>, segment: Segment, p: &[f32], out: &mut [f32]);
}

/// Features 0–9, shared by both kinds: gradient, parameter, momenta, second moment, momenta
/// over its root, its reciprocal root (`1/√(v + 1e-6)`). Returns the segment's gradient and
/// momenta, which the other features read.
#[inline(always)]
fn common<'a>(
    state: &ElementState<'a>,
    segment: Segment,
    p: &[f32],
    out: &mut [f32],
) -> (&'a [f32], [&'a [f32]; 3]) {
    let (s, len) = (segment.start, segment.len);
    assert!(len <= BLOCK && p.len() == len && out.len() >= 10 * BLOCK);
    let g = &state.g[s..s + len];
    let v = &state.second[s..s + len];
    let m = state.momenta.map(|m| &m[s..s + len]);
    let (head, rest) = out.split_at_mut(6 * BLOCK);
    let (scaled, root) = rest.split_at_mut(3 * BLOCK);
    for e in 0..len {
        let r = 1.0 / (v[e] + 1e-6).sqrt();
        head[e] = flush(g[e]);
        head[BLOCK + e] = flush(p[e]);
        for k in 0..3 {
            head[(2 + k) * BLOCK + e] = flush(m[k][e]);
            scaled[k * BLOCK + e] = flush(m[k][e] * r);
        }
        head[5 * BLOCK + e] = flush(v[e]);
        root[e] = flush(r);
    }
    (g, m)
}

/// Zeros in every feature row of `out` past the segment's elements.
#[inline(always)]
fn pad(out: &mut [f32], len: usize) {
    for row in out.chunks_exact_mut(BLOCK) {
        row[len..].fill(0.0);
    }
}

/// The features of a parameter with factored statistics: 0–12 and 25–27. `RS` and `CS` are the
/// steps of the row and column index along a segment (0 or 1, from the
/// [`FactoredLayout`](super::element_layout::FactoredLayout)).
pub struct FactoredFeatures<'a, const RS: usize, const CS: usize> {
    /// `safe_rsqrt(row / mean of the rows)` per Adafactor decay.
    pub row_factors: [&'a [f32]; 3],
    /// `safe_rsqrt(col)` per Adafactor decay.
    pub col_factors: [&'a [f32]; 3],
}

/// The features [`FactoredFeatures`] computes, in its order.
pub const FACTORED_ROWS: [usize; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 25, 26, 27];

impl<const RS: usize, const CS: usize> ElementFeatures for FactoredFeatures<'_, RS, CS> {
    const ROWS: &'static [usize] = &FACTORED_ROWS;

    #[inline(always)]
    fn fill(&self, state: &ElementState<'_>, segment: Segment, p: &[f32], out: &mut [f32]) {
        let (g, m) = common(state, segment, p, out);
        let len = segment.len;
        let out = &mut out[..16 * BLOCK];
        let (_, rest) = out.split_at_mut(10 * BLOCK);
        let (grad_scaled, mom_scaled) = rest.split_at_mut(3 * BLOCK);
        for k in 0..3 {
            let rows = &self.row_factors[k][segment.row..][..(len - 1) * RS + 1];
            let cols = &self.col_factors[k][segment.col..][..(len - 1) * CS + 1];
            let (gs, ms) = (
                &mut grad_scaled[k * BLOCK..][..len],
                &mut mom_scaled[k * BLOCK..][..len],
            );
            for e in 0..len {
                let scale = rows[e * RS] * cols[e * CS];
                gs[e] = flush(g[e] * scale);
                ms[e] = flush(m[k][e] * scale);
            }
        }
        pad(out, len);
    }
}

/// The features of a parameter with elementwise statistics (rank below 2): all 28.
pub struct FullFeatures<'a> {
    /// Running means of g² per Adafactor decay.
    pub full: [&'a [f32]; 3],
}

/// The features [`FullFeatures`] computes: all of them, in order.
pub const FULL_ROWS: [usize; TENSOR_FEATURES] = {
    let mut rows = [0; TENSOR_FEATURES];
    let mut k = 0;
    while k < TENSOR_FEATURES {
        rows[k] = k;
        k += 1;
    }
    rows
};

impl ElementFeatures for FullFeatures<'_> {
    const ROWS: &'static [usize] = &FULL_ROWS;

    #[inline(always)]
    fn fill(&self, state: &ElementState<'_>, segment: Segment, p: &[f32], out: &mut [f32]) {
        let (g, m) = common(state, segment, p, out);
        let (s, len) = (segment.start, segment.len);
        let out = &mut out[..TENSOR_FEATURES * BLOCK];
        for k in 0..3 {
            let v = &self.full[k][s..s + len];
            for e in 0..len {
                let (vk, gk, mk) = (v[e], g[e], m[k][e]);
                let root = 1.0 / (vk + 1e-8).sqrt();
                out[(10 + k) * BLOCK + e] = flush(gk * safe_rsqrt(vk + 1e-9));
                out[(13 + k) * BLOCK + e] = flush(vk);
                out[(16 + k) * BLOCK + e] = flush(vk);
                out[(19 + k) * BLOCK + e] = flush(root);
                out[(22 + k) * BLOCK + e] = flush(root);
                out[(25 + k) * BLOCK + e] = flush(mk / (vk + 1e-6).sqrt());
            }
        }
        pad(out, len);
    }
}

/// Adds the square of each feature row of a filled block to `sums` (16 lanes at a time; the
/// padding is zero).
#[inline(always)]
pub fn add_squares(block: &[f32], sums: &mut [f64]) {
    for (row, sum) in block.chunks_exact(BLOCK).zip(sums.iter_mut()) {
        let mut lanes = [0.0f32; 16];
        for part in row.chunks_exact(16) {
            for (l, &x) in lanes.iter_mut().zip(part) {
                *l += x * x;
            }
        }
        *sum += lanes.iter().map(|&l| l as f64).sum::<f64>();
    }
}
