//! The auxiliary networks that give a hidden layer of a convolutional network its local loss:
//! greedy linear classifiers, DGL's small convolutional heads (Belilovsky et al., "Decoupled
//! Greedy Learning of CNNs", ICML 2020, arXiv:1901.08164, in the form the AugLocal reference
//! uses), and AugLocal's networks of fresh copies of later layers (Ma et al., ICLR 2024,
//! arXiv:2401.16751).

use burn::config::Config;
use burn::module::Module;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::auglocal_rule::auxiliary_layers;
use super::residual_layer::{ConvNorm, ResidualBlock};

/// Which auxiliary network each hidden stage gets.
#[derive(Config, Debug, Copy, PartialEq)]
pub enum AuxiliaryKind {
    /// Global average pooling and a linear classifier (greedy layer-wise learning).
    Greedy,
    /// DGL's head: pool to ⌈s/4⌉, three 1×1 conv + BN + ReLU, pool to ≤ 2×2, a three-layer MLP.
    Dgl,
    /// AugLocal: fresh copies of `depth` uniformly sampled later layers (depth decreasing
    /// linearly with coefficient `tau` over the stages), pooling and a linear classifier.
    AugLocal {
        /// Depth of the first stage's auxiliary network.
        depth: usize,
        /// Decrease coefficient τ (0.5 in the paper; 0 keeps every depth at `depth`).
        tau: f64,
    },
}

/// Global average pooling to `[batch, channels]`.
fn pool_flat(x: Tensor<4>) -> Tensor<2> {
    let [b, c, _, _] = x.dims();
    x.mean_dims(&[2, 3]).reshape([b, c])
}

/// DGL's head for `channels` channels at `size`×`size`.
#[derive(Module, Debug)]
pub struct DglHead {
    first_pool: AdaptiveAvgPool2d,
    convs: Vec<ConvNorm>,
    second_pool: AdaptiveAvgPool2d,
    hidden: Vec<(Linear, BatchNorm)>,
    out: Linear,
}

/// A linear layer's weights and biases; `None` on overflow.
fn linear_parameters(d_in: usize, d_out: usize) -> Option<usize> {
    d_in.checked_add(1)?.checked_mul(d_out)
}

impl DglHead {
    /// The features of the head's MLP for `channels` channels at `size`×`size`: the channels
    /// pooled to at most 2×2; `None` on overflow.
    fn mlp_features(channels: usize, size: usize) -> Option<usize> {
        let mlp_size = size.div_ceil(4).min(2);
        channels.checked_mul(mlp_size * mlp_size)
    }

    /// The parameters of [`DglHead::new`], computed without building it; `None` on overflow.
    fn parameter_count(channels: usize, size: usize, classes: usize) -> Option<usize> {
        let features = Self::mlp_features(channels, size)?;
        // Three 1×1 conv + BN, two bias-free linear + BN (scale, shift, running mean and
        // variance), the output layer.
        let hidden = features.checked_add(4)?.checked_mul(features)?;
        ConvNorm::parameter_count(channels, channels, 1)?
            .checked_mul(3)?
            .checked_add(hidden.checked_mul(2)?)?
            .checked_add(linear_parameters(features, classes)?)
    }

    fn new(channels: usize, size: usize, classes: usize, device: &Device) -> Self {
        let pooled = size.div_ceil(4);
        let mlp_size = pooled.min(2);
        let features = channels * mlp_size * mlp_size;
        Self {
            first_pool: AdaptiveAvgPool2dConfig::new([pooled, pooled]).init(),
            convs: (0..3)
                .map(|_| ConvNorm::new(channels, channels, 1, 1, device))
                .collect(),
            second_pool: AdaptiveAvgPool2dConfig::new([mlp_size, mlp_size]).init(),
            hidden: (0..2)
                .map(|_| {
                    (
                        LinearConfig::new(features, features)
                            .with_bias(false)
                            .init(device),
                        BatchNormConfig::new(features).init(device),
                    )
                })
                .collect(),
            out: LinearConfig::new(features, classes).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.first_pool.forward(x);
        let x = self.convs.iter().fold(x, |x, c| relu(c.forward(x)));
        let x = self.second_pool.forward(x);
        let [b, c, h, w] = x.dims();
        let x = x.reshape([b, c * h * w]);
        let x = self
            .hidden
            .iter()
            .fold(x, |x, (linear, norm)| relu(norm.forward(linear.forward(x))));
        self.out.forward(x)
    }
}

/// AugLocal's auxiliary network: copies of sampled later layers, pooling, a classifier.
#[derive(Module, Debug)]
pub struct AugLocalHead {
    layers: Vec<ResidualBlock>,
    norm: Option<BatchNorm>,
    out: Linear,
}

impl AugLocalHead {
    /// The head of layer `layer` in a network whose layers have `widths` channels, `depth`
    /// sampled layers deep. The copies halve the resolution as often as the main network does
    /// between the layers they copy: once per width increase (the main network's stride-2
    /// layers), whatever the width multiple, so a copy runs at its original's resolution. Where
    /// one copy stands for several halvings, the extra ones go to the next copies.
    fn new(layer: usize, widths: &[usize], depth: usize, classes: usize, device: &Device) -> Self {
        let (copies, c_in) = Self::copies(layer, widths, depth);
        Self {
            layers: copies
                .into_iter()
                .map(|(c_in, c_out, stride)| ResidualBlock::new(c_in, c_out, stride, device))
                .collect(),
            norm: (depth <= 1).then(|| BatchNormConfig::new(c_in).init(device)),
            out: LinearConfig::new(c_in, classes).init(device),
        }
    }

