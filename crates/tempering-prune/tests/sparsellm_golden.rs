//! SparseLLM on one feed-forward pair against a float64 transcription of the official loop
//! (BaiTheBest/SparseLLM @27fe26a, `model_utils.py` `opt_sparsellm`): the script
//! `tests/reference/sparsellm.py` builds the same ReLU pair and calibration inputs and prints
//! the pruned weights and per-round output errors below (regenerate with
//! `cd crates/tempering-prune/tests/reference && python3 sparsellm.py`). Plus: N:M output
//! complies, bad shapes are refused with nothing changed.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use tempering_core::compression::FeedForwardActivation;
use tempering_prune::calibrated::{LayerSparsity, SparseLlmConfig, sparsellm_feed_forward};

const D: usize = 4;
const F: usize = 8;
const OUT: usize = 4;
const SEQUENCES: usize = 2;
const TOKENS: usize = 6;
const N: usize = SEQUENCES * TOKENS;

/// The script's `x_rows()`, `[N, D]`: exact in f32.
fn inputs(device: &Device) -> Tensor<2> {
    let values: Vec<f32> = (0..N)
        .flat_map(|t| {
            (0..D).map(move |i| {
                ((((t * 5 + i * 3 + (t * i) % 7) % 11) as f64 - 5.0) / 4.0 + i as f64 / 64.0) as f32
            })
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [N, D]), device)
}

/// A Burn `Linear` from PyTorch's `[out, in]` weight `torch(o, i)` and bias `bias(o)`.
fn linear(
    d_in: usize,
    d_out: usize,
    torch: impl Fn(usize, usize) -> f64,
    bias: impl Fn(usize) -> f64,
    device: &Device,
) -> Linear {
    let mut layer = LinearConfig::new(d_in, d_out).init(device);
    let weight: Vec<f32> = (0..d_in * d_out)
        .map(|k| torch(k % d_out, k / d_out) as f32)
        .collect();
    let bias: Vec<f32> = (0..d_out).map(|o| bias(o) as f32).collect();
    layer.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(weight, [d_in, d_out]),
        device,
    ));
    layer.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(bias, [d_out]),
        device,
    )));
    layer
}

/// The script's `w1()`, `b1()`, `w2()`, `b2()`.
fn pair(device: &Device) -> (Linear, Linear) {
    let expand = linear(
        D,
        F,
        |o, i| (((o * 7 + i * 5) % 13) as f64 - 6.0) / 8.0 + o as f64 / 256.0 + i as f64 / 1024.0,
        |o| (((o * 3) % 5) as f64 - 2.0) / 16.0,
        device,
    );
    let contract = linear(
        F,
        OUT,
        |o, i| (((o * 5 + i * 3) % 11) as f64 - 5.0) / 8.0 + o as f64 / 128.0 + i as f64 / 512.0,
        |o| ((o % 3) as f64 - 1.0) / 8.0,
        device,
    );
    (expand, contract)
}

/// PyTorch's `[out, in]` rows of a Burn `Linear`.
fn torch_rows(layer: &Linear) -> Vec<Vec<f64>> {
    let [d_in, d_out] = layer.weight.dims();
    let stored: Vec<f32> = layer.weight.val().into_data().try_to_vec::<f32>().unwrap();
    (0..d_out)
        .map(|o| {
            (0..d_in)
                .map(|i| f64::from(stored[i * d_out + o]))
                .collect()
        })
        .collect()
}

fn assert_rows(got: &[Vec<f64>], expected: &[&[f64]], layer: &str) {
    for (o, (g, e)) in got.iter().zip(expected).enumerate() {
        for (i, (&g, &e)) in g.iter().zip(e.iter()).enumerate() {
            // Zeros are exact; the rest agree to f32 rounding through four rounds of refits
            // (f32 products here, f64 in the script).
            assert!(
                (e == 0.0) == (g == 0.0) && (g - e).abs() <= 2e-5 * e.abs().max(1.0),
                "{layer}[{o}, {i}] is {g}, the reference {e}"
            );
        }
    }
}

