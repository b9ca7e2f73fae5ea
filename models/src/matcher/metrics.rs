//! Matching metrics, on the host: matches read off a log-assignment matrix (SuperGlue's mutual
//! argmax with a probability threshold), mutual nearest neighbour on descriptors (the baseline
//! a learned matcher must beat), precision / recall / F1 against ground truth, and the
//! corner error of the affine map fitted to the matches (RANSAC, then least squares on the
//! inliers) with its AUC at several thresholds (SuperGlue's and LightGlue's homography metric,
//! for affine maps).

/// A 2-D affine map `x ↦ A·x + t` as the 2×3 matrix `[A | t]`.
pub type Affine = [[f32; 3]; 2];

/// For every point of A, the index of its match in B or -1; and the same for B.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matches {
    /// Per point of A.
    pub a: Vec<i64>,
    /// Per point of B.
    pub b: Vec<i64>,
}

impl Matches {
    /// Matches from one pair's log-assignment `[(M + 1) × (N + 1)]` (row-major, dustbins
    /// last): `i ↔ j` when `j` is `i`'s best column, `i` is `j`'s best row (dustbins excluded)
    /// and `exp(log P_ij) > threshold`.
    pub fn from_log_assignment(log_p: &[f32], m: usize, n: usize, threshold: f32) -> Self {
        assert_eq!(log_p.len(), (m + 1) * (n + 1), "log-assignment size");
        let at = |i: usize, j: usize| log_p[i * (n + 1) + j];
        let best_column: Vec<usize> = (0..m).map(|i| argmax((0..n).map(|j| at(i, j)))).collect();
        let best_row: Vec<usize> = (0..n).map(|j| argmax((0..m).map(|i| at(i, j)))).collect();
        let mut matches = Self {
            a: vec![-1; m],
            b: vec![-1; n],
        };
        for (i, &j) in best_column.iter().enumerate() {
            if n > 0 && best_row[j] == i && at(i, j).exp() > threshold {
                matches.a[i] = j as i64;
                matches.b[j] = i as i64;
            }
        }
        matches
    }

    /// Mutual nearest neighbours by descriptor dot product (`dim` wide, row-major): the
    /// classical matcher without learning.
    pub fn mutual_nearest_neighbour(
        descriptors_a: &[f32],
        descriptors_b: &[f32],
        dim: usize,
    ) -> Self {
        let m = descriptors_a.len() / dim;
        let n = descriptors_b.len() / dim;
        let mut log_p = vec![f32::NEG_INFINITY; (m + 1) * (n + 1)];
        for i in 0..m {
            for j in 0..n {
                log_p[i * (n + 1) + j] = descriptors_a[i * dim..(i + 1) * dim]
                    .iter()
                    .zip(&descriptors_b[j * dim..(j + 1) * dim])
                    .map(|(x, y)| x * y)
                    .sum();
            }
        }
        // Dot products are not probabilities: every mutual pair counts (threshold below any).
        Self::from_log_assignment(&log_p, m, n, -1.0)
    }

    /// Number of predicted matches.
    pub fn count(&self) -> usize {
        self.a.iter().filter(|&&j| j >= 0).count()
    }
}

fn argmax(values: impl Iterator<Item = f32>) -> usize {
    values
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// Counts of predicted, correct and ground-truth matches, summed over pairs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MatchCounts {
    /// Predicted matches.
    pub predicted: usize,
    /// Predicted matches that are ground-truth matches.
    pub correct: usize,
    /// Ground-truth matches.
    pub ground_truth: usize,
}

impl MatchCounts {
    /// The counts of one pair: `predicted` against `truth_a` (per point of A, its match in B
    /// or -1).
    pub fn of(predicted: &Matches, truth_a: &[i64]) -> Self {
        assert_eq!(predicted.a.len(), truth_a.len(), "points of A");
        Self {
            predicted: predicted.count(),
            correct: predicted
                .a
                .iter()
                .zip(truth_a)
                .filter(|&(&p, &t)| p >= 0 && p == t)
                .count(),
            ground_truth: truth_a.iter().filter(|&&t| t >= 0).count(),
        }
    }

    /// Adds another pair's counts.
    pub fn add(&mut self, other: Self) {
        self.predicted += other.predicted;
        self.correct += other.correct;
        self.ground_truth += other.ground_truth;
    }

    /// Correct / predicted (0 when nothing is predicted).
    pub fn precision(&self) -> f64 {
        ratio(self.correct, self.predicted)
    }

    /// Correct / ground truth (0 when there is no ground-truth match).
    pub fn recall(&self) -> f64 {
        ratio(self.correct, self.ground_truth)
    }

