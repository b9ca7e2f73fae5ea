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
        let out = matcher
            .forward(&random_input(9, 6, 32, &device))
            .unwrap()
            .log_assignment;
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
    let output = MatcherOutput {
        log_assignment: log_p,
        kept_a: vec![true; 2],
        kept_b: vec![true],
    };
    let loss = Matcher::loss(output, a, b).into_scalar::<f32>();
    assert!((loss - (0.5 + 0.25) / 2.0).abs() < 1e-6, "{loss}");
}

#[test]
fn the_loss_skips_dropped_points_and_unmatches_their_partners() {
    let device = Device::default();
    // One pair, M = 3, N = 2: A0 ↔ B0, A1 ↔ B1, A2 unmatched; A1 and B0 are dropped.
    // Terms: A0 (its partner B0 dropped) → dustbin (0, 2); A2 → (2, 2); B1 (its partner A1
    // dropped) → dustbin row (3, 1). A1 and B0 add none.
    #[rustfmt::skip]
    let values = vec![
        -9.0f32, -9.0, -0.5,
        -9.0, -9.0, -9.0,
        -9.0, -9.0, -0.25,
        -9.0, -2.0, -9.0,
    ];
    let output = MatcherOutput {
        log_assignment: Tensor::from_data(TensorData::new(values, [1, 4, 3]), &device),
        kept_a: vec![true, false, true],
        kept_b: vec![false, true],
    };
    let a = Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 1, -1], [1, 3]), &device);
    let b = Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 1], [1, 2]), &device);
    let loss = Matcher::loss(output, a, b).into_scalar::<f32>();
    assert!((loss - (0.5 + 0.25 + 2.0) / 3.0).abs() < 1e-6, "{loss}");
}

/// Graphs over `n` nodes: a chain through the kept nodes, no edge at a dropped one.
fn chain_graph(kept: &[bool]) -> AdaptiveGraph {
    let nodes: Vec<usize> = (0..kept.len()).filter(|&i| kept[i]).collect();
    let mut neighbours = vec![Vec::new(); kept.len()];
    for pair in nodes.windows(2) {
        neighbours[pair[0]].push(pair[1]);
        neighbours[pair[1]].push(pair[0]);
    }
    neighbours.iter_mut().for_each(|n| n.sort_unstable());
    AdaptiveGraph {
        neighbours,
        kept: kept.to_vec(),
    }
}

/// `t` `[1, K, C]` at the rows in `rows`.
fn rows_of(t: Tensor<3>, rows: &[usize]) -> Tensor<3> {
    let index: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    let index = Tensor::<1, Int>::from_data(TensorData::new(index, [rows.len()]), &t.device());
    t.select(1, index)
}

/// GIMS with dropped keypoints computes, for the kept ones, exactly what it computes on the
/// pair with the dropped keypoints removed (the official code removes them): they take no part
/// in attention, marginals or assignment, and come out unmatched.
#[test]
fn dropped_keypoints_leave_attention_and_assignment() {
    let device = Device::default();
    let (m, n) = (7, 6);
    let full = random_input(m, n, 32, &device);
    let full = MatcherInput {
        keypoints_a: full.keypoints_a.slice([0..1, 0..m, 0..2]),
        keypoints_b: full.keypoints_b.slice([0..1, 0..n, 0..2]),
        descriptors_a: full.descriptors_a.slice([0..1, 0..m, 0..32]),
        descriptors_b: full.descriptors_b.slice([0..1, 0..n, 0..32]),
    };
    let kept_a = [true, false, true, true, false, true, true];
    let kept_b = [false, true, true, true, true, false];
    let rows = |kept: &[bool]| -> Vec<usize> { (0..kept.len()).filter(|&i| kept[i]).collect() };
    let (rows_a, rows_b) = (rows(&kept_a), rows(&kept_b));
    let reduced = MatcherInput {
        keypoints_a: rows_of(full.keypoints_a.clone(), &rows_a),
        keypoints_b: rows_of(full.keypoints_b.clone(), &rows_b),
        descriptors_a: rows_of(full.descriptors_a.clone(), &rows_a),
        descriptors_b: rows_of(full.descriptors_b.clone(), &rows_b),
    };
    let ones = |k: usize| vec![true; k];
    for (name, config) in [
        ("Sinkhorn", MatcherConfig::gims()),
        (
            "dual softmax",
            MatcherConfig::gims().with_assignment(Assignment::DualSoftmax),
        ),
        (
            "rotary",
            MatcherConfig::lightglue().with_graph(Some(AdaptiveGraphConfig::new())),
        ),
    ] {
        let matcher = config.init(&device);
        let out = matcher
            .forward_with_graphs(&full, &[chain_graph(&kept_a)], &[chain_graph(&kept_b)])
            .unwrap();
        assert_eq!(out.kept_a, kept_a.to_vec(), "{name}");
        let expected = matcher
            .forward_with_graphs(
                &reduced,
                &[chain_graph(&ones(rows_a.len()))],
                &[chain_graph(&ones(rows_b.len()))],
            )
            .unwrap()
            .log_assignment;
        let with_dustbin = |mut r: Vec<usize>, k: usize| {
            r.push(k);
            r
        };
        let block =
            rows_of(out.log_assignment.clone(), &with_dustbin(rows_a.clone(), m)).swap_dims(1, 2);
        let block = rows_of(block, &with_dustbin(rows_b.clone(), n)).swap_dims(1, 2);
        block.into_data().assert_approx_eq::<f32>(
            &expected.into_data(),
            burn::tensor::Tolerance::absolute(1e-4),
        );
        // A dropped point is unmatched for sure.
        let values: Vec<f32> = out.log_assignment.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(values[(n + 1) + n], 0.0, "{name}: A1's dustbin");
        assert!(
            values[(n + 1)..(n + 1) + n].iter().all(|&v| v < -1e3),
            "{name}"
        );
    }
}

#[test]
fn graphs_that_do_not_fit_are_named() {
    let device = Device::default();
    let input = random_input(4, 3, 32, &device);
    let gims = MatcherConfig::gims().init(&device);
    let fine = |k: usize| vec![chain_graph(&vec![true; k]); 2];
    let err = gims
        .forward_with_graphs(&input, &fine(4)[..1], &fine(3))
        .unwrap_err();
    assert!(err.to_string().contains("1 graphs for 2 pairs"), "{err}");
    let err = gims
        .forward_with_graphs(&input, &fine(4), &fine(4))
        .unwrap_err();
    assert!(
        err.to_string().contains("graph of view B, pair 0: 4 nodes"),
        "{err}"
    );
    let mut dropped_with_edge = fine(4);
    dropped_with_edge[1].kept[0] = false;
    let err = gims
        .forward_with_graphs(&input, &dropped_with_edge, &fine(3))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("pair 1: edge 0–1 touches a dropped node"),
        "{err}"
    );
    let err = MatcherConfig::superglue()
        .init(&device)
        .forward_with_graphs(&input, &fine(4), &fine(3))
        .unwrap_err();
    assert!(err.to_string().contains("no GraphSAGE"), "{err}");
}
