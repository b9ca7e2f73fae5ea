//! Differentiable partial assignment of two keypoint sets, both as a log-assignment matrix of
//! shape `[B, M + 1, N + 1]` whose last row and column are the dustbins (unmatched points):
//!
//! - [`log_sinkhorn`]: SuperGlue's optimal transport in log space (Sarlin et al., "SuperGlue:
//!   Learning Feature Matching with Graph Neural Networks", CVPR 2020), used by GIMS, with one
//!   learnable dustbin score α;
//! - [`dual_softmax`]: LightGlue's assignment (Lindenberger et al., "LightGlue: Local Feature
//!   Matching at Light Speed", ICCV 2023): a softmax over each axis of the similarities plus a
//!   matchability `σ(z)` per point.

use burn::tensor::Tensor;
use burn::tensor::activation::{log_sigmoid, log_softmax};

/// `log Σ exp` over `dim`, kept as a size-1 axis; the shift by the (detached) maximum keeps it
/// finite and does not change its gradient.
pub fn log_sum_exp<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    let max = x.clone().max_dim(dim).detach();
    (x - max.clone()).exp().sum_dim(dim).log() + max
}

/// Log-space Sinkhorn with dustbins: `scores` `[B, M, N]`, `alpha` the dustbin score (one
/// value). The coupling `[[S, α], [α, α]]` is balanced to the marginals
/// `μ = [1/(M+N)]×M ++ [N/(M+N)]` over rows and `ν = [1/(M+N)]×N ++ [M/(M+N)]` over columns by
/// `iterations` alternating row and column updates (the column update last, so column sums are
/// exact); the result is the log coupling plus `log(M+N)`, so a matched row of a real point sums
/// to about 1 (the reference's normalization, and its match threshold applies to `exp`).
pub fn log_sinkhorn(scores: Tensor<3>, alpha: Tensor<1>, iterations: usize) -> Tensor<3> {
    let [batch, m, n] = scores.dims();
    let device = scores.device();
    let column = alpha.clone().reshape([1, 1, 1]).expand([batch, m, 1]);
    let row = alpha.clone().reshape([1, 1, 1]).expand([batch, 1, n + 1]);
    let couplings = Tensor::cat(vec![Tensor::cat(vec![scores, column], 2), row], 1);
    let norm = -((m + n) as f32).ln();
    let log_mu = marginal(m, n, norm, &device).reshape([1, m + 1, 1]);
    let log_nu = marginal(n, m, norm, &device).reshape([1, 1, n + 1]);
    let mut u = Tensor::<3>::zeros([batch, m + 1, 1], &device);
    let mut v = Tensor::<3>::zeros([batch, 1, n + 1], &device);
    for _ in 0..iterations {
        u = log_mu.clone() - log_sum_exp(couplings.clone() + v.clone(), 2);
        v = log_nu.clone() - log_sum_exp(couplings.clone() + u.clone(), 1);
    }
    couplings + u + v - norm
}

/// `log` of `[1/(k+l)]×k ++ [l/(k+l)]`: the marginal of `k` points against `l`, as `[k + 1]`.
fn marginal(k: usize, l: usize, norm: f32, device: &burn::tensor::Device) -> Tensor<1> {
    let mut values = vec![norm; k + 1];
    values[k] = (l as f32).ln() + norm;
    Tensor::from_floats(values.as_slice(), device)
}

