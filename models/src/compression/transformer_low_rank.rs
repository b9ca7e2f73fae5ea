//! ALDS export of the transformers, [`TransformerLm`] and [`VitClassifier`] (Liebenwein et al.,
//! NeurIPS 2021): the blocks' linear layers (attention projections, feed-forward) become
//! [`LowRankLinear`]s where factors are given, into a model of [`LinearLayer`]s and the config
//! that rebuilds it ([`FactorizedLmConfig`], [`FactorizedVitConfig`]). Embeddings, norms, the
//! ViT's patch projection and the output heads stay as they are (the language model's head is
//! tied to the token embedding by default; the ViT's is a tenth of a block's weights).

use tempering_core::compression::{CompressionError, FactorizedLinear, LayerWeight, LowRankExport};

use super::factor_assignment::FactorAssignment;
use crate::low_rank_linear::{LinearLayer, LowRankLinear};
use crate::transformer::block::BLOCK_LINEARS;
use crate::transformer::{
    FactorizedLmConfig, TransformerBlock, TransformerLm, TransformerLmConfig,
};
use crate::vit::{VitClassifier, VitClassifierConfig};
use crate::vit_factorized::FactorizedVitConfig;

/// `blocks.{b}.attention.{query,key,value,output}.weight`, then
/// `blocks.{b}.feed_forward.{expand,contract}.weight`, block by block.
fn block_layers(blocks: &[TransformerBlock]) -> Vec<(String, LayerWeight<'_>)> {
    blocks
        .iter()
        .enumerate()
        .flat_map(|(b, block)| {
            block.linears().into_iter().map(move |(path, linear)| {
                (
                    format!("blocks.{b}.{path}.weight"),
                    LayerWeight::Linear(linear),
                )
            })
        })
        .collect()
}

/// `LowRankExport` for a transformer `$model` of config `$config` whose blocks are
/// `self.blocks` and whose `map_projections` maps its block linear layers, exported with the
/// factorized config `$exported`.
macro_rules! block_low_rank_export {
    ($model:ident, $config:ty, $exported:ident) => {
        impl LowRankExport for $model {
            type Config = $config;
            type Exported = $model<LinearLayer>;
            type ExportedConfig = $exported;

            fn factorizable_layers(&self) -> Vec<(String, LayerWeight<'_>)> {
                block_layers(&self.blocks)
            }

            fn export_low_rank(
                self,
                config: &$config,
                factors: Vec<Option<FactorizedLinear>>,
                ranks: &[Option<usize>],
                chunks: &[usize],
            ) -> Result<($model<LinearLayer>, $exported), CompressionError> {
                let layers = self.blocks.len() * BLOCK_LINEARS.len();
                let mut assign = FactorAssignment::new(layers, factors, ranks, chunks)?;
                let exported = self.map_projections(|path, linear| {
                    match assign.next(&format!("{path}.weight")) {
                        Some(f) => {
                            LinearLayer::LowRank(LowRankLinear::from_factors(f, linear.bias))
                        }
                        None => LinearLayer::Dense(linear),
                    }
                });
                Ok((
                    exported,
                    $exported::new(config.clone(), assign.into_factorized()),
                ))
            }
        }
    };
}

block_low_rank_export!(TransformerLm, TransformerLmConfig, FactorizedLmConfig);
block_low_rank_export!(VitClassifier, VitClassifierConfig, FactorizedVitConfig);
