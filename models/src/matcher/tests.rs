//! The matcher end to end: shapes, bad inputs and the loss (the short training runs live with
//! the synthetic pairs, in tempering-examples' `matcher_training`).

use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

use super::*;

fn random_input(m: usize, n: usize, dim: usize, device: &Device) -> MatcherInput {
    let points = |k| Tensor::<3>::random([2, k, 2], Distribution::Uniform(-1.0, 1.0), device);
    let descriptors = |k| Tensor::<3>::random([2, k, dim], Distribution::Normal(0.0, 1.0), device);
    MatcherInput {
        keypoints_a: points(m),
        keypoints_b: points(n),
        descriptors_a: descriptors(m),
        descriptors_b: descriptors(n),
    }
}

fn presets() -> [(&'static str, MatcherConfig); 3] {
    [
        ("GIMS", MatcherConfig::gims()),
        ("SuperGlue", MatcherConfig::superglue()),
        ("LightGlue-style", MatcherConfig::lightglue()),
    ]
}

#[test]
fn every_preset_gives_a_log_assignment_with_dustbins() {
    let device = Device::default();
    for (name, config) in presets() {
        let matcher = config.init(&device);
        let out = matcher.forward(&random_input(9, 6, 32, &device)).unwrap();
        assert_eq!(out.dims(), [2, 10, 7], "{name}");
        let values: Vec<f32> = out.clone().into_data().try_to_vec::<f32>().unwrap();
        assert!(values.iter().all(|v| v.is_finite()), "{name}");
        // Real points' entries are probabilities (the dustbin corner is not: it holds the
        // unmatched mass of a whole view).
        let real: Vec<f32> = out
            .clone()
            .slice([0..2, 0..9, 0..7])
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(real.iter().all(|&v| v <= 1e-3), "{name}");
        // Each real point's row is a distribution over B's points and the dustbin under
        // Sinkhorn (to 5 % after 20 iterations); under dual softmax it sums to at most 1.
        let rows: Vec<f32> = out
            .slice([0..2, 0..9, 0..7])
            .exp()
            .sum_dim(2)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let sinkhorn = matcher.dustbin.is_some();
        assert!(
            rows.iter().all(|&r| if sinkhorn {
                (r - 1.0).abs() < 0.05
            } else {
                r > 0.0 && r < 1.0 + 1e-3
            }),
            "{name}: {rows:?}"
        );
    }
}

#[test]
fn malformed_inputs_are_named() {
    let device = Device::default();
    let matcher = MatcherConfig::gims().init(&device);
    let err = matcher
        .forward(&random_input(5, 5, 16, &device))
        .unwrap_err();
    assert_eq!(
        err,
        MatcherError::DescriptorWidth {
            view: "view A",
            expected: 32,
            got: 16
        }
    );
    assert!(err.to_string().contains("16 wide"), "{err}");
    let empty = MatcherInput {
        keypoints_b: Tensor::zeros([2, 0, 2], &device),
        descriptors_b: Tensor::zeros([2, 0, 32], &device),
        ..random_input(5, 5, 32, &device)
    };
    assert_eq!(
        matcher.forward(&empty).unwrap_err(),
        MatcherError::EmptyKeypoints { view: "view B" }
    );
    let mismatched = MatcherInput {
        keypoints_a: Tensor::zeros([2, 4, 2], &device),
        ..random_input(5, 5, 32, &device)
    };
    let err = matcher.forward(&mismatched).unwrap_err();
    assert!(
        err.to_string().contains("view A has keypoints [2, 4, 2]"),
        "{err}"
    );
    let err = MatcherConfig::lightglue()
        .with_heads(3)
        .validate()
        .unwrap_err();
    assert!(err.to_string().contains("heads"), "{err}");
}

#[test]
fn loss_is_the_mean_negative_log_likelihood_of_the_truth() {
    let device = Device::default();
    // One pair, M = 2, N = 1: A0 ↔ B0, A1 unmatched; terms: (0,0), (1, dustbin). B0 is matched,
    // so no dustbin-row term.
    let log_p = Tensor::<3>::from_data(
        TensorData::new(vec![-0.5f32, -2.0, -3.0, -0.25, -4.0, -5.0], [1, 3, 2]),
        &device,
    );
    let a = Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, -1], [1, 2]), &device);
    let b = Tensor::<2, Int>::from_data(TensorData::new(vec![0i64], [1, 1]), &device);
    let loss = Matcher::loss(log_p, a, b).into_scalar::<f32>();
    assert!((loss - (0.5 + 0.25) / 2.0).abs() < 1e-6, "{loss}");
}
