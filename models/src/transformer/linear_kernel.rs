//! A linear layer's forward and backward passes on host slices, through the `gemm` crate that
//! Flex itself multiplies with. Flex's matrix product allocates its output with
//! `FlexTensor::empty`, which zero-fills a byte vector and then copies it into a 16-byte
//! aligned buffer (cubecl's `Bytes::from_bytes_vec`), and adds the bias as a second operation;
//! here the product writes straight into the output vector (the bias is its starting value),
//! and the bias gradient is one pass over the output gradient.
//!
//! Row-major throughout: `x` is `[rows, inputs]`, `weight` `[inputs, outputs]` (Burn's `Linear`
//! layout), `y` and its gradient `[rows, outputs]`.

use gemm::{Parallelism, gemm};

/// Products of at least this many multiply-adds (`m·n·k`) run on all rayon threads: Flex's
/// own threshold (`burn-flex` 0.22.1, `ops/matmul.rs`, 192³).
const PARALLEL_THRESHOLD: usize = 192 * 192 * 192;

fn parallelism(m: usize, n: usize, k: usize) -> Parallelism {
    if m.saturating_mul(n).saturating_mul(k) >= PARALLEL_THRESHOLD {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    }
}

/// One strided view of a row-major matrix for `gemm`: a pointer, its column stride and its row
/// stride.
#[derive(Clone, Copy)]
struct View {
    ptr: *const f32,
    col_stride: isize,
    row_stride: isize,
}

impl View {
    /// `a` as the `[rows, cols]` row-major matrix it holds.
    fn rows(a: &[f32], cols: usize) -> Self {
        Self {
            ptr: a.as_ptr(),
            col_stride: 1,
            row_stride: cols as isize,
        }
    }

    /// The transpose of `a`, a row-major `[cols, rows]` matrix, read as `[rows, cols]`:
    /// element `(i, j)` is `a[j·rows + i]`.
    fn transposed(a: &[f32], rows: usize) -> Self {
        Self {
            ptr: a.as_ptr(),
            col_stride: rows as isize,
            row_stride: 1,
        }
    }
}

/// `lhs [m, k] · rhs [k, n]` into a new row-major `[m, n]` vector; with `start`, the product
/// is added to it (`start` must hold `m·n` values).
fn product(
    m: usize,
    n: usize,
    k: usize,
    lhs: View,
    rhs: View,
    start: Option<Vec<f32>>,
) -> Vec<f32> {
    let len = m * n;
    if k == 0 {
        return start.unwrap_or_else(|| vec![0.0; len]);
    }
    let read_dst = start.is_some();
    let mut out = start.unwrap_or_else(|| Vec::with_capacity(len));
    assert!(
        out.capacity() >= len,
        "linear kernel: output buffer too small"
    );
    // SAFETY: `lhs` and `rhs` point into slices the callers checked to hold `m·k` and `k·n`
    // values at the given strides; `out` has room for `m·n` values. With `read_dst` false gemm
    // only writes the destination (it stores `1·lhs·rhs` in every element, and with `k > 0`
    // it never reads an element before it wrote it), so the uninitialized capacity is fully
    // written before `set_len` makes it readable.
    unsafe {
        gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            read_dst,
            lhs.ptr,
            lhs.col_stride,
            lhs.row_stride,
            rhs.ptr,
            rhs.col_stride,
            rhs.row_stride,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism(m, n, k),
        );
        out.set_len(len);
    }
    out
}

/// `y = x · weight + bias` for `x` `[rows, inputs]`, `weight` `[inputs, outputs]`.
///
/// # Panics
/// If a slice's length does not match the shape.
pub fn linear_forward(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    rows: usize,
    inputs: usize,
    outputs: usize,
) -> Vec<f32> {
    assert_eq!(
        x.len(),
        rows * inputs,
        "linear kernel: x is not [rows, inputs]"
    );
    assert_eq!(
        weight.len(),
        inputs * outputs,
        "linear kernel: weight is not [inputs, outputs]"
    );
    let start = bias.map(|b| {
        assert_eq!(b.len(), outputs, "linear kernel: bias is not [outputs]");
        let mut start = Vec::with_capacity(rows * outputs);
        for _ in 0..rows {
            start.extend_from_slice(b);
        }
        start
    });
    product(
        rows,
        outputs,
        inputs,
        View::rows(x, inputs),
        View::rows(weight, outputs),
        start,
    )
}

