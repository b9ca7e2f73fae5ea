//! ALDS's joint search of the number of input chunks `k` and the rank of every layer
//! (Liebenwein, Maalouf, Gal, Feldman & Rus, "Compressing Neural Networks: Towards Determining
//! the Optimal Layer-wise Decomposition", NeurIPS 2021; official code lucaslie/torchprune @14b392c,
//! `method/alds/alds_allocator.py`, class `ALDSErrorIterativeAllocator`, which this follows).
//!
//! For fixed `k` per layer, [`allocate`](crate::low_rank::allocate) finds the ranks that
//! minimize the largest relative spectral error under the budget. The search alternates that
//! with a per-layer choice of `k`, from several seeds:
//! - candidates: the divisors of each layer's input channels;
//! - seeds: every layer at the divisor closest to 3, 5, 7, 9 (ties to the larger), then
//!   [`AldsSearchConfig::random_seeds`] draws of a divisor per layer (the official draws them
//!   from numpy's unseeded generator; here a seeded one, so a search is repeatable);
//! - a seed whose allocation cannot meet the budget has every `k` halved until it can;
//! - then up to four iterations: each layer keeps the parameters its rank buys,
//!   `rank·(k·out + in)`, and takes the `k` whose rank within that budget,
//!   `⌊budget/(k·out + in) + offset⌋` (offset 0.5, at least 1, at most the full rank), has
//!   the lowest error (the first candidate in descending `k` on ties), after which the ranks
//!   are allocated again. The official reads that error one rank lower than the rank it
//!   computes (it indexes its table of errors by rank at `rank − 1`, where entry `i` is the
//!   error at rank `i`); every candidate is compared the same way, and this follows it. A
//!   reallocation that misses the budget lowers the offset by 0.2 for the rest of the seed and
//!   retries from the `k` the iteration started with; below −0.51, or when no candidate of a
//!   layer gets rank 1, the seed stops iterating and keeps the `k` it has;
//! - a seed whose iterations raised its error keeps its initial `k`; the lowest error over the
//!   seeds wins. The error of an allocation is its threshold (the official `_arg_opt`).
//!
//! `tests/alds_search_golden.rs` checks seeds, iterations and the result against a float64
//! transcription (`tests/reference/alds_search.py`).

use std::collections::HashMap;

use tempering_core::split_mix::SplitMix64;

use crate::error::PruneError;
pub use crate::low_rank::AldsSearchConfig;
use crate::low_rank::{LayerAllocation, LayerSpectrum, allocation_at, threshold};

/// One seed's outcome.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SeedOutcome {
    /// The desired `k` of a fixed seed (`None`: a random one).
    pub desired: Option<usize>,
    /// Its final `k` per layer and error (`None`: no `k` met the budget).
    pub result: Option<(Vec<usize>, f64)>,
}

/// What [`alds_search`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct AldsSearch {
    /// Each layer's allocation at the best seed's `k`.
    pub layers: Vec<LayerAllocation>,
    /// The best seed's error (the largest relative error the allocation allows).
    pub error: f64,
    /// Index of the best seed in [`seeds`](Self::seeds).
    pub best_seed: usize,
    /// Every seed.
    pub seeds: Vec<SeedOutcome>,
}

/// The divisors of `n`, descending.
pub fn divisors(n: usize) -> Vec<usize> {
    (1..=n).rev().filter(|&d| n.is_multiple_of(d)).collect()
}

/// The divisor of `n` closest to `desired` (ties to the larger).
fn closest_divisor(n: usize, desired: usize) -> usize {
    let mut best = n;
    for d in divisors(n) {
        if d.abs_diff(desired) < best.abs_diff(desired) {
            best = d;
        }
    }
    best
}

/// Searches `k` and ranks for layers with `inputs[l]` input channels under `budget` (see the
/// module docs). `spectrum(l, k)` is layer `l`'s chunked spectrum at `k` chunks (computed once
/// per pair and kept).
pub fn alds_search<F>(
    inputs: &[usize],
    budget: f64,
    config: &AldsSearchConfig,
    mut spectrum: F,
) -> Result<AldsSearch, PruneError>
where
    F: FnMut(usize, usize) -> Result<LayerSpectrum, PruneError>,
{
    if inputs.contains(&0) {
        return Err(PruneError::bad("layers", "a layer has no input channel"));
    }
    let mut search = Search {
        inputs,
        budget,
        cache: HashMap::new(),
        spectrum: &mut spectrum,
    };
    let mut rng = SplitMix64::new(config.seed);
    let mut seeds = Vec::new();
    let mut starts: Vec<(Option<usize>, Vec<usize>)> = config
        .fixed_seeds
        .iter()
        .map(|&desired| {
            let ks = inputs
                .iter()
                .map(|&n| closest_divisor(n, desired))
                .collect();
            (Some(desired), ks)
        })
        .collect();
    for _ in 0..config.random_seeds {
        let ks = inputs
            .iter()
            .map(|&n| {
                let options = divisors(n);
                options[rng.below(options.len())]
            })
            .collect();
        starts.push((None, ks));
    }
    for (desired, ks) in starts {
        let result = search.optimize_seed(ks, config.iterations)?;
        seeds.push(SeedOutcome { desired, result });
    }
    let best_seed = (0..seeds.len())
        .filter(|&i| seeds[i].result.is_some())
        .min_by(|&a, &b| {
            let error = |i: usize| seeds[i].result.as_ref().map_or(f64::INFINITY, |r| r.1);
            error(a).total_cmp(&error(b)).then(a.cmp(&b))
        })
        .ok_or_else(|| {
            PruneError::bad(
                "--budget",
                format!("{budget}: no choice of chunks fits it, even at rank 1"),
            )
        })?;
    let ks = seeds[best_seed]
        .result
        .as_ref()
        .expect("a result")
        .0
        .clone();
    let spectra = search.spectra(&ks)?;
    let error = threshold(&spectra, budget).expect("the best seed met the budget");
    Ok(AldsSearch {
        layers: allocation_at(&spectra, error),
        error,
        best_seed,
        seeds,
    })
}

