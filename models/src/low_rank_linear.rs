//! A linear layer stored as ALDS factors (Liebenwein et al., "Compressing neural networks:
//! towards determining the optimal layer-wise decomposition", NeurIPS 2021): the inputs are
//! split into chunks, each chunk goes through its own rank-`r` encoder and decoder, the
//! chunks' outputs add up, and the bias is added once. `r·(d_in + chunks·d_out)` weights
//! instead of `d_in·d_out`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use tempering_core::compression::FactorizedLinear;

/// ALDS's split of the inputs into chunks, shared with the compression pass so its factors fit.
pub use tempering_core::compression::input_chunks;

/// Configuration of a [`LowRankLinear`] (for rebuilding a saved one; the pruning crate builds
/// it from a dense layer's factors).
#[derive(Config, Debug)]
pub struct LowRankLinearConfig {
    /// Input features.
    pub d_input: usize,
    /// Output features.
    pub d_output: usize,
    /// Rank of each chunk (capped at the chunk's `min(columns, d_output)`).
    pub rank: usize,
    /// Input chunks (capped at `d_input`).
    #[config(default = 3)]
    pub chunks: usize,
    /// Whether the layer has a bias.
    #[config(default = true)]
    pub bias: bool,
}

impl LowRankLinearConfig {
    /// The input ranges of the chunks (see [`input_chunks`]).
    pub fn chunk_ranges(&self) -> Vec<std::ops::Range<usize>> {
        input_chunks(self.d_input, self.chunks)
    }

    /// Builds the layer on `device` (Burn's default initialization; load or set the factors).
    ///
    /// # Panics
    /// If a size or the rank is zero.
    pub fn init(&self, device: &Device) -> LowRankLinear {
        assert!(
            self.d_input > 0 && self.d_output > 0 && self.rank > 0,
            "LowRankLinearConfig: d_input, d_output and rank must be positive"
        );
        LowRankLinear {
            chunks: self
                .chunk_ranges()
                .into_iter()
                .map(|r| {
                    let rank = self.rank.min(r.len()).min(self.d_output);
                    LowRankChunk {
                        encoder: LinearConfig::new(r.len(), rank)
                            .with_bias(false)
                            .init(device),
                        decoder: LinearConfig::new(rank, self.d_output)
                            .with_bias(false)
                            .init(device),
                    }
                })
                .collect(),
            bias: self
                .bias
                .then(|| Param::from_tensor(Tensor::zeros([self.d_output], device))),
        }
    }
}

/// One input chunk's factors.
#[derive(Module, Debug)]
pub struct LowRankChunk {
    /// `[columns, rank]`, no bias.
    pub encoder: Linear,
    /// `[rank, d_output]`, no bias.
    pub decoder: Linear,
}

/// `y = Σ_j decoder_j(encoder_j(x_j)) + bias`, `x_j` the `j`-th chunk of the input features.
#[derive(Module, Debug)]
pub struct LowRankLinear {
    /// The chunks, in input order.
    pub chunks: Vec<LowRankChunk>,
    /// `[d_output]`.
    pub bias: Option<Param<Tensor<1>>>,
}

impl LowRankLinear {
    /// The layer of `factors` (one `(encoder, decoder)` pair per input chunk, in Burn's
    /// `[in, out]` layout) with `bias`, as the compression pass cut it.
    pub fn from_factors(factors: FactorizedLinear, bias: Option<Param<Tensor<1>>>) -> Self {
        let fixed = |tensor: Tensor<2>| Linear {
            weight: Param::from_tensor(tensor),
            bias: None,
        };
        Self {
            chunks: factors
                .chunks
                .into_iter()
                .map(|(encoder, decoder)| LowRankChunk {
                    encoder: fixed(encoder),
                    decoder: fixed(decoder),
                })
                .collect(),
            bias,
        }
    }

    /// Applies the layer over the last dimension of `x`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let mut start = 0;
        let mut sum: Option<Tensor<D>> = None;
        for chunk in &self.chunks {
            let columns = chunk.encoder.weight.dims()[0];
            let part = chunk
                .decoder
                .forward(
                    chunk
                        .encoder
                        .forward(x.clone().narrow(D - 1, start, columns)),
                );
            start += columns;
            sum = Some(match sum {
                Some(s) => s + part,
                None => part,
            });
        }
        let y = sum.expect("a LowRankLinear has at least one chunk");
        match &self.bias {
            Some(b) => y + b.val().unsqueeze(),
            None => y,
        }
    }
}

/// A linear layer that is either dense or factorized, so a model can hold both.
#[derive(Module, Debug)]
pub enum LinearLayer {
    /// Burn's dense layer.
    Dense(Linear),
    /// The factorized layer.
    LowRank(LowRankLinear),
}

impl LinearLayer {
    /// Applies the layer over the last dimension of `x`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Dense(l) => l.forward(x),
            Self::LowRank(l) => l.forward(x),
        }
    }
}
