//! ECoFLaP's integer allocation of the keep budget among groups, as the official
//! `compute_the_sparsity_per_group` computes it (ylsung/ECoFLaP @59dac0a,
//! `CoOp/trainers/pruners/layer_single_base_pruner.py`; Sung, Yoon & Bansal, ICLR 2024), in the
//! `float32` its tensors hold:
//!
//! 1. the budget is `int(N·(1 − target))` of the `N` weights; every group first keeps
//!    `⌈n·(1 − s_max)⌉`;
//! 2. while fewer than the budget are kept, each group with a non-zero score adds
//!    `⌈score/Σscores · (budget − kept)⌉`; a group that reaches its size stops scoring and is
//!    clamped to it;
//! 3. if no group could add, the rest is handed out group by group in order; if the sum went
//!    over the budget (the ceilings overshoot by up to one weight per group), the official
//!    fix-up walks the groups from the largest and *adds* the excess where it means to remove
//!    it, so the result keeps the budget plus twice the overshoot;
//! 4. a group's sparsity is `1 − kept/n`, clamped to `[0, 1]`.
//!
//! [`ecoflap_sparsities`](crate::data_aware::ecoflap_sparsities) is the named variant without
//! the ceilings, the `float32` and the fix-up (water-filling in `f64`, the budget met exactly).

use std::collections::BTreeMap;

use crate::PruneError;
use crate::data_aware::LayerImportance;

/// `x` rounded to `float32`, as a tensor of the official code holds it.
fn f32_round(x: f64) -> f64 {
    x as f32 as f64
}

/// `Σ values` accumulated in `float32`.
fn f32_sum(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |sum, &v| f32_round(sum + v))
}

/// The official allocation (module docs): one sparsity per group of `groups`, for an overall
/// `target` and a cap `max_sparsity` (default `target + 0.1`, at most 1).
pub fn ecoflap_sparsities_official(
    groups: &[LayerImportance],
    target: f64,
    max_sparsity: Option<f64>,
) -> Result<BTreeMap<String, f64>, PruneError> {
    let max_sparsity = crate::data_aware::check_ecoflap_request(groups, target, max_sparsity)?;
    let total: usize = groups.iter().map(|g| g.parameters).sum();
    let budget = (total as f64 * (1.0 - target)).floor();
    let sizes: Vec<f64> = groups.iter().map(|g| g.parameters as f64).collect();
    let floor_fraction = f32_round(1.0 - max_sparsity);
    let minimum = |n: f64| f32_round(f32_round(n) * floor_fraction);
    let mut scores: Vec<f64> = groups.iter().map(|g| f32_round(g.importance)).collect();
    let mut keep: Vec<f64> = sizes.iter().map(|&n| minimum(n).ceil()).collect();
    while f32_sum(&keep) < budget {
        let total_score = f32_sum(&scores);
        let rest = f32_round(budget - f32_sum(&keep));
        let add: Vec<f64> = scores
            .iter()
            .map(|&s| f32_round(f32_round(s / total_score) * rest).ceil())
            .collect();
        for i in 0..keep.len() {
            keep[i] = f32_round(keep[i] + add[i]);
            if keep[i] >= sizes[i] {
                scores[i] = 0.0;
            }
            keep[i] = keep[i].min(sizes[i]);
        }
        if add.iter().all(|&a| a == 0.0 || a.is_nan()) {
            // Nothing could be added (every score is zero): hand out the rest in order.
            let mut need = budget - f32_sum(&keep);
            let open: Vec<usize> = (0..keep.len()).filter(|&i| scores[i] > 0.0).collect();
            if open.is_empty() {
                return Err(PruneError::bad(
                    "importance",
                    "every group's importance is zero; the allocation cannot share the budget",
                ));
            }
            for &i in &open {
                let can = need.min(sizes[i] - keep[i]);
                keep[i] += can;
                need -= can;
                if need <= 0.0 {
                    break;
                }
            }
            if need > 0.0 {
                break;
            }
        }
        let kept = f32_sum(&keep);
        if kept > budget {
            // The official fix-up, `+=` where it means `-=`: the excess is added again.
            let mut need = kept - budget;
            let mut order: Vec<usize> = (0..keep.len()).collect();
            order.sort_by(|&a, &b| keep[b].total_cmp(&keep[a]));
            for &i in &order {
                let can = need.min(keep[i] - minimum(sizes[i]).trunc());
                keep[i] += can;
                need -= can;
                if need <= 0.0 {
                    break;
                }
            }
        }
    }
    Ok(groups
        .iter()
        .zip(keep.iter().zip(&sizes))
        .map(|(g, (&k, &n))| {
            let sparsity = f32_round(1.0 - f32_round(k / n)).clamp(0.0, 1.0);
            (g.name.clone(), sparsity)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str, parameters: usize, importance: f64) -> LayerImportance {
        LayerImportance {
            name: name.into(),
            importance,
            parameters,
        }
    }

    #[test]
    fn the_ceilings_overshoot_and_the_fix_up_doubles_it() {
        // 3 groups of 100, target 0.5: budget 150, minimums ⌈100·0.4⌉ = 40 each (120); the
        // 30 left go ⌈30·(1/6)⌉ = 5, ⌈30·(2/6)⌉ = 10, ⌈30·(3/6)⌉ = 15 exactly (sum 150): no
        // overshoot, kept 45, 50, 55.
        let s = ecoflap_sparsities_official(
            &[
                group("a", 100, 1.0),
                group("b", 100, 2.0),
                group("c", 100, 3.0),
            ],
            0.5,
            None,
        )
        .unwrap();
        assert_eq!(
            (s["a"], s["b"], s["c"]),
            (0.55f32 as f64, 0.5, 0.45f32 as f64)
        );
        // Sizes 101, 100, 100 at target 0.5: budget ⌊150.5⌋ = 150; minimums ⌈101·0.4⌉ = 41
        // and 40, 40 (0.4 in float32: 100·0.4 rounds to 40 exactly); 29 left, equal scores:
        // each ⌈29/3⌉ = 10, so 151 are kept, one over. The fix-up walks from the largest (a, 51)
        // and adds the 1 instead of removing it: a keeps 52, and 152 are kept in all.
        let s = ecoflap_sparsities_official(
            &[
                group("a", 101, 1.0),
                group("b", 100, 1.0),
                group("c", 100, 1.0),
            ],
            0.5,
            None,
        )
        .unwrap();
        let a = f32_round(1.0 - f32_round(52.0 / 101.0));
        assert_eq!((s["a"], s["b"], s["c"]), (a, 0.5, 0.5));
        // Every importance zero: nothing can be shared.
        let e = ecoflap_sparsities_official(&[group("a", 10, 0.0)], 0.5, None).unwrap_err();
        assert!(e.to_string().contains("zero"), "{e}");
    }
}
