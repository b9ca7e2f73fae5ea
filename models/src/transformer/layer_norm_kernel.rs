//! Layer normalization (Ba, Kiros & Hinton, "Layer Normalization", 2016) over the last
//! dimension, forward and backward, as host loops over rows in parallel chunks. Burn's
//! `layer_norm` spells the forward pass as eight tensor operations (mean, subtract, square,
//! mean, add ε, square root, divide, scale and shift), each a pass over the tensor with its
//! own allocation, and the autodiff backend records each with its own backward pass.
//!
//! The forward pass keeps each row's mean and reciprocal standard deviation (`stats`,
//! `[rows, 2]`); the backward pass recomputes the normalized row from them:
//! `dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂))` with `g = dy ⊙ γ`, `dγ = Σ dy ⊙ x̂`,
//! `dβ = Σ dy`.

use rayon::prelude::*;
use tempering_core::simd_dispatch::wide_dispatch;

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 64;

/// `Σ f(a_i, b_i)` in eight interleaved partial sums, so the compiler can vectorize it (one
/// running `f32` sum is a chain of dependent additions).
#[inline(always)]
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let (chunks_a, chunks_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let rest: f32 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(&a, &b)| f(a, b))
        .sum();
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for l in 0..8 {
            acc[l] += f(ca[l], cb[l]);
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// `y = (x − mean) / √(var + ε) · γ + β` per row of `width`, and each row's
/// `[mean, 1/√(var + ε)]` (the biased variance, as PyTorch and Burn use).
///
/// # Panics
/// If `x` is not whole rows, or `gamma`/`beta` are not `width` long.
pub fn layer_norm_forward(
    x: &[f32],
    gamma: &[f32],
    beta: Option<&[f32]>,
    width: usize,
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>) {
    assert!(
        width > 0 && x.len().is_multiple_of(width),
        "layer norm kernel: {} values are not rows of {width}",
        x.len()
    );
    assert_eq!(
        gamma.len(),
        width,
        "layer norm kernel: gamma is not [{width}]"
    );
    if let Some(beta) = beta {
        assert_eq!(
            beta.len(),
            width,
            "layer norm kernel: beta is not [{width}]"
        );
    }
    let rows = x.len() / width;
    let mut y = vec![0.0f32; x.len()];
    let mut stats = vec![0.0f32; 2 * rows];
    let chunk = ROWS_PER_TASK * width;
    y.par_chunks_mut(chunk)
        .zip(stats.par_chunks_mut(2 * ROWS_PER_TASK))
        .zip(x.par_chunks(chunk))
        .for_each(|((y, stats), x)| {
            wide_dispatch(|| {
                for ((y, x), stat) in y
                    .chunks_exact_mut(width)
                    .zip(x.chunks_exact(width))
                    .zip(stats.chunks_exact_mut(2))
                {
                    let mean = lane_sum(x, x, |v, _| v) / width as f32;
                    let var = lane_sum(x, x, |v, _| (v - mean) * (v - mean)) / width as f32;
                    let rstd = 1.0 / (var + epsilon as f32).sqrt();
                    for ((y, &x), &g) in y.iter_mut().zip(x).zip(gamma) {
                        *y = (x - mean) * rstd * g;
                    }
                    if let Some(beta) = beta {
                        y.iter_mut().zip(beta).for_each(|(y, b)| *y += b);
                    }
                    stat[0] = mean;
                    stat[1] = rstd;
                }
            })
        });
    (y, stats)
}

/// The gradients of `x`, `γ` and `β` from the forward pass's input, `γ`, its `stats` and the
/// output gradient `dy`.
///
/// # Panics
/// If the lengths do not match.
pub fn layer_norm_backward(
    x: &[f32],
    gamma: &[f32],
    stats: &[f32],
    output_grad: &[f32],
    width: usize,
) -> [Vec<f32>; 3] {
    assert!(
        width > 0 && x.len().is_multiple_of(width) && output_grad.len() == x.len(),
        "layer norm kernel: input and gradient are not the same whole rows of {width}"
    );
    assert_eq!(
        gamma.len(),
        width,
        "layer norm kernel: gamma is not [{width}]"
    );
    assert_eq!(
        stats.len(),
        2 * (x.len() / width),
        "layer norm kernel: stats"
    );
    let mut dx = vec![0.0f32; x.len()];
    let chunk = ROWS_PER_TASK * width;
    let zeros = || [vec![0.0f32; width], vec![0.0f32; width]];
    let [dgamma, dbeta] = dx
        .par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk))
        .zip(output_grad.par_chunks(chunk))
        .zip(stats.par_chunks(2 * ROWS_PER_TASK))
        .map(|(((dx, x), dy), stats)| {
            let [mut dgamma, mut dbeta] = zeros();
            let mut g = vec![0.0f32; width];
            wide_dispatch(|| {
                for (((dx, x), dy), stat) in dx
                    .chunks_exact_mut(width)
                    .zip(x.chunks_exact(width))
                    .zip(dy.chunks_exact(width))
                    .zip(stats.chunks_exact(2))
                {
                    let (mean, rstd) = (stat[0], stat[1]);
                    for (((g, dgamma), &x), (&dy, &gamma)) in g
                        .iter_mut()
                        .zip(dgamma.iter_mut())
                        .zip(x)
                        .zip(dy.iter().zip(gamma))
                    {
                        *g = dy * gamma;
                        *dgamma += dy * (x - mean) * rstd;
                    }
                    dbeta.iter_mut().zip(dy).for_each(|(b, &d)| *b += d);
                    let sum_g = lane_sum(&g, &g, |g, _| g);
                    let sum_gx = lane_sum(&g, x, |g, x| g * (x - mean)) * rstd;
                    let (mean_g, mean_gx) = (sum_g / width as f32, sum_gx / width as f32);
                    for ((dx, &g), &x) in dx.iter_mut().zip(&g).zip(x) {
                        *dx = rstd * (g - mean_g - (x - mean) * rstd * mean_gx);
                    }
                }
            });
            [dgamma, dbeta]
        })
        .reduce(zeros, |[mut ga, mut ba], [gb, bb]| {
            ga.iter_mut().zip(&gb).for_each(|(a, b)| *a += b);
            ba.iter_mut().zip(&bb).for_each(|(a, b)| *a += b);
            [ga, ba]
        });
    [dx, dgamma, dbeta]
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempering_core::split_mix::SplitMix64;

    /// The forward pass in f64 by the definition.
    fn reference(x: &[f32], gamma: &[f32], beta: &[f32], width: usize, eps: f64) -> Vec<f64> {
        x.chunks(width)
            .flat_map(|row| {
                let mean = row.iter().map(|&v| v as f64).sum::<f64>() / width as f64;
                let var =
                    row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / width as f64;
                row.iter()
                    .zip(gamma.iter().zip(beta))
                    .map(move |(&v, (&g, &b))| {
                        (v as f64 - mean) / (var + eps).sqrt() * g as f64 + b as f64
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn forward_matches_the_definition_and_backward_matches_finite_differences() {
        let (rows, width, eps) = (131, 9, 1e-5);
        let mut rng = SplitMix64::new(11);
        let mut random = |n: usize| {
            (0..n)
                .map(|_| rng.unit() as f32 * 4.0 - 2.0)
                .collect::<Vec<_>>()
        };
        let (x, gamma, beta, dy) = (
            random(rows * width),
            random(width),
            random(width),
            random(rows * width),
        );
        let (y, stats) = layer_norm_forward(&x, &gamma, Some(&beta), width, eps);
        for (i, (a, b)) in y
            .iter()
            .zip(reference(&x, &gamma, &beta, width, eps))
            .enumerate()
        {
            assert!((*a as f64 - b).abs() < 1e-5, "y[{i}]: {a} against {b}");
        }
        // The loss Σ dy ⊙ y in f64, differentiated by central differences of step 1e-3.
        let loss = |x: &[f32], gamma: &[f32], beta: &[f32]| -> f64 {
            reference(x, gamma, beta, width, eps)
                .iter()
                .zip(&dy)
                .map(|(y, &d)| y * d as f64)
                .sum()
        };
        let [dx, dgamma, dbeta] = layer_norm_backward(&x, &gamma, &stats, &dy, width);
        let h = 1e-3f32;
        let numeric = |which: usize, i: usize| {
            let mut args = [x.clone(), gamma.clone(), beta.clone()];
            args[which][i] += h;
            let up = loss(&args[0], &args[1], &args[2]);
            args[which][i] -= 2.0 * h;
            let down = loss(&args[0], &args[1], &args[2]);
            (up - down) / (2.0 * h as f64)
        };
        for (which, grad, name) in [(0, &dx, "dx"), (1, &dgamma, "dgamma"), (2, &dbeta, "dbeta")] {
            for i in (0..grad.len()).step_by(grad.len() / 7 + 1) {
                let n = numeric(which, i);
                assert!(
                    (grad[i] as f64 - n).abs() < 2e-3 * (1.0 + n.abs()),
                    "{name}[{i}]: {} against {n}",
                    grad[i]
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "are not rows of 4")]
    fn ragged_rows_are_named() {
        layer_norm_forward(&[0.0; 6], &[1.0; 4], None, 4, 1e-5);
    }
}
