//! Channel-level reads and cuts of a Burn `Conv2d` (weight `[out, in, kh, kw]`, one group) and
//! the `BatchNorm` after it: a filter is an output channel with its bias, its norm's entries
//! and the next layer's input channel (structured filter pruning, as PAGCP and Torch-Pruning
//! remove them). Models use these to implement [`ShrinkUnits`](super::ShrinkUnits) for their
//! convolutions.

use burn::module::{Param, RunningState};
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;

use super::UnitImportance;
use super::linear_units::{expanded, host_values};

/// Per output channel of `conv`, the sum of [`UnitImportance::term`] over its weights and bias.
pub fn conv_output_scores(conv: &Conv2d, importance: UnitImportance) -> Vec<f64> {
    let [out, inputs, kh, kw] = conv.weight.dims();
    let weight = host_values(conv.weight.val());
    let mut scores: Vec<f64> = weight
        .chunks_exact(inputs * kh * kw)
        .map(|filter| filter.iter().map(|&w| importance.term(w)).sum())
        .collect();
    if let Some(bias) = &conv.bias {
        for (s, b) in scores.iter_mut().zip(host_values(bias.val())) {
            *s += importance.term(b);
        }
    }
    debug_assert_eq!(scores.len(), out);
    scores
}

/// Per input channel of `conv`, the sum of [`UnitImportance::term`] over its weights.
pub fn conv_input_scores(conv: &Conv2d, importance: UnitImportance) -> Vec<f64> {
    let [_, inputs, kh, kw] = conv.weight.dims();
    let weight = host_values(conv.weight.val());
    let mut scores = vec![0.0; inputs];
    for filter in weight.chunks_exact(inputs * kh * kw) {
        for (c, kernel) in filter.chunks_exact(kh * kw).enumerate() {
            scores[c] += kernel.iter().map(|&w| importance.term(w)).sum::<f64>();
        }
    }
    scores
}

/// The convolution with only the output channels `keep` (sorted).
///
/// # Panics
/// If the convolution is grouped.
pub fn keep_conv_outputs(conv: Conv2d, keep: &[usize]) -> Conv2d {
    assert_eq!(
        conv.groups, 1,
        "keep_conv_outputs: grouped convolutions are not cut"
    );
    let indices = expanded(keep, 1, &conv.weight.device());
    Conv2d {
        weight: Param::from_tensor(conv.weight.val().select(0, indices.clone()).detach()),
        bias: conv
            .bias
            .map(|b| Param::from_tensor(b.val().select(0, indices).detach())),
        ..conv
    }
}

/// The convolution with only the input channels `keep` (sorted); the bias is unchanged.
///
/// # Panics
/// If the convolution is grouped.
pub fn keep_conv_inputs(conv: Conv2d, keep: &[usize]) -> Conv2d {
    assert_eq!(
        conv.groups, 1,
        "keep_conv_inputs: grouped convolutions are not cut"
    );
    let indices = expanded(keep, 1, &conv.weight.device());
    Conv2d {
        weight: Param::from_tensor(conv.weight.val().select(1, indices).detach()),
        ..conv
    }
}

/// The batch norm with only the channels `keep` (sorted): scale, shift and running statistics.
pub fn keep_norm_channels(norm: BatchNorm, keep: &[usize]) -> BatchNorm {
    let indices = expanded(keep, 1, &norm.gamma.device());
    let cut = |p: Param<burn::tensor::Tensor<1>>| {
        Param::from_tensor(p.val().select(0, indices.clone()).detach())
    };
    let running = |s: RunningState<burn::tensor::Tensor<1>>| {
        RunningState::new(s.value().select(0, indices.clone()))
    };
    BatchNorm {
        gamma: cut(norm.gamma),
        beta: cut(norm.beta),
        running_mean: running(norm.running_mean),
        running_var: running(norm.running_var),
        ..norm
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::BatchNormConfig;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Tensor, TensorData};

    /// A 1×1 convolution from 2 to 3 channels, weight [[1, 2], [3, 4], [5, 6]], bias [1, 1, 1].
    fn conv() -> Conv2d {
        let device = Device::default();
        let mut conv = Conv2dConfig::new([2, 3], [1, 1]).init(&device);
        conv.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![1.0f32, 2., 3., 4., 5., 6.], [3, 2, 1, 1]),
            &device,
        ));
        conv.bias = Some(Param::from_tensor(Tensor::ones([3], &device)));
        conv
    }

    #[test]
    fn channel_scores_sum_the_coupled_weights() {
        // Worked by hand, L1: filters 1+2+1, 3+4+1, 5+6+1; input channels 1+3+5, 2+4+6.
        assert_eq!(
            conv_output_scores(&conv(), UnitImportance::L1),
            vec![4.0, 8.0, 12.0]
        );
        assert_eq!(
            conv_input_scores(&conv(), UnitImportance::L1),
            vec![9.0, 12.0]
        );
    }

    #[test]
    fn cuts_keep_the_selected_channels() {
        let out = keep_conv_outputs(conv(), &[0, 2]);
        assert_eq!(out.weight.dims(), [2, 2, 1, 1]);
        assert_eq!(host_values(out.weight.val()), vec![1.0, 2.0, 5.0, 6.0]);
        assert_eq!(out.bias.unwrap().dims(), [2]);
        let inp = keep_conv_inputs(conv(), &[1]);
        assert_eq!(host_values(inp.weight.val()), vec![2.0, 4.0, 6.0]);
        let device = Device::default();
        let mut norm = BatchNormConfig::new(3).init(&device);
        norm.running_mean = RunningState::new(Tensor::from_floats([0.5, 1.5, 2.5], &device));
        let norm = keep_norm_channels(norm, &[1]);
        assert_eq!(host_values(norm.running_mean.value()), vec![1.5]);
        assert_eq!(norm.gamma.dims(), [1]);
    }
}
