//! Persistent evolution strategies (PES; Vicol, Metz & Sohl-Dickstein 2021, "Unbiased gradient
//! estimation in unrolled computation graphs with persistent evolution strategies", ICML), with
//! antithetic pairs, as `learned_optimization`'s `truncated_pes.py` runs them for meta-training.
//!
//! Each pair keeps two inner problems (θ + ε and θ − ε, sharing initialization, data and horizon)
//! alive across truncations, and the sum `A` of the perturbations since its problem started. A
//! truncation of `K` steps gives `Δ = L⁺ − L⁻` (mean loss before and after a reset) and the
//! estimate `[Δ_pre·(A + ε) + Δ_post·ε] / (2σ²)`, averaged over pairs.

use rayon::prelude::*;
use tempering_core::split_mix::{self, SplitMix64, standard_normal};

/// An inner problem unrolled under meta-parameters θ (for meta-training: a small network
/// trained by the learned optimizer with weights θ).
pub trait Unroll: Sync {
    /// One inner problem's state (the network and its optimizer state).
    type State: Send;
    /// A fresh inner problem; `seed` fixes its initialization and its data.
    fn start(&self, seed: u64) -> Self::State;
    /// Prepares `state` to step under `theta` for the coming truncation.
    fn begin(&self, theta: &[f32], state: &mut Self::State);
    /// One inner step `t` (0 at the start) of the problem seeded `seed`: returns the meta-loss
    /// of the step (the training loss before the update, clipped; finite).
    fn step(&self, state: &mut Self::State, seed: u64, t: usize) -> f64;
}

/// Settings of a PES estimator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PesSettings {
    /// Antithetic pairs.
    pub pairs: usize,
    /// Inner steps per truncation `K`.
    pub truncation: usize,
    /// Standard deviation σ of the perturbations.
    pub sigma: f32,
    /// Inner horizons `T` are drawn log-uniformly from `min_horizon..=max_horizon`.
    pub min_horizon: usize,
    /// See `min_horizon`.
    pub max_horizon: usize,
    /// Run the pairs, and the two signs of each pair, in parallel (rayon); `false` runs them one
    /// after another. The estimate is the same bit for bit either way (each sign's problem is
    /// its own and the sums are taken in pair order): the switch exists to measure the speedup.
    pub parallel: bool,
}

struct Pair<S> {
    plus: S,
    minus: S,
    /// Σ ε since this pair's problem started.
    accumulated: Vec<f32>,
    seed: u64,
    t: usize,
    horizon: usize,
}

/// One PES estimator: its pairs of inner problems persist between calls to
/// [`estimate`](Self::estimate).
pub struct PesEstimator<U: Unroll> {
    settings: PesSettings,
    pairs: Vec<Pair<U::State>>,
    rng: SplitMix64,
}

/// What one truncation gives.
#[derive(Clone, Debug)]
pub struct PesEstimate {
    /// The gradient estimate (non-finite entries set to 0).
    pub gradient: Vec<f32>,
    /// Mean meta-loss over the truncation's steps, both signs and all pairs.
    pub meta_loss: f64,
    /// Inner problems that reached their horizon and restarted during the truncation.
    pub resets: usize,
}

impl<U: Unroll> PesEstimator<U> {
    /// Starts `settings.pairs` inner problems of `unroll` for meta-parameters of `dimension`,
    /// each at a random offset into its first horizon (so resets spread out), from `seed`.
    pub fn new(unroll: &U, settings: PesSettings, dimension: usize, seed: u64) -> Self {
        assert!(
            settings.pairs > 0 && settings.truncation > 0 && settings.min_horizon > 0,
            "PesSettings: pairs, truncation and min_horizon must be positive"
        );
        assert!(
            settings.min_horizon <= settings.max_horizon,
            "PesSettings: min_horizon > max_horizon"
        );
        assert!(settings.sigma > 0.0, "PesSettings: sigma must be positive");
        let mut rng = SplitMix64::new(seed);
        let pairs = (0..settings.pairs)
            .map(|_| {
                let seed = rng.next_u64();
                let horizon = draw_horizon(&mut rng, &settings);
                let offset = rng.below(horizon.min(50));
                Pair {
                    plus: unroll.start(seed),
                    minus: unroll.start(seed),
                    accumulated: vec![0.0; dimension],
                    seed,
                    t: offset,
                    horizon,
                }
            })
            .collect();
        Self {
            settings,
            pairs,
            rng,
        }
    }

