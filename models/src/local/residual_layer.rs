//! The layers of the small residual networks local learning trains: a stem (3×3 convolution,
//! batch norm, ReLU) and basic residual blocks (He et al. 2016, "Deep Residual Learning for
//! Image Recognition"), as in the AugLocal reference's CIFAR ResNets.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::low_rank_conv::ConvProjection;

fn conv(c_in: usize, c_out: usize, kernel: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            kernel / 2,
            kernel / 2,
            kernel / 2,
            kernel / 2,
        ))
        .with_bias(false)
        .init(device)
}

/// Convolution then batch norm, no bias (the norm has one). The convolution is Burn's dense
/// `Conv2d` as trained, a [`ConvLayer`](crate::ConvLayer) once compressed into ALDS factors.
#[derive(Module, Debug)]
pub struct ConvNorm<C = Conv2d> {
    /// The convolution.
    pub conv: C,
    norm: BatchNorm,
}

impl ConvNorm {
    /// The parameters of [`ConvNorm::new`]`(c_in, c_out, kernel, ..)` as Burn counts them:
    /// the convolution's weights, and the norm's scale, shift and running mean and variance;
    /// `None` on overflow.
    pub fn parameter_count(c_in: usize, c_out: usize, kernel: usize) -> Option<usize> {
        c_in.checked_mul(kernel.checked_mul(kernel)?)?
            .checked_add(4)?
            .checked_mul(c_out)
    }

    /// A `kernel`×`kernel` convolution (same padding) of `stride`, then batch norm.
    pub fn new(c_in: usize, c_out: usize, kernel: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv: conv(c_in, c_out, kernel, stride, device),
            norm: BatchNormConfig::new(c_out).init(device),
        }
    }
}

impl<C: ConvProjection> ConvNorm<C> {
    /// `[batch, c_in, h, w]` → `[batch, c_out, h/stride, w/stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.norm.forward(self.conv.forward(x))
    }

    /// The convolution under `path`.
    fn convs<'a>(&'a self, path: &str, out: &mut Vec<(String, &'a C)>) {
        out.push((format!("{path}.conv.weight"), &self.conv));
    }

    /// The same layer with the convolution replaced by `f(path of its weight, convolution)`.
    fn map_conv<D>(self, path: &str, f: &mut impl FnMut(&str, C) -> D) -> ConvNorm<D> {
        ConvNorm {
            conv: f(&format!("{path}.conv.weight"), self.conv),
            norm: self.norm,
        }
    }
}

/// A basic residual block: two 3×3 convolutions with batch norm, and a 1×1 projection shortcut
/// when the shape changes.
#[derive(Module, Debug)]
pub struct ResidualBlock<C = Conv2d> {
    first: ConvNorm<C>,
    second: ConvNorm<C>,
    shortcut: Option<ConvNorm<C>>,
}

impl ResidualBlock {
    /// Whether a block from `c_in` to `c_out` channels of `stride` has a projection shortcut.
    fn projects(c_in: usize, c_out: usize, stride: usize) -> bool {
        stride != 1 || c_in != c_out
    }

    /// A block from `c_in` to `c_out` channels; `stride` 2 halves the resolution.
    pub fn new(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Self {
        Self {
            first: ConvNorm::new(c_in, c_out, 3, stride, device),
            second: ConvNorm::new(c_out, c_out, 3, 1, device),
            shortcut: Self::projects(c_in, c_out, stride)
                .then(|| ConvNorm::new(c_in, c_out, 1, stride, device)),
        }
    }

    /// The parameters of [`ResidualBlock::new`]`(c_in, c_out, stride, ..)`, computed without
    /// building it; `None` on overflow.
    pub fn parameter_count(c_in: usize, c_out: usize, stride: usize) -> Option<usize> {
        let shortcut = match Self::projects(c_in, c_out, stride) {
            true => ConvNorm::parameter_count(c_in, c_out, 1)?,
            false => 0,
        };
        ConvNorm::parameter_count(c_in, c_out, 3)?
            .checked_add(ConvNorm::parameter_count(c_out, c_out, 3)?)?
            .checked_add(shortcut)
    }
}

impl<C: ConvProjection> ResidualBlock<C> {
    /// `relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let residual = match &self.shortcut {
            Some(projection) => projection.forward(x.clone()),
            None => x.clone(),
        };
        let y = self.second.forward(relu(self.first.forward(x)));
        relu(y + residual)
    }

    fn convs<'a>(&'a self, path: &str, out: &mut Vec<(String, &'a C)>) {
        self.first.convs(&format!("{path}.first"), out);
        self.second.convs(&format!("{path}.second"), out);
        if let Some(shortcut) = &self.shortcut {
            shortcut.convs(&format!("{path}.shortcut"), out);
        }
    }

    fn map_convs<D>(self, path: &str, f: &mut impl FnMut(&str, C) -> D) -> ResidualBlock<D> {
        ResidualBlock {
            first: self.first.map_conv(&format!("{path}.first"), f),
            second: self.second.map_conv(&format!("{path}.second"), f),
            shortcut: self
                .shortcut
                .map(|s| s.map_conv(&format!("{path}.shortcut"), f)),
        }
    }
}

/// One layer of a [`LocalResNet`](super::LocalResNet): the stem or a residual block.
// A handful live in a network's Vec; boxing would buy nothing but an indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum ResidualLayer<C = Conv2d> {
    /// 3×3 convolution, batch norm, ReLU.
    Stem(ConvNorm<C>),
    /// A basic residual block.
    Block(ResidualBlock<C>),
}

impl<C: ConvProjection> ResidualLayer<C> {
    /// Runs the layer.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            ResidualLayer::Stem(stem) => relu(stem.forward(x)),
            ResidualLayer::Block(block) => block.forward(x),
        }
    }

    /// The layer's convolutions under their weights' module paths, the layer at `path`
    /// (`layers.0`): `{path}.Stem.conv.weight`, or `{path}.Block.{first,second,shortcut}.conv.weight`.
    pub fn convs(&self, path: &str) -> Vec<(String, &C)> {
        let mut out = Vec::new();
        match self {
            ResidualLayer::Stem(stem) => stem.convs(&format!("{path}.Stem"), &mut out),
            ResidualLayer::Block(block) => block.convs(&format!("{path}.Block"), &mut out),
        }
        out
    }

    /// The same layer with each convolution replaced by `f(path of its weight, convolution)`,
    /// paths as in [`convs`](Self::convs).
    pub fn map_convs<D>(self, path: &str, f: &mut impl FnMut(&str, C) -> D) -> ResidualLayer<D> {
        match self {
            ResidualLayer::Stem(stem) => {
                ResidualLayer::Stem(stem.map_conv(&format!("{path}.Stem"), f))
            }
            ResidualLayer::Block(block) => {
                ResidualLayer::Block(block.map_convs(&format!("{path}.Block"), f))
            }
        }
    }
}
