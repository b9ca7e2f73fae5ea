//! GPT-2's initialization (Radford et al. 2019; nanoGPT `model.py` `_init_weights`): weights
//! drawn from N(0, 0.02²), biases zero, and the projections that write into the residual
//! stream (attention output, feed-forward contraction) scaled down by √(2·layers).

use burn::module::Param;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

/// GPT-2's standard deviation of weights and embeddings.
pub const GPT2_INIT_STD: f64 = 0.02;

/// The normal initializer of standard deviation `std`.
pub fn normal(std: f64) -> Initializer {
    Initializer::Normal { mean: 0.0, std }
}

/// A `[d_in, d_out]` linear layer with N(0, std²) weights and a zero bias.
pub fn linear(d_in: usize, d_out: usize, std: f64, device: &Device) -> Linear {
    let mut layer = LinearConfig::new(d_in, d_out)
        .with_initializer(normal(std))
        .init(device);
    layer.bias = Some(Param::from_tensor(Tensor::zeros([d_out], device)));
    layer
}

/// The standard deviation of the residual projections in a model of `layers` blocks.
pub fn residual_std(std: f64, layers: usize) -> f64 {
    std / (2.0 * layers.max(1) as f64).sqrt()
}
