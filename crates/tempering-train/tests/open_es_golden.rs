//! OpenAI-ES against a float64 transcription of evosax's `OpenES` and its Adam
//! (`tests/reference/open_es.py`; RobertTLange/evosax `strategies/open_es.py` @ac9f061 and
//! `utils/optimizer.py` @0bce997, listed in `docs/references.md`): five generations on a fixed
//! quadratic with the reference's draws, raw and centered-rank shaping.

use tempering_train::evolution::{FitnessShaping, OpenEs, OpenEsConfig};

const A: [f32; 4] = [1.0, 2.0, 3.0, 4.0];
const T: [f32; 4] = [0.5, -0.3, 0.2, 1.0];

/// The reference's draws in generation `g`: `z[k][j] = sin(1 + 0.7k + 1.3j + 2.1g)`.
fn noise(g: usize) -> Vec<Vec<f32>> {
    (0..3)
        .map(|k| {
            (0..4)
                .map(|j| (1.0 + 0.7 * k as f64 + 1.3 * j as f64 + 2.1 * g as f64).sin() as f32)
                .collect()
        })
        .collect()
}

fn loss(x: &[f32]) -> f64 {
    x.iter()
        .zip(A.iter().zip(&T))
        .map(|(&x, (&a, &t))| f64::from(a) * f64::from(x - t).powi(2))
        .sum()
}

fn run(shaping: FitnessShaping) -> Vec<Vec<f32>> {
    let config = OpenEsConfig {
        pairs: 3,
        learning_rate: 0.05,
        shaping,
        ..OpenEsConfig::default()
    };
    let mut es = OpenEs::new(config, 4, 0);
    let mut mean = vec![0.0f32; 4];
    (0..5)
        .map(|g| {
            es.step_with_noise(&mut mean, &noise(g), loss);
            mean.clone()
        })
        .collect()
}

fn assert_close(ours: &[Vec<f32>], reference: &[[f64; 4]; 5]) {
    for (g, (a, b)) in ours.iter().zip(reference).enumerate() {
        for (x, y) in a.iter().zip(b) {
            // f32 against float64: a few units in the last place of values near 0.1.
            assert!(
                (f64::from(*x) - y).abs() < 2e-6,
                "generation {g}: {a:?} against {b:?}"
            );
        }
    }
}

#[test]
fn raw_fitness_follows_the_reference() {
    // python3 tests/reference/open_es.py, "raw".
    let reference = [
        [-0.050000000, -0.050000000, 0.050000000, 0.050000000],
        [-0.099870215, -0.096973906, 0.094277690, 0.099154123],
        [-0.144086881, -0.144192765, 0.121394675, 0.146639295],
        [-0.189396975, -0.190265547, 0.154174006, 0.193830006],
        [-0.235402872, -0.237080161, 0.186516151, 0.241539014],
    ];
    assert_close(&run(FitnessShaping::Raw), &reference);
}

#[test]
fn centered_ranks_follow_the_reference() {
    // python3 tests/reference/open_es.py, "ranks".
    let reference = [
        [-0.050000000, -0.050000000, 0.050000000, 0.050000000],
        [-0.099891343, -0.099050306, 0.097959527, 0.099769881],
        [-0.144258428, -0.148217404, 0.118047565, 0.149178174],
        [-0.190007837, -0.197020038, 0.147284598, 0.198650233],
        [-0.236011698, -0.245726737, 0.172574235, 0.248119125],
    ];
    assert_close(&run(FitnessShaping::CenteredRanks), &reference);
}
