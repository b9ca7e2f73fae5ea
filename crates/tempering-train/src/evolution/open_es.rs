//! OpenAI-ES (Salimans, Ho, Chen, Sidor & Sutskever 2017, "Evolution Strategies as a Scalable
//! Alternative to Reinforcement Learning") on a flat vector, as evosax's `OpenES` runs it
//! (RobertTLange/evosax, `strategies/open_es.py` @ac9f061 and `utils/optimizer.py` @0bce997),
//! the strategy the ES lottery-ticket experiments (Lange & Sprekeler 2023) draw from:
//!
//! - antithetic sampling: `pairs` draws `z ~ N(0, I)` and candidates `μ + σz`, `μ − σz`;
//! - the losses shaped (centered ranks by default, as Salimans et al.; raw with
//!   [`FitnessShaping::Raw`], evosax's default);
//! - the search gradient `g = Σ_k z_k·f_k / (N·σ)` over all `N = 2·pairs` candidates;
//! - Adam on `g` (β₁ 0.99, β₂ 0.999, ε 1e-8, bias-corrected) at a learning rate decayed by
//!   0.999 per generation to at least 0.001 (from 0.01), and σ decayed by 0.999 per generation
//!   to at least 0.01 (from 0.04): evosax's defaults.
//!
//! The noise comes from `tempering_core::split_mix::standard_normal`, the generator the
//! meta-training's persistent evolution strategies draw from; candidates are evaluated in
//! parallel.

use rayon::prelude::*;
use tempering_core::split_mix::{SplitMix64, standard_normal};

/// How the candidates' losses become the weights of the search gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitnessShaping {
    /// Centered ranks in `[-0.5, 0.5]` (Salimans et al. 2017): the best (lowest) loss gets
    /// −0.5, ties share their mean rank.
    CenteredRanks,
    /// The losses as they are (evosax's default).
    Raw,
}

/// Settings of [`OpenEs`]; the defaults are evosax's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpenEsConfig {
    /// Antithetic pairs per generation (population `2·pairs`).
    pub pairs: usize,
    /// Initial perturbation scale σ.
    pub sigma: f32,
    /// σ's factor per generation.
    pub sigma_decay: f32,
    /// σ's floor.
    pub sigma_limit: f32,
    /// Adam's initial learning rate.
    pub learning_rate: f32,
    /// The learning rate's factor per generation.
    pub learning_rate_decay: f32,
    /// The learning rate's floor.
    pub learning_rate_limit: f32,
    /// Adam's β₁.
    pub beta_1: f32,
    /// Adam's β₂.
    pub beta_2: f32,
    /// Adam's ε.
    pub epsilon: f32,
    /// How losses are shaped.
    pub shaping: FitnessShaping,
}

impl Default for OpenEsConfig {
    fn default() -> Self {
        Self {
            pairs: 64,
            sigma: 0.04,
            sigma_decay: 0.999,
            sigma_limit: 0.01,
            learning_rate: 0.01,
            learning_rate_decay: 0.999,
            learning_rate_limit: 0.001,
            beta_1: 0.99,
            beta_2: 0.999,
            epsilon: 1e-8,
            shaping: FitnessShaping::CenteredRanks,
        }
    }
}

impl OpenEsConfig {
    /// Why these settings cannot run, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.pairs == 0 {
            return Err("pairs must be at least 1".into());
        }
        let positive = [
            ("sigma", self.sigma),
            ("sigma_limit", self.sigma_limit),
            ("learning_rate", self.learning_rate),
            ("epsilon", self.epsilon),
        ];
        if let Some((name, v)) = positive.iter().find(|(_, v)| !(v.is_finite() && *v > 0.0)) {
            return Err(format!("{name} must be positive, got {v}"));
        }
        let unit = [
            ("beta_1", self.beta_1),
            ("beta_2", self.beta_2),
            ("sigma_decay", self.sigma_decay),
            ("learning_rate_decay", self.learning_rate_decay),
        ];
        if let Some((name, v)) = unit.iter().find(|(_, v)| !(0.0..=1.0).contains(v)) {
            return Err(format!("{name} must be in [0, 1], got {v}"));
        }
        Ok(())
    }
}

/// What one generation measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Generation {
    /// Mean loss over the candidates (finite ones).
    pub mean_loss: f64,
    /// The lowest candidate loss.
    pub best_loss: f64,
    /// Candidates whose loss was not finite (ranked last).
    pub non_finite: usize,
}