/// The state of one search: the spectra computed so far.
struct Search<'a, F> {
    inputs: &'a [usize],
    budget: f64,
    cache: HashMap<(usize, usize), LayerSpectrum>,
    spectrum: &'a mut F,
}

impl<F> Search<'_, F>
where
    F: FnMut(usize, usize) -> Result<LayerSpectrum, PruneError>,
{
    fn layer(&mut self, l: usize, k: usize) -> Result<&LayerSpectrum, PruneError> {
        if !self.cache.contains_key(&(l, k)) {
            let s = (self.spectrum)(l, k)?;
            self.cache.insert((l, k), s);
        }
        Ok(&self.cache[&(l, k)])
    }

    fn spectra(&mut self, ks: &[usize]) -> Result<Vec<LayerSpectrum>, PruneError> {
        ks.iter()
            .enumerate()
            .map(|(l, &k)| self.layer(l, k).cloned())
            .collect()
    }

    /// The threshold and ranks of `ks`, or `None` when they cannot meet the budget.
    fn allocate(&mut self, ks: &[usize]) -> Result<Option<(f64, Vec<usize>)>, PruneError> {
        let spectra = self.spectra(ks)?;
        Ok(threshold(&spectra, self.budget)
            .map(|e| (e, spectra.iter().map(|s| s.smallest_rank(e)).collect())))
    }

    /// The official `_find_best_k_s` for layer `l` at `k` chunks and rank `rank`.
    fn best_k(
        &mut self,
        l: usize,
        k: usize,
        rank: usize,
        offset: f64,
    ) -> Result<Option<usize>, PruneError> {
        let per_rank = |s: &LayerSpectrum| {
            (s.chunk_columns.len() * s.outputs + s.chunk_columns.iter().sum::<usize>()) as f64
        };
        let budget = rank as f64 * per_rank(self.layer(l, k)?);
        let mut best: Option<(f64, usize)> = None;
        for option in divisors(self.inputs[l]) {
            let s = self.layer(l, option)?;
            let closest = (budget / per_rank(s) + offset).floor();
            if closest < 1.0 {
                continue;
            }
            let closest = (closest as usize).min(s.full_rank());
            let error = s.error_at(closest - 1);
            if best.is_none_or(|(e, _)| error < e) {
                best = Some((error, option));
            }
        }
        Ok(best.map(|(_, k)| k))
    }

    /// One seed: made valid, then iterated; `None` when no halving of its `k` meets the
    /// budget.
    fn optimize_seed(
        &mut self,
        mut ks: Vec<usize>,
        iterations: usize,
    ) -> Result<Option<(Vec<usize>, f64)>, PruneError> {
        let (mut error, mut ranks) = loop {
            if let Some(found) = self.allocate(&ks)? {
                break found;
            }
            if ks.iter().all(|&k| k / 2 < 1) {
                return Ok(None);
            }
            ks = ks
                .iter()
                .zip(self.inputs)
                .map(|(&k, &n)| closest_divisor(n, k / 2))
                .collect();
        };
        let (seed_ks, seed_error) = (ks.clone(), error);
        let mut offset = 0.5;
        'iterations: for _ in 0..iterations {
            let start = ks.clone();
            loop {
                let mut proposal = Vec::with_capacity(ks.len());
                for l in 0..ks.len() {
                    match self.best_k(l, ks[l], ranks[l], offset)? {
                        Some(k) => proposal.push(k),
                        // No candidate gets rank 1 from the layer's budget: the official
                        // stops iterating the seed and keeps its current `k`.
                        None => break 'iterations,
                    }
                }
                if let Some(found) = self.allocate(&proposal)? {
                    ks = proposal;
                    (error, ranks) = found;
                    break;
                }
                offset -= 0.2;
                if offset < -0.51 {
                    break 'iterations;
                }
                ks = start.clone();
                (error, ranks) = self.allocate(&ks)?.expect("the starting k met the budget");
            }
        }
        if seed_error < error {
            return Ok(Some((seed_ks, seed_error)));
        }
        Ok(Some((ks, error)))
    }
}
