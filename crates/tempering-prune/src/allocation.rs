//! Allocation: how many weights each tensor loses.

use crate::error::PruneError;

/// Elements to prune in a tensor of `n` at `sparsity`: ⌊s·n⌋, where an `s·n` within rounding
/// of a whole number counts as that number (a bisected 0.75 may come out as 0.7499999…).
pub(crate) fn count_at(sparsity: f64, n: u64) -> u64 {
    let x = sparsity * n as f64;
    let nearest = x.round();
    let count = if (x - nearest).abs() <= 1e-9 * x.max(1.0) {
        nearest
    } else {
        x.floor()
    };
    (count.max(0.0) as u64).min(n)
}

/// Per-layer sparsities of Global MP with the minimum threshold (MT), after `step2` of the
/// official `prune_withMT.py` (manasgupta-1/GlobalMP).
///
/// `sizes` are the layers' weight counts and `global` their sparsities under plain global
/// magnitude pruning at `target`. With `min_keep = ⌊N·mt/100⌋` (N the total), layers with at
/// most `min_keep` weights are not pruned, and every other layer's sparsity becomes
/// `min(c·global, 1 - min_keep/n)` with the one scale `c` that brings the total back to
/// `target`. The reference reaches the same fixed point by rescaling and capping in a loop;
/// here `c` is found by bisection, exact to rounding.
///
/// Differences from the reference, both at its edges: a layer of exactly `min_keep` weights is
/// kept whole (the reference leaves it at its global sparsity, uncapped), and a target that the
/// caps make unreachable is an error naming the reachable sparsity (the reference loops
/// forever).
pub(crate) fn min_keep_sparsities(
    sizes: &[u64],
    global: &[f64],
    target: f64,
    mt_percent: f64,
) -> Result<Vec<f64>, PruneError> {
    let total: f64 = sizes.iter().map(|&n| n as f64).sum();
    let min_keep = (total * mt_percent / 100.0).floor();
    let caps: Vec<f64> = sizes
        .iter()
        .zip(global)
        .map(|(&n, &g)| {
            if n as f64 <= min_keep || g <= 0.0 {
                0.0
            } else {
                1.0 - min_keep / n as f64
            }
        })
        .collect();
    let overall = |c: f64| {
        sizes
            .iter()
            .zip(global)
            .zip(&caps)
            .map(|((&n, &g), &cap)| n as f64 * (c * g).min(cap))
            .sum::<f64>()
            / total
    };
    let reachable = overall(f64::INFINITY);
    if target > reachable + 1e-12 {
        return Err(PruneError::bad(
            "--min-keep",
            format!(
                "keeping {min_keep} weights in every layer allows at most {:.4} % sparsity, \
                 below the requested {:.4} %",
                100.0 * reachable,
                100.0 * target
            ),
        ));
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while overall(hi) < target {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if overall(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(global
        .iter()
        .zip(&caps)
        .map(|(&g, &cap)| (hi * g).min(cap))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: layers of 10, 100 and 890 weights (N = 1000), mt = 1 % → min_keep 10.
    /// Global sparsities 0.5, 0.95, 0.9 (901 of 1000 pruned), target 0.9. The 10-weight layer
    /// is left whole; the 100-weight layer hits its cap 1 - 10/100 = 0.9; the 890-weight
    /// layer takes the rest: s₃ = (900 - 90)/890.
    #[test]
    fn min_keep_caps_small_layers_and_rescales_the_rest() {
        let s = min_keep_sparsities(&[10, 100, 890], &[0.5, 0.95, 0.9], 0.9, 1.0).unwrap();
        assert_eq!(s[0], 0.0);
        assert!((s[1] - 0.9).abs() < 1e-12, "{s:?}");
        assert!((s[2] - 810.0 / 890.0).abs() < 1e-9, "{s:?}");
        let total = 10.0 * s[0] + 100.0 * s[1] + 890.0 * s[2];
        assert!((total - 900.0).abs() < 1e-6);
    }

    /// With every layer far above min_keep the global sparsities come back unchanged.
    #[test]
    fn min_keep_leaves_global_alone_when_no_layer_is_small() {
        let s = min_keep_sparsities(&[1000, 1000], &[0.8, 0.6], 0.7, 0.05).unwrap();
        assert!(
            (s[0] - 0.8).abs() < 1e-12 && (s[1] - 0.6).abs() < 1e-12,
            "{s:?}"
        );
    }

    /// Two layers of 100 with min_keep 50 can lose at most half the weights.
    #[test]
    fn unreachable_targets_are_named() {
        let err = min_keep_sparsities(&[100, 100], &[0.9, 0.9], 0.9, 25.0).unwrap_err();
        assert!(err.to_string().contains("--min-keep"), "{err}");
        assert!(err.to_string().contains("50.0000 %"), "{err}");
    }
}
