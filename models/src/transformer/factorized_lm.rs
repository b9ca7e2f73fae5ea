//! A [`TransformerLm`] whose block linear layers are partly ALDS factorizations (Liebenwein et
//! al., "Compressing neural networks: towards determining the optimal layer-wise
//! decomposition", NeurIPS 2021): the dense model's config plus, for each factorized layer, its
//! name, rank and input chunks. `tempering compress` writes it into `run.json`
//! ([`SavedCharLm::factorized`](super::SavedCharLm)); [`FactorizedLmConfig::init`] rebuilds the
//! model that loads the compressed checkpoint.

use burn::config::Config;
use burn::tensor::Device;

use super::factorized_blocks::{BlockShapes, FactorizedLayer, factorized_projection};
use super::{TransformerLm, TransformerLmConfig};
use crate::low_rank_linear::LinearLayer;

/// The config of a [`TransformerLm`] with factorized layers.
#[derive(Config, Debug)]
pub struct FactorizedLmConfig {
    /// The dense model's architecture.
    pub model: TransformerLmConfig,
    /// The factorized layers; every other block linear layer stays dense.
    pub factorized: Vec<FactorizedLayer>,
}

impl FactorizedLmConfig {
    /// The shapes of the dense model's blocks.
    fn shapes<'a>(&self, widths: &'a dyn Fn(usize) -> super::BlockWidths) -> BlockShapes<'a> {
        BlockShapes {
            d_model: self.model.d_model,
            d_head: self.model.head_width(),
            n_layers: self.model.n_layers,
            widths,
        }
    }

    /// Block `b`'s widths, computed without listing every block's.
    fn block_widths(&self, b: usize) -> super::BlockWidths {
        match self.model.block_widths.get(b) {
            Some(w) => w.clone(),
            None => super::BlockWidths::new(
                self.model.n_heads,
                self.model.d_ff.unwrap_or(4 * self.model.d_model),
            ),
        }
    }

    /// Why this config cannot build a model, if it cannot: an invalid dense config, a
    /// factorized entry that names no block linear layer or names one twice, or a zero rank or
    /// chunk count.
    pub fn check(&self) -> Result<(), String> {
        self.model.check()?;
        self.shapes(&|b| self.block_widths(b))
            .check(&self.factorized)
    }

    /// The number of parameters the model would have, computed without building it; `None`
    /// when it overflows or an entry names no layer (see [`check`](Self::check)).
    pub fn parameter_count(&self) -> Option<usize> {
        // The dense count first: it is `None` for the sizes whose widths would overflow.
        let dense = self.model.parameter_count()?;
        self.shapes(&|b| self.block_widths(b))
            .parameter_count(Some(dense), &self.factorized)
    }

    /// Builds the model on `device`: the dense model's layers, with each factorized layer's
    /// dense weight replaced by factors of its rank and chunks (Burn's default initialization;
    /// load the compressed checkpoint into it).
    ///
    /// # Panics
    /// If [`check`](Self::check) finds a problem; the message names it.
    pub fn init(&self, device: &Device) -> TransformerLm<LinearLayer> {
        if let Err(problem) = self.check() {
            panic!("FactorizedLmConfig: {problem}");
        }
        self.model.init(device).map_projections(|path, linear| {
            factorized_projection(&self.factorized, path, linear, device)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;

    fn config() -> TransformerLmConfig {
        TransformerLmConfig::new(11)
            .with_context(8)
            .with_d_model(12)
            .with_n_layers(2)
            .with_n_heads(3)
            .with_d_ff(Some(20))
    }

    fn layer(name: &str, rank: usize, chunks: usize) -> FactorizedLayer {
        FactorizedLayer::new(name.into(), rank, chunks)
    }

    #[test]
    fn parameter_count_matches_the_built_model() {
        let factorized = FactorizedLmConfig::new(
            config(),
            vec![
                layer("blocks.0.attention.query.weight", 2, 3),
                layer("blocks.1.feed_forward.contract.weight", 5, 3),
                layer("blocks.1.feed_forward.expand.weight", 50, 7),
            ],
        );
        let model = factorized.init(&Device::default());
        assert_eq!(
            factorized.parameter_count(),
            Some(model.num_params()),
            "the count without building must be the built model's"
        );
        // Rank 50 over 7 chunks of 12 inputs is full rank in every chunk: more weights than
        // the dense [12, 20] layer, counted all the same.
        assert_ne!(model.num_params(), config().parameter_count().unwrap());
    }

    #[test]
    fn bad_entries_are_named() {
        let check = |layers: Vec<FactorizedLayer>| {
            FactorizedLmConfig::new(config(), layers)
                .check()
                .unwrap_err()
        };
        let e = check(vec![layer("blocks.0.attention.query", 2, 3)]);
        assert!(e.contains("not a block linear layer"), "{e}");
        let e = check(vec![layer("blocks.2.attention.query.weight", 2, 3)]);
        assert!(e.contains("block 2 of a model of 2 blocks"), "{e}");
        let e = check(vec![layer("head.weight", 2, 3)]);
        assert!(e.contains("not a block linear layer"), "{e}");
        let twice = layer("blocks.0.attention.key.weight", 2, 3);
        let e = check(vec![twice.clone(), twice]);
        assert!(e.contains("factorized twice"), "{e}");
        let e = check(vec![layer("blocks.0.attention.key.weight", 0, 3)]);
        assert!(e.contains("must be positive"), "{e}");
    }
}