/// OpenAI-ES state: the mean, σ, the learning rate and Adam's moments.
#[derive(Clone, Debug)]
pub struct OpenEs {
    config: OpenEsConfig,
    sigma: f32,
    learning_rate: f32,
    m: Vec<f32>,
    v: Vec<f32>,
    generation: u64,
    rng: SplitMix64,
}

/// Centered ranks of `losses` in `[-0.5, 0.5]`, lowest loss lowest rank; non-finite losses
/// rank last; ties share their mean rank.
pub fn centered_ranks(losses: &[f64]) -> Vec<f64> {
    let n = losses.len();
    if n < 2 {
        return vec![0.0; n];
    }
    let key = |l: f64| if l.is_finite() { l } else { f64::INFINITY };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| key(losses[a]).total_cmp(&key(losses[b])));
    let mut ranks = vec![0.0; n];
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && key(losses[order[end]]) == key(losses[order[start]]) {
            end += 1;
        }
        let mean = (start + end - 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = mean / (n - 1) as f64 - 0.5;
        }
        start = end;
    }
    ranks
}

impl OpenEs {
    /// A fresh state for a mean of `dimension` entries, noise seeded by `seed`.
    ///
    /// # Panics
    /// If [`OpenEsConfig::check`] finds a problem.
    pub fn new(config: OpenEsConfig, dimension: usize, seed: u64) -> Self {
        if let Err(e) = config.check() {
            panic!("OpenEsConfig: {e}");
        }
        Self {
            config,
            sigma: config.sigma,
            learning_rate: config.learning_rate,
            m: vec![0.0; dimension],
            v: vec![0.0; dimension],
            generation: 0,
            rng: SplitMix64::new(seed),
        }
    }

    /// The current σ.
    pub fn sigma(&self) -> f32 {
        self.sigma
    }

    /// One generation: `2·pairs` candidates around `mean` evaluated by `loss` (in parallel),
    /// the shaped search gradient, an Adam step on `mean`, σ and the learning rate decayed.
    ///
    /// # Panics
    /// If `mean` is not the dimension the state was made for.
    pub fn step(&mut self, mean: &mut [f32], loss: impl Fn(&[f32]) -> f64 + Sync) -> Generation {
        let noise_seed = self.rng.next_u64();
        let noise: Vec<Vec<f32>> = (0..self.config.pairs)
            .map(|k| standard_normal(mean.len(), noise_seed, k as u64))
            .collect();
        self.step_with_noise(mean, &noise, loss)
    }

    /// [`step`](Self::step) with the `pairs` draws `z` given (each of the mean's length), as
    /// the golden test feeds the reference's.
    ///
    /// # Panics
    /// If `mean` is not the dimension the state was made for, or `noise` has not `pairs` rows
    /// of that length.
    pub fn step_with_noise(
        &mut self,
        mean: &mut [f32],
        noise: &[Vec<f32>],
        loss: impl Fn(&[f32]) -> f64 + Sync,
    ) -> Generation {
        assert_eq!(mean.len(), self.m.len(), "OpenEs: the mean changed size");
        let (pairs, sigma) = (self.config.pairs, self.sigma);
        assert!(
            noise.len() == pairs && noise.iter().all(|z| z.len() == mean.len()),
            "OpenEs: {pairs} noise rows of {} entries expected",
            mean.len()
        );
        let losses: Vec<f64> = (0..2 * pairs)
            .into_par_iter()
            .map(|c| {
                let (z, sign) = (&noise[c % pairs], if c < pairs { 1.0 } else { -1.0 });
                let candidate: Vec<f32> = mean
                    .iter()
                    .zip(z)
                    .map(|(m, z)| m + sign * sigma * z)
                    .collect();
                loss(&candidate)
            })
            .collect();
        let finite: Vec<f64> = losses.iter().copied().filter(|l| l.is_finite()).collect();
        let generation = Generation {
            mean_loss: finite.iter().sum::<f64>() / finite.len().max(1) as f64,
            best_loss: finite.iter().copied().fold(f64::INFINITY, f64::min),
            non_finite: losses.len() - finite.len(),
        };
        let weights: Vec<f64> = match self.config.shaping {
            FitnessShaping::CenteredRanks => centered_ranks(&losses),
            // Non-finite raw losses carry no usable weight.
            FitnessShaping::Raw => losses
                .iter()
                .map(|&l| if l.is_finite() { l } else { 0.0 })
                .collect(),
        };
        // g = Σ_k z_k f_k / (N σ), the minus half's z being −z.
        let scale = 1.0 / (2 * pairs) as f64 / f64::from(sigma);
        let mut gradient = vec![0.0f64; mean.len()];
        for (k, z) in noise.iter().enumerate() {
            let w = (weights[k] - weights[k + pairs]) * scale;
            for (g, &z) in gradient.iter_mut().zip(z) {
                *g += w * f64::from(z);
            }
        }
        self.adam(mean, &gradient);
        let c = &self.config;
        self.sigma = (self.sigma * c.sigma_decay).max(c.sigma_limit);
        self.learning_rate =
            (self.learning_rate * c.learning_rate_decay).max(c.learning_rate_limit);
        self.generation += 1;
        generation
    }

