//! A [`TransformerLm`] whose block linear layers are partly ALDS factorizations (Liebenwein et
//! al., "Compressing neural networks: towards determining the optimal layer-wise
//! decomposition", NeurIPS 2021): the dense model's config plus, for each factorized layer, its
//! name, rank and input chunks. `tempering compress` writes it into `run.json`
//! ([`SavedCharLm::factorized`](super::SavedCharLm)); [`FactorizedLmConfig::init`] rebuilds the
//! model that loads the compressed checkpoint.

use burn::config::Config;
use burn::nn::Linear;
use burn::tensor::Device;

use super::block::BLOCK_LINEARS;
use super::{TransformerLm, TransformerLmConfig};
use crate::low_rank_linear::{LinearLayer, LowRankLinearConfig};

/// One factorized layer: its weight's module path (`blocks.0.attention.query.weight`), the
/// rank of each input chunk's factors and the number of input chunks.
#[derive(Config, Debug, PartialEq, Eq)]
pub struct FactorizedLayer {
    /// The weight's module path in the dense model.
    pub name: String,
    /// Rank of each chunk's factors (capped at the chunk's `min(columns, d_output)`).
    pub rank: usize,
    /// Input chunks (capped at the layer's inputs).
    pub chunks: usize,
}

/// The config of a [`TransformerLm`] with factorized layers.
#[derive(Config, Debug)]
pub struct FactorizedLmConfig {
    /// The dense model's architecture.
    pub model: TransformerLmConfig,
    /// The factorized layers; every other block linear layer stays dense.
    pub factorized: Vec<FactorizedLayer>,
}

/// `[d_in, d_out]` of block `block`'s linear layer `linear` (a path of [`BLOCK_LINEARS`]).
fn block_linear_shape(config: &TransformerLmConfig, block: usize, linear: &str) -> [usize; 2] {
    let widths = match config.block_widths.get(block) {
        Some(w) => w.clone(),
        None => super::BlockWidths::new(config.n_heads, config.d_ff.unwrap_or(4 * config.d_model)),
    };
    let (d, inner) = (config.d_model, widths.n_heads * config.head_width());
    match linear {
        "attention.output" => [inner, d],
        "feed_forward.expand" => [d, widths.d_ff],
        "feed_forward.contract" => [widths.d_ff, d],
        _ => [d, inner],
    }
}

/// Weights of `rank`-factors over `chunks` input chunks of a `[d_in, d_out]` layer, each
/// chunk's rank capped at `min(columns, d_out)` as [`LowRankLinearConfig`] builds them;
/// `None` on overflow. Computed from the chunk sizes, without listing the chunks.
fn factor_weights(d_in: usize, d_out: usize, rank: usize, chunks: usize) -> Option<usize> {
    let k = chunks.min(d_in).max(1);
    let (short, long) = (d_in / k, d_in / k + 1);
    let longs = d_in % k;
    let chunk = |len: usize| -> Option<usize> {
        rank.min(len)
            .min(d_out)
            .checked_mul(len.checked_add(d_out)?)
    };
    chunk(short)?
        .checked_mul(k - longs)?
        .checked_add(chunk(long)?.checked_mul(longs)?)
}

impl FactorizedLayer {
    /// The block and the path in the block of a name `blocks.{b}.{path}.weight`, or why it
    /// names no block linear layer of `config`.
    fn locate(&self, config: &TransformerLmConfig) -> Result<(usize, &'static str), String> {
        let unknown = || {
            format!(
                "`{}` is not a block linear layer's weight (blocks.<b>.<{}>.weight)",
                self.name,
                BLOCK_LINEARS.join("|")
            )
        };
        let rest = self.name.strip_prefix("blocks.").ok_or_else(unknown)?;
        let (block, path) = rest.split_once('.').ok_or_else(unknown)?;
        let path = path.strip_suffix(".weight").ok_or_else(unknown)?;
        let block: usize = block.parse().map_err(|_| unknown())?;
        let path = BLOCK_LINEARS
            .into_iter()
            .find(|&p| p == path)
            .ok_or_else(unknown)?;
        if block >= config.n_layers {
            return Err(format!(
                "`{}` names block {block} of a model of {} blocks",
                self.name, config.n_layers
            ));
        }
        Ok((block, path))
    }
}

impl FactorizedLmConfig {
    /// Why this config cannot build a model, if it cannot: an invalid dense config, a
    /// factorized entry that names no block linear layer or names one twice, or a zero rank or
    /// chunk count.
    pub fn check(&self) -> Result<(), String> {
        self.model.check()?;
        let mut seen = std::collections::HashSet::new();
        for layer in &self.factorized {
            layer.locate(&self.model)?;
            if !seen.insert(layer.name.as_str()) {
                return Err(format!("`{}` is factorized twice", layer.name));
            }
            if layer.rank == 0 || layer.chunks == 0 {
                return Err(format!(
                    "`{}`: rank {} and chunks {} must be positive",
                    layer.name, layer.rank, layer.chunks
                ));
            }
        }
        Ok(())
    }

    /// The number of parameters the model would have, computed without building it; `None`
    /// when it overflows or an entry names no layer (see [`check`](Self::check)).
    pub fn parameter_count(&self) -> Option<usize> {
        self.factorized
            .iter()
            .try_fold(self.model.parameter_count()?, |total, layer| {
                let (block, path) = layer.locate(&self.model).ok()?;
                let [d_in, d_out] = block_linear_shape(&self.model, block, path);
                total
                    .checked_sub(d_in.checked_mul(d_out)?)?
                    .checked_add(factor_weights(d_in, d_out, layer.rank, layer.chunks)?)
            })
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
        let dense = self.model.init(device);
        dense.map_projections(|path, linear: Linear| {
            let weight = format!("{path}.weight");
            match self.factorized.iter().find(|l| l.name == weight) {
                None => LinearLayer::Dense(linear),
                Some(layer) => {
                    let [d_in, d_out] = linear.weight.dims();
                    LinearLayer::LowRank(
                        LowRankLinearConfig::new(d_in, d_out, layer.rank)
                            .with_chunks(layer.chunks)
                            .with_bias(linear.bias.is_some())
                            .init(device),
                    )
                }
            }
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
