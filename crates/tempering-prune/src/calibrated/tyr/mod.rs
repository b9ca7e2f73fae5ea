//! Týr-the-Pruner (Li et al., "Týr-the-Pruner: Structural Pruning of LLMs via Efficient
//! Global Sparsity Distribution Search", NeurIPS 2025, arXiv 2503.09657): structured pruning of
//! attention heads and feed-forward channels to a global parameter budget, through a supernet
//! of per-layer candidates and an evolutionary search over their combination.
//!
//! Followed: the official code, AMD-AGI/Tyr-the-Pruner @c69d040 (`prune_to_supernet.py`,
//! `src/pruner.py`, `src/local_pruner.py`, `search_sparsity_dist.py`, `src/metric_utils.py`,
//! `script/example.sh`):
//!
//! 1. **Supernet** ([`supernet`]): block by block, each unit layer (the attention output for
//!    heads, the feed-forward's second layer for channels) is pruned at up to nine sparsity
//!    levels around its own by the local pruner ([`local`]: OBS saliency of input groups over
//!    16 rounds for channels and one for heads, then the exact least-squares refit of what is
//!    kept).
//! 2. **Search** ([`search`]): levels start at 0 (every layer at the target); offspring move
//!    sparsity between layers of the same kind at a constant parameter count; selection keeps
//!    those closest to the dense model in top-k KL on fresh calibration minibatches.
//! 3. **Coarse to fine**: [`TyrConfig::rounds`] rounds, each rebuilding the supernet around the
//!    last round's best distribution with half the step (official: 4 rounds, 12.5 % of a layer
//!    first, never below one head or 32 channels).
//! 4. The best distribution is made physical: the kept units' refit weights are loaded and
//!    [`ShrinkUnits::shrink_units`] drops the removed heads and channels with their coupled
//!    query/key/value and expand rows.
//!
//! Departures, for a model Burn builds: a level that would remove every unit of a layer is left
//! out (a Burn layer cannot have zero width; the official code may zero a whole layer); the
//! propagation between blocks is a choice ([`Propagation`]), the default being the level-0
//! update the official code's comment describes; a vocabulary smaller than `top_k` is compared
//! whole.

pub mod levels;
pub mod local;
pub mod search;
pub mod supernet;

use burn::tensor::Tensor;
use tempering_core::compression::{SequentialBlocks, ShrinkUnits, UnitKind};
use tempering_core::split_mix::SplitMix64;

pub use search::{GenerationProgress, TyrSearchConfig};
pub use supernet::{Propagation, SupernetLayer, SupernetSettings, TyrCandidate};

use crate::PruneError;
use search::{Teacher, search_levels};
use supernet::{build_supernet, find_linear, load_levels};

/// Týr-the-Pruner's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TyrConfig {
    /// Fraction of heads and of channels to remove overall, in `[0, 1)`.
    pub ratio: f64,
    /// Coarse-to-fine rounds (official 4).
    pub rounds: usize,
    /// The first round's step between levels as a fraction of a layer's weights (official
    /// 12.5 %); it halves every round.
    pub initial_step: f64,
    /// The supernet's local pruner and propagation.
    pub supernet: SupernetSettings,
    /// The evolutionary search.
    pub search: TyrSearchConfig,
}

impl TyrConfig {
    /// The official settings (`script/example.sh`) at `ratio`.
    pub fn new(ratio: f64) -> Self {
        Self {
            ratio,
            rounds: 4,
            initial_step: 0.125,
            supernet: SupernetSettings {
                levels: 9,
                channel_rounds: 16,
                head_rounds: 1,
                dampening: 0.01,
                propagation: Propagation::TargetLevel,
            },
            search: TyrSearchConfig::default(),
        }
    }
}

/// Where a Týr prune is.
#[derive(Clone, Debug, PartialEq)]
pub enum TyrProgress {
    /// The supernet of a round has this many of its blocks.
    Supernet {
        /// Round (from 0).
        round: usize,
        /// Blocks done.
        done: usize,
        /// Blocks.
        total: usize,
    },
    /// The search of a round finished a generation.
    Search {
        /// Round (from 0).
        round: usize,
        /// The generation.
        generation: GenerationProgress,
    },
}

/// One round of the coarse-to-fine search.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TyrRound {
    /// Weights between neighbouring levels: attention output layers, feed-forward layers.
    pub step_weights: [usize; 2],
    /// The best level of every unit layer.
    pub levels: Vec<i64>,
    /// The parent's KL after each generation.
    pub fitness: Vec<f64>,
}

/// What one unit layer kept.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TyrLayer {
    /// The unit group (as [`ShrinkUnits`] names it).
    pub group: String,
    /// Units before.
    pub before: usize,
    /// Units kept.
    pub after: usize,
}

/// What [`tyr_prune`] did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TyrReport {
    /// Every round.
    pub rounds: Vec<TyrRound>,
    /// Every unit layer's result, in block order.
    pub layers: Vec<TyrLayer>,
    /// Parameters before.
    pub parameters_before: usize,
    /// Parameters of the shrunk model.
    pub parameters_after: usize,
}