    /// Adam's bias-corrected step on `mean` along `gradient` (evosax's `Adam.step_opt`).
    fn adam(&mut self, mean: &mut [f32], gradient: &[f64]) {
        let c = &self.config;
        let t = self.generation as i32 + 1;
        let (b1, b2) = (c.beta_1, c.beta_2);
        let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        for (((x, m), v), &g) in mean
            .iter_mut()
            .zip(&mut self.m)
            .zip(&mut self.v)
            .zip(gradient)
        {
            let g = g as f32;
            *m = (1.0 - b1) * g + b1 * *m;
            *v = (1.0 - b2) * g * g + b2 * *v;
            *x -= self.learning_rate * (*m / c1) / ((*v / c2).sqrt() + c.epsilon);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centered_ranks_are_ordered_tied_and_bounded() {
        // Worked by hand: 4 losses, ranks 0..3 scaled to [-0.5, 0.5]; the tie shares 1.5.
        let r = centered_ranks(&[3.0, 1.0, 2.0, 2.0]);
        assert_eq!(r, vec![0.5, -0.5, 0.0, 0.0]);
        let r = centered_ranks(&[f64::NAN, 1.0, 0.0]);
        assert_eq!(r, vec![0.5, 0.0, -0.5]);
    }

    #[test]
    fn the_search_gradient_points_along_a_linear_loss() {
        // For L(x) = c·x and raw losses, E[g] = c: with many pairs the estimate's direction
        // is c's (cosine > 0.9), whatever σ.
        let c: Vec<f32> = (0..20).map(|i| (i as f32 - 9.5) / 10.0).collect();
        let config = OpenEsConfig {
            pairs: 2000,
            shaping: FitnessShaping::Raw,
            learning_rate: 1e-3,
            ..OpenEsConfig::default()
        };
        let mut es = OpenEs::new(config, c.len(), 3);
        let mut mean = vec![0.0f32; c.len()];
        let linear = |x: &[f32]| -> f64 { x.iter().zip(&c).map(|(a, b)| f64::from(a * b)).sum() };
        es.step(&mut mean, linear);
        // Adam's first step is −lr·sign-like: the mean moved against c, entry by entry.
        let agree = mean
            .iter()
            .zip(&c)
            .filter(|(m, c)| m.signum() == -c.signum())
            .count();
        assert!(
            agree >= 18,
            "{agree} of 20 entries moved against the gradient"
        );
    }

    #[test]
    fn a_quadratic_is_minimized() {
        let target: Vec<f32> = (0..10).map(|i| (i as f32 - 4.5) / 5.0).collect();
        let config = OpenEsConfig {
            pairs: 16,
            learning_rate: 0.05,
            ..OpenEsConfig::default()
        };
        let mut es = OpenEs::new(config, target.len(), 7);
        let mut mean = vec![0.0f32; target.len()];
        let loss = |x: &[f32]| -> f64 {
            x.iter()
                .zip(&target)
                .map(|(a, b)| f64::from((a - b) * (a - b)))
                .sum()
        };
        let start = loss(&mean);
        for _ in 0..300 {
            es.step(&mut mean, loss);
        }
        assert!(loss(&mean) < 0.02 * start, "{} from {start}", loss(&mean));
    }

    #[test]
    fn bad_settings_are_named() {
        let bad = OpenEsConfig {
            sigma: 0.0,
            ..OpenEsConfig::default()
        };
        assert!(bad.check().unwrap_err().contains("sigma"));
        let bad = OpenEsConfig {
            pairs: 0,
            ..OpenEsConfig::default()
        };
        assert!(bad.check().unwrap_err().contains("pairs"));
    }
}
