//! ALDS export of the transformers, [`TransformerLm`] and [`VitClassifier`] (Liebenwein et al.,
//! NeurIPS 2021): the blocks' linear layers (attention projections, feed-forward) become
//! [`LowRankLinear`]s where factors are given, into a model of [`LinearLayer`]s and the config
//! that rebuilds it ([`FactorizedLmConfig`], [`FactorizedVitConfig`]). Embeddings, norms, the
//! ViT's patch projection and the output heads stay as they are (the language model's head is
//! tied to the token embedding by default; the ViT's is a tenth of a block's weights).

use burn::nn::Linear;
use tempering_core::compression::{CompressionError, FactorizedLinear, LowRankExport};

use crate::low_rank_linear::{LinearLayer, LowRankLinear};
use crate::transformer::{
    FactorizedLayer, FactorizedLmConfig, TransformerBlock, TransformerLm, TransformerLmConfig,
};
use crate::vit::{VitClassifier, VitClassifierConfig};
use crate::vit_factorized::FactorizedVitConfig;

/// `blocks.{b}.attention.{query,key,value,output}.weight`, then
/// `blocks.{b}.feed_forward.{expand,contract}.weight`, block by block.
fn block_layers(blocks: &[TransformerBlock]) -> Vec<(String, &Linear)> {
    blocks
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

/// Hands each block linear layer, in [`block_layers`]' order, its factors or keeps it dense,
/// listing the factorized ones.
struct Assign<'a> {
    factors: std::vec::IntoIter<Option<FactorizedLinear>>,
    ranks: &'a [Option<usize>],
    chunks: &'a [usize],
    next: usize,
    factorized: Vec<FactorizedLayer>,
}

impl<'a> Assign<'a> {
    /// Checks that there is one factorization, rank and chunk count per layer.
    fn new(
        layers: usize,
        factors: Vec<Option<FactorizedLinear>>,
        ranks: &'a [Option<usize>],
        chunks: &'a [usize],
    ) -> Result<Self, CompressionError> {
        if factors.len() != layers || ranks.len() != layers || chunks.len() != layers {
            return Err(CompressionError::BadConfig {
                field: "ranks",
                reason: format!(
                    "{} factorizations, {} ranks and {} chunk counts for {layers} layers",
                    factors.len(),
                    ranks.len(),
                    chunks.len()
                ),
            });
        }
        Ok(Self {
            factors: factors.into_iter(),
            ranks,
            chunks,
            next: 0,
            factorized: Vec::new(),
        })
    }

    /// The layer at module path `path`, which was `linear`.
    fn layer(&mut self, path: &str, linear: Linear) -> LinearLayer {
        let l = self.next;
        self.next += 1;
        match (self.factors.next().flatten(), self.ranks[l]) {
            (Some(f), Some(rank)) => {
                self.factorized.push(FactorizedLayer::new(
                    format!("{path}.weight"),
                    rank,
                    self.chunks[l],
                ));
                LinearLayer::LowRank(LowRankLinear::from_factors(f, linear.bias))
            }
            _ => LinearLayer::Dense(linear),
        }
    }
}

impl LowRankExport for TransformerLm {
    type Config = TransformerLmConfig;
    type Exported = TransformerLm<LinearLayer>;
    type ExportedConfig = FactorizedLmConfig;

    fn factorizable_layers(&self) -> Vec<(String, &Linear)> {
        block_layers(&self.blocks)
    }

    fn export_low_rank(
        self,
        config: &TransformerLmConfig,
        factors: Vec<Option<FactorizedLinear>>,
        ranks: &[Option<usize>],
        chunks: &[usize],
    ) -> Result<(TransformerLm<LinearLayer>, FactorizedLmConfig), CompressionError> {
        let mut assign = Assign::new(self.blocks.len() * 6, factors, ranks, chunks)?;
        let exported = self.map_projections(|path, linear| assign.layer(path, linear));
        Ok((
            exported,
            FactorizedLmConfig::new(config.clone(), assign.factorized),
        ))
    }
}

impl LowRankExport for VitClassifier {
    type Config = VitClassifierConfig;
    type Exported = VitClassifier<LinearLayer>;
    type ExportedConfig = FactorizedVitConfig;

    fn factorizable_layers(&self) -> Vec<(String, &Linear)> {
        block_layers(&self.blocks)
    }

    fn export_low_rank(
        self,
        config: &VitClassifierConfig,
        factors: Vec<Option<FactorizedLinear>>,
        ranks: &[Option<usize>],
        chunks: &[usize],
    ) -> Result<(VitClassifier<LinearLayer>, FactorizedVitConfig), CompressionError> {
        let mut assign = Assign::new(self.blocks.len() * 6, factors, ranks, chunks)?;
        let exported = self.map_projections(|path, linear| assign.layer(path, linear));
        Ok((
            exported,
            FactorizedVitConfig::new(config.clone(), assign.factorized),
        ))
    }
}
