//! Fixed-length windows over a token stream for next-token prediction, as a Burn [`Dataset`],
//! and the batcher that stacks them.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::error::{DataError, Result};

/// One training example: `input[i]` predicts `target[i] = input[i + 1]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenWindow {
    /// `context` token ids.
    pub input: Vec<u32>,
    /// The same window shifted by one token.
    pub target: Vec<u32>,
}

/// Windows of `context + 1` tokens starting every `stride` tokens.
#[derive(Clone, Debug)]
pub struct TokenWindowDataset {
    tokens: Arc<Vec<u32>>,
    context: usize,
    stride: usize,
}

impl TokenWindowDataset {
    /// Windows of `context` inputs every `stride` tokens; errors if the stream is shorter than one
    /// window or a size is zero.
    pub fn new(tokens: Vec<u32>, context: usize, stride: usize) -> Result<Self> {
        if context == 0 || stride == 0 {
            return Err(DataError::InvalidConfig {
                field: if context == 0 { "context" } else { "stride" },
                problem: "must be at least 1".into(),
            });
        }
        if tokens.len() < context + 1 {
            return Err(DataError::InvalidConfig {
                field: "context",
                problem: format!(
                    "{context} needs at least {} tokens, the stream has {}",
                    context + 1,
                    tokens.len()
                ),
            });
        }
        Ok(Self {
            tokens: Arc::new(tokens),
            context,
            stride,
        })
    }

    /// Tokens per input.
    pub fn context(&self) -> usize {
        self.context
    }
}

impl Dataset<TokenWindow> for TokenWindowDataset {
    fn get(&self, index: usize) -> std::result::Result<TokenWindow, DatasetError> {
        assert!(index < self.len(), "index {index} >= len {}", self.len());
        let start = index * self.stride;
        let window = &self.tokens[start..start + self.context + 1];
        Ok(TokenWindow {
            input: window[..self.context].to_vec(),
            target: window[1..].to_vec(),
        })
    }

    fn len(&self) -> usize {
        (self.tokens.len() - self.context - 1) / self.stride + 1
    }
}

/// A batch of windows.
#[derive(Clone, Debug)]
pub struct TokenBatch {
    /// `[batch, context]` input ids.
    pub inputs: Tensor<2, Int>,
    /// `[batch, context]` next-token ids.
    pub targets: Tensor<2, Int>,
}

/// Stacks [`TokenWindow`]s of equal length into a [`TokenBatch`].
#[derive(Clone, Debug, Default)]
pub struct TokenBatcher;

impl Batcher<TokenWindow, TokenBatch> for TokenBatcher {
    fn batch(&self, items: Vec<TokenWindow>, device: &Device) -> TokenBatch {
        let n = items.len();
        let context = items.first().map_or(0, |w| w.input.len());
        let stack = |f: fn(&TokenWindow) -> &Vec<u32>| {
            let ids: Vec<i64> = items
                .iter()
                .flat_map(|w| f(w).iter().map(|&t| t as i64))
                .collect();
            Tensor::from_data(TensorData::new(ids, [n, context]), device)
        };
        TokenBatch {
            inputs: stack(|w| &w.input),
            targets: stack(|w| &w.target),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_shift_by_one_and_count() {
        let ds = TokenWindowDataset::new((0..10).collect(), 3, 2).unwrap();
        // Starts 0, 2, 4, 6: the last window needs tokens 6..=9.
        assert_eq!(ds.len(), 4);
        let w = ds.get(3).unwrap();
        assert_eq!(w.input, vec![6, 7, 8]);
        assert_eq!(w.target, vec![7, 8, 9]);
    }

    #[test]
    fn too_short_stream_is_an_error() {
        let err = TokenWindowDataset::new(vec![1, 2, 3], 3, 1).unwrap_err();
        assert!(err.to_string().contains("context"), "{err}");
    }

    #[test]
    fn batcher_stacks_rows() {
        let ds = TokenWindowDataset::new((0..6).collect(), 2, 1).unwrap();
        let batch = TokenBatcher.batch(
            vec![ds.get(0).unwrap(), ds.get(3).unwrap()],
            &Device::default(),
        );
        assert_eq!(batch.inputs.dims(), [2, 2]);
        let t: Vec<i64> = batch
            .targets
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        assert_eq!(t, vec![1, 2, 4, 5]);
    }
}