/// `dx = dy · weightᵀ`, `[rows, inputs]`.
///
/// # Panics
/// If a slice's length does not match the shape.
pub fn linear_input_gradient(
    weight: &[f32],
    output_grad: &[f32],
    rows: usize,
    inputs: usize,
    outputs: usize,
) -> Vec<f32> {
    assert_eq!(
        weight.len(),
        inputs * outputs,
        "linear kernel: weight shape"
    );
    assert_eq!(
        output_grad.len(),
        rows * outputs,
        "linear kernel: gradient shape"
    );
    product(
        rows,
        inputs,
        outputs,
        View::rows(output_grad, outputs),
        View::transposed(weight, outputs),
        None,
    )
}

/// `dweight = xᵀ · dy`, `[inputs, outputs]`.
///
/// # Panics
/// If a slice's length does not match the shape.
pub fn linear_weight_gradient(
    x: &[f32],
    output_grad: &[f32],
    rows: usize,
    inputs: usize,
    outputs: usize,
) -> Vec<f32> {
    assert_eq!(x.len(), rows * inputs, "linear kernel: x shape");
    assert_eq!(
        output_grad.len(),
        rows * outputs,
        "linear kernel: gradient shape"
    );
    product(
        inputs,
        outputs,
        rows,
        View::transposed(x, inputs),
        View::rows(output_grad, outputs),
        None,
    )
}

/// `dbias = Σ_rows dy`, `[outputs]`.
///
/// # Panics
/// If the gradient is not `[rows, outputs]`.
pub fn linear_bias_gradient(output_grad: &[f32], rows: usize, outputs: usize) -> Vec<f32> {
    assert_eq!(
        output_grad.len(),
        rows * outputs,
        "linear kernel: gradient shape"
    );
    let mut sum = vec![0.0f32; outputs];
    for row in output_grad.chunks_exact(outputs.max(1)) {
        for (s, g) in sum.iter_mut().zip(row) {
            *s += g;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempering_core::split_mix::SplitMix64;

    fn random(n: usize, rng: &mut SplitMix64) -> Vec<f32> {
        (0..n).map(|_| rng.unit() as f32 * 2.0 - 1.0).collect()
    }

    /// `Σ_k a[i, k] · b[k, j]` by the definition, in f64.
    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k)
                    .map(|l| a[i * k + l] as f64 * b[l * n + j] as f64)
                    .sum::<f64>() as f32;
            }
        }
        out
    }

    fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut t = vec![0.0; a.len()];
        for i in 0..rows {
            for j in 0..cols {
                t[j * rows + i] = a[i * cols + j];
            }
        }
        t
    }

    fn assert_close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                "{what}[{i}]: {x} against {y}"
            );
        }
    }

    /// Every pass against the definition, at a size below and one above the threading
    /// threshold, with shapes that are not multiples of gemm's register tiles.
    #[test]
    fn forward_and_gradients_match_the_definitions() {
        let mut rng = SplitMix64::new(7);
        for (rows, inputs, outputs) in [(5, 3, 7), (301, 67, 389)] {
            let x = random(rows * inputs, &mut rng);
            let w = random(inputs * outputs, &mut rng);
            let b = random(outputs, &mut rng);
            let dy = random(rows * outputs, &mut rng);
            let mut expected = naive(&x, &w, rows, inputs, outputs);
            for (i, e) in expected.iter_mut().enumerate() {
                *e += b[i % outputs];
            }
            assert_close(
                &linear_forward(&x, &w, Some(&b), rows, inputs, outputs),
                &expected,
                "y",
            );
            assert_close(
                &linear_forward(&x, &w, None, rows, inputs, outputs),
                &naive(&x, &w, rows, inputs, outputs),
                "y without bias",
            );
            assert_close(
                &linear_input_gradient(&w, &dy, rows, inputs, outputs),
                &naive(&dy, &transpose(&w, inputs, outputs), rows, outputs, inputs),
                "dx",
            );
            assert_close(
                &linear_weight_gradient(&x, &dy, rows, inputs, outputs),
                &naive(&transpose(&x, rows, inputs), &dy, inputs, rows, outputs),
                "dweight",
            );
            let db: Vec<f32> = (0..outputs)
                .map(|j| (0..rows).map(|i| dy[i * outputs + j]).sum())
                .collect();
            assert_close(&linear_bias_gradient(&dy, rows, outputs), &db, "dbias");
        }
    }

    #[test]
    fn empty_inner_dimension_gives_the_bias_or_zeros() {
        let y = linear_forward(&[], &[], Some(&[1.0, 2.0]), 2, 0, 2);
        assert_eq!(y, vec![1.0, 2.0, 1.0, 2.0]);
        assert_eq!(linear_forward(&[], &[], None, 2, 0, 2), vec![0.0; 4]);
    }

    #[test]
    #[should_panic(expected = "x is not [rows, inputs]")]
    fn a_wrong_shape_is_named() {
        linear_forward(&[1.0; 5], &[1.0; 6], None, 2, 3, 2);
    }
}
