//! The meta-learning-rate schedule of μLO's meta-training: linear warm-up from 3e-10 to the
//! peak, then cosine decay to the final rate (`mu_learned_optimization` `config/`). A pure
//! function of the step, so a resumed run needs no scheduler state.

/// The learning rate at outer step `step` (0-based): linear from 3e-10 to `peak` over `warmup`
/// steps, then cosine from `peak` to `last` at step `total`, `last` after.
pub fn meta_learning_rate(step: usize, peak: f64, last: f64, warmup: usize, total: usize) -> f64 {
    const START: f64 = 3e-10;
    if step < warmup {
        return START + (peak - START) * step as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let progress = ((step - warmup) as f64 / span as f64).min(1.0);
    last + 0.5 * (peak - last) * (1.0 + (std::f64::consts::PI * progress).cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_then_decays_to_the_final_rate() {
        // The paper's settings: 3e-10 → 3e-3 over 100 steps, cosine to 1e-3 at 5000.
        let lr = |s| meta_learning_rate(s, 3e-3, 1e-3, 100, 5000);
        assert!((lr(0) - 3e-10).abs() < 1e-15);
        assert!((lr(50) - 1.5e-3).abs() < 1e-9);
        assert!((lr(100) - 3e-3).abs() < 1e-12);
        assert!((lr(2550) - 2e-3).abs() < 1e-9, "half-way down the cosine");
        assert!((lr(5000) - 1e-3).abs() < 1e-12 && (lr(9000) - 1e-3).abs() < 1e-12);
    }
}
