//! ProxSparse's operators (Liu et al., "ProxSparse: Regularized Learning of Semi-Structured
//! Sparsity Masks for Pretrained LLMs", ICML 2025), following the official code
//! (amazon-science/ProxSparse @4a558bc, `end-to-end/prox_op.py` `prox_op`, and
//! `end-to-end/mask_op.py` for the mask).
//!
//! Training adds `λ·Σ R(w)` over groups `w` of 4 consecutive inputs of one output row, with
//!
//! ```text
//! R(w) = |w₁w₂w₃| + |w₂w₃w₄| + |w₃w₄w₁| + |w₄w₁w₂|,
//! ```
//!
//! zero exactly when at most 2 of the 4 are non-zero, and takes a proximal step after every
//! optimizer step: [`prox_two_of_four`] replaces each group `z` by
//! `argmin ½‖w − z‖² + λR(w)`, computed as the official `prox_op` does: on the magnitudes
//! sorted in descending order, three candidates (the top two kept as they are; the top three
//! by coordinate descent from zero in the order 3, 2, 1; all four in the order 4, 3, 2, 1, each
//! coordinate `max(z_k − λ·(sum of the products of pairs of the others), 0)`), the descents
//! sweeping every group of the matrix together until the whole matrix moves less than `1e-8`
//! in a sweep (at most 100 sweeps); the candidate with the lowest objective wins (the first on
//! ties), then the order and signs are restored. [`keep_two_of_four`] then keeps the two
//! largest magnitudes of each group of the *learned* weights, the mask that is applied to the
//! original weights. The official code runs in the model's `bfloat16`; here the solve is
//! `f64` and the weights `f32`.

use crate::PruneError;

/// Sweeps at most.
const SWEEPS: usize = 100;
/// A sweep that changes the whole matrix by less than this (sum of absolute changes) ends it.
const TOLERANCE: f64 = 1e-8;

/// How many groups of 4 have 0, 1, 2, 3 and 4 zeros (the official `mask_op.py` prints these
/// to show that most groups are 2-sparse before the mask is taken).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GroupSparsity {
    /// `zeros[k]`: groups with exactly `k` zeros.
    pub zeros: [usize; 5],
}

impl GroupSparsity {
    /// Counts the groups of `rows` (consecutive fours).
    pub fn of(rows: &[f32]) -> Self {
        let mut counts = Self::default();
        for group in rows.chunks_exact(4) {
            counts.zeros[group.iter().filter(|w| **w == 0.0).count()] += 1;
        }
        counts
    }

    /// Adds another matrix's counts.
    pub fn add(&mut self, other: Self) {
        self.zeros
            .iter_mut()
            .zip(other.zeros)
            .for_each(|(a, b)| *a += b);
    }

    /// The fraction of groups with at least 2 zeros (already 2:4).
    pub fn at_most_two_kept(&self) -> f64 {
        let total: usize = self.zeros.iter().sum();
        (self.zeros[2] + self.zeros[3] + self.zeros[4]) as f64 / total.max(1) as f64
    }
}

/// A group's positions by magnitude, largest first (ties keep their order).
fn by_magnitude(group: &[f32]) -> [usize; 4] {
    let mut order = [0usize, 1, 2, 3];
    order.sort_by(|&a, &b| group[b].abs().total_cmp(&group[a].abs()));
    order
}

fn regularizer(w: &[f64; 4]) -> f64 {
    (w[0] * w[1] * w[2]).abs()
        + (w[1] * w[2] * w[3]).abs()
        + (w[2] * w[3] * w[0]).abs()
        + (w[3] * w[0] * w[1]).abs()
}

fn objective(w: &[f64; 4], z: &[f64; 4], lambda: f64) -> f64 {
    let distance: f64 = w.iter().zip(z).map(|(a, b)| (a - b) * (a - b)).sum();
    0.5 * distance + lambda * regularizer(w)
}

/// One coordinate-descent sweep over a group: each listed coordinate `k` becomes
/// `max(z_k − λ·Σ_{pairs i<j of the others} w_i w_j, 0)`; returns `Σ|Δw|`.
fn sweep(w: &mut [f64; 4], z: &[f64; 4], lambda: f64, order: &[usize]) -> f64 {
    let mut moved = 0.0;
    for &k in order {
        let mut others = [0usize; 3];
        let mut count = 0;
        for &i in order.iter().filter(|&&i| i != k) {
            others[count] = i;
            count += 1;
        }
        let others = &others[..count];
        let mut pairs = 0.0;
        for (a, &i) in others.iter().enumerate() {
            for &j in &others[a + 1..] {
                pairs += w[i] * w[j];
            }
        }
        let next = (z[k] - lambda * pairs).max(0.0);
        moved += (next - w[k]).abs();
        w[k] = next;
    }
    moved
}

/// Coordinate descent from zero over `order`, every group sweeping together until the matrix
/// moves less than [`TOLERANCE`] in a sweep.
fn descend(sorted: &[[f64; 4]], lambda: f64, order: &[usize]) -> Vec<[f64; 4]> {
    let mut w = vec![[0.0; 4]; sorted.len()];
    for _ in 0..SWEEPS {
        let moved: f64 = w
            .iter_mut()
            .zip(sorted)
            .map(|(w, z)| sweep(w, z, lambda, order))
            .sum();
        if moved < TOLERANCE {
            break;
        }
    }
    w
}

