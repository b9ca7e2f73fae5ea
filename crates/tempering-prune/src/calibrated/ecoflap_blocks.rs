//! ECoFLaP's coarse step as published (Sung, Yoon & Bansal, "ECoFLaP: Efficient Coarse-to-Fine
//! Layer-wise Pruning for Vision-Language Models", ICLR 2024; official code ylsung/ECoFLaP
//! @59dac0a, `layer_single_base_pruner.py`, `compute_importance_scores_mezo` and
//! `compute_the_sparsity_per_group`, with the LLaMA scripts' `--approach_for_sparsity block
//! --aggregate_method sum --score_method GradOnly --use_mezo`):
//!
//! 1. on the dense model, every linear weight `t` of every block gets the zeroth-order score
//!    `s_t = Σ |L(θ + εz) − L(θ − εz)| / 2ε` over seeded Gaussian directions `z` of `t` alone
//!    ([`zeroth_order_importance`]);
//! 2. a block's score is the sum of its weights' scores; every block keeps at least
//!    `⌈n_b(1 − s_max)⌉` weights (`s_max` = target + 0.1 in every official script) and the rest
//!    of the keep budget `int((1 − target)·N)` goes to the blocks in proportion to their
//!    scores, each capped at its size, by the official integer steps in `float32`
//!    ([`ecoflap_sparsities_official`], whose fix-up of an over-spent budget adds the
//!    excess where it means to remove it, as the official code does);
//! 3. the fine step prunes each block at its own sparsity with Wanda, block by block through the
//!    blocks already pruned ([`prune_blocks_sequentially`](super::prune_blocks_sequentially)).

use burn::module::Module;
use tempering_core::compression::SequentialBlocks;

use super::LayerSparsity;
use crate::PruneError;
use crate::data_aware::{LayerImportance, zeroth_order_importance};
use crate::ecoflap_allocation::ecoflap_sparsities_official;

/// The ECoFLaP sparsity of each block of `model` for an overall `target` (steps 1–2 of the
/// module docs): `samples` directions per weight at step `epsilon` (the official 1e-3),
/// `loss(model, sample)` the model's loss on calibration batch `sample`.
pub fn ecoflap_block_sparsities<M: SequentialBlocks + Module>(
    model: &M,
    target: f64,
    max_sparsity: Option<f64>,
    epsilon: f64,
    samples: usize,
    seed: u64,
    loss: impl FnMut(&M, usize) -> f64,
) -> Result<Vec<f64>, PruneError> {
    let mut names_of = model.clone();
    let blocks: Vec<Vec<String>> = (0..model.block_count())
        .map(|b| {
            names_of
                .block_linears_mut(b)
                .into_iter()
                .map(|(name, _)| format!("{name}.weight"))
                .collect()
        })
        .collect();
    let all: Vec<String> = blocks.iter().flatten().cloned().collect();
    let scores = zeroth_order_importance(model, &all, epsilon, samples, seed, loss)?;
    let per_block: Vec<LayerImportance> = blocks
        .iter()
        .enumerate()
        .map(|(b, names)| {
            let members = scores.iter().filter(|s| names.contains(&s.name));
            let (importance, parameters) =
                members.fold((0.0, 0), |(i, p), s| (i + s.importance, p + s.parameters));
            LayerImportance {
                name: format!("block {b}"),
                importance,
                parameters,
            }
        })
        .collect();
    let sparsities = ecoflap_sparsities_official(&per_block, target, max_sparsity)?;
    Ok(per_block.iter().map(|b| sparsities[&b.name]).collect())
}

/// Calibration windows of ECoFLaP's first stage in the official scripts (32 samples)…
pub const ECOFLAP_FIRST_STAGE_WINDOWS: usize = 32;
/// …in batches of 8, one Gaussian direction per batch and weight.
pub const ECOFLAP_FIRST_STAGE_BATCH: usize = 8;

/// [`ecoflap_block_sparsities`] with the official settings (ε = 1e-3, `s_max` = target + 0.1,
/// one direction per calibration batch, `batches` of them, `loss(model, k)` on batch `k`), as
/// one unstructured pattern per block for
/// [`prune_blocks_sequentially`](super::prune_blocks_sequentially).
pub fn ecoflap_block_patterns<M: SequentialBlocks + Module>(
    model: &M,
    target: f64,
    batches: usize,
    seed: u64,
    loss: impl FnMut(&M, usize) -> f64,
) -> Result<Vec<LayerSparsity>, PruneError> {
    let sparsities = ecoflap_block_sparsities(model, target, None, 1e-3, batches, seed, loss)?;
    Ok(sparsities
        .into_iter()
        .map(LayerSparsity::Unstructured)
        .collect())
}
