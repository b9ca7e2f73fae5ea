//! Differentiable partial assignment of two keypoint sets, both as a log-assignment matrix of
//! shape `[B, M + 1, N + 1]` whose last row and column are the dustbins (unmatched points):
//!
//! - [`log_sinkhorn`]: SuperGlue's optimal transport in log space (Sarlin et al., "SuperGlue:
//!   Learning Feature Matching with Graph Neural Networks", CVPR 2020), used by GIMS, with one
//!   learnable dustbin score α;
//! - [`dual_softmax`]: LightGlue's assignment (Lindenberger et al., "LightGlue: Local Feature
//!   Matching at Light Speed", ICCV 2023): a softmax over each axis of the similarities plus a
//!   matchability `σ(z)` per point.

use burn::tensor::activation::{log_sigmoid, log_softmax};
use burn::tensor::{Bool, Device, Tensor, TensorData};

/// The log-probability of an entry that touches a dropped point (`e^-10⁴` is 0 in f32), and
/// the value that keeps such entries out of the balancing and the softmaxes.
pub const EXCLUDED: f32 = -1.0e4;

/// The entries of a `[B, M + 1, N + 1]` assignment that touch a dropped point: `touching`
/// (its row or column, dustbins included) and `unmatched` (its dustbin entry).
struct ExcludedEntries {
    touching: Tensor<3, Bool>,
    unmatched: Tensor<3, Bool>,
}

impl ExcludedEntries {
    /// From the kept points `[B, M]` and `[B, N]` (row-major); `None` when every point is kept.
    ///
    /// # Panics
    /// If the lengths are not `B·M` and `B·N`.
    fn new(
        [batch, m, n]: [usize; 3],
        kept_a: &[bool],
        kept_b: &[bool],
        device: &Device,
    ) -> Option<Self> {
        assert_eq!(kept_a.len(), batch * m, "kept points of view A");
        assert_eq!(kept_b.len(), batch * n, "kept points of view B");
        if kept_a.iter().chain(kept_b).all(|&k| k) {
            return None;
        }
        let size = batch * (m + 1) * (n + 1);
        let (mut touching, mut unmatched) = (vec![false; size], vec![false; size]);
        for b in 0..batch {
            let at = |i: usize, j: usize| (b * (m + 1) + i) * (n + 1) + j;
            for i in (0..m).filter(|&i| !kept_a[b * m + i]) {
                (0..=n).for_each(|j| touching[at(i, j)] = true);
                unmatched[at(i, n)] = true;
            }
            for j in (0..n).filter(|&j| !kept_b[b * n + j]) {
                (0..=m).for_each(|i| touching[at(i, j)] = true);
                unmatched[at(m, j)] = true;
            }
        }
        let shape = [batch, m + 1, n + 1];
        let mask = |values: Vec<bool>| Tensor::from_data(TensorData::new(values, shape), device);
        Some(Self {
            touching: mask(touching),
            unmatched: mask(unmatched),
        })
    }

    /// `log_assignment` with a dropped point sure to be unmatched: its dustbin entry 0, its
    /// other entries [`EXCLUDED`].
    fn finish(&self, log_assignment: Tensor<3>) -> Tensor<3> {
        log_assignment
            .mask_fill(self.touching.clone(), EXCLUDED)
            .mask_fill(self.unmatched.clone(), 0.0)
    }
}

/// `ln k`, or [`EXCLUDED`] for no points (a marginal of zero mass).
fn ln_count(k: usize) -> f32 {
    if k == 0 { EXCLUDED } else { (k as f32).ln() }
}

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
    log_sinkhorn_kept(
        scores,
        alpha,
        iterations,
        &vec![true; batch * m],
        &vec![true; batch * n],
    )
}