/// Prunes heads and channels of `model` by Týr-the-Pruner and returns the smaller model, its
/// config and a report.
///
/// `batches` are the calibration batches the supernet is built from; `logits(model, ids)` is
/// the model's `[ids.len(), positions, classes]` output on calibration sequences `ids` (of
/// `0..sequences`), what the search compares with the dense model.
pub fn tyr_prune<M>(
    model: M,
    config: &M::Config,
    batches: &[M::Input],
    sequences: usize,
    logits: &dyn Fn(&M, &[usize]) -> Tensor<3>,
    tyr: &TyrConfig,
    progress: &mut dyn FnMut(TyrProgress),
) -> Result<(M, M::Config, TyrReport), PruneError>
where
    M: SequentialBlocks + ShrinkUnits + Clone,
    M::Input: Clone,
{
    if !(0.0..1.0).contains(&tyr.ratio) {
        return Err(PruneError::bad(
            "ratio",
            format!("{} is not in [0, 1)", tyr.ratio),
        ));
    }
    if batches.is_empty() || sequences == 0 {
        return Err(PruneError::bad(
            "calibration",
            "Týr-the-Pruner needs calibration data; none was given",
        ));
    }
    if tyr.rounds == 0 || !(tyr.initial_step > 0.0 && tyr.initial_step <= 1.0) {
        return Err(PruneError::bad(
            "tyr",
            "needs at least one round and a first step in (0, 1]",
        ));
    }
    let mut dense = model;
    let units: Vec<_> = (0..dense.block_count())
        .flat_map(|b| dense.block_unit_layers(b).into_iter().map(move |u| (b, u)))
        .collect();
    if units.is_empty() {
        return Err(PruneError::bad(
            "model",
            "names no unit layers (SequentialBlocks::block_unit_layers)",
        ));
    }
    // One step per kind, from the first layer of the kind, as the official script passes one
    // number per kind; the floors are one head and 32 channels.
    let mut first_step = [0usize; 2];
    let mut floor = [0usize; 2];
    for (b, unit) in &units {
        let kind = usize::from(unit.kind == UnitKind::FeedForwardChannels);
        if first_step[kind] == 0 {
            let [d_in, d_out] = find_linear(&mut dense, *b, &unit.layer)?.weight.dims();
            first_step[kind] = (tyr.initial_step * (d_in * d_out) as f64).round() as usize;
            floor[kind] = match unit.kind {
                UnitKind::AttentionHeads => unit.unit_width * d_out,
                UnitKind::FeedForwardChannels => 32 * d_out,
            };
        }
    }
    let kind_of = |i: usize| usize::from(units[i].1.kind == UnitKind::FeedForwardChannels);
    let teacher = Teacher::new(
        &dense,
        sequences,
        tyr.search.top_k,
        tyr.search.batch_sequences,
        logits,
    );
    let mut rng = SplitMix64::new(tyr.search.seed);
    let mut centers = vec![tyr.ratio; units.len()];
    let mut step = first_step;
    let mut rounds = Vec::new();
    let mut best: Option<(Vec<SupernetLayer>, Vec<i64>)> = None;
    for round in 0..tyr.rounds {
        let round_step = [step[0].max(floor[0]), step[1].max(floor[1])];
        if let Some((layers, levels)) = &best {
            centers = layers
                .iter()
                .zip(levels)
                .map(|(layer, &level)| {
                    (layer.center * layer.numel as f64 + (level * layer.step_weights as i64) as f64)
                        / layer.numel as f64
                })
                .collect();
        }
        let steps: Vec<usize> = (0..units.len()).map(|i| round_step[kind_of(i)]).collect();
        let mut scratch = dense.clone();
        let layers = build_supernet(
            &mut scratch,
            batches,
            &centers,
            &steps,
            &tyr.supernet,
            &mut |done, total| progress(TyrProgress::Supernet { round, done, total }),
        )?;
        let mut searched = dense.clone();
        let (levels, fitness) = search_levels(
            &mut searched,
            &layers,
            &teacher,
            logits,
            &tyr.search,
            &mut rng,
            &mut |generation| progress(TyrProgress::Search { round, generation }),
        )?;
        rounds.push(TyrRound {
            step_weights: round_step,
            levels: levels.clone(),
            fitness,
        });
        best = Some((layers, levels));
        step = [step[0] / 2, step[1] / 2];
    }
    let (layers, levels) = best.expect("at least one round ran");
    let parameters_before = dense.num_params();
    load_levels(&mut dense, &layers, &levels)?;
    let chosen: Vec<(&SupernetLayer, &TyrCandidate)> = layers
        .iter()
        .zip(&levels)
        .map(|(layer, &level)| {
            (
                layer,
                layer.candidate(level).expect("searched levels exist"),
            )
        })
        .collect();
    let keep: Vec<Vec<usize>> = dense
        .unit_counts()
        .into_iter()
        .map(|(group, n)| {
            chosen
                .iter()
                .find(|(layer, _)| layer.unit.group == group)
                .map(|(_, candidate)| candidate.kept.clone())
                .unwrap_or_else(|| (0..n).collect())
        })
        .collect();
    let (shrunk, shrunk_config) = dense.shrink_units(config, &keep)?;
    let report = TyrReport {
        rounds,
        layers: chosen
            .iter()
            .map(|(layer, candidate)| TyrLayer {
                group: layer.unit.group.clone(),
                before: layer.units,
                after: candidate.kept.len(),
            })
            .collect(),
        parameters_before,
        parameters_after: shrunk.num_params(),
    };
    Ok((shrunk, shrunk_config, report))
}
