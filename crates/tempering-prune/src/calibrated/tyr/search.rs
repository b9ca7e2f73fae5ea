//! Týr-the-Pruner's evolutionary search over a supernet (`search_sparsity_dist.py` `main`,
//! `selection`; `src/metric_utils.py` `compute_sparse_kl_div`; AMD-AGI/Tyr-the-Pruner
//! @c69d040): one level per layer, starting at all zeros; each generation mutates the parent
//! into distinct offspring by flips that move one level down and one level of a layer of the
//! same kind up (so the removed parameters stay the same), then keeps the best on fresh random
//! calibration minibatches in stages of growing size, the parent joining before the last
//! stage. Fitness is the KL divergence from the dense model on its top-k logits.

use burn::tensor::Tensor;
use tempering_core::compression::SequentialBlocks;
use tempering_core::compression::linear_units::host_values;
use tempering_core::split_mix::SplitMix64;

use super::supernet::{SupernetLayer, load_levels};
use crate::PruneError;

/// The search's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TyrSearchConfig {
    /// Generations per round (official 50).
    pub generations: usize,
    /// Distinct offspring per generation (official 128).
    pub offspring: usize,
    /// Selection stages: calibration tokens and survivors of each (official
    /// `(2048, 16), (16384, 4), (131072, 2)`); the parent joins before the last.
    pub stages: Vec<(usize, usize)>,
    /// Logits of the dense model the KL is taken over (official 8192; a vocabulary smaller
    /// than this is taken whole).
    pub top_k: usize,
    /// Sequences per forward pass (memory, not results).
    pub batch_sequences: usize,
    /// Seed of the mutations and minibatches.
    pub seed: u64,
}

impl Default for TyrSearchConfig {
    /// The official `script/example.sh` settings.
    fn default() -> Self {
        Self {
            generations: 50,
            offspring: 128,
            stages: vec![(2048, 16), (16384, 4), (131072, 2)],
            top_k: 8192,
            batch_sequences: 64,
            seed: 0,
        }
    }
}

impl TyrSearchConfig {
    /// A search sized for a small model on `calibration_tokens` tokens in sequences of
    /// `positions`: 16 generations of 32 offspring, selected on 1/16 (8 survive), 1/4 (2
    /// survive) and all (1 survives) of the calibration tokens, the official stages' shape at a
    /// cost a 2-core machine covers in minutes.
    pub fn scaled(calibration_tokens: usize, positions: usize, seed: u64) -> Self {
        Self {
            generations: 16,
            offspring: 32,
            stages: vec![
                ((calibration_tokens / 16).max(positions), 8),
                ((calibration_tokens / 4).max(positions), 2),
                (calibration_tokens, 1),
            ],
            seed,
            ..Self::default()
        }
    }
}

/// What the search reports after each generation.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationProgress {
    /// Generations finished.
    pub done: usize,
    /// Generations in this round.
    pub total: usize,
    /// The new parent's fitness on the last stage's minibatch.
    pub fitness: f64,
}

/// The dense model's top-k logits of every calibration sequence.
pub(super) struct Teacher {
    k: usize,
    positions: usize,
    /// Per sequence, `[positions, k]` ids and values.
    ids: Vec<Vec<u32>>,
    values: Vec<Vec<f32>>,
}

/// Host values of `[sequences, positions, classes]` logits.
fn host_logits(logits: Tensor<3>) -> (Vec<f32>, [usize; 3]) {
    let dims = logits.dims();
    (host_values(logits), dims)
}

impl Teacher {
    pub(super) fn new<M>(
        model: &M,
        sequences: usize,
        top_k: usize,
        batch: usize,
        logits: &dyn Fn(&M, &[usize]) -> Tensor<3>,
    ) -> Self {
        let mut teacher = Teacher {
            k: 0,
            positions: 0,
            ids: Vec::new(),
            values: Vec::new(),
        };
        let all: Vec<usize> = (0..sequences).collect();
        for chunk in all.chunks(batch.max(1)) {
            let (values, [n, positions, classes]) = host_logits(logits(model, chunk));
            let k = top_k.min(classes);
            (teacher.k, teacher.positions) = (k, positions);
            for s in 0..n {
                let (mut ids, mut top) = (Vec::new(), Vec::new());
                for p in 0..positions {
                    let row =
                        &values[(s * positions + p) * classes..(s * positions + p + 1) * classes];
                    let mut order: Vec<usize> = (0..classes).collect();
                    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
                    for &c in &order[..k] {
                        ids.push(c as u32);
                        top.push(row[c]);
                    }
                }
                teacher.ids.push(ids);
                teacher.values.push(top);
            }
        }
        teacher
    }
}

/// `log_softmax` of `x` in place, in `f64`.
fn log_softmax(x: &mut [f64]) {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log_sum = x.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max;
    x.iter_mut().for_each(|v| *v -= log_sum);
}

/// A minibatch: sequences and how many of each one's positions it takes.
type Minibatch = Vec<(usize, usize)>;

/// Random distinct sequences until exactly `tokens` positions (the last one cut short), as
/// `selection` draws them.
fn draw_minibatch(
    rng: &mut SplitMix64,
    sequences: usize,
    positions: usize,
    tokens: usize,
) -> Minibatch {
    let mut batch: Minibatch = Vec::new();
    let mut used = 0;
    while used < tokens && batch.len() < sequences {
        let id = rng.below(sequences);
        if batch.iter().any(|(s, _)| *s == id) {
            continue;
        }
        let take = positions.min(tokens - used);
        batch.push((id, take));
        used += take;
    }
    batch
}

