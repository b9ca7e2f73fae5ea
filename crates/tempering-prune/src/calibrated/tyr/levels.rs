//! The sparsity levels of a Týr-the-Pruner supernet layer, with the official code's float
//! arithmetic (`Pruner._prune_group`, AMD-AGI/Tyr-the-Pruner @c69d040, `src/pruner.py`): levels
//! `l` from `−min(⌊s/δ⌋, L/2)` to `+min(⌊(1 − s)/δ⌋, L/2)` around the layer's sparsity `s`, at
//! `s + l·Δ/numel`, where `Δ` is the step in weights and `δ = Δ/numel`.

/// Python's `a // b` for floats (CPython `float_floor_div`: through `fmod`, then rounded), so
/// that `1.0 // 0.1` is 9 here as there, where `⌊1.0 / 0.1⌋` would be 10.
pub fn python_floor_div(a: f64, b: f64) -> f64 {
    let modulo = a % b;
    let mut div = (a - modulo) / b;
    if modulo != 0.0 && ((b < 0.0) != (modulo < 0.0)) {
        div -= 1.0;
    }
    if div == 0.0 {
        return 0.0f64.copysign(a / b);
    }
    let floor = div.floor();
    if div - floor > 0.5 {
        floor + 1.0
    } else {
        floor
    }
}

/// The levels of one layer: the lowest level (≤ 0) and the sparsity of each level from it up.
pub fn level_sparsities(
    center: f64,
    step_weights: usize,
    numel: usize,
    levels: usize,
) -> (i64, Vec<f64>) {
    let delta = step_weights as f64 / numel as f64;
    let half = (levels / 2) as i64;
    let below = (python_floor_div(center, delta) as i64).min(half);
    let above = (python_floor_div(1.0 - center, delta) as i64).min(half);
    let sparsities = (-below..=above)
        .map(|l| center + (l * step_weights as i64) as f64 / numel as f64)
        .collect();
    (-below, sparsities)
}

/// Units a layer of `units` keeps at `sparsity`: Python's `int(units·(1 − sparsity))`.
pub fn kept_units(units: usize, sparsity: f64) -> usize {
    let kept = (units as f64 * (1.0 - sparsity)).trunc();
    if kept <= 0.0 { 0 } else { kept as usize }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values CPython prints for `a // b`.
    #[test]
    fn floor_division_is_pythons() {
        assert_eq!(python_floor_div(1.0, 0.1), 9.0);
        assert_eq!(python_floor_div(0.5, 0.125), 4.0);
        assert_eq!(python_floor_div(0.3, 0.1), 2.0);
        assert_eq!(python_floor_div(0.7, 0.1), 6.0);
        assert_eq!(python_floor_div(0.0, 0.25), 0.0);
    }

    /// Llama-2-7B's first round at 50 % (the official script's `WEIGHTS_DIFF_MLP=5636096` of a
    /// 45,088,768-weight down_proj): nine levels, 0 to 1 in steps of 1/8.
    #[test]
    fn nine_levels_around_one_half() {
        let (lowest, s) = level_sparsities(0.5, 5_636_096, 45_088_768, 9);
        assert_eq!(lowest, -4);
        assert_eq!(s.len(), 9);
        assert_eq!((s[0], s[4], s[8]), (0.0, 0.5, 1.0));
        // A head is a quarter of a 4-head layer: levels 0, ¼, ½, ¾, 1 around ¼.
        let (lowest, s) = level_sparsities(0.25, 4096, 16384, 9);
        assert_eq!((lowest, s), (-1, vec![0.0, 0.25, 0.5, 0.75, 1.0]));
        assert_eq!(kept_units(4, 0.75), 1);
        assert_eq!(kept_units(512, 0.375), 320);
        assert_eq!(kept_units(4, 1.0), 0);
    }
}
