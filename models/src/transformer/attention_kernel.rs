//! Scaled dot-product attention (Vaswani et al., "Attention Is All You Need", 2017), forward
//! and backward, as one host kernel per pass: each (batch, head) pair is one parallel task that
//! runs its products through `gemm` and its softmax in place. Queries, keys and values are read
//! where the projections wrote them, `[batch, time, heads, d_head]`, and the output is written
//! in the same layout, so neither the heads' transposes nor the products' output allocations
//! of the tensor-op version (`q·kᵀ`, softmax, `·v`) happen.

use gemm::{Parallelism, gemm};
use rayon::prelude::*;
use tempering_core::simd_dispatch::wide_dispatch;

use crate::activation::softmax_kernel::{softmax_row_gradient_in_place, softmax_row_in_place};

/// The layout of queries, keys, values and output: `[batch, time, heads, d_head]`, row-major.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionShape {
    /// Sequences.
    pub batch: usize,
    /// Positions per sequence (queries and keys alike).
    pub time: usize,
    /// Heads.
    pub heads: usize,
    /// Width of one head.
    pub d_head: usize,
}

impl AttentionShape {
    /// Elements of one of `q`, `k`, `v` or the output.
    pub fn len(&self) -> usize {
        self.batch * self.time * self.heads * self.d_head
    }

    /// Whether there is nothing to attend.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements of the attention probabilities, `[batch, heads, time, time]`.
    pub fn probs_len(&self) -> usize {
        self.batch * self.heads * self.time * self.time
    }

    /// Distance between consecutive positions of one head: `heads · d_head`.
    fn row_stride(&self) -> isize {
        (self.heads * self.d_head) as isize
    }

    /// Offset of task `task` (= `batch · heads + head`)'s first element.
    fn offset(&self, task: usize) -> usize {
        let (b, h) = (task / self.heads, task % self.heads);
        b * self.time * self.heads * self.d_head + h * self.d_head
    }

    /// `1 / √d_head`.
    fn scale(&self) -> f32 {
        1.0 / (self.d_head as f32).sqrt()
    }
}

/// A pointer that parallel tasks write through, each to its own elements.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: tasks write disjoint elements (see `for_each_head`'s callers) and nothing reads
// through the pointer while they run.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// The pointer (a method, so that closures capture the `Sync` wrapper, not the field).
    fn get(&self) -> *mut f32 {
        self.0
    }
}

/// A matrix for `gemm`: pointer, column stride, row stride.
#[derive(Clone, Copy)]
struct Mat(*const f32, isize, isize);

impl Mat {
    /// The `[time, d_head]` matrix of one (batch, head) task in a `[batch, time, heads, d_head]`
    /// buffer.
    fn head(data: *const f32, s: &AttentionShape, task: usize) -> Self {
        // SAFETY (of the `add`): `offset` is inside the buffer, which holds `s.len()` elements.
        Self(unsafe { data.add(s.offset(task)) }, 1, s.row_stride())
    }

    /// This matrix transposed.
    fn t(self) -> Self {
        Self(self.0, self.2, self.1)
    }

    /// A row-major `[rows, cols]` matrix.
    fn dense(data: *const f32, cols: usize) -> Self {
        Self(data, 1, cols as isize)
    }
}

/// `dst [m, n] = beta · lhs [m, k] · rhs [k, n]` on this thread (each task is one product of a
/// few dozen rows: the tasks, not the products, are what runs in parallel).
///
/// # Safety
/// The three matrices must be valid for their shapes and strides; `dst` must be written by no
/// other thread meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn product(m: usize, n: usize, k: usize, dst: Mat, lhs: Mat, rhs: Mat, beta: f32) {
    // SAFETY: as the caller promised. With `read_dst` false, gemm writes every element of
    // `dst` and reads none it has not written.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.0 as *mut f32,
            dst.1,
            dst.2,
            false,
            lhs.0,
            lhs.1,
            lhs.2,
            rhs.0,
            rhs.1,
            rhs.2,
            0.0,
            beta,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// A vector of `len` elements that the tasks will write in full.
