//! ALDS low-rank compression: the per-chunk error is the exact spectral error of the truncated
//! factorization (Eckart–Young), it bounds the whole layer's error, and the allocation
//! minimizes the largest error under the budget (hand-derived spectra).

use burn::config::Config;
use burn::linalg::svd;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Distribution, Tensor, Tolerance};
use tempering_core::split_mix::SplitMix64;
use tempering_models::{
    LinearLayer, LowRankLinear, LowRankMlpClassifier, LowRankMlpClassifierConfig,
    MlpClassifierConfig,
};
use tempering_prune::low_rank::{
    LayerSpectrum, LowRankConfig, allocate, factorize, folded_matrix, spectrum,
};
use tempering_prune::low_rank_export::{factorize_linear, factorize_model};
use tempering_prune::low_rank_plan::low_rank_allocation;

fn largest_singular_value(m: Tensor<2>) -> f64 {
    let (_, s, _) = svd::<2, 1>(m, 100);
    s.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()[0]
}

#[test]
fn chunk_errors_are_exact_and_bound_the_layer_error() {
    let device = Device::default();
    let mut rng = SplitMix64::new(11);
    // A Linear weight in Burn's layout [d_in = 24, d_out = 10]; three chunks of 8 inputs.
    let shape = [24, 10];
    let values: Vec<f32> = (0..240).map(|_| rng.unit() as f32 - 0.5).collect();
    let s = spectrum("w", &shape, &values, 3, &device).unwrap();
    assert_eq!(s.chunk_columns, vec![8, 8, 8]);
    assert_eq!(s.dense_parameters(), 240);
    let w = folded_matrix(&shape, &values, &device);
    let norm = largest_singular_value(w.clone());
    assert!((norm - s.spectral_norm).abs() < 1e-5 * norm);
    for rank in 1..8 {
        let factors = factorize("w", &shape, &values, 3, rank, &device).unwrap();
        let mut chunk_errors = Vec::new();
        let mut residuals = Vec::new();
        for (j, (encoder, decoder)) in factors.into_iter().enumerate() {
            assert_eq!(encoder.dims(), [rank, 8]);
            assert_eq!(decoder.dims(), [10, rank]);
            let chunk = w.clone().slice([0..10, 8 * j..8 * (j + 1)]);
            let residual = chunk - decoder.matmul(encoder);
            // Eckart–Young: the truncation's spectral error is the next singular value.
            let error = largest_singular_value(residual.clone());
            let expected = s.chunk_singular_values[j][rank];
            assert!((error - expected).abs() < 1e-4, "rank {rank}, chunk {j}");
            chunk_errors.push(error / norm);
            residuals.push(residual);
        }
        let reported = s.error_at(rank);
        let worst = chunk_errors.iter().copied().fold(0.0, f64::max);
        assert!((reported - worst).abs() < 1e-5);
        // The whole layer's error lies between the worst chunk and √k times it.
        let whole = largest_singular_value(Tensor::cat(residuals, 1)) / norm;
        assert!(
            whole >= reported - 1e-5,
            "rank {rank}: {whole} < {reported}"
        );
        assert!(
            whole <= 3f64.sqrt() * reported + 1e-5,
            "rank {rank}: {whole}"
        );
        assert_eq!(s.parameters_at(rank), (rank * (24 + 3 * 10)) as u64);
    }
}

/// A one-chunk layer with outputs 4, columns 4 and the given spectrum.
fn layer(name: &str, singular: Vec<f64>) -> LayerSpectrum {
    LayerSpectrum {
        name: name.into(),
        shape: vec![4, 4],
        outputs: 4,
        chunk_columns: vec![4],
        spectral_norm: singular[0],
        chunk_singular_values: vec![singular],
    }
}

