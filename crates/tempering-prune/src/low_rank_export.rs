//! Export of ALDS low-rank compression into a model (Liebenwein et al., "Compressing neural
//! networks: towards determining the optimal layer-wise decomposition", NeurIPS 2021): a dense
//! `Linear` becomes its chunked SVD factors ([`factorize_linear`]), and a whole model that
//! implements [`LowRankExport`] becomes its factorized twin at the ranks
//! [`allocate`](crate::low_rank::allocate) picks under a parameter budget, or at the chunks and
//! ranks ALDS's search picks ([`alds_search`](crate::alds_search)), ready to fine-tune
//! ([`factorize_model`]).
//!
//! ```
//! use burn::tensor::Device;
//! use tempering_models::MlpClassifierConfig;
//! use tempering_prune::low_rank::LowRankConfig;
//! use tempering_prune::low_rank_export::factorize_model;
//! let config = MlpClassifierConfig::new().with_hidden_sizes(vec![64, 32]);
//! let model = config.init(&Device::default());
//! let (small, small_config, layers) = factorize_model(model, &config, &LowRankConfig::new(0.3))?;
//! assert_eq!(small_config.ranks.len(), 3);
//! assert!(layers.iter().map(|l| l.parameters_after).sum::<u64>() <= 30_000);
//! # Ok::<(), tempering_prune::PruneError>(())
//! ```

use burn::nn::Linear;
pub use tempering_core::compression::{FactorizedLinear, LayerWeight, LowRankExport};

use crate::PruneError;
use crate::low_rank::{LayerAllocation, LowRankConfig, factorize};
use crate::low_rank_plan::allocate_weights;
use crate::targets::compile_pattern;

/// The rank-`rank` ALDS factorization of `linear`'s weight (named `name` in errors) over
/// `chunks` input chunks (each chunk's rank capped at what its SVD has), in Burn's `[in, out]`
/// layout; the bias is not part of it.
pub fn factorize_linear(
    name: &str,
    linear: &Linear,
    rank: usize,
    chunks: usize,
) -> Result<FactorizedLinear, PruneError> {
    factorize_layer(name, &LayerWeight::Linear(linear), rank, chunks)
}

/// The rank-`rank` ALDS factorization of a linear layer's or a convolution's weight over
/// `chunks` input chunks, in [`FactorizedLinear`]'s layout.
pub fn factorize_layer(
    name: &str,
    layer: &LayerWeight<'_>,
    rank: usize,
    chunks: usize,
) -> Result<FactorizedLinear, PruneError> {
    let factors = factorize(
        name,
        &layer.dims(),
        &layer.values(),
        chunks.max(1),
        rank.max(1),
        &layer.device(),
    )?;
    Ok(FactorizedLinear {
        // `factorize` works on the folded [out, columns] matrix; the layout is [columns, out].
        chunks: factors
            .into_iter()
            .map(|(encoder, decoder)| (encoder.transpose(), decoder.transpose()))
            .collect(),
    })
}

/// What [`factorize_model`] returns: the factorized model, the config that rebuilds it, and
/// each selected layer's allocation.
pub type Factorized<M> = (
    <M as LowRankExport>::Exported,
    <M as LowRankExport>::ExportedConfig,
    Vec<LayerAllocation>,
);

/// Factorizes the layers of `model` (its [`LowRankExport::factorizable_layers`], filtered by
/// the config's include and exclude patterns) at the ranks that minimize the largest relative
/// error under `low_rank.budget`; a layer whose factors would not be smaller stays dense.
/// Returns the model, the config that rebuilds it, and each selected layer's allocation.
pub fn factorize_model<M: LowRankExport>(
    model: M,
    config: &M::Config,
    low_rank: &LowRankConfig,
) -> Result<Factorized<M>, PruneError> {
    low_rank.validate()?;
    let include = compile_pattern("--include", low_rank.include.as_deref())?;
    let exclude = compile_pattern("--exclude", low_rank.exclude.as_deref())?;
    let layers = model.factorizable_layers();
    let selected: Vec<usize> = (0..layers.len())
        .filter(|&l| {
            let name = &layers[l].0;
            include.as_ref().is_none_or(|re| re.is_match(name))
                && !exclude.as_ref().is_some_and(|re| re.is_match(name))
        })
        .collect();
    if selected.is_empty() {
        let names: Vec<_> = layers.iter().map(|(name, _)| name.as_str()).collect();
        return Err(PruneError::bad(
            "--include",
            format!("selects none of the layers {}", names.join(", ")),
        ));
    }
    let weights: Vec<_> = selected
        .iter()
        .map(|&l| {
            let (name, layer) = &layers[l];
            (name.clone(), layer.dims(), layer.values())
        })
        .collect();
    let device = layers[selected[0]].1.device();
    let allocation = allocate_weights(&weights, low_rank, &device)?;
    let mut ranks = vec![None; layers.len()];
    let mut chunks = vec![low_rank.chunks; layers.len()];
    for (&l, a) in selected.iter().zip(&allocation) {
        ranks[l] = a.rank;
        chunks[l] = a.chunks;
    }
    let factors: Vec<Option<FactorizedLinear>> = layers
        .iter()
        .zip(ranks.iter().zip(&chunks))
        .map(|((name, layer), (rank, &k))| {
            rank.map(|r| factorize_layer(name, layer, r, k)).transpose()
        })
        .collect::<Result<_, _>>()?;
    let (exported, exported_config) = model.export_low_rank(config, factors, &ranks, &chunks)?;
    Ok((exported, exported_config, allocation))
}
