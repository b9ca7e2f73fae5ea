//! Wanda and the magnitude baseline on one linear layer, as the official Wanda code
//! (locuslab/wanda @8e8fc87, `lib/prune.py`: `prune_wanda`, `prune_magnitude`) prunes it.
//!
//! - **Wanda** (Sun, Liu, Bair & Kolter, "A Simple and Effective Pruning Approach for Large
//!   Language Models", ICLR 2024) scores `W_ij` by `|W_ij|·‖X_j‖₂`, `X_j` input `j` over the
//!   calibration tokens. Unstructured, each output row is its own comparison group: the row is
//!   sorted stably by score and its first `⌊d_in·s⌋` entries are zeroed, so every row has the
//!   same sparsity. N:M, each row's `M − N` lowest scores of every group of `M` consecutive
//!   inputs are zeroed. No weight is changed otherwise.
//! - **Magnitude** (the papers' baseline) compares `|W_ij|` over the whole layer: every weight
//!   at or below the sorted value at index `⌊numel·s⌋` is zeroed (the official `<=`, so ties at
//!   the threshold go too); N:M as Wanda with `|W_ij|` as the score.
//!
//! Weights are row-major `[outputs, d_in]` (PyTorch's order). `N:M` here keeps `N` of every
//! `M`; the official scripts' `prune_n` is the count zeroed, `M − N` (the same pattern for 2:4).

use crate::PruneError;

/// What to zero in each layer: a fraction, or an N:M pattern.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LayerSparsity {
    /// Zero this fraction of the layer, in `[0, 1)`.
    Unstructured(f64),
    /// Keep `keep` of every `m` consecutive inputs of each output.
    NOfM {
        /// Weights kept per group.
        keep: usize,
        /// Group length.
        m: usize,
    },
}

impl LayerSparsity {
    /// Whether the pattern is valid for a layer of `d_in` inputs; the error names the flag.
    pub fn check(&self, d_in: usize) -> Result<(), PruneError> {
        match *self {
            Self::Unstructured(s) if !(0.0..1.0).contains(&s) => Err(PruneError::bad(
                "--sparsity",
                format!("{s} is not in [0, 1)"),
            )),
            Self::NOfM { keep, m } if keep == 0 || keep >= m => Err(PruneError::bad(
                "--nm",
                format!("{keep}:{m} must keep between 1 and M - 1 of every M"),
            )),
            Self::NOfM { m, .. } if !d_in.is_multiple_of(m) => Err(PruneError::bad(
                "--nm",
                format!("M = {m} does not divide the layer's {d_in} inputs"),
            )),
            _ => Ok(()),
        }
    }

    /// The fraction of each layer zeroed.
    pub fn fraction(&self) -> f64 {
        match *self {
            Self::Unstructured(s) => s,
            Self::NOfM { keep, m } => 1.0 - keep as f64 / m as f64,
        }
    }
}

fn check_weight(weight: &[f32], outputs: usize, d_in: usize) -> Result<(), PruneError> {
    if weight.len() != outputs * d_in {
        return Err(PruneError::bad(
            "weight",
            format!("{} values are not [{outputs}, {d_in}]", weight.len()),
        ));
    }
    match weight.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(PruneError::bad(
            "weight",
            format!("value {index} is {}", weight[index]),
        )),
        None => Ok(()),
    }
}

/// Zeroes the entries of one row that the pattern removes, by `score` of their index: the
/// `⌊d_in·s⌋` lowest, or the `M − N` lowest of each group of `M`.
fn zero_lowest(row: &mut [f32], score: impl Fn(usize) -> f64, pattern: LayerSparsity) {
    let d_in = row.len();
    let by_score = |range: std::ops::Range<usize>| {
        let mut order: Vec<usize> = range.collect();
        // Stable: equal scores keep their input order, as torch.sort(stable=True).
        order.sort_by(|&a, &b| score(a).total_cmp(&score(b)));
        order
    };
    match pattern {
        LayerSparsity::Unstructured(s) => {
            let pruned = (d_in as f64 * s) as usize;
            for i in by_score(0..d_in).into_iter().take(pruned) {
                row[i] = 0.0;
            }
        }
        LayerSparsity::NOfM { keep, m } => {
            for start in (0..d_in).step_by(m) {
                for i in by_score(start..start + m).into_iter().take(m - keep) {
                    row[i] = 0.0;
                }
            }
        }
    }
}

/// Wanda on `weight` (`[outputs, d_in]`) given each input's sum of squares over the
/// calibration tokens (`input_squares[j] = Σ_t x_tj²`; any common scale gives the same mask).
/// Returns the zeros in the layer afterwards.
pub fn wanda(
    weight: &mut [f32],
    outputs: usize,
    input_squares: &[f64],
    pattern: LayerSparsity,
) -> Result<usize, PruneError> {
    let d_in = input_squares.len();
    check_weight(weight, outputs, d_in)?;
    pattern.check(d_in)?;
    if let Some(j) = input_squares
        .iter()
        .position(|v| !(v.is_finite() && *v >= 0.0))
    {
        return Err(PruneError::bad(
            "calibration",
            format!("input {j}'s sum of squares is {}", input_squares[j]),
        ));
    }
    let norms: Vec<f64> = input_squares.iter().map(|v| v.sqrt()).collect();
    for row in weight.chunks_exact_mut(d_in) {
        let scores: Vec<f64> = row
            .iter()
            .zip(&norms)
            .map(|(w, n)| f64::from(w.abs()) * n)
            .collect();
        zero_lowest(row, |i| scores[i], pattern);
    }
    Ok(weight.iter().filter(|v| **v == 0.0).count())
}

