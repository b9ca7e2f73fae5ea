//! A 2-D convolution stored as ALDS factors (Liebenwein et al., "Compressing neural networks:
//! towards determining the optimal layer-wise decomposition", NeurIPS 2021): the input channels
//! are split into chunks, each chunk goes through its own `kh×kw` convolution to `r` channels
//! (the encoder, with the layer's stride, padding and dilation) and a 1×1 convolution to the
//! outputs (the decoder); the chunks' outputs add up, and the bias is added once.
//! `r·(in·kh·kw + chunks·out)` weights instead of `out·in·kh·kw`.

use burn::module::{Module, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};
use tempering_core::compression::{FactorizedLinear, input_chunks};

/// One input chunk's factors.
#[derive(Module, Debug)]
pub struct LowRankConvChunk {
    /// `[r, chunk channels, kh, kw]`, the layer's stride, padding and dilation, no bias.
    pub encoder: Conv2d,
    /// `[out, r, 1, 1]`, no bias.
    pub decoder: Conv2d,
}

/// `y = Σ_j decoder_j(encoder_j(x_j)) + bias`, `x_j` the `j`-th chunk of the input channels.
#[derive(Module, Debug)]
pub struct LowRankConv2d {
    /// The chunks, in input order.
    pub chunks: Vec<LowRankConvChunk>,
    /// `[out]`.
    pub bias: Option<Param<Tensor<1>>>,
}

/// A convolution with `weight`, `stride`, `dilation` and `padding`, no bias.
fn conv_of(
    weight: Tensor<4>,
    stride: [usize; 2],
    dilation: [usize; 2],
    padding: PaddingConfig2d,
) -> Conv2d {
    let [_, _, kh, kw] = weight.dims();
    Conv2d {
        weight: Param::from_tensor(weight),
        bias: None,
        stride,
        kernel_size: [kh, kw],
        dilation,
        groups: 1,
        padding,
    }
}

impl LowRankConv2d {
    /// The layer of `factors` (one `(encoder [in_j·kh·kw, r], decoder [r, out])` pair per chunk
    /// of input channels, see [`FactorizedLinear`]) in the place of `dense`, whose stride,
    /// padding, dilation and bias it keeps.
    ///
    /// # Panics
    /// If `dense` is grouped or the factors do not fit its shape.
    pub fn from_factors(factors: FactorizedLinear, dense: Conv2d) -> Self {
        assert_eq!(
            dense.groups, 1,
            "LowRankConv2d: grouped convolutions are not factorized"
        );
        let [out, inputs, kh, kw] = dense.weight.dims();
        let ranges = input_chunks(inputs, factors.chunks.len());
        assert_eq!(
            ranges.len(),
            factors.chunks.len(),
            "LowRankConv2d: {} chunks for {inputs} input channels",
            factors.chunks.len()
        );
        let chunks = factors
            .chunks
            .into_iter()
            .zip(ranges)
            .map(|((encoder, decoder), range)| {
                let rank = encoder.dims()[1];
                LowRankConvChunk {
                    encoder: conv_of(
                        encoder.transpose().reshape([rank, range.len(), kh, kw]),
                        dense.stride,
                        dense.dilation,
                        dense.padding.clone(),
                    ),
                    decoder: conv_of(
                        decoder.transpose().reshape([out, rank, 1, 1]),
                        [1, 1],
                        [1, 1],
                        PaddingConfig2d::Valid,
                    ),
                }
            })
            .collect();
        Self {
            chunks,
            bias: dense.bias,
        }
    }

    /// A layer of the shape `from_factors` would build for a `[out, inputs, kh, kw]`
    /// convolution of `stride` and `padding` at `rank` over `chunks` (Burn's default
    /// initialization; load the factors into it).
    #[allow(clippy::too_many_arguments)]
    pub fn init(
        [inputs, out]: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: PaddingConfig2d,
        rank: usize,
        chunks: usize,
        bias: bool,
        device: &Device,
    ) -> Self {
        Self {
            chunks: input_chunks(inputs, chunks)
                .into_iter()
                .map(|range| {
                    let rank = rank
                        .min(range.len() * kernel[0] * kernel[1])
                        .min(out)
                        .max(1);
                    LowRankConvChunk {
                        encoder: Conv2dConfig::new([range.len(), rank], kernel)
                            .with_stride(stride)
                            .with_padding(padding.clone())
                            .with_bias(false)
                            .init(device),
                        decoder: Conv2dConfig::new([rank, out], [1, 1])
                            .with_bias(false)
                            .init(device),
                    }
                })
                .collect(),
            bias: bias.then(|| Param::from_tensor(Tensor::zeros([out], device))),
        }
    }

    /// `[batch, in, h, w]` → `[batch, out, h', w']`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut start = 0;
        let mut sum: Option<Tensor<4>> = None;
        for chunk in &self.chunks {
            let channels = chunk.encoder.weight.dims()[1];
            let part = chunk
                .decoder
                .forward(chunk.encoder.forward(x.clone().narrow(1, start, channels)));
            start += channels;
            sum = Some(match sum {
                Some(s) => s + part,
                None => part,
            });
        }
        let y = sum.expect("a LowRankConv2d has at least one chunk");
        match &self.bias {
            Some(b) => y + b.val().reshape([1, -1, 1, 1]),
            None => y,
        }
    }
}

/// A convolution that is either dense or factorized, so a network can hold both.
#[derive(Module, Debug)]
pub enum ConvLayer {
    /// Burn's dense convolution.
    Dense(Conv2d),
    /// The factorized convolution.
    LowRank(LowRankConv2d),
}

/// What a network's convolution slots need: a forward pass over `[batch, c, h, w]`.
pub trait ConvProjection: Module + burn::module::ModuleDisplay {
    /// The layer applied to `x`.
    fn forward(&self, x: Tensor<4>) -> Tensor<4>;
}

impl ConvProjection for Conv2d {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        Conv2d::forward(self, x)
    }
}

impl ConvProjection for ConvLayer {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Dense(conv) => conv.forward(x),
            Self::LowRank(conv) => conv.forward(x),
        }
    }
}