    /// Harmonic mean of precision and recall (0 when both are 0).
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Applies an affine map.
pub fn apply_affine(map: &Affine, p: [f32; 2]) -> [f32; 2] {
    [
        map[0][0] * p[0] + map[0][1] * p[1] + map[0][2],
        map[1][0] * p[0] + map[1][1] * p[1] + map[1][2],
    ]
}

/// The least-squares affine map from `source` to `target` (at least 3 points not on a line;
/// `None` otherwise).
pub fn fit_affine(source: &[[f32; 2]], target: &[[f32; 2]]) -> Option<Affine> {
    if source.len() < 3 || source.len() != target.len() {
        return None;
    }
    // Normal equations: (XᵀX) w = Xᵀy with rows x = (px, py, 1), once per output coordinate.
    let mut xtx = [[0.0f64; 3]; 3];
    let mut xty = [[0.0f64; 3]; 2];
    for (p, q) in source.iter().zip(target) {
        let x = [p[0] as f64, p[1] as f64, 1.0];
        for r in 0..3 {
            for c in 0..3 {
                xtx[r][c] += x[r] * x[c];
            }
            xty[0][r] += x[r] * q[0] as f64;
            xty[1][r] += x[r] * q[1] as f64;
        }
    }
    let inverse = invert3(&xtx)?;
    let mut map = [[0.0f32; 3]; 2];
    for (out, rhs) in map.iter_mut().zip(&xty) {
        for (c, value) in out.iter_mut().enumerate() {
            *value = (0..3).map(|k| inverse[c][k] * rhs[k]).sum::<f64>() as f32;
        }
    }
    Some(map)
}

fn invert3(m: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let cofactor =
        |r0: usize, r1: usize, c0: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    let det = m[0][0] * cofactor(1, 2, 1, 2) - m[0][1] * cofactor(1, 2, 0, 2)
        + m[0][2] * cofactor(1, 2, 0, 1);
    let scale = m
        .iter()
        .flatten()
        .map(|v| v.abs())
        .fold(0.0, f64::max)
        .max(1e-300);
    if det.abs() <= 1e-12 * scale.powi(3) {
        return None;
    }
    let adjugate = [
        [
            cofactor(1, 2, 1, 2),
            -cofactor(0, 2, 1, 2),
            cofactor(0, 1, 1, 2),
        ],
        [
            -cofactor(1, 2, 0, 2),
            cofactor(0, 2, 0, 2),
            -cofactor(0, 1, 0, 2),
        ],
        [
            cofactor(1, 2, 0, 1),
            -cofactor(0, 2, 0, 1),
            cofactor(0, 1, 0, 1),
        ],
    ];
    Some(adjugate.map(|row| row.map(|v| v / det)))
}

/// RANSAC over minimal samples of 3 matches (`iterations` draws from a seeded generator), the
/// best consensus (reprojection error below `inlier_threshold`) refitted by least squares;
/// `None` with fewer than 3 matches or no non-degenerate sample.
pub fn ransac_affine(
    source: &[[f32; 2]],
    target: &[[f32; 2]],
    inlier_threshold: f32,
    iterations: usize,
    seed: u64,
) -> Option<Affine> {
    let n = source.len();
    if n < 3 || n != target.len() {
        return None;
    }
    let inliers = |map: &Affine| -> Vec<usize> {
        (0..n)
            .filter(|&i| distance(apply_affine(map, source[i]), target[i]) < inlier_threshold)
            .collect()
    };
    let mut best: Vec<usize> = Vec::new();
    for draw in 0..iterations as u64 {
        let mut sample = [0usize; 3];
        let mut k = 0u64;
        let mut filled = 0;
        while filled < 3 {
            let index = (tempering_core::split_mix::at(seed ^ draw.wrapping_mul(0x9e37), k)
                % n as u64) as usize;
            k += 1;
            if !sample[..filled].contains(&index) {
                sample[filled] = index;
                filled += 1;
            }
        }
        let pick = |points: &[[f32; 2]]| sample.map(|i| points[i]);
        if let Some(map) = fit_affine(&pick(source), &pick(target)) {
            let found = inliers(&map);
            if found.len() > best.len() {
                best = found;
            }
        }
    }
    if best.len() < 3 {
        return None;
    }
    let select = |points: &[[f32; 2]]| best.iter().map(|&i| points[i]).collect::<Vec<_>>();
    fit_affine(&select(source), &select(target))
}

fn distance(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Mean distance between the images of the frame's corners `(±1, ±1)` under the estimated and
/// the true map; infinite when nothing was estimated.
pub fn corner_error(estimated: Option<&Affine>, truth: &Affine) -> f64 {
    let Some(estimated) = estimated else {
        return f64::INFINITY;
    };
    let corners = [[-1.0f32, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]];
    corners
        .iter()
        .map(|&c| distance(apply_affine(estimated, c), apply_affine(truth, c)) as f64)
        .sum::<f64>()
        / 4.0
}

/// The area under the curve "fraction of pairs with error ≤ x" for x from 0 to each threshold,
/// divided by the threshold (SuperGlue's `pose_auc`): 1 when every error is 0, 0 when none is
/// below the threshold. Infinite errors count as failures.
pub fn error_auc(errors: &[f64], thresholds: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = errors.to_vec();
    sorted.sort_by(f64::total_cmp);
    let total = sorted.len().max(1) as f64;
    thresholds
        .iter()
        .map(|&t| {
            // Integrate the step function recall(x) = #{e ≤ x} / total over [0, t].
            let mut area = 0.0;
            let mut previous = 0.0;
            for (k, &e) in sorted.iter().enumerate() {
                if e >= t {
                    break;
                }
                area += (k as f64 / total) * (e - previous);
                previous = e;
            }
            let below = sorted.iter().filter(|&&e| e < t).count() as f64;
            area += (below / total) * (t - previous);
            area / t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_are_mutual_and_thresholded() {
        // 3 × 2 pair: row 0 prefers column 1, row 1 prefers column 1 more strongly (so 0–1 is
        // not mutual), row 2 prefers column 0 with probability 0.5, above the threshold 0.2.
        let p = [
            [0.1f32, 0.6, 0.3],
            [0.05, 0.9, 0.05],
            [0.5, 0.1, 0.4],
            [0.3, 0.3, 0.4],
        ];
        let log_p: Vec<f32> = p.iter().flatten().map(|v| v.ln()).collect();
        let matches = Matches::from_log_assignment(&log_p, 3, 2, 0.2);
        assert_eq!(matches.a, vec![-1, 1, 0]);
        assert_eq!(matches.b, vec![2, 1]);
        // A threshold of 0.6 drops the 0.5 match.
        let strict = Matches::from_log_assignment(&log_p, 3, 2, 0.6);
        assert_eq!(strict.a, vec![-1, 1, -1]);
    }

    #[test]
    fn precision_recall_f1_on_hand_made_matches() {
        let predicted = Matches {
            a: vec![0, 2, -1, 1],
            b: vec![0, 3, 1],
        };
        // Truth: 0↔0, 1↔1, 2 unmatched, 3↔2. Predicted 3, correct 1 (0↔0), truth 3.
        let counts = MatchCounts::of(&predicted, &[0, 1, -1, 2]);
        assert_eq!(
            counts,
            MatchCounts {
                predicted: 3,
                correct: 1,
                ground_truth: 3
            }
        );
        assert!((counts.precision() - 1.0 / 3.0).abs() < 1e-12);
        assert!((counts.recall() - 1.0 / 3.0).abs() < 1e-12);
        assert!((counts.f1() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(MatchCounts::default().f1(), 0.0);
    }

    #[test]
    fn mutual_nearest_neighbour_on_descriptors() {
        // A's rows: e0, e1, e1; B's rows: e1, e0. A0↔B1, A1 and A2 tie for B0: the first wins.
        let a = [1.0f32, 0.0, 0.0, 1.0, 0.0, 1.0];
        let b = [0.0f32, 1.0, 1.0, 0.0];
        let matches = Matches::mutual_nearest_neighbour(&a, &b, 2);
        assert_eq!(matches.a, vec![1, 0, -1]);
    }

    #[test]
    fn ransac_recovers_an_affine_map_despite_outliers() {
        let truth: Affine = [[0.9, -0.2, 0.1], [0.3, 1.1, -0.05]];
        let source: Vec<[f32; 2]> = (0..20)
            .map(|i| [(i as f32 * 0.37).sin(), (i as f32 * 0.73).cos()])
            .collect();
        let mut target: Vec<[f32; 2]> = source.iter().map(|&p| apply_affine(&truth, p)).collect();
        // 6 of 20 matches wrong.
        for (k, t) in target.iter_mut().take(6).enumerate() {
            *t = [0.5 - k as f32 * 0.2, 0.7];
        }
        assert!(corner_error(fit_affine(&source, &target).as_ref(), &truth) > 0.05);
        let estimated = ransac_affine(&source, &target, 0.01, 200, 7);
        assert!(corner_error(estimated.as_ref(), &truth) < 1e-4);
        assert_eq!(ransac_affine(&source[..2], &target[..2], 0.01, 10, 7), None);
        assert_eq!(corner_error(None, &truth), f64::INFINITY);
    }

    #[test]
    fn auc_of_known_errors() {
        // Errors 0 and ∞ over [0, 1]: half the pairs at every x → AUC 0.5. Errors uniform on
        // {0.25, 0.75}: recall 0 on [0, .25), .5 on [.25, .75), 1 on [.75, 1] → 0.5·0.5 + 0.25 = 0.5.
        let auc = error_auc(&[0.0, f64::INFINITY], &[1.0]);
        assert!((auc[0] - 0.5).abs() < 1e-12, "{auc:?}");
        let auc = error_auc(&[0.25, 0.75], &[1.0, 0.5]);
        assert!((auc[0] - 0.5).abs() < 1e-12, "{auc:?}");
        // At threshold 0.5: recall 0 on [0, .25), .5 on [.25, .5) → 0.125 / 0.5 = 0.25.
        assert!((auc[1] - 0.25).abs() < 1e-12, "{auc:?}");
    }
}
