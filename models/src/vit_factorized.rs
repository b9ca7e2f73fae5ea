//! A [`VitClassifier`] whose block linear layers are partly ALDS factorizations (Liebenwein et
//! al., "Compressing neural networks: towards determining the optimal layer-wise
//! decomposition", NeurIPS 2021): the dense model's config plus, for each factorized layer, its
//! name, rank and input chunks, as the ALDS export writes it
//! (`tempering_prune::low_rank_export::factorize_model`); [`FactorizedVitConfig::init`] rebuilds
//! the model that loads the compressed checkpoint.

use burn::config::Config;
use burn::tensor::Device;

use crate::low_rank_linear::LinearLayer;
use crate::transformer::BlockWidths;
use crate::transformer::factorized_blocks::{BlockShapes, FactorizedLayer, factorized_projection};
use crate::vit::{VitClassifier, VitClassifierConfig};

/// The config of a [`VitClassifier`] with factorized layers.
#[derive(Config, Debug)]
pub struct FactorizedVitConfig {
    /// The dense model's architecture.
    pub model: VitClassifierConfig,
    /// The factorized layers; every other block linear layer stays dense.
    pub factorized: Vec<FactorizedLayer>,
}

impl FactorizedVitConfig {
    /// Why this config cannot build a model, if it cannot: an invalid dense config, a
    /// factorized entry that names no block linear layer or names one twice, or a zero rank or
    /// chunk count.
    pub fn check(&self) -> Result<(), String> {
        self.model.check()?;
        let m = &self.model;
        let widths = |_| BlockWidths::new(m.n_heads, m.d_ff.unwrap_or(2 * m.d_model));
        BlockShapes {
            d_model: m.d_model,
            d_head: m.d_model / m.n_heads,
            n_layers: m.n_layers,
            widths: &widths,
        }
        .check(&self.factorized)
    }

    /// Builds the model on `device`: the dense model's layers, with each factorized layer's
    /// dense weight replaced by factors of its rank and chunks (Burn's default initialization;
    /// load the compressed checkpoint into it).
    ///
    /// # Panics
    /// If [`check`](Self::check) finds a problem; the message names it.
    pub fn init(&self, device: &Device) -> VitClassifier<LinearLayer> {
        if let Err(problem) = self.check() {
            panic!("FactorizedVitConfig: {problem}");
        }
        self.model.init(device).map_projections(|path, linear| {
            factorized_projection(&self.factorized, path, linear, device)
        })
    }
}
