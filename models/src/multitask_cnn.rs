//! A convolutional network with one backbone and a classification head per task: the kind of
//! multitask CNN PAGCP prunes (Ye et al., "Performance-aware Approximation of Global Channel
//! Pruning for Multitask CNNs", TPAMI 2023), at Fashion-MNIST scale. Each layer is a 3×3
//! convolution of stride 2 (no bias), batch norm and ReLU; the last layer's channels are
//! averaged over the image and every head reads them.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use tempering_models::{MultitaskCnnConfig};
//! let device = Device::default();
//! let model = MultitaskCnnConfig::new().init(&device);
//! let logits = model.forward(Tensor::zeros([2, 28, 28], &device));
//! assert_eq!(logits.iter().map(|l| l.dims()).collect::<Vec<_>>(), vec![[2, 10], [2, 4]]);
//! ```

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Configuration of a [`MultitaskCnn`]; the defaults: 16, 32 and 64 channels (28 → 14 → 7 → 4
/// pixels), a 10-class head and a 4-class head.
#[derive(Config, Debug)]
pub struct MultitaskCnnConfig {
    /// Channels of each convolution, input side first.
    #[config(default = "vec![16, 32, 64]")]
    pub widths: Vec<usize>,
    /// Classes of each task's head.
    #[config(default = "vec![10, 4]")]
    pub task_classes: Vec<usize>,
    /// Image height and width.
    #[config(default = 28)]
    pub image_size: usize,
}

impl MultitaskCnnConfig {
    /// Why this config cannot build a network, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.widths.is_empty() || self.widths.contains(&0) {
            return Err("widths must be non-empty and positive".into());
        }
        if self.task_classes.is_empty() || self.task_classes.contains(&0) {
            return Err("task_classes must be non-empty and positive".into());
        }
        if self.image_size == 0 {
            return Err("image_size must be positive".into());
        }
        Ok(())
    }

    /// Builds the network on `device`.
    ///
    /// # Panics
    /// If [`check`](Self::check) finds a problem.
    pub fn init(&self, device: &Device) -> MultitaskCnn {
        if let Err(e) = self.check() {
            panic!("MultitaskCnnConfig: {e}");
        }
        let mut c_in = 1;
        let layers = self
            .widths
            .iter()
            .map(|&c_out| {
                let layer = ConvLayerNorm {
                    conv: Conv2dConfig::new([c_in, c_out], [3, 3])
                        .with_stride([2, 2])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .with_bias(false)
                        .init(device),
                    norm: BatchNormConfig::new(c_out).init(device),
                };
                c_in = c_out;
                layer
            })
            .collect();
        MultitaskCnn {
            layers,
            heads: self
                .task_classes
                .iter()
                .map(|&classes| LinearConfig::new(c_in, classes).init(device))
                .collect(),
        }
    }
}

/// A 3×3 convolution of stride 2 and its batch norm.
#[derive(Module, Debug)]
pub struct ConvLayerNorm {
    /// `[out, in, 3, 3]`, no bias.
    pub conv: Conv2d,
    /// One channel per filter.
    pub norm: BatchNorm,
}

/// A backbone of strided convolutions and one linear head per task; see [`MultitaskCnnConfig`].
#[derive(Module, Debug)]
pub struct MultitaskCnn {
    /// The convolutions, input side first.
    pub layers: Vec<ConvLayerNorm>,
    /// One head per task, `[last width, classes]`.
    pub heads: Vec<Linear>,
}

impl MultitaskCnn {
    /// The backbone's pooled features `[batch, last width]` for images `[batch, h, w]`.
    pub fn features(&self, images: Tensor<3>) -> Tensor<2> {
        let [b, h, w] = images.dims();
        let x = self
            .layers
            .iter()
            .fold(images.reshape([b, 1, h, w]), |x, layer| {
                relu(layer.norm.forward(layer.conv.forward(x)))
            });
        let c = x.dims()[1];
        x.mean_dims(&[2, 3]).reshape([b, c])
    }

    /// Each task's logits `[batch, classes]`, in task order.
    pub fn forward(&self, images: Tensor<3>) -> Vec<Tensor<2>> {
        let features = self.features(images);
        self.heads
            .iter()
            .map(|head| head.forward(features.clone()))
            .collect()
    }

    /// Multiply-accumulates of one forward pass on an `image_size`² image: every convolution's
    /// `out · in · 3 · 3 · h_out · w_out` and every head's `in · classes` (norms, activations
    /// and pooling not counted, as FLOP counters of pruning papers count them).
    pub fn flops(&self, image_size: usize) -> u64 {
        let mut size = image_size as u64;
        let mut total = 0u64;
        for layer in &self.layers {
            let [out, inputs, kh, kw] = layer.conv.weight.dims();
            size = size.div_ceil(2);
            total += (out * inputs * kh * kw) as u64 * size * size;
        }
        total
            + self
                .heads
                .iter()
                .map(|h| {
                    let [d, c] = h.weight.dims();
                    (d * c) as u64
                })
                .sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_count_every_convolution_and_head() {
        let model = MultitaskCnnConfig::new()
            .with_widths(vec![2, 4])
            .with_task_classes(vec![3, 5])
            .init(&Device::default());
        // Worked by hand: 28 → 14: 2·1·9·196 = 3528; 14 → 7: 4·2·9·49 = 3528; heads 4·3 + 4·5.
        assert_eq!(model.flops(28), 3528 + 3528 + 12 + 20);
    }

    #[test]
    fn bad_configs_are_named() {
        let bad = MultitaskCnnConfig::new().with_widths(vec![]);
        assert!(bad.check().unwrap_err().contains("widths"));
        let bad = MultitaskCnnConfig::new().with_task_classes(vec![10, 0]);
        assert!(bad.check().unwrap_err().contains("task_classes"));
    }
}