/// LightGlue's assignment: `similarity` `[B, M, N]`, matchability logits `z_a` `[B, M]` and
/// `z_b` `[B, N]`; `log P_ij = log_softmax_j(S)_ij + log_softmax_i(S)_ij + log σ(z_a,i) +
/// log σ(z_b,j)`, dustbin column `log σ(-z_a,i)`, dustbin row `log σ(-z_b,j)`, corner 0.
pub fn dual_softmax(similarity: Tensor<3>, z_a: Tensor<2>, z_b: Tensor<2>) -> Tensor<3> {
    let [batch, m, n] = similarity.dims();
    let device = similarity.device();
    let z_a = z_a.reshape([batch, m, 1]);
    let z_b = z_b.reshape([batch, 1, n]);
    let inner = log_softmax(similarity.clone(), 2)
        + log_softmax(similarity, 1)
        + log_sigmoid(z_a.clone())
        + log_sigmoid(z_b.clone());
    let column = log_sigmoid(-z_a);
    let row = Tensor::cat(
        vec![log_sigmoid(-z_b), Tensor::zeros([batch, 1, 1], &device)],
        2,
    );
    Tensor::cat(vec![Tensor::cat(vec![inner, column], 2), row], 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData, Tolerance};

    fn scores(device: &Device) -> Tensor<3> {
        // 2 × 3 scores of one pair, hand-picked so the rows and columns differ.
        Tensor::from_data(
            TensorData::new(vec![2.0f32, -1.0, 0.5, 0.3, 1.5, -0.7], [1, 2, 3]),
            device,
        )
    }

    #[test]
    fn sinkhorn_meets_both_marginals() {
        let device = Device::default();
        let alpha = Tensor::from_floats([1.0f32], &device);
        let p = log_sinkhorn(scores(&device), alpha, 100).exp();
        // After multiplying by M + N = 5: rows of real points sum to 1, the dustbin row to N = 3;
        // columns of real points to 1, the dustbin column to M = 2.
        let rows = p.clone().sum_dim(2).reshape([3]);
        let columns = p.sum_dim(1).reshape([4]);
        let tolerance = Tolerance::<f32>::absolute(1e-5);
        rows.into_data()
            .assert_approx_eq::<f32>(&TensorData::from([1.0f32, 1.0, 3.0]), tolerance);
        columns
            .into_data()
            .assert_approx_eq::<f32>(&TensorData::from([1.0f32, 1.0, 1.0, 2.0]), tolerance);
    }

    #[test]
    fn sinkhorn_gradient_reaches_the_dustbin_score() {
        let device = Device::default().autodiff();
        let alpha = Tensor::<1>::from_floats([1.0f32], &device).require_grad();
        // A loss that prefers point 0 of A in the dustbin: its gradient moves α.
        let loss = |alpha: Tensor<1>| {
            -log_sinkhorn(scores(&device), alpha, 50)
                .slice([0..1, 0..1, 3..4])
                .sum()
        };
        let grads = loss(alpha.clone()).backward();
        let analytic = alpha.grad(&grads).unwrap().into_scalar::<f32>();
        // Central difference with step 1e-2 (f32, 50 iterations): agreement to 2 %.
        let at = |a: f32| loss(Tensor::from_floats([a], &device)).into_scalar::<f32>();
        let numeric = (at(1.01) - at(0.99)) / 0.02;
        assert!(analytic.is_finite() && analytic < 0.0, "{analytic}");
        assert!(
            (analytic - numeric).abs() < 0.02 * numeric.abs(),
            "{analytic} vs {numeric}"
        );
    }

    #[test]
    fn dual_softmax_rows_are_distributions_for_sure_points() {
        let device = Device::default();
        // Very matchable points (z = 20): each real row's matches sum to about 1, its dustbin
        // to about 0.
        let z_a = Tensor::<2>::full([1, 2], 20.0, &device);
        let z_b = Tensor::<2>::full([1, 3], 20.0, &device);
        let p = dual_softmax(scores(&device), z_a, z_b).exp();
        let matched = p.clone().slice([0..1, 0..2, 0..3]);
        // Σ_j softmax_j · softmax_i ≤ Σ_j softmax_j = 1, with equality only when the columns
        // agree: check the bound and the dustbins.
        let rows: Vec<f32> = matched.sum_dim(2).into_data().try_to_vec::<f32>().unwrap();
        assert!(rows.iter().all(|&r| r > 0.0 && r <= 1.0 + 1e-6), "{rows:?}");
        let dustbin: Vec<f32> = p
            .slice([0..1, 0..2, 3..4])
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(dustbin.iter().all(|&d| d < 1e-8), "{dustbin:?}");
    }

    #[test]
    fn log_sum_exp_matches_the_definition() {
        let device = Device::default();
        let x = Tensor::<2>::from_floats([[1.0f32, 2.0, 3.0], [100.0, 100.0, -50.0]], &device);
        let got: Vec<f32> = log_sum_exp(x, 1).into_data().try_to_vec::<f32>().unwrap();
        let first = (1.0f64.exp() + 2.0f64.exp() + 3.0f64.exp()).ln() as f32;
        let second = 100.0 + 2.0f32.ln();
        assert!(
            (got[0] - first).abs() < 1e-5 && (got[1] - second).abs() < 1e-4,
            "{got:?}"
        );
    }
}
