//! The learned optimizer against its reference trajectory: every expected number below was
//! printed by `tests/reference/learned_optimizer.py`, a pure-Python float64 transcription of the
//! rules of AdafacMLPLOpt in google/learned_optimization (`adafac_mlp_lopt.py` and
//! `common.py`; see `docs/references.md`), written independently of the Rust code. The
//! meta-parameters, initial parameters and gradients are the closed-form ones both sides build.
//! We run in f32; tolerance 2e-5 absolute on parameters of size ~0.5 after three steps of ~0.02
//! (the f32 rounding of 28 normalized features through a 2,400-weight MLP).

use burn::optim::Optimizer;
use burn::tensor::{Device, Tensor, TensorData};
use tempering_optim::learned::weights::LAYERS;
use tempering_optim::learned::{LearnedOptimizerConfig, LoptWeights};

const TOLERANCE: f32 = 2e-5;

/// `w[l][i][o] = 0.4·sin(1.7·(i·fan_out + o) + l)/√fan_in`, `b[l][o] = 0.05·cos(o + l)`,
/// `θ_k = 0.02·(k − 3)`: the script's `test_weights`.
fn test_weights() -> LoptWeights {
    let weights = std::array::from_fn(|l| {
        let (fan_in, fan_out) = LAYERS[l];
        (0..fan_in * fan_out)
            .map(|j| (0.4 * (1.7 * j as f64 + l as f64).sin() / (fan_in as f64).sqrt()) as f32)
            .collect()
    });
    let biases = std::array::from_fn(|l| {
        (0..LAYERS[l].1)
            .map(|o| (0.05 * (o as f64 + l as f64).cos()) as f32)
            .collect()
    });
    LoptWeights {
        weights,
        biases,
        decay_params: std::array::from_fn(|k| 0.02 * (k as f32 - 3.0)),
    }
}

/// Gradient of step `t` at element `i`: `cos(0.9·i + 1.3·t)·(1 + 0.5·t)`.
fn gradient(n: usize, t: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((0.9 * i as f64 + 1.3 * t as f64).cos() * (1.0 + 0.5 * t as f64)) as f32)
        .collect()
}

/// Three steps (step_mult 1, exp_mult 0.5, lr 1) from `p0` of `shape`; the parameters after each.
fn trajectory<const D: usize>(shape: [usize; D], p0: Vec<f32>) -> Vec<Vec<f32>> {
    let device = Device::default();
    let optimizer = LearnedOptimizerConfig::new()
        .with_step_mult(1.0)
        .with_exp_mult(0.5)
        .build(test_weights());
    let n = p0.len();
    let mut p = Tensor::<D>::from_data(TensorData::new(p0, shape), &device);
    let mut state = None;
    (0..3)
        .map(|t| {
            let g = Tensor::<D>::from_data(TensorData::new(gradient(n, t), shape), &device);
            let (next, next_state) = optimizer.step(1.0, p.clone(), g, state.take());
            p = next;
            state = next_state;
            p.to_data().try_to_vec::<f32>().unwrap()
        })
        .collect()
}

fn assert_close(name: &str, got: &[Vec<f32>], expected: &[&[f64]]) {
    for (t, (g, e)) in got.iter().zip(expected).enumerate() {
        for (i, (&g, &e)) in g.iter().zip(e.iter()).enumerate() {
            assert!(
                (g - e as f32).abs() <= TOLERANCE,
                "{name}: step {} element {i}: {g} vs reference {e}",
                t + 1
            );
        }
    }
}

#[test]
fn a_3x4_matrix_follows_the_reference() {
    // Factored statistics; the largest axis (d0) is axis 1.
    let expected: [&[f64]; 3] = [
        [
            -0.530289162,
            -0.431332209,
            -0.332079232,
            -0.231044052,
            -0.131304405,
            -0.032168719,
            0.067971082,
            0.168452849,
            0.267946891,
            0.367596924,
            0.467789978,
            0.567851509,
        ],
        [
            -0.511167585,
            -0.413093379,
            -0.313216296,
            -0.212394692,
            -0.113398760,
            -0.014038395,
            0.086475700,
            0.186397370,
            0.285803817,
            0.385611945,
            0.485599732,
            0.585400528,
        ],
        [
            -0.492868930,
            -0.394540781,
            -0.294995388,
            -0.194256942,
            -0.094464344,
            0.004633804,
            0.104551002,
            0.205157384,
            0.304185191,
            0.403334361,
            0.503287772,
            0.603295758,
        ],
    ]
    .map(|r: [f64; 12]| -> &'static [f64] { Box::leak(Box::new(r)) });
    let p0 = (0..12).map(|i| 0.1 * (i as f32 - 5.5)).collect();
    assert_close("3x4", &trajectory([3, 4], p0), &expected);
}

#[test]
fn a_4x2_matrix_follows_the_reference() {
    // Factored statistics; the largest axis (d0) is axis 0.
    let expected: [&[f64]; 3] = [
        [
            0.018726135,
            0.186164356,
            0.199378658,
            0.046279055,
            -0.132570098,
            -0.173850793,
            -0.037374690,
            0.149470683,
        ],
        [
            0.036712063,
            0.203895524,
            0.217316670,
            0.064331276,
            -0.114588824,
            -0.154861023,
            -0.018553339,
            0.167315682,
        ],
        [
            0.055648891,
            0.221934970,
            0.234962800,
            0.082229463,
            -0.095353048,
            -0.135461149,
            -0.000271472,
            0.185661457,
        ],
    ]
    .map(|r: [f64; 8]| -> &'static [f64] { Box::leak(Box::new(r)) });
    let p0 = (0..8).map(|i| 0.2 * (i as f32).sin()).collect();
    assert_close("4x2", &trajectory([4, 2], p0), &expected);
}

#[test]
fn a_vector_follows_the_reference() {
    // Rank 1: full (unfactored) statistics.
    let expected: [&[f64]; 3] = [
        [
            0.317965614,
            0.217837622,
            0.117677644,
            0.018434031,
            -0.081216360,
        ],
        [
            0.335676133,
            0.235619537,
            0.136149204,
            0.036717893,
            -0.063315535,
        ],
        [
            0.353642821,
            0.253694302,
            0.153912757,
            0.054663583,
            -0.044391180,
        ],
    ]
    .map(|r: [f64; 5]| -> &'static [f64] { Box::leak(Box::new(r)) });
    let p0 = (0..5).map(|i| 0.3 - 0.1 * i as f32).collect();
    assert_close("vector", &trajectory([5], p0), &expected);
}
