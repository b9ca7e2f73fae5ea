//! SparseLLM's update of a feed-forward pair's pre-activations `z`: each entry independently
//! minimises
//!
//! ```text
//! γ·(p − act(z))² + α·(z − m)²
//! ```
//!
//! `p` the current auxiliary input of the second layer, `m` the first layer's output on the
//! calibration inputs with its current (pruned) weights.
//!
//! - **ReLU**, as the official code (BaiTheBest/SparseLLM @27fe26a, `model_utils.py`
//!   `opt_sparsellm`, "optimize z") solves it: the candidates `max((γp + αm)/(γ + α), 0)` (the
//!   minimiser on `z ≥ 0`) and `min(m, 0)` (on `z ≤ 0`); the first is kept when its objective
//!   is lower or equal.
//! - **GELU**, exact or GPT-2's tanh form (the project's transformers): the official code has no GELU branch (its OPT path
//!   is ReLU's closed form, its LLaMA path a few gradient steps on SiLU). The same scalar
//!   problem is solved numerically: Newton's method with a Gauss–Newton fallback where the
//!   objective is not convex, and halving steps until the objective drops, from three starts
//!   (`m`; `(γp + αm)/(γ + α)`, the answer where GELU is nearly the identity; and GELU's
//!   minimum, `z ≈ −0.7518`, between its two branches); the lowest of the three ends wins.

use rayon::prelude::*;
use tempering_core::compression::FeedForwardActivation;

/// Where GELU has its minimum (`Φ(z) + zφ(z) = 0`), to three decimals.
const GELU_MINIMUM: f64 = -0.7518;
/// Newton iterations per start; each start typically settles in four to six.
const ITERATIONS: usize = 60;
/// Halvings of a step before a start gives up.
const HALVINGS: usize = 40;
/// A step below this fraction of `1 + |z|` ends a start (the result is stored in `f32`).
const STEP_TOLERANCE: f64 = 1e-10;

/// Replaces each `z[i]` by the minimiser for `(p[i], m[i])` (see the module docs). The three
/// slices have the same length; the work is split across threads.
pub(super) fn update_pre_activations(
    z: &mut [f32],
    p: &[f32],
    m: &[f32],
    activation: FeedForwardActivation,
    alpha: f64,
    gamma: f64,
) {
    assert!(
        z.len() == p.len() && p.len() == m.len(),
        "pre-activation lengths"
    );
    z.par_chunks_mut(4096)
        .zip(p.par_chunks(4096).zip(m.par_chunks(4096)))
        .for_each(|(z, (p, m))| {
            for ((z, &p), &m) in z.iter_mut().zip(p).zip(m) {
                let (p, m) = (f64::from(p), f64::from(m));
                *z = match activation {
                    FeedForwardActivation::Relu => relu_minimiser(p, m, alpha, gamma),
                    smooth => gelu_minimiser(smooth, p, m, alpha, gamma),
                } as f32;
            }
        });
}

fn objective(
    activation: FeedForwardActivation,
    z: f64,
    p: f64,
    m: f64,
    alpha: f64,
    gamma: f64,
) -> f64 {
    let r = p - activation.apply(z);
    gamma * r * r + alpha * (z - m) * (z - m)
}

/// The official closed form for ReLU.
fn relu_minimiser(p: f64, m: f64, alpha: f64, gamma: f64) -> f64 {
    let relu = FeedForwardActivation::Relu;
    let solution = (gamma * p + alpha * m) / (gamma + alpha);
    let z1 = if solution >= 0.0 { solution } else { 0.0 };
    let z2 = if m <= 0.0 { m } else { 0.0 };
    if objective(relu, z1, p, m, alpha, gamma) <= objective(relu, z2, p, m, alpha, gamma) {
        z1
    } else {
        z2
    }
}

/// The numeric minimiser for GELU, exact or tanh (module docs).
pub(super) fn gelu_minimiser(
    gelu: FeedForwardActivation,
    p: f64,
    m: f64,
    alpha: f64,
    gamma: f64,
) -> f64 {
    let starts = [m, (gamma * p + alpha * m) / (gamma + alpha), GELU_MINIMUM];
    let mut best = (f64::INFINITY, m);
    for start in starts {
        let z = descend(gelu, start, p, m, alpha, gamma);
        let value = objective(gelu, z, p, m, alpha, gamma);
        if value < best.0 {
            best = (value, z);
        }
    }
    best.1
}

