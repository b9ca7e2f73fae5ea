//! nanoGPT's learning-rate schedule (karpathy/nanoGPT `train.py`, `get_lr`): linear warmup,
//! cosine decay to a floor, then the floor.

/// The learning rate of step `step` (0-based): `lr · (step + 1) / (warmup + 1)` during the
/// `warmup` steps, then a cosine from `lr` down to `min_lr` at `decay_steps`, `min_lr` after.
pub fn nanogpt_lr(step: usize, lr: f64, min_lr: f64, warmup: usize, decay_steps: usize) -> f64 {
    if step < warmup {
        return lr * (step + 1) as f64 / (warmup + 1) as f64;
    }
    if step > decay_steps {
        return min_lr;
    }
    let ratio = (step - warmup) as f64 / (decay_steps - warmup).max(1) as f64;
    let coefficient = 0.5 * (1.0 + (std::f64::consts::PI * ratio).cos());
    min_lr + coefficient * (lr - min_lr)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points worked from nanoGPT's formula with its Shakespeare settings (lr 1e-3, min 1e-4,
    /// warmup 100, decay over 2000 steps).
    #[test]
    fn follows_nanogpt() {
        let lr = |s| nanogpt_lr(s, 1e-3, 1e-4, 100, 2000);
        assert!((lr(0) - 1e-3 / 101.0).abs() < 1e-12);
        assert!((lr(99) - 1e-3 * 100.0 / 101.0).abs() < 1e-12);
        assert!((lr(100) - 1e-3).abs() < 1e-12);
        // Halfway through the cosine: the mean of the two ends.
        assert!((lr(1050) - 5.5e-4).abs() < 1e-12);
        assert!((lr(2000) - 1e-4).abs() < 1e-12);
        assert!((lr(5000) - 1e-4).abs() < 1e-12);
    }
}