#[test]
fn allocation_minimizes_the_largest_error_under_the_budget() {
    // Rank r costs 8r of a layer's 16 parameters, so only rank 1 saves anything.
    // A's errors by rank: 0.5, 0.25, 0.125, 0; B's: 0.125, 0.0625, 0.0125, 0.
    let spectra = [
        layer("a", vec![4.0, 2.0, 1.0, 0.5]),
        layer("b", vec![8.0, 1.0, 0.5, 0.1]),
    ];
    // Budget 1/2 = 16 parameters: both at rank 1, the largest error A's 0.5.
    let half = allocate(&spectra, 0.5).unwrap();
    assert_eq!(
        half.iter().map(|l| l.rank).collect::<Vec<_>>(),
        [Some(1), Some(1)]
    );
    assert_eq!(half.iter().map(|l| l.parameters_after).sum::<u64>(), 16);
    assert!((half[0].relative_error - 0.5).abs() < 1e-12);
    // Budget 3/4 = 24: A stays dense (error 0), B at rank 1 (0.125), which beats both at
    // rank 1 (largest error 0.5).
    let three_quarters = allocate(&spectra, 0.75).unwrap();
    assert_eq!(three_quarters[0].rank, None);
    assert_eq!(three_quarters[1].rank, Some(1));
    let largest = three_quarters
        .iter()
        .map(|l| l.relative_error)
        .fold(0.0, f64::max);
    assert!((largest - 0.125).abs() < 1e-12);
    // Budget 1: nothing needs compressing.
    assert!(
        allocate(&spectra, 1.0)
            .unwrap()
            .iter()
            .all(|l| l.rank.is_none())
    );
    // Below rank 1 everywhere: an error naming the flag and the reachable fraction.
    let err = allocate(&spectra, 0.4).unwrap_err().to_string();
    assert!(err.contains("--budget") && err.contains("0.5"), "{err}");
}

#[derive(Module, Debug)]
struct Net {
    fc1: Linear,
    fc2: Linear,
}

#[test]
fn allocation_over_a_burn_checkpoint_meets_the_budget() {
    let device = Device::default();
    let net = Net {
        fc1: LinearConfig::new(48, 32).init(&device),
        fc2: LinearConfig::new(32, 24).init(&device),
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("net.bpk");
    net.save_file(&file).unwrap();
    let report = low_rank_allocation(&file, &LowRankConfig::new(0.5)).unwrap();
    let names: Vec<&str> = report.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        ["fc1.weight", "fc2.weight"],
        "biases are not targets"
    );
    assert_eq!(report.parameters_before(), 48 * 32 + 32 * 24);
    assert!(report.parameters_after() <= report.parameters_before() / 2);
    assert!(report.max_error() > 0.0 && report.max_error() < 1.0);
    let err = low_rank_allocation(&file, &LowRankConfig::new(1.5)).unwrap_err();
    assert!(err.to_string().contains("--budget"), "{err}");
}

/// The `[d_in, d_out]` matrix a layer applies (its outputs on the identity, minus its bias).
fn effective_matrix(layer: &LinearLayer, d_in: usize, device: &Device) -> Tensor<2> {
    let identity = Tensor::<2>::eye(d_in, device);
    layer.forward(identity.clone()) - layer.forward(identity.zeros_like())
}

#[test]
fn an_exported_layer_applies_its_factors_and_keeps_the_bias() {
    let device = Device::default();
    let dense = LinearConfig::new(24, 10).init(&device);
    let shape = dense.weight.dims();
    let values = dense.weight.val().into_data().try_to_vec::<f32>().unwrap();
    let s = spectrum("w", &shape, &values, 3, &device).unwrap();
    let norm = s.spectral_norm;
    // Full rank (8 per chunk of 8 inputs) is the dense layer itself.
    let full = LinearLayer::LowRank(LowRankLinear::from_factors(
        factorize_linear("w", &dense, 8, 3).unwrap(),
        dense.bias.clone(),
    ));
    let x = Tensor::<2>::random([5, 24], Distribution::Normal(0.0, 1.0), &device);
    full.forward(x.clone())
        .into_data()
        .assert_approx_eq::<f32>(&dense.forward(x).into_data(), Tolerance::absolute(1e-4));
    for rank in [1, 3, 6] {
        let layer = LinearLayer::LowRank(LowRankLinear::from_factors(
            factorize_linear("w", &dense, rank, 3).unwrap(),
            dense.bias.clone(),
        ));
        let residual = dense.weight.val() - effective_matrix(&layer, 24, &device);
        let whole = largest_singular_value(residual.transpose()) / norm;
        let reported = s.error_at(rank);
        // Between the worst chunk's exact error and √k times it (as for the bare factors).
        assert!(whole >= reported - 1e-4 && whole <= 3f64.sqrt() * reported + 1e-4);
    }
}