/// [`log_sinkhorn`] over the kept points only (`kept_a` `[B, M]`, `kept_b` `[B, N]`,
/// row-major), as GIMS runs it after dropping the keypoints of small graph components: the
/// kept block of each pair is [`log_sinkhorn`] of that pair with the dropped points removed
/// (marginals from the kept counts `M'`, `N'`), and a dropped point is unmatched for sure (its
/// dustbin entry 0, its other entries [`EXCLUDED`]).
///
/// # Panics
/// If the kept masks are not `B·M` and `B·N` long.
pub fn log_sinkhorn_kept(
    scores: Tensor<3>,
    alpha: Tensor<1>,
    iterations: usize,
    kept_a: &[bool],
    kept_b: &[bool],
) -> Tensor<3> {
    let [batch, m, n] = scores.dims();
    let device = scores.device();
    let excluded = ExcludedEntries::new([batch, m, n], kept_a, kept_b, &device);
    let column = alpha.clone().reshape([1, 1, 1]).expand([batch, m, 1]);
    let row = alpha.clone().reshape([1, 1, 1]).expand([batch, 1, n + 1]);
    let mut couplings = Tensor::cat(vec![Tensor::cat(vec![scores, column], 2), row], 1);
    if let Some(excluded) = &excluded {
        // A dropped point's row (column) has zero mass and no coupling: its balancing factor
        // stays finite and its entries add e^-10⁴ = 0 to every kept sum.
        couplings = couplings.mask_fill(excluded.touching.clone(), EXCLUDED);
    }
    let (mut log_mu, mut log_nu, mut norms) = (Vec::new(), Vec::new(), Vec::new());
    for b in 0..batch {
        let kept_a = &kept_a[b * m..(b + 1) * m];
        let kept_b = &kept_b[b * n..(b + 1) * n];
        let (m_kept, n_kept) = (count(kept_a), count(kept_b));
        let norm = -((m_kept + n_kept).max(1) as f32).ln();
        log_mu.extend(marginal(kept_a, n_kept, norm));
        log_nu.extend(marginal(kept_b, m_kept, norm));
        norms.push(norm);
    }
    let log_mu = Tensor::<3>::from_data(TensorData::new(log_mu, [batch, m + 1, 1]), &device);
    let log_nu = Tensor::<3>::from_data(TensorData::new(log_nu, [batch, 1, n + 1]), &device);
    let norms = Tensor::<3>::from_data(TensorData::new(norms, [batch, 1, 1]), &device);
    let mut u = Tensor::<3>::zeros([batch, m + 1, 1], &device);
    let mut v = Tensor::<3>::zeros([batch, 1, n + 1], &device);
    for _ in 0..iterations {
        u = log_mu.clone() - log_sum_exp(couplings.clone() + v.clone(), 2);
        v = log_nu.clone() - log_sum_exp(couplings.clone() + u.clone(), 1);
    }
    let log_assignment = couplings + u + v - norms;
    match &excluded {
        Some(excluded) => excluded.finish(log_assignment),
        None => log_assignment,
    }
}

fn count(kept: &[bool]) -> usize {
    kept.iter().filter(|&&k| k).count()
}

/// The log marginal of one view's points against `others` kept points of the other view:
/// `norm = -log(M' + N')` for a kept point, [`EXCLUDED`] (no mass) for a dropped one, and
/// `log(others) + norm` for the dustbin; `[k + 1]` values.
fn marginal(kept: &[bool], others: usize, norm: f32) -> impl Iterator<Item = f32> + '_ {
    kept.iter()
        .map(move |&k| if k { norm } else { EXCLUDED })
        .chain(std::iter::once(ln_count(others) + norm))
}

/// LightGlue's assignment: `similarity` `[B, M, N]`, matchability logits `z_a` `[B, M]` and
/// `z_b` `[B, N]`; `log P_ij = log_softmax_j(S)_ij + log_softmax_i(S)_ij + log σ(z_a,i) +
/// log σ(z_b,j)`, dustbin column `log σ(-z_a,i)`, dustbin row `log σ(-z_b,j)`, corner 0.
pub fn dual_softmax(similarity: Tensor<3>, z_a: Tensor<2>, z_b: Tensor<2>) -> Tensor<3> {
    let [batch, m, n] = similarity.dims();
    dual_softmax_kept(
        similarity,
        z_a,
        z_b,
        &vec![true; batch * m],
        &vec![true; batch * n],
    )
}