/// The magnitude baseline on `weight` (`[outputs, d_in]`, see the module docs); returns the
/// zeros in the layer afterwards.
pub fn magnitude(
    weight: &mut [f32],
    outputs: usize,
    d_in: usize,
    pattern: LayerSparsity,
) -> Result<usize, PruneError> {
    check_weight(weight, outputs, d_in)?;
    pattern.check(d_in)?;
    match pattern {
        LayerSparsity::Unstructured(s) => {
            let mut sorted: Vec<f32> = weight.iter().map(|w| w.abs()).collect();
            let at = (sorted.len() as f64 * s) as usize;
            if s > 0.0 && at < sorted.len() {
                let (_, threshold, _) = sorted.select_nth_unstable_by(at, f32::total_cmp);
                let threshold = *threshold;
                weight
                    .iter_mut()
                    .filter(|w| w.abs() <= threshold)
                    .for_each(|w| *w = 0.0);
            }
        }
        LayerSparsity::NOfM { .. } => {
            for row in weight.chunks_exact_mut(d_in) {
                let scores: Vec<f64> = row.iter().map(|w| f64::from(w.abs())).collect();
                zero_lowest(row, |i| scores[i], pattern);
            }
        }
    }
    Ok(weight.iter().filter(|v| **v == 0.0).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand. Row 0 scores |w|·‖x‖ = [0.4·1, 0.3·3, 0.2·4, 0.1·10] = [0.4, 0.9, 0.8,
    /// 1.0]: at 50 % inputs 0 and 2 go, although input 3 has the smallest weight.
    #[test]
    fn wanda_compares_within_each_row() {
        let squares = [1.0, 9.0, 16.0, 100.0];
        let mut weight = vec![0.4f32, -0.3, 0.2, 0.1, 1.0, 2.0, -3.0, 4.0];
        let zeros = wanda(&mut weight, 2, &squares, LayerSparsity::Unstructured(0.5)).unwrap();
        assert_eq!(zeros, 4);
        // Row 1 scores [1, 6, 12, 40]: inputs 0 and 1 go.
        assert_eq!(weight, vec![0.0, -0.3, 0.0, 0.1, 0.0, 0.0, -3.0, 4.0]);
    }

    #[test]
    fn n_of_m_keeps_n_in_every_group() {
        let squares = vec![1.0; 8];
        let mut weight: Vec<f32> = (0..16).map(|k| ((k * 7 % 11) as f32) - 5.0).collect();
        let original = weight.clone();
        wanda(
            &mut weight,
            2,
            &squares,
            LayerSparsity::NOfM { keep: 2, m: 4 },
        )
        .unwrap();
        for group in weight.chunks_exact(4) {
            assert_eq!(group.iter().filter(|v| **v != 0.0).count(), 2, "{weight:?}");
        }
        // Kept weights are the originals, bit for bit.
        for (a, b) in weight.iter().zip(&original) {
            assert!(*a == 0.0 || a.to_bits() == b.to_bits());
        }
    }

    /// The official `<=` threshold: at 25 % of 8 weights the value at sorted index 2 is the
    /// threshold, so 3 weights go.
    #[test]
    fn magnitude_prunes_through_the_threshold() {
        let mut weight = vec![0.1f32, -0.5, 0.2, 0.9, -0.3, 0.6, 0.7, -0.8];
        let zeros = magnitude(&mut weight, 2, 4, LayerSparsity::Unstructured(0.25)).unwrap();
        assert_eq!(zeros, 3);
        assert_eq!(weight, vec![0.0, -0.5, 0.0, 0.9, 0.0, 0.6, 0.7, -0.8]);
    }

    #[test]
    fn bad_patterns_and_values_are_named() {
        let mut weight = vec![1.0f32; 6];
        let squares = [1.0; 3];
        let nm = LayerSparsity::NOfM { keep: 2, m: 4 };
        assert!(
            wanda(&mut weight, 2, &squares, nm)
                .unwrap_err()
                .to_string()
                .contains("--nm")
        );
        let over = LayerSparsity::Unstructured(1.0);
        let e = magnitude(&mut weight, 2, 3, over).unwrap_err().to_string();
        assert!(e.contains("--sparsity"), "{e}");
        weight[4] = f32::NAN;
        let e = wanda(&mut weight, 2, &squares, LayerSparsity::Unstructured(0.5)).unwrap_err();
        assert!(e.to_string().contains("value 4"), "{e}");
        assert_eq!(weight[0], 1.0, "nothing is written on an error");
    }
}