/// Applies ProxSparse's proximal operator of `λ·R` to `rows` (row-major `[outputs, d_in]`,
/// PyTorch's order; groups are 4 consecutive values) in place (see the module docs).
pub fn prox_two_of_four(rows: &mut [f32], lambda: f64) -> Result<(), PruneError> {
    if !rows.len().is_multiple_of(4) {
        return Err(PruneError::bad(
            "--nm",
            format!("{} weights are not groups of 4", rows.len()),
        ));
    }
    if !(lambda >= 0.0 && lambda.is_finite()) {
        return Err(PruneError::bad(
            "lambda",
            format!("{lambda} is not a non-negative number"),
        ));
    }
    if let Some(index) = rows.iter().position(|w| !w.is_finite()) {
        return Err(PruneError::bad(
            "weight",
            format!("value {index} is {}", rows[index]),
        ));
    }
    // Magnitudes sorted in descending order (ties keep their order), and where each came from.
    let mut orders = Vec::with_capacity(rows.len() / 4);
    let sorted: Vec<[f64; 4]> = rows
        .chunks_exact(4)
        .map(|group| {
            let order = by_magnitude(group);
            orders.push(order);
            order.map(|k| f64::from(group[k].abs()))
        })
        .collect();
    let three = descend(&sorted, lambda, &[2, 1, 0]);
    let four = descend(&sorted, lambda, &[3, 2, 1, 0]);
    for (g, group) in rows.chunks_exact_mut(4).enumerate() {
        let z = &sorted[g];
        let two = [z[0], z[1], 0.0, 0.0];
        let mut best = two;
        for candidate in [three[g], four[g]] {
            if objective(&candidate, z, lambda) < objective(&best, z, lambda) {
                best = candidate;
            }
        }
        let signs: [f32; 4] = std::array::from_fn(|k| {
            if group[k] == 0.0 {
                0.0
            } else {
                group[k].signum()
            }
        });
        for (rank, &k) in orders[g].iter().enumerate() {
            group[k] = best[rank] as f32 * signs[k];
        }
    }
    Ok(())
}

/// Keeps the two largest magnitudes of each group of 4 of `learned` (the first on ties) and
/// returns the mask (`true` = kept), as the official `mask_op.py` takes it.
pub fn keep_two_of_four(learned: &[f32]) -> Vec<bool> {
    let mut mask = vec![false; learned.len()];
    for (g, group) in learned.chunks_exact(4).enumerate() {
        for &k in &by_magnitude(group)[..2] {
            mask[g * 4 + k] = true;
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_already_two_sparse_are_left_alone() {
        // R = 0 there, and (z₁, z₂, 0, 0) is then the exact minimiser.
        let mut rows = vec![0.0, -0.5, 0.0, 0.25];
        prox_two_of_four(&mut rows, 3.0).unwrap();
        assert_eq!(rows, vec![0.0, -0.5, 0.0, 0.25]);
    }

    #[test]
    fn the_result_is_no_worse_than_any_of_the_official_candidates_or_a_grid() {
        // The prox minimises ½‖w − z‖² + λR(w); a coarse grid over the 4 magnitudes in
        // [0, 1.2] (step 0.05) never finds a lower objective than the result by more than the
        // grid's own coarseness allows (it is a check of the candidates, not of the grid).
        for (group, lambda) in [
            ([0.9f32, -0.7, 0.5, 0.3], 0.5),
            ([0.9, 0.85, 0.8, 0.75], 0.2),
            ([1.0, 0.2, -0.15, 0.1], 2.0),
        ] {
            let mut rows = group.to_vec();
            prox_two_of_four(&mut rows, lambda).unwrap();
            let z = group.map(|v| f64::from(v.abs()));
            let w: [f64; 4] = std::array::from_fn(|k| f64::from(rows[k].abs()));
            let ours = objective(&w, &z, lambda);
            let two = [z[0], z[1], 0.0, 0.0];
            assert!(ours <= objective(&two, &z, lambda) + 1e-12);
            let steps: Vec<f64> = (0..=24).map(|k| k as f64 * 0.05).collect();
            let mut grid = f64::INFINITY;
            for &a in &steps {
                for &b in &steps {
                    for &c in &steps {
                        for &d in &steps {
                            grid = grid.min(objective(&[a, b, c, d], &z, lambda));
                        }
                    }
                }
            }
            assert!(ours <= grid + 0.01, "{group:?}: {ours} vs grid {grid}");
            // Signs survive.
            for (r, g) in rows.iter().zip(group) {
                assert!(*r == 0.0 || r.signum() == g.signum());
            }
        }
    }

    #[test]
    fn the_mask_keeps_the_two_largest_of_each_four() {
        let mask = keep_two_of_four(&[0.1, -0.9, 0.3, 0.0, 0.5, 0.5, -0.5, 0.2]);
        assert_eq!(
            mask,
            vec![false, true, true, false, true, true, false, false]
        );
        let counts = GroupSparsity::of(&[0.0, 1.0, 0.0, 2.0, 1.0, 1.0, 1.0, 0.0]);
        assert_eq!(counts.zeros, [0, 1, 1, 0, 0]);
        assert_eq!(counts.at_most_two_kept(), 0.5);
    }
}
