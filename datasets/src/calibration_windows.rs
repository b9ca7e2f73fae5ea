//! Calibration inputs for pruning a language model: windows of the model's context at seeded
//! random offsets of a token stream, as the official SparseGPT and Wanda loaders draw their
//! calibration sequences (each at a uniformly random start in the text).

use burn::tensor::{Device, Int, Tensor, TensorData};
use tempering_core::split_mix::SplitMix64;

use crate::error::{DataError, Result};

/// `count` windows of `context` token ids of `tokens`, each at a random start drawn from a
/// SplitMix64 seeded with `seed`, stacked `batch` windows per `[batch, context]` tensor (the
/// last may hold fewer). Errors if the stream is shorter than one window or a size is zero.
pub fn calibration_windows(
    tokens: &[u32],
    context: usize,
    count: usize,
    batch: usize,
    seed: u64,
    device: &Device,
) -> Result<Vec<Tensor<2, Int>>> {
    for (field, value) in [("context", context), ("count", count), ("batch", batch)] {
        if value == 0 {
            return Err(DataError::InvalidConfig {
                field,
                problem: "must be at least 1".into(),
            });
        }
    }
    if tokens.len() < context {
        return Err(DataError::InvalidConfig {
            field: "context",
            problem: format!(
                "{context} tokens per window, but the text has {}",
                tokens.len()
            ),
        });
    }
    let mut rng = SplitMix64::new(seed);
    let starts: Vec<usize> = (0..count)
        .map(|_| rng.below(tokens.len() - context + 1))
        .collect();
    Ok(starts
        .chunks(batch)
        .map(|chunk| {
            let ids: Vec<i64> = chunk
                .iter()
                .flat_map(|&s| tokens[s..s + context].iter().map(|&t| i64::from(t)))
                .collect();
            Tensor::from_data(TensorData::new(ids, [chunk.len(), context]), device)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_slices_of_the_stream_in_batches() {
        let device = Device::default();
        let tokens: Vec<u32> = (0..50).collect();
        let batches = calibration_windows(&tokens, 8, 5, 2, 3, &device).unwrap();
        assert_eq!(
            batches.iter().map(|b| b.dims()).collect::<Vec<_>>(),
            vec![[2, 8], [2, 8], [1, 8]]
        );
        for batch in batches {
            let ids = batch
                .into_data()
                .convert::<i64>()
                .try_into_vec::<i64>()
                .unwrap();
            for window in ids.chunks(8) {
                // Consecutive ids: a contiguous slice of the stream.
                assert!(window.windows(2).all(|p| p[1] == p[0] + 1), "{window:?}");
            }
        }
        // A stream of exactly one window has one start.
        let one = calibration_windows(&tokens[..8], 8, 3, 4, 0, &device).unwrap();
        assert_eq!(one[0].dims(), [3, 8]);
        assert!(calibration_windows(&tokens[..7], 8, 1, 1, 0, &device).is_err());
        assert!(calibration_windows(&tokens, 8, 0, 1, 0, &device).is_err());
    }
}
