//! ALDS export of [`MlpClassifier`] into [`LowRankMlpClassifier`] (Liebenwein et al.,
//! NeurIPS 2021): the factorized layers become [`LowRankLinear`]s, the others stay dense.

use burn::module::Module;
use tempering_core::compression::{CompressionError, FactorizedLinear, LayerWeight, LowRankExport};

use crate::low_rank_linear::{LinearLayer, LowRankLinear};
use crate::mlp_classifier::weight_names;
use crate::{LowRankMlpClassifier, LowRankMlpClassifierConfig, MlpClassifier, MlpClassifierConfig};

impl LowRankExport for MlpClassifier {
    type Config = MlpClassifierConfig;
    type Exported = LowRankMlpClassifier;
    type ExportedConfig = LowRankMlpClassifierConfig;

    /// `hidden.{l}.weight`, then `head.weight`.
    fn factorizable_layers(&self) -> Vec<(String, LayerWeight<'_>)> {
        weight_names(self.hidden.len())
            .into_iter()
            .zip(self.hidden.iter().chain([&self.head]))
            .map(|(name, linear)| (name, LayerWeight::Linear(linear)))
            .collect()
    }

    fn export_low_rank(
        self,
        config: &MlpClassifierConfig,
        factors: Vec<Option<FactorizedLinear>>,
        ranks: &[Option<usize>],
        chunks: &[usize],
    ) -> Result<(LowRankMlpClassifier, LowRankMlpClassifierConfig), CompressionError> {
        let count = self.hidden.len() + 1;
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
        let device = self.devices()[0].clone();
        // One count for every layer where they agree (the common case, and the form older
        // configs have); per layer where a search chose them.
        let uniform = chunks.iter().all(|&c| c == chunks[0]);
        let export_config = LowRankMlpClassifierConfig::new(config.clone(), ranks.to_vec())
            .with_chunks(chunks[0])
            .with_layer_chunks((!uniform).then(|| chunks.to_vec()));
        let mut exported = export_config.init(&device);
        exported.layers = self
            .hidden
            .into_iter()
            .chain([self.head])
            .zip(factors)
            .map(|(linear, factors)| match factors {
                None => LinearLayer::Dense(linear),
                Some(f) => LinearLayer::LowRank(LowRankLinear::from_factors(f, linear.bias)),
            })
            .collect();
        Ok((exported, export_config))
    }
}