/// Saved and loaded through its config, `exported` computes what it did (to 1e-6) on random
/// inputs of `inputs` features.
fn assert_reloads(
    exported: &LowRankMlpClassifier,
    exported_config: &LowRankMlpClassifierConfig,
    inputs: usize,
    device: &Device,
) {
    let dir = tempfile::tempdir().unwrap();
    let (file, json) = (dir.path().join("lr.bpk"), dir.path().join("lr.json"));
    exported.clone().save_file(&file).unwrap();
    exported_config.save(&json).unwrap();
    let reloaded = LowRankMlpClassifierConfig::load(&json)
        .unwrap()
        .init(device)
        .load_file(&file);
    let x = Tensor::<2>::random([4, inputs], Distribution::Normal(0.0, 1.0), device);
    reloaded
        .forward(x.clone())
        .into_data()
        .assert_approx_eq::<f32>(&exported.forward(x).into_data(), Tolerance::absolute(1e-6));
}

#[test]
fn an_exported_mlp_meets_the_budget_and_reloads_from_its_config() {
    let device = Device::default();
    let config = MlpClassifierConfig::new()
        .with_input_size(40)
        .with_hidden_sizes(vec![30, 20])
        .with_num_classes(6);
    let model = config.init(&device);
    let dense_weights = 40 * 30 + 30 * 20 + 20 * 6;
    let biases = 30 + 20 + 6;
    let (exported, exported_config, layers) =
        factorize_model(model.clone(), &config, &LowRankConfig::new(0.5)).unwrap();
    let names: Vec<_> = layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["hidden.0.weight", "hidden.1.weight", "head.weight"]);
    let after: u64 = layers.iter().map(|l| l.parameters_after).sum();
    assert!(after as usize <= dense_weights / 2);
    assert_eq!(exported.num_params(), after as usize + biases);
    assert_eq!(
        exported_config.ranks,
        layers.iter().map(|l| l.rank).collect::<Vec<_>>()
    );
    for ((layer, dense), allocation) in exported
        .layers
        .iter()
        .zip(model.hidden.iter().chain([&model.head]))
        .zip(&layers)
    {
        let [d_in, _] = dense.weight.dims();
        let residual = dense.weight.val() - effective_matrix(layer, d_in, &device);
        let norm = largest_singular_value(dense.weight.val());
        let error = largest_singular_value(residual) / norm;
        assert!(error <= 3f64.sqrt() * allocation.relative_error + 1e-4);
    }
    assert_reloads(&exported, &exported_config, 40, &device);
    let none = LowRankConfig {
        include: Some("conv".into()),
        ..LowRankConfig::new(0.5)
    };
    let err = factorize_model(model, &config, &none)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("hidden.0.weight, hidden.1.weight, head.weight"),
        "{err}"
    );
}

/// With ALDS's search the layers take their own chunk counts (divisors of their inputs), the
/// largest error is at most the fixed k = 3's under the same budget, and the exported config
/// (with its per-layer chunks) rebuilds the model.
#[test]
fn a_searched_export_chooses_chunks_per_layer_and_reloads() {
    let device = Device::default();
    device.seed(5);
    let config = MlpClassifierConfig::new()
        .with_input_size(48)
        .with_hidden_sizes(vec![36, 24])
        .with_num_classes(6);
    let model = config.init(&device);
    let searched = LowRankConfig {
        search: Some(tempering_prune::alds_search::AldsSearchConfig::default()),
        ..LowRankConfig::new(0.4)
    };
    let (exported, exported_config, layers) =
        factorize_model(model.clone(), &config, &searched).unwrap();
    let (_, _, fixed) = factorize_model(model.clone(), &config, &LowRankConfig::new(0.4)).unwrap();
    let worst = |ls: &[tempering_prune::low_rank::LayerAllocation]| {
        ls.iter().map(|l| l.relative_error).fold(0.0, f64::max)
    };
    assert!(worst(&layers) <= worst(&fixed), "{layers:?}");
    let inputs = [48, 36, 24];
    for (l, n) in layers.iter().zip(inputs) {
        assert_eq!(
            n % l.chunks,
            0,
            "{}: {} chunks of {n} inputs",
            l.name,
            l.chunks
        );
    }
    let after: u64 = layers.iter().map(|l| l.parameters_after).sum();
    assert!(after as f64 <= 0.4 * (48 * 36 + 36 * 24 + 24 * 6) as f64);
    let chunks: Vec<usize> = layers.iter().map(|l| l.chunks).collect();
    // Measured with seed 5: 16, 4 and 6 chunks, so the config carries them per layer.
    assert!(chunks.windows(2).any(|w| w[0] != w[1]), "{chunks:?}");
    assert_eq!(exported_config.layer_chunks.as_ref(), Some(&chunks));
    assert_reloads(&exported, &exported_config, 48, &device);
}
