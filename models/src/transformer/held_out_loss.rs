//! A language model's mean next-token loss over a held-out token stream, in the evaluation
//! protocol of the SparseGPT and Wanda papers: the stream cut into consecutive non-overlapping
//! windows of the model's context, every position of every window predicted.

use burn::tensor::{Int, Tensor, TensorData};

use super::TransformerLm;
use super::projection::Projection;

impl<P: Projection> TransformerLm<P> {
    /// Mean next-token cross-entropy (nats) of windows `[batch, time + 1]`: each window's
    /// first `time` tokens are the inputs, its last `time` the targets.
    pub fn window_loss(&self, windows: Tensor<2, Int>) -> f64 {
        self.window_loss_tensor(windows).into_scalar::<f64>()
    }

    /// [`window_loss`](Self::window_loss) as a tensor, for training on windows (its
    /// gradient flows where the model's parameters track one).
    pub fn window_loss_tensor(&self, windows: Tensor<2, Int>) -> Tensor<1> {
        let [batch, length] = windows.dims();
        let inputs = windows.clone().slice([0..batch, 0..length - 1]);
        let targets = windows.slice([0..batch, 1..length]);
        self.loss(inputs, targets)
    }

    /// Mean cross-entropy (nats per token) of `tokens` cut into consecutive windows of
    /// `context + 1` tokens that overlap by one (the last input of a window is the first of
    /// the next), at most `max_windows` of them, `batch` windows per forward pass. `None` when
    /// the stream is shorter than one window.
    pub fn held_out_loss(&self, tokens: &[u32], batch: usize, max_windows: usize) -> Option<f64> {
        self.held_out_loss_observed(tokens, batch, max_windows, &mut |_| {})
    }

    /// [`held_out_loss`](Self::held_out_loss), telling `progress` the windows done after each
    /// forward pass (for a progress bar over a long text).
    pub fn held_out_loss_observed(
        &self,
        tokens: &[u32],
        batch: usize,
        max_windows: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Option<f64> {
        let context = self.context();
        let windows = (tokens.len().saturating_sub(1) / context).min(max_windows);
        if windows == 0 {
            return None;
        }
        let device = self.token_embedding.weight.device();
        let batch = batch.max(1);
        let mut total = 0.0;
        for first in (0..windows).step_by(batch) {
            let count = batch.min(windows - first);
            // Window w is tokens w·context ..= (w + 1)·context: inputs and their targets.
            let ids: Vec<i64> = (first..first + count)
                .flat_map(|w| &tokens[w * context..=(w + 1) * context])
                .map(|&t| i64::from(t))
                .collect();
            let batch_windows =
                Tensor::<2, Int>::from_data(TensorData::new(ids, [count, context + 1]), &device);
            total += self.window_loss(batch_windows) * count as f64;
            progress(first + count);
        }
        Some(total / windows as f64)
    }
}

#[cfg(test)]
mod tests {
    use crate::transformer::TransformerLmConfig;
    use burn::tensor::{Device, Int, Tensor, TensorData};

    /// The batched mean equals the mean of one-window evaluations, every window counted once
    /// whatever the batch size; too short a stream has no loss.
    #[test]
    fn batching_does_not_change_the_mean() {
        let device = Device::default();
        let model = TransformerLmConfig::new(7)
            .with_context(4)
            .with_d_model(8)
            .with_n_layers(1)
            .with_n_heads(2)
            .init(&device);
        let tokens: Vec<u32> = (0..23).map(|i| (i * 5 % 7) as u32).collect();
        // (23 − 1) / 4 = 5 windows.
        let singles: Vec<f64> = (0..5)
            .map(|w| {
                model
                    .held_out_loss(&tokens[w * 4..w * 4 + 5], 1, usize::MAX)
                    .unwrap()
            })
            .collect();
        let expected = singles.iter().sum::<f64>() / 5.0;
        for batch in [1, 2, 3, 8] {
            let mean = model.held_out_loss(&tokens, batch, usize::MAX).unwrap();
            assert!((mean - expected).abs() < 1e-5, "batch {batch}: {mean}");
        }
        let first_two = model.held_out_loss(&tokens, 8, 2).unwrap();
        assert!((first_two - (singles[0] + singles[1]) / 2.0).abs() < 1e-5);
        assert_eq!(model.held_out_loss(&tokens[..4], 2, 10), None);
        // A window of context + 1 tokens is one held-out window.
        let window = Tensor::<2, Int>::from_data(
            TensorData::new(tokens[..5].iter().map(|&t| i64::from(t)).collect(), [1, 5]),
            &device,
        );
        assert!((model.window_loss(window) - singles[0]).abs() < 1e-6);
    }
}
