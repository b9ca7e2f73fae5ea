//! ALDS export of [`TransformerLm`] (Liebenwein et al., NeurIPS 2021): the blocks' linear
//! layers (attention projections, feed-forward) become [`LowRankLinear`]s where factors are
//! given, into a `TransformerLm<LinearLayer>` and the [`FactorizedLmConfig`] that rebuilds it.
//! Embeddings, norms and the output head stay as they are (the head is tied to the token
//! embedding by default).

use burn::nn::Linear;
use tempering_core::compression::{CompressionError, FactorizedLinear, LowRankExport};

use crate::low_rank_linear::{LinearLayer, LowRankLinear};
use crate::transformer::{FactorizedLayer, FactorizedLmConfig, TransformerLm, TransformerLmConfig};

impl LowRankExport for TransformerLm {
    type Config = TransformerLmConfig;
    type Exported = TransformerLm<LinearLayer>;
    type ExportedConfig = FactorizedLmConfig;

    /// `blocks.{b}.attention.{query,key,value,output}.weight`, then
    /// `blocks.{b}.feed_forward.{expand,contract}.weight`, block by block.
    fn factorizable_layers(&self) -> Vec<(String, &Linear)> {
        self.blocks
            .iter()
            .enumerate()
            .flat_map(|(b, block)| {
                block
                    .linears()
                    .into_iter()
                    .map(move |(path, linear)| (format!("blocks.{b}.{path}.weight"), linear))
            })
            .collect()
    }

    fn export_low_rank(
        self,
        config: &TransformerLmConfig,
        factors: Vec<Option<FactorizedLinear>>,
        ranks: &[Option<usize>],
        chunks: &[usize],
    ) -> Result<(TransformerLm<LinearLayer>, FactorizedLmConfig), CompressionError> {
        let count = self.blocks.len() * 6;
        if factors.len() != count || ranks.len() != count || chunks.len() != count {
            return Err(CompressionError::BadConfig {
                field: "ranks",
                reason: format!(
                    "{} factorizations, {} ranks and {} chunk counts for {count} layers",
                    factors.len(),
                    ranks.len(),
                    chunks.len()
                ),
            });
        }
        let mut factorized = Vec::new();
        let mut factors = factors.into_iter();
        let mut l = 0;
        let exported = self.map_projections(|path, linear| {
            let layer = match (factors.next().flatten(), ranks[l]) {
                (Some(f), Some(rank)) => {
                    factorized.push(FactorizedLayer::new(
                        format!("{path}.weight"),
                        rank,
                        chunks[l],
                    ));
                    LinearLayer::LowRank(LowRankLinear::from_factors(f, linear.bias))
                }
                _ => LinearLayer::Dense(linear),
            };
            l += 1;
            layer
        });
        Ok((
            exported,
            FactorizedLmConfig::new(config.clone(), factorized),
        ))
    }
}
