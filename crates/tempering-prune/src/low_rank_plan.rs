//! The low-rank plan of a set of weights: ALDS's allocation at fixed chunks, or with the
//! search of the chunks per layer ([`alds_search`](crate::alds_search)), over a checkpoint
//! ([`low_rank_allocation`], what `tempering compress` reports) or over a model's layers (what
//! [`factorize_model`](crate::low_rank_export::factorize_model) exports).

use std::path::Path;

use burn::tensor::Device;

use crate::alds_search::alds_search;
use crate::checkpoint::Checkpoint;
use crate::element::finite_f32s;
use crate::error::PruneError;
use crate::low_rank::{
    LayerAllocation, LowRankConfig, LowRankReport, allocate, check_factorizable, spectrum,
};
use crate::targets::select as select_targets;

/// The rank allocation and error report for the checkpoint at `input` (see the module docs).
pub fn low_rank_allocation(
    input: &Path,
    config: &LowRankConfig,
) -> Result<LowRankReport, PruneError> {
    config.validate()?;
    let checkpoint = Checkpoint::open(input)?;
    let (targets, skipped) = select_targets(
        &checkpoint,
        config.include.as_deref(),
        config.exclude.as_deref(),
    )?;
    let device = Device::default();
    let weights = targets
        .iter()
        .map(|&i| {
            let e = &checkpoint.entries()[i];
            check_factorizable(&e.name, &e.shape)?;
            let values = finite_f32s(
                &e.name,
                e.element,
                checkpoint.data(i),
                "low-rank compression factorizes finite f32 values",
            )?;
            Ok((e.name.clone(), e.shape.clone(), values))
        })
        .collect::<Result<Vec<_>, PruneError>>()?;
    let layers = allocate_weights(&weights, config, &device)?;
    Ok(LowRankReport {
        input: input.to_path_buf(),
        budget: config.budget,
        layers,
        skipped,
    })
}

/// The allocation of `config` over `weights` (`(name, shape, values)`): at `config.chunks`,
/// or with ALDS's search of the chunks per layer.
pub(crate) fn allocate_weights(
    weights: &[(String, Vec<usize>, Vec<f32>)],
    config: &LowRankConfig,
    device: &Device,
) -> Result<Vec<LayerAllocation>, PruneError> {
    let Some(search) = &config.search else {
        let spectra = weights
            .iter()
            .map(|(name, shape, values)| spectrum(name, shape, values, config.chunks, device))
            .collect::<Result<Vec<_>, _>>()?;
        return allocate(&spectra, config.budget);
    };
    let inputs: Vec<usize> = weights
        .iter()
        .map(|(_, shape, _)| input_channels(shape))
        .collect();
    let found = alds_search(&inputs, config.budget, search, |l, k| {
        let (name, shape, values) = &weights[l];
        spectrum(name, shape, values, k, device)
    })?;
    Ok(found.layers)
}

/// Input channels of a weight as the chunked spectrum reads it: rows of Burn's `[d_in, d_out]`, the
/// second dimension of a convolution `[out, in, k…]`.
pub fn input_channels(shape: &[usize]) -> usize {
    if shape.len() == 2 { shape[0] } else { shape[1] }
}
