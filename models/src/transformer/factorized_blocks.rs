//! What the factorized transformers share (the language model's [`FactorizedLmConfig`] and the
//! ViT's [`FactorizedVitConfig`]): which block linear layers are ALDS factors (Liebenwein et
//! al., NeurIPS 2021), their shapes, their parameter count without building them, and the
//! layer each becomes.
//!
//! [`FactorizedLmConfig`]: super::FactorizedLmConfig
//! [`FactorizedVitConfig`]: crate::vit_factorized::FactorizedVitConfig

use burn::config::Config;
use burn::nn::Linear;
use burn::tensor::Device;

use super::block::{BLOCK_LINEARS, BlockWidths};
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

/// The sizes of a transformer's blocks that fix its linear layers' shapes.
pub(crate) struct BlockShapes<'a> {
    /// Width of the residual stream.
    pub d_model: usize,
    /// Width of a head.
    pub d_head: usize,
    /// Blocks.
    pub n_layers: usize,
    /// Block `b`'s widths.
    pub widths: &'a dyn Fn(usize) -> BlockWidths,
}

impl BlockShapes<'_> {
    /// `[d_in, d_out]` of block `block`'s linear layer `path` (one of [`BLOCK_LINEARS`]).
    fn shape(&self, block: usize, path: &str) -> [usize; 2] {
        let widths = (self.widths)(block);
        let (d, inner) = (self.d_model, widths.n_heads * self.d_head);
        match path {
            "attention.output" => [inner, d],
            "feed_forward.expand" => [d, widths.d_ff],
            "feed_forward.contract" => [widths.d_ff, d],
            _ => [d, inner],
        }
    }

    /// The block and the path in the block of `layer`'s name `blocks.{b}.{path}.weight`, or
    /// why it names no block linear layer.
    fn locate(&self, layer: &FactorizedLayer) -> Result<(usize, &'static str), String> {
        let unknown = || {
            format!(
                "`{}` is not a block linear layer's weight (blocks.<b>.<{}>.weight)",
                layer.name,
                BLOCK_LINEARS.join("|")
            )
        };
        let rest = layer.name.strip_prefix("blocks.").ok_or_else(unknown)?;
        let (block, path) = rest.split_once('.').ok_or_else(unknown)?;
        let path = path.strip_suffix(".weight").ok_or_else(unknown)?;
        let block: usize = block.parse().map_err(|_| unknown())?;
        let path = BLOCK_LINEARS
            .into_iter()
            .find(|&p| p == path)
            .ok_or_else(unknown)?;
        if block >= self.n_layers {
            return Err(format!(
                "`{}` names block {block} of a model of {} blocks",
                layer.name, self.n_layers
            ));
        }
        Ok((block, path))
    }

    /// Why `layers` cannot be factors of these blocks, if they cannot: a name that is no
    /// block linear layer, a layer named twice, a zero rank or chunk count.
    pub fn check(&self, layers: &[FactorizedLayer]) -> Result<(), String> {
        check_entries(layers, |layer| self.locate(layer).map(|_| ()))
    }

    /// The parameters of the model of `dense` parameters once `layers` are factors; `None`
    /// on overflow or a layer that names nothing.
    pub fn parameter_count(
        &self,
        dense: Option<usize>,
        layers: &[FactorizedLayer],
    ) -> Option<usize> {
        layers.iter().try_fold(dense?, |total, layer| {
            let (block, path) = self.locate(layer).ok()?;
            let [d_in, d_out] = self.shape(block, path);
            total
                .checked_sub(d_in.checked_mul(d_out)?)?
                .checked_add(factor_weights([d_in, d_out], 1, layer.rank, layer.chunks)?)
        })
    }
}

/// Why `layers` cannot be a model's factorized layers, if they cannot: an entry `known`
/// refuses (it names no layer of the model), a layer named twice, a zero rank or chunk count.
pub(crate) fn check_entries(
    layers: &[FactorizedLayer],
    known: impl Fn(&FactorizedLayer) -> Result<(), String>,
) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for layer in layers {
        known(layer)?;
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

/// Weights of `rank`-factors over `chunks` input chunks of a layer of `d_in` inputs (input
/// channels of `area` = `kh·kw` weights each for a convolution, 1 for a linear layer) and
/// `d_out` outputs, each chunk's rank capped at `min(columns, d_out)` as
/// [`LowRankLinearConfig`] and [`LowRankConv2d`](crate::LowRankConv2d) build them; `None` on
/// overflow. Computed from the chunk sizes, without listing the chunks.
pub(crate) fn factor_weights(
    [d_in, d_out]: [usize; 2],
    area: usize,
    rank: usize,
    chunks: usize,
) -> Option<usize> {
    let k = chunks.min(d_in).max(1);
    let (short, long) = (d_in / k, d_in / k + 1);
    let longs = d_in % k;
    let chunk = |len: usize| -> Option<usize> {
        let columns = len.checked_mul(area)?;
        rank.min(columns)
            .min(d_out)
            .max(1)
            .checked_mul(columns.checked_add(d_out)?)
    };
    chunk(short)?
        .checked_mul(k - longs)?
        .checked_add(chunk(long)?.checked_mul(longs)?)
}

/// The layer at module path `path` (`blocks.0.attention.query`): factors of the rank and
/// chunks `layers` give its weight (Burn's default initialization, to be loaded), or `linear`
/// itself, dense.
pub(crate) fn factorized_projection(
    layers: &[FactorizedLayer],
    path: &str,
    linear: Linear,
    device: &Device,
) -> LinearLayer {
    let weight = format!("{path}.weight");
    match layers.iter().find(|l| l.name == weight) {
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
}