    /// One truncation of every pair under `theta` (pairs in parallel): the gradient estimate of
    /// the meta-loss and the meta-loss.
    pub fn estimate(&mut self, unroll: &U, theta: &[f32]) -> PesEstimate {
        let settings = self.settings;
        let noise_seed = self.rng.next_u64();
        let fresh: Vec<(u64, usize)> = (0..self.pairs.len())
            .map(|_| (self.rng.next_u64(), draw_horizon(&mut self.rng, &settings)))
            .collect();
        let run = |index: usize, pair: &mut Pair<U::State>, next: (u64, usize)| {
            let epsilon: Vec<f32> = standard_normal(theta.len(), noise_seed, index as u64)
                .into_iter()
                .map(|z| z * settings.sigma)
                .collect();
            truncation(unroll, &settings, pair, theta, &epsilon, next)
        };
        let results: Vec<(Vec<f32>, f64, usize)> = if settings.parallel {
            self.pairs
                .par_iter_mut()
                .zip(fresh)
                .enumerate()
                .map(|(index, (pair, next))| run(index, pair, next))
                .collect()
        } else {
            self.pairs
                .iter_mut()
                .zip(fresh)
                .enumerate()
                .map(|(index, (pair, next))| run(index, pair, next))
                .collect()
        };
        let scale = 1.0 / results.len() as f32;
        let mut gradient = vec![0.0f32; theta.len()];
        let (mut loss, mut resets) = (0.0, 0);
        for (g, l, r) in &results {
            for (acc, &v) in gradient.iter_mut().zip(g) {
                *acc += v * scale;
            }
            loss += l / results.len() as f64;
            resets += r;
        }
        for v in &mut gradient {
            if !v.is_finite() {
                *v = 0.0;
            }
        }
        PesEstimate {
            gradient,
            meta_loss: loss,
            resets,
        }
    }
}

/// `a()` and `b()`, at once (rayon's `join`) when `parallel`, else one after the other.
fn both<A: Send, B: Send>(
    parallel: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if parallel {
        rayon::join(a, b)
    } else {
        (a(), b())
    }
}

fn draw_horizon(rng: &mut SplitMix64, settings: &PesSettings) -> usize {
    let (lo, hi) = (settings.min_horizon as f64, settings.max_horizon as f64);
    (lo * (hi / lo).powf(rng.unit())).round().clamp(lo, hi) as usize
}

/// Runs one pair through a truncation; returns its gradient estimate, mean loss and resets.
fn truncation<U: Unroll>(
    unroll: &U,
    settings: &PesSettings,
    pair: &mut Pair<U::State>,
    theta: &[f32],
    epsilon: &[f32],
    (next_seed, next_horizon): (u64, usize),
) -> (Vec<f32>, f64, usize) {
    let plus_theta: Vec<f32> = theta.iter().zip(epsilon).map(|(t, e)| t + e).collect();
    let minus_theta: Vec<f32> = theta.iter().zip(epsilon).map(|(t, e)| t - e).collect();
    both(
        settings.parallel,
        || unroll.begin(&plus_theta, &mut pair.plus),
        || unroll.begin(&minus_theta, &mut pair.minus),
    );
    let (mut pre, mut post) = ((0.0f64, 0usize), (0.0f64, 0usize));
    let mut total = 0.0;
    let mut reset = false;
    for _ in 0..settings.truncation {
        if pair.t >= pair.horizon && !reset {
            // The problem is done: start a fresh one (same seed for both signs).
            pair.seed = split_mix::mix(next_seed);
            pair.horizon = next_horizon;
            pair.t = 0;
            pair.plus = unroll.start(pair.seed);
            pair.minus = unroll.start(pair.seed);
            both(
                settings.parallel,
                || unroll.begin(&plus_theta, &mut pair.plus),
                || unroll.begin(&minus_theta, &mut pair.minus),
            );
            reset = true;
        }
        let (seed, t) = (pair.seed, pair.t);
        let (plus, minus) = both(
            settings.parallel,
            || unroll.step(&mut pair.plus, seed, t),
            || unroll.step(&mut pair.minus, seed, t),
        );
        total += plus + minus;
        let part = if reset { &mut post } else { &mut pre };
        part.0 += plus - minus;
        part.1 += 1;
        pair.t += 1;
    }
    let mean = |(sum, n): (f64, usize)| if n == 0 { 0.0 } else { sum / n as f64 };
    let (pre, post) = (mean(pre) as f32, mean(post) as f32);
    let denominator = 2.0 * settings.sigma * settings.sigma;
    let gradient = pair
        .accumulated
        .iter()
        .zip(epsilon)
        .map(|(a, e)| (pre * (a + e) + post * e) / denominator)
        .collect();
    if reset {
        pair.accumulated.copy_from_slice(epsilon);
    } else {
        for (a, e) in pair.accumulated.iter_mut().zip(epsilon) {
            *a += e;
        }
    }
    (
        gradient,
        total / (2 * settings.truncation) as f64,
        usize::from(reset),
    )
}
