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
        self.shapes(&|_| self.block_widths())
            .check(&self.factorized)
    }

    /// Every block's widths.
    fn block_widths(&self) -> BlockWidths {
        let m = &self.model;
        BlockWidths::new(m.n_heads, m.d_ff.unwrap_or(m.d_model.saturating_mul(2)))
    }

    /// The shapes of the blocks' linear layers.
    fn shapes<'a>(&self, widths: &'a dyn Fn(usize) -> BlockWidths) -> BlockShapes<'a> {
        let m = &self.model;
        BlockShapes {
            d_model: m.d_model,
            d_head: m.d_model / m.n_heads.max(1),
            n_layers: m.n_layers,
            widths,
        }
    }

    /// The number of parameters the model would have, computed without building it; `None`
    /// when it overflows `usize` or an entry names no block linear layer. A reader of an
    /// untrusted config compares this with what the checkpoint can hold before calling
    /// [`init`](Self::init).
    pub fn parameter_count(&self) -> Option<usize> {
        let dense = self.model.parameter_count()?;
        self.shapes(&|_| self.block_widths())
            .parameter_count(Some(dense), &self.factorized)
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