#[test]
fn relu_pair_matches_the_official_loop() {
    let device = Device::default();
    let (mut expand, mut contract) = pair(&device);
    let report = sparsellm_feed_forward(
        &mut expand,
        &mut contract,
        FeedForwardActivation::Relu,
        inputs(&device),
        SEQUENCES,
        LayerSparsity::Unstructured(0.5),
        &SparseLlmConfig::default(),
    )
    .unwrap();
    // tests/reference/sparsellm.py, "fc1 (expand), [F, D]".
    let expected_expand: [&[f64]; F] = [
        &[-0.7896182006262664, 0.0, 0.0, -0.4955984630790777],
        &[0.0, 0.7473710263663782, 0.0, 0.0],
        &[-0.6378414323933569, 0.0, 0.6996670316849736, 0.0],
        &[0.0, -0.7474535074687176, 0.0, 0.5112234130901541],
        &[-0.5119495501939467, 0.0, 0.7630895964320774, 0.0],
        &[0.0, -0.6186175698873746, 0.0, 0.6797014805287301],
        &[0.0, 0.0, -0.8536428069344003, 0.0],
        &[
            0.5462655607582891,
            -0.48117748922756093,
            0.0,
            0.7969169853468765,
        ],
    ];
    // "fc2 (contract), [OUT, F]".
    let expected_contract: [&[f64]; OUT] = [
        &[
            0.0,
            0.0,
            0.0,
            0.5217385130683831,
            -0.9957376730956149,
            0.0,
            0.10710917778557598,
            0.5113246222718357,
        ],
        &[
            0.0,
            0.3893324288772085,
            0.0,
            0.0,
            0.0,
            0.0,
            -0.5931657935182869,
            0.0,
        ],
        &[
            0.0,
            -0.42439079685338776,
            0.0,
            0.5005690978944594,
            0.06336852726867359,
            0.0,
            0.17922648474967448,
            0.2354250331347051,
        ],
        &[
            0.0,
            0.28478719230503796,
            0.5541637197395417,
            0.0,
            0.0,
            0.0,
            -0.6388166967732998,
            -0.20019461942363137,
        ],
    ];
    assert_rows(&torch_rows(&expand), &expected_expand, "expand");
    assert_rows(&torch_rows(&contract), &expected_contract, "contract");
    // "relative output error after each round".
    let expected_errors = [
        0.17454087226060397,
        0.1757815913951308,
        0.1749318622884884,
        0.1734468543767613,
    ];
    assert_eq!(report.output_errors.len(), expected_errors.len());
    for (g, e) in report.output_errors.iter().zip(expected_errors) {
        assert!(
            (g - e).abs() <= 1e-5 * e,
            "output errors {:?}",
            report.output_errors
        );
    }
    // The reference's zeros: 17 of 32 in each (ties at SparseGPT's threshold go too).
    assert_eq!((report.expand_zeros, report.contract_zeros), (17, 17));
}

#[test]
fn two_of_four_complies_in_both_layers() {
    let device = Device::default();
    let (mut expand, mut contract) = pair(&device);
    let report = sparsellm_feed_forward(
        &mut expand,
        &mut contract,
        FeedForwardActivation::Gelu,
        inputs(&device),
        SEQUENCES,
        LayerSparsity::NOfM { keep: 2, m: 4 },
        &SparseLlmConfig::default(),
    )
    .unwrap();
    for (layer, rows) in [
        ("expand", torch_rows(&expand)),
        ("contract", torch_rows(&contract)),
    ] {
        for row in rows {
            for group in row.chunks(4) {
                let zeros = group.iter().filter(|w| **w == 0.0).count();
                assert!(
                    zeros >= 2,
                    "{layer}: group {group:?} keeps more than 2 of 4"
                );
            }
        }
    }
    assert_eq!((report.expand_zeros, report.contract_zeros), (16, 16));
    assert!(
        report
            .output_errors
            .iter()
            .all(|e| e.is_finite() && *e > 0.0)
    );
}

#[test]
fn a_pair_that_does_not_chain_is_refused_untouched() {
    let device = Device::default();
    let (mut expand, _) = pair(&device);
    let mut wrong = LinearConfig::new(F + 1, OUT).init(&device);
    let before = torch_rows(&expand);
    let error = sparsellm_feed_forward(
        &mut expand,
        &mut wrong,
        FeedForwardActivation::Relu,
        inputs(&device),
        SEQUENCES,
        LayerSparsity::Unstructured(0.5),
        &SparseLlmConfig::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("do not chain"), "{error}");
    let odd = sparsellm_feed_forward(
        &mut expand,
        &mut pair(&device).1,
        FeedForwardActivation::Relu,
        inputs(&device),
        SEQUENCES,
        LayerSparsity::NOfM { keep: 2, m: 3 },
        &SparseLlmConfig::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(odd.contains("M = 3"), "{odd}");
    assert_eq!(torch_rows(&expand), before);
}