    /// `(c_in, c_out, stride)` of each copied layer of [`AugLocalHead::new`], input side first,
    /// and the channels the copies end with (the classifier's inputs).
    fn copies(layer: usize, widths: &[usize], depth: usize) -> (Vec<(usize, usize, usize)>, usize) {
        let mut c_in = widths[layer];
        let mut pending_pools = 0usize;
        let mut copies = Vec::new();
        let mut previous = layer;
        for index in auxiliary_layers(layer, widths.len(), depth) {
            let c_out = widths[index];
            pending_pools += (previous + 1..=index)
                .filter(|&i| widths[i] > widths[i - 1])
                .count();
            previous = index;
            let stride = if pending_pools >= 1 {
                pending_pools -= 1;
                2
            } else {
                1
            };
            copies.push((c_in, c_out, stride));
            c_in = c_out;
        }
        (copies, c_in)
    }

    /// The parameters of [`AugLocalHead::new`], computed without building it; `None` on
    /// overflow.
    fn parameter_count(
        layer: usize,
        widths: &[usize],
        depth: usize,
        classes: usize,
    ) -> Option<usize> {
        let (copies, c_in) = Self::copies(layer, widths, depth);
        // Scale, shift, running mean and variance.
        let norm = if depth <= 1 { c_in.checked_mul(4)? } else { 0 };
        copies
            .iter()
            .try_fold(norm, |total, &(c_in, c_out, stride)| {
                total.checked_add(ResidualBlock::parameter_count(c_in, c_out, stride)?)
            })?
            .checked_add(linear_parameters(c_in, classes)?)
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.layers.iter().fold(x, |x, l| l.forward(x));
        let x = pool_flat(x);
        let x = match &self.norm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        self.out.forward(x)
    }

    /// How many layer copies it holds.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }
}

/// A hidden stage's auxiliary network.
// A handful live in a network's Vec; boxing would buy nothing but an indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum AuxiliaryHead {
    /// Pooling and a linear classifier.
    Greedy(Linear),
    /// DGL's small convolutional head.
    Dgl(DglHead),
    /// AugLocal's copies of later layers.
    AugLocal(AugLocalHead),
}

impl AuxiliaryHead {
    /// The head for the output of layer `layer` (`widths[layer]` channels at `size`×`size`).
    pub fn new(
        kind: AuxiliaryKind,
        layer: usize,
        widths: &[usize],
        size: usize,
        depth: usize,
        classes: usize,
        device: &Device,
    ) -> Self {
        match kind {
            AuxiliaryKind::Greedy => {
                AuxiliaryHead::Greedy(LinearConfig::new(widths[layer], classes).init(device))
            }
            AuxiliaryKind::Dgl => {
                AuxiliaryHead::Dgl(DglHead::new(widths[layer], size, classes, device))
            }
            AuxiliaryKind::AugLocal { .. } => {
                AuxiliaryHead::AugLocal(AugLocalHead::new(layer, widths, depth, classes, device))
            }
        }
    }

    /// The parameters of [`AuxiliaryHead::new`] with the same arguments, computed without
    /// building it; `None` on overflow.
    pub fn parameter_count(
        kind: AuxiliaryKind,
        layer: usize,
        widths: &[usize],
        size: usize,
        depth: usize,
        classes: usize,
    ) -> Option<usize> {
        match kind {
            AuxiliaryKind::Greedy => linear_parameters(widths[layer], classes),
            AuxiliaryKind::Dgl => DglHead::parameter_count(widths[layer], size, classes),
            AuxiliaryKind::AugLocal { .. } => {
                AugLocalHead::parameter_count(layer, widths, depth, classes)
            }
        }
    }

    /// Class logits from a layer's output `[batch, channels, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            AuxiliaryHead::Greedy(linear) => linear.forward(pool_flat(x)),
            AuxiliaryHead::Dgl(head) => head.forward(x),
            AuxiliaryHead::AugLocal(head) => head.forward(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spatial size after the head's copied layers, from `size`×`size`.
    fn resolution(head: &AugLocalHead, channels: usize, size: usize) -> usize {
        let x = Tensor::<4>::zeros([1, channels, size, size], &Device::default());
        let y = head.layers.iter().fold(x, |x, l| l.forward(x));
        y.dims()[2]
    }

    /// A single 4× width jump is one stride-2 layer in the main network, so its copy halves
    /// the resolution once (counting pools by log₂ of the width ratio halved it twice).
    #[test]
    fn copies_follow_the_main_networks_resolution_through_a_four_times_jump() {
        let device = Device::default();
        let widths = [4, 16, 16, 16];
        let head = AugLocalHead::new(0, &widths, 3, 10, &device);
        assert_eq!(head.depth(), 3);
        // The main network: 8×8 → 4×4 at layer 1, then 4×4.
        assert_eq!(resolution(&head, 4, 8), 4);
        // Doubling twice in the main network (4 → 8 → 16), copied by one layer: two halvings,
        // the second carried to the next copy.
        let widths = [4, 8, 16, 16];
        let head = AugLocalHead::new(0, &widths, 2, 10, &device);
        assert_eq!(resolution(&head, 4, 8), 2);
    }
}