fn uninit(len: usize) -> Vec<f32> {
    Vec::with_capacity(len)
}

/// Attention output `[batch, time, heads, d_head]` and its probabilities
/// `[batch, heads, time, time]` (what the backward pass needs): `softmax(q·kᵀ/√d_head)·v`
/// per (batch, head), query `i` seeing keys `0..=i` when `causal`.
///
/// # Panics
/// If a slice does not hold `shape.len()` elements.
pub fn attention_forward(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    s: AttentionShape,
    causal: bool,
) -> (Vec<f32>, Vec<f32>) {
    for (x, name) in [(q, "queries"), (k, "keys"), (v, "values")] {
        assert_eq!(x.len(), s.len(), "attention kernel: {name} are not {s:?}");
    }
    let t = s.time;
    if s.is_empty() {
        return (vec![0.0; s.len()], vec![0.0; s.probs_len()]);
    }
    let mut out = uninit(s.len());
    let mut probs = vec![0.0f32; s.probs_len()];
    let out_ptr = Shared(out.as_mut_ptr());
    probs
        .par_chunks_mut(t * t)
        .enumerate()
        .for_each(|(task, p)| {
            wide_dispatch(|| {
                let p_mat = Mat::dense(p.as_ptr(), t);
                // SAFETY: `q`, `k`, `v` hold `s.len()` elements (checked above) and a task's
                // `[time, d_head]` head lies inside them; `p` is this task's own `t × t` chunk;
                // the output head of task `task` is written by this task only.
                unsafe {
                    let (qh, kh, vh) = (
                        Mat::head(q.as_ptr(), &s, task),
                        Mat::head(k.as_ptr(), &s, task),
                        Mat::head(v.as_ptr(), &s, task),
                    );
                    product(t, t, s.d_head, p_mat, qh, kh.t(), s.scale());
                    for (i, row) in p.chunks_exact_mut(t).enumerate() {
                        softmax_row_in_place(row, if causal { i + 1 } else { t });
                    }
                    let oh = Mat::head(out_ptr.get(), &s, task);
                    product(t, s.d_head, t, oh, Mat::dense(p.as_ptr(), t), vh, 1.0);
                }
            })
        });
    // SAFETY: the tasks together wrote every (batch, time, head, d_head) element: task
    // (b, h) wrote all `time` rows of head h in sequence b.
    unsafe { out.set_len(s.len()) };
    (out, probs)
}