/// [`dual_softmax`] over the kept points only (as [`log_sinkhorn_kept`]): each kept block is
/// the assignment of the pair with the dropped points removed, and a dropped point is
/// unmatched for sure.
///
/// # Panics
/// If the kept masks are not `B·M` and `B·N` long.
pub fn dual_softmax_kept(
    similarity: Tensor<3>,
    z_a: Tensor<2>,
    z_b: Tensor<2>,
    kept_a: &[bool],
    kept_b: &[bool],
) -> Tensor<3> {
    let [batch, m, n] = similarity.dims();
    let device = similarity.device();
    let excluded = ExcludedEntries::new([batch, m, n], kept_a, kept_b, &device);
    let similarity = match &excluded {
        Some(excluded) => similarity.mask_fill(
            excluded.touching.clone().slice([0..batch, 0..m, 0..n]),
            EXCLUDED,
        ),
        None => similarity,
    };
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
    let log_assignment = Tensor::cat(vec![Tensor::cat(vec![inner, column], 2), row], 1);
    match &excluded {
        Some(excluded) => excluded.finish(log_assignment),
        None => log_assignment,
    }
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

    /// A 3 × 4 pair whose A1 and B2 are dropped, and the same pair with them removed.
    fn with_dropped(device: &Device) -> (Tensor<3>, Tensor<3>, Vec<bool>, Vec<bool>) {
        let full = Tensor::<3>::from_data(
            TensorData::new(
                vec![
                    2.0f32, -1.0, 9.0, 0.5, //
                    8.0, 7.0, 6.0, 5.0, //
                    0.3, 1.5, 4.0, -0.7,
                ],
                [1, 3, 4],
            ),
            device,
        );
        let reduced = Tensor::<3>::from_data(
            TensorData::new(vec![2.0f32, -1.0, 0.5, 0.3, 1.5, -0.7], [1, 2, 3]),
            device,
        );
        (
            full,
            reduced,
            vec![true, false, true],
            vec![true, true, false, true],
        )
    }

    /// The entries of `full` `[1, 4, 5]` at the kept rows (0, 2, dustbin 3) and columns
    /// (0, 1, 3, dustbin 4): the assignment of the reduced pair.
    fn kept_block(full: Tensor<3>) -> Tensor<3> {
        let rows = Tensor::<1, burn::tensor::Int>::from_ints([0, 2, 3], &full.device());
        let columns = Tensor::<1, burn::tensor::Int>::from_ints([0, 1, 3, 4], &full.device());
        full.select(1, rows).select(2, columns)
    }

    #[test]
    fn dropped_points_leave_the_sinkhorn_balance_and_are_unmatched() {
        let device = Device::default();
        let alpha = || Tensor::from_floats([1.0f32], &device);
        let (full, reduced, kept_a, kept_b) = with_dropped(&device);
        let kept = log_sinkhorn_kept(full, alpha(), 100, &kept_a, &kept_b);
        // The dropped points' large scores (6–9) would have drawn matches; removed, the kept
        // block is the reduced pair's assignment, marginals from 2 and 3 kept points.
        kept_block(kept.clone())
            .into_data()
            .assert_approx_eq::<f32>(
                &log_sinkhorn(reduced, alpha(), 100).into_data(),
                Tolerance::absolute(1e-5),
            );
        let values: Vec<f32> = kept.into_data().try_to_vec::<f32>().unwrap();
        // A1's row: dustbin 0 (unmatched for sure), every other entry excluded; B2's column
        // likewise, its dustbin in the last row.
        assert_eq!(
            &values[5..10],
            &[EXCLUDED, EXCLUDED, EXCLUDED, EXCLUDED, 0.0]
        );
        assert_eq!(
            [values[2], values[7], values[12], values[17]],
            [EXCLUDED, EXCLUDED, EXCLUDED, 0.0]
        );
    }

    #[test]
    fn dropped_points_leave_the_dual_softmax() {
        let device = Device::default();
        let (full, reduced, kept_a, kept_b) = with_dropped(&device);
        let z_a = Tensor::<2>::from_floats([[0.5f32, 3.0, -0.2]], &device);
        let z_b = Tensor::<2>::from_floats([[1.0f32, -1.0, 4.0, 0.1]], &device);
        let kept = dual_softmax_kept(full, z_a, z_b, &kept_a, &kept_b);
        let z_a = Tensor::<2>::from_floats([[0.5f32, -0.2]], &device);
        let z_b = Tensor::<2>::from_floats([[1.0f32, -1.0, 0.1]], &device);
        kept_block(kept.clone())
            .into_data()
            .assert_approx_eq::<f32>(
                &dual_softmax(reduced, z_a, z_b).into_data(),
                Tolerance::absolute(1e-6),
            );
        let values: Vec<f32> = kept.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(
            &values[5..10],
            &[EXCLUDED, EXCLUDED, EXCLUDED, EXCLUDED, 0.0]
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