/// `KL(dense ‖ model)` per predicted position over the dense model's top-k logits, each
/// sequence's last taken position (which predicts past the cut) left out.
fn sparse_kl<M>(
    model: &M,
    teacher: &Teacher,
    batch: &Minibatch,
    batch_sequences: usize,
    logits: &dyn Fn(&M, &[usize]) -> Tensor<3>,
) -> f64 {
    let (k, positions) = (teacher.k, teacher.positions);
    let (mut total, mut count) = (0.0, 0usize);
    for chunk in batch.chunks(batch_sequences.max(1)) {
        let ids: Vec<usize> = chunk.iter().map(|(s, _)| *s).collect();
        let (values, [_, _, classes]) = host_logits(logits(model, &ids));
        for (i, &(s, take)) in chunk.iter().enumerate() {
            for p in 0..take.saturating_sub(1) {
                let at = p * k..(p + 1) * k;
                let row = &values[(i * positions + p) * classes..(i * positions + p + 1) * classes];
                let mut student: Vec<f64> = teacher.ids[s][at.clone()]
                    .iter()
                    .map(|&c| f64::from(row[c as usize]))
                    .collect();
                let mut target: Vec<f64> = teacher.values[s][at]
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect();
                log_softmax(&mut student);
                log_softmax(&mut target);
                total += target
                    .iter()
                    .zip(&student)
                    .map(|(t, s)| t.exp() * (t - s))
                    .sum::<f64>();
                count += 1;
            }
        }
    }
    total / count.max(1) as f64
}

/// `randint(1, 4)`.
fn one_to_four(rng: &mut SplitMix64) -> usize {
    1 + rng.below(4)
}

/// One offspring of `parent`: `min(randint(1,4), randint(1,4))` flips, each lowering a layer
/// that has a level below and raising a layer of the same kind that has a level above. Where
/// the official code draws until a layer qualifies, this draws among the qualifying layers
/// (the same distribution); a layer is only lowered where some layer of its kind can rise.
fn mutate(rng: &mut SplitMix64, parent: &[i64], layers: &[SupernetLayer]) -> Option<Vec<i64>> {
    let mut child = parent.to_vec();
    let flips = one_to_four(rng).min(one_to_four(rng));
    for _ in 0..flips {
        let can_rise = |child: &[i64], i: usize| layers[i].candidate(child[i] + 1).is_some();
        let lowerable: Vec<usize> = (0..layers.len())
            .filter(|&d| layers[d].candidate(child[d] - 1).is_some())
            .filter(|&d| {
                (0..layers.len())
                    .any(|i| layers[i].unit.kind == layers[d].unit.kind && can_rise(&child, i))
            })
            .collect();
        if lowerable.is_empty() {
            return None;
        }
        let down = lowerable[rng.below(lowerable.len())];
        let risable: Vec<usize> = (0..layers.len())
            .filter(|&i| layers[i].unit.kind == layers[down].unit.kind && can_rise(&child, i))
            .collect();
        let up = risable[rng.below(risable.len())];
        child[down] -= 1;
        child[up] += 1;
    }
    Some(child)
}

/// Searches the level of every supernet layer of `model` (whose layers it leaves at the
/// best state); returns the best state and the parent's fitness after each generation.
///
/// `logits(model, ids)` is the model's `[ids.len(), positions, classes]` output on the
/// calibration sequences `ids`, `teacher` the dense model's on all of them.
pub(super) fn search_levels<M: SequentialBlocks>(
    model: &mut M,
    layers: &[SupernetLayer],
    teacher: &Teacher,
    logits: &dyn Fn(&M, &[usize]) -> Tensor<3>,
    config: &TyrSearchConfig,
    rng: &mut SplitMix64,
    progress: &mut dyn FnMut(GenerationProgress),
) -> Result<(Vec<i64>, Vec<f64>), PruneError> {
    if config.stages.is_empty() || config.offspring == 0 {
        return Err(PruneError::bad(
            "search",
            "needs at least one selection stage and one offspring",
        ));
    }
    let mut parent = vec![0i64; layers.len()];
    let mut history = Vec::new();
    for generation in 0..config.generations {
        let mut offspring: Vec<Vec<i64>> = Vec::new();
        // Small supernets have few distinct neighbours: stop drawing after many repeats.
        let mut attempts = 0;
        while offspring.len() < config.offspring && attempts < 64 * config.offspring {
            attempts += 1;
            let Some(child) = mutate(rng, &parent, layers) else {
                break;
            };
            if !offspring.contains(&child) {
                offspring.push(child);
            }
        }
        let mut fitnesses = Vec::new();
        for (stage, &(tokens, survivors)) in config.stages.iter().enumerate() {
            if stage + 1 == config.stages.len() && !offspring.contains(&parent) {
                offspring.push(parent.clone());
            }
            let batch = draw_minibatch(rng, teacher.ids.len(), teacher.positions, tokens);
            let mut scored = Vec::with_capacity(offspring.len());
            for candidate in &offspring {
                load_levels(model, layers, candidate)?;
                scored.push(sparse_kl(
                    model,
                    teacher,
                    &batch,
                    config.batch_sequences,
                    logits,
                ));
            }
            let mut order: Vec<usize> = (0..offspring.len()).collect();
            order.sort_by(|&a, &b| scored[a].total_cmp(&scored[b]).then(a.cmp(&b)));
            order.truncate(survivors.max(1));
            offspring = order.iter().map(|&i| offspring[i].clone()).collect();
            fitnesses = order.iter().map(|&i| scored[i]).collect();
        }
        parent = offspring[0].clone();
        history.push(fitnesses[0]);
        progress(GenerationProgress {
            done: generation + 1,
            total: config.generations,
            fitness: fitnesses[0],
        });
    }
    load_levels(model, layers, &parent)?;
    Ok((parent, history))
}