fn descend(gelu: FeedForwardActivation, mut z: f64, p: f64, m: f64, alpha: f64, gamma: f64) -> f64 {
    let mut value = objective(gelu, z, p, m, alpha, gamma);
    for _ in 0..ITERATIONS {
        let (act, slope) = (gelu.apply(z), gelu.derivative(z));
        let curvature = gelu.second_derivative(z);
        let gradient = 2.0 * gamma * (act - p) * slope + 2.0 * alpha * (z - m);
        let newton = 2.0 * gamma * (slope * slope + (act - p) * curvature) + 2.0 * alpha;
        let second = if newton > 0.0 {
            newton
        } else {
            2.0 * gamma * slope * slope + 2.0 * alpha
        };
        let mut step = gradient / second;
        // Converged: the step is far below what an f32 result can hold.
        if step.abs() <= STEP_TOLERANCE * (1.0 + z.abs()) {
            break;
        }
        let mut moved = false;
        for _ in 0..HALVINGS {
            let candidate = z - step;
            let candidate_value = objective(gelu, candidate, p, m, alpha, gamma);
            if candidate_value < value {
                (z, value, moved) = (candidate, candidate_value, true);
                break;
            }
            step /= 2.0;
            if step.abs() <= STEP_TOLERANCE * (1.0 + z.abs()) {
                break;
            }
        }
        if !moved {
            break;
        }
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lowest objective on a grid of spacing 1e-4 over [−8, 8], refined by a second grid
    /// of spacing 1e-8 around the best point: an independent brute-force answer.
    fn grid_minimum(gelu: FeedForwardActivation, p: f64, m: f64, alpha: f64, gamma: f64) -> f64 {
        let f = |z: f64| objective(gelu, z, p, m, alpha, gamma);
        let coarse = (0..=160_000)
            .map(|k| -8.0 + k as f64 * 1e-4)
            .min_by(|a, b| f(*a).total_cmp(&f(*b)))
            .unwrap();
        (0..=20_000)
            .map(|k| coarse - 1e-4 + k as f64 * 1e-8)
            .map(f)
            .fold(f64::INFINITY, f64::min)
    }

    #[test]
    fn both_gelus_reach_the_brute_force_minimum() {
        // Cases around GELU's two branches: p below GELU's minimum (≈ −0.17), between it and
        // 0 (two preimages), positive; m on either side; α/γ from 0.1 to 10.
        for &(p, m) in &[
            (-0.3, 0.5),
            (-0.1, -2.0),
            (-0.1, 1.0),
            (-0.05, -0.2),
            (0.0, 0.0),
            (0.7, -1.5),
            (2.0, 2.5),
            (1.2, -3.0),
        ] {
            for (alpha, gamma) in [(0.1, 0.1), (0.1, 1.0), (1.0, 0.1)] {
                for gelu in [FeedForwardActivation::Gelu, FeedForwardActivation::GeluTanh] {
                    let z = gelu_minimiser(gelu, p, m, alpha, gamma);
                    let ours = objective(gelu, z, p, m, alpha, gamma);
                    let grid = grid_minimum(gelu, p, m, alpha, gamma);
                    assert!(
                        ours <= grid + 1e-12,
                        "{gelu:?} p {p}, m {m}, α {alpha}, γ {gamma}: z {z} gives {ours}, \
                         the grid {grid}"
                    );
                }
            }
        }
    }

    #[test]
    fn relu_follows_the_official_branches() {
        // p = 1, m = 3, α = γ: (1 + 3)/2 = 2 ≥ 0 costs 2·... < z2 = 0's cost, so z = 2.
        assert_eq!(relu_minimiser(1.0, 3.0, 0.1, 0.1), 2.0);
        // p = 0, m = −1: z1 = max(−0.5, 0) = 0 costs α·1; z2 = −1 costs 0: z = −1.
        assert_eq!(relu_minimiser(0.0, -1.0, 0.1, 0.1), -1.0);
        // p = −1, m = 0.5: sol = −0.25 → z1 = 0 (cost γ + α/4); z2 = 0 (m > 0): a tie, z1 wins.
        assert_eq!(relu_minimiser(-1.0, 0.5, 0.1, 0.1), 0.0);
        let mut z = vec![9.0f32; 2];
        update_pre_activations(
            &mut z,
            &[1.0, 0.0],
            &[3.0, -1.0],
            FeedForwardActivation::Relu,
            0.1,
            0.1,
        );
        assert_eq!(z, vec![2.0, -1.0]);
    }
}
