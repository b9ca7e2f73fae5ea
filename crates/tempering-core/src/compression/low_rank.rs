//! Dense layers handed back as ALDS factorizations (Liebenwein et al., NeurIPS 2021).

use burn::module::Module;
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

use super::CompressionError;

/// ALDS's split of `inputs` input channels into chunks: `j·n/k .. (j+1)·n/k` for
/// `k = min(chunks, n)` (at least 1). The compression pass ranks and factorizes over these
/// ranges and the low-rank layers are built over the same, so factors always fit.
pub fn input_chunks(inputs: usize, chunks: usize) -> Vec<std::ops::Range<usize>> {
    let k = chunks.min(inputs).max(1);
    (0..k)
        .map(|j| j * inputs / k..(j + 1) * inputs / k)
        .collect()
}

/// One dense layer's ALDS factors, in Burn's `Linear` layout: for each input chunk (see
/// [`input_chunks`]) an encoder `[chunk columns, r]` and a decoder `[r, d_out]`, so the
/// layer computes `Σ_j x_j · encoder_j · decoder_j`. The dense layer's bias is not included.
///
/// For a convolution `[out, in, kh, kw]` the chunks are of input channels and a chunk's
/// columns are its channels' kernels, `in_j·kh·kw` in the weight's order: the encoder is a
/// `kh×kw` convolution to `r` channels (its weight the encoder's transpose, `[r, in_j, kh, kw]`)
/// and the decoder a 1×1 convolution to `out`.
#[derive(Clone, Debug)]
pub struct FactorizedLinear {
    /// `(encoder, decoder)` per input chunk, in input order.
    pub chunks: Vec<(Tensor<2>, Tensor<2>)>,
}

/// A layer an ALDS export may factorize.
#[derive(Clone, Copy, Debug)]
pub enum LayerWeight<'a> {
    /// A dense layer, weight `[d_in, d_out]`.
    Linear(&'a Linear),
    /// A convolution, weight `[out, in, kh, kw]` (one group).
    Conv2d(&'a Conv2d),
}

impl LayerWeight<'_> {
    /// The weight's shape.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Self::Linear(l) => l.weight.dims().to_vec(),
            Self::Conv2d(c) => c.weight.dims().to_vec(),
        }
    }

    /// The weight's values in its own layout, on the host.
    pub fn values(&self) -> Vec<f32> {
        match self {
            Self::Linear(l) => super::linear_units::host_values(l.weight.val()),
            Self::Conv2d(c) => super::linear_units::host_values(c.weight.val()),
        }
    }

    /// The device the weight lives on.
    pub fn device(&self) -> burn::tensor::Device {
        match self {
            Self::Linear(l) => l.weight.device(),
            Self::Conv2d(c) => c.weight.device(),
        }
    }
}

/// A model whose dense linear layers (or convolutions) can be replaced by low-rank
/// factorizations.
pub trait LowRankExport: Module + Sized {
    /// The model's config.
    type Config;
    /// The model with factorized layers.
    type Exported: Module;
    /// The config that rebuilds [`Exported`](LowRankExport::Exported).
    type ExportedConfig;

    /// The layers an export may factorize, in the model's order, each under its weight's
    /// module path (`hidden.0.weight`).
    fn factorizable_layers(&self) -> Vec<(String, LayerWeight<'_>)>;

    /// The exported model: layer `l` of
    /// [`factorizable_layers`](LowRankExport::factorizable_layers) becomes `factors[l]` where
    /// that is given (keeping its bias) and stays dense where not; `ranks[l]` is the rank
    /// the factors were cut at and `chunks[l]` the input chunks they were cut over.
    fn export_low_rank(
        self,
        config: &Self::Config,
        factors: Vec<Option<FactorizedLinear>>,
        ranks: &[Option<usize>],
        chunks: &[usize],
    ) -> Result<(Self::Exported, Self::ExportedConfig), CompressionError>;
}

#[cfg(test)]
mod tests {
    use super::input_chunks;

    #[test]
    fn chunks_cover_the_inputs_in_order() {
        // Worked by hand: 10 inputs in 3 chunks are 0..3, 3..6, 6..10.
        assert_eq!(input_chunks(10, 3), vec![0..3, 3..6, 6..10]);
        assert_eq!(input_chunks(2, 5), vec![0..1, 1..2]);
        assert_eq!(input_chunks(4, 0), vec![0..4]);
    }
}
