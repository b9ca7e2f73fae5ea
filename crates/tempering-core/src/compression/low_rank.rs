//! Dense layers handed back as ALDS factorizations (Liebenwein et al., NeurIPS 2021).

use burn::module::Module;
use burn::nn::Linear;
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
#[derive(Clone, Debug)]
pub struct FactorizedLinear {
    /// `(encoder, decoder)` per input chunk, in input order.
    pub chunks: Vec<(Tensor<2>, Tensor<2>)>,
}

/// A model whose dense linear layers can be replaced by low-rank factorizations.
pub trait LowRankExport: Module + Sized {
    /// The model's config.
    type Config;
    /// The model with factorized layers.
    type Exported: Module;
    /// The config that rebuilds [`Exported`](LowRankExport::Exported).
    type ExportedConfig;

    /// The layers an export may factorize, in the model's order, each under its weight's
    /// module path (`hidden.0.weight`).
    fn factorizable_layers(&self) -> Vec<(String, &Linear)>;

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