/// The gradients of queries, keys and values (each `[batch, time, heads, d_head]`) from the
/// forward pass's inputs, its probabilities and the output gradient.
///
/// # Panics
/// If a slice does not match `shape`.
pub fn attention_backward(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    probs: &[f32],
    output_grad: &[f32],
    s: AttentionShape,
) -> [Vec<f32>; 3] {
    for (x, name) in [
        (q, "queries"),
        (k, "keys"),
        (v, "values"),
        (output_grad, "the output gradient"),
    ] {
        assert_eq!(x.len(), s.len(), "attention kernel: {name} are not {s:?}");
    }
    assert_eq!(
        probs.len(),
        s.probs_len(),
        "attention kernel: probabilities"
    );
    let t = s.time;
    if s.is_empty() {
        return [0; 3].map(|_| vec![0.0; s.len()]);
    }
    let [mut dq, mut dk, mut dv] = [0; 3].map(|_| uninit(s.len()));
    let ptrs = [&mut dq, &mut dk, &mut dv].map(|d| Shared(d.as_mut_ptr()));
    probs.par_chunks(t * t).enumerate().for_each_init(
        || vec![0.0f32; t * t],
        |ds, (task, p)| {
            wide_dispatch(|| {
                let p_mat = Mat::dense(p.as_ptr(), t);
                let ds_mat = Mat::dense(ds.as_ptr(), t);
                // SAFETY: as in `attention_forward`; `ds` is this task's scratch buffer of
                // `t × t`, and the gradient heads of task `task` are written by it alone.
                unsafe {
                    let head = |x: &[f32]| Mat::head(x.as_ptr(), &s, task);
                    let (qh, kh, vh, gh) = (head(q), head(k), head(v), head(output_grad));
                    let [dqh, dkh, dvh] = ptrs.map(|d| Mat::head(d.get(), &s, task));
                    // dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − Σ dP ⊙ P) per row.
                    product(t, s.d_head, t, dvh, p_mat.t(), gh, 1.0);
                    product(t, t, s.d_head, ds_mat, gh, vh.t(), 1.0);
                    for (y, g) in p.chunks_exact(t).zip(ds.chunks_exact_mut(t)) {
                        softmax_row_gradient_in_place(y, g);
                    }
                    // dQ = dS·K/√d, dK = dSᵀ·Q/√d.
                    product(t, s.d_head, t, dqh, ds_mat, kh, s.scale());
                    product(t, s.d_head, t, dkh, ds_mat.t(), qh, s.scale());
                }
            })
        },
    );
    // SAFETY: as in `attention_forward`, every element of each gradient was written.
    unsafe {
        dq.set_len(s.len());
        dk.set_len(s.len());
        dv.set_len(s.len());
    }
    [dq, dk, dv]
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempering_core::split_mix::SplitMix64;

    /// The definition in f64: per (batch, head), scores, masked softmax, weighted values.
    fn reference(q: &[f32], k: &[f32], v: &[f32], s: AttentionShape, causal: bool) -> Vec<f32> {
        let at = |x: &[f32], b: usize, t: usize, h: usize, d: usize| {
            x[((b * s.time + t) * s.heads + h) * s.d_head + d] as f64
        };
        let mut out = vec![0.0f32; s.len()];
        for b in 0..s.batch {
            for h in 0..s.heads {
                for i in 0..s.time {
                    let keys = if causal { i + 1 } else { s.time };
                    let scores: Vec<f64> = (0..keys)
                        .map(|j| {
                            (0..s.d_head)
                                .map(|d| at(q, b, i, h, d) * at(k, b, j, h, d))
                                .sum::<f64>()
                                / (s.d_head as f64).sqrt()
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let weights: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                    let total: f64 = weights.iter().sum();
                    for d in 0..s.d_head {
                        let y: f64 = (0..keys)
                            .map(|j| weights[j] / total * at(v, b, j, h, d))
                            .sum();
                        out[((b * s.time + i) * s.heads + h) * s.d_head + d] = y as f32;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn forward_matches_the_definition_and_probabilities_sum_to_one() {
        let s = AttentionShape {
            batch: 2,
            time: 11,
            heads: 3,
            d_head: 7,
        };
        let mut rng = SplitMix64::new(3);
        let mut random = || {
            (0..s.len())
                .map(|_| rng.unit() as f32 * 4.0 - 2.0)
                .collect::<Vec<_>>()
        };
        let (q, k, v) = (random(), random(), random());
        for causal in [true, false] {
            let (out, probs) = attention_forward(&q, &k, &v, s, causal);
            for (i, (a, b)) in out.iter().zip(reference(&q, &k, &v, s, causal)).enumerate() {
                assert!(
                    (a - b).abs() < 1e-5,
                    "causal {causal}, element {i}: {a} against {b}"
                );
            }
            for (r, row) in probs.chunks_exact(s.time).enumerate() {
                let total: f32 = row.iter().sum();
                assert!((total - 1.0).abs() < 1e-5, "row {r} sums to {total}");
                if causal {
                    assert!(
                        row[r % s.time + 1..].iter().all(|&p| p == 0.0),
                        "row {r} sees the future"
                    );
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "keys are not")]
    fn a_wrong_length_is_named() {
        let s = AttentionShape {
            batch: 1,
            time: 2,
            heads: 1,
            d_head: 2,
        };
        attention_forward(&[0.0; 4], &[0.0; 3], &[0.0; 4], s, true);
    }
}
