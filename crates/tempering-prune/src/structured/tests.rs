//! Structured shrinking: the shrunk model computes what the masked model computes, the new
//! config rebuilds it from a saved file, and the plan and its errors.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData, Tolerance};
use tempering_models::transformer::{BlockWidths, TransformerLm, TransformerLmConfig};
use tempering_models::{MlpClassifier, MlpClassifierConfig};

use super::*;

/// Zeroes the output units of `linear` that are not in `keep` (columns and bias entries).
fn mask_outputs(linear: &mut Linear, keep: &[usize], width: usize) {
    let [_, d_out] = linear.weight.dims();
    let device = linear.weight.device();
    let mask: Vec<f32> = (0..d_out)
        .map(|c| f32::from(u8::from(keep.contains(&(c / width)))))
        .collect();
    let mask = Tensor::<1>::from_data(TensorData::from(mask.as_slice()), &device);
    linear.weight = Param::from_tensor(linear.weight.val() * mask.clone().unsqueeze());
    linear.bias = linear
        .bias
        .take()
        .map(|b| Param::from_tensor(b.val() * mask));
}

fn mlp(device: &Device) -> (MlpClassifier, MlpClassifierConfig) {
    let config = MlpClassifierConfig::new()
        .with_input_size(6)
        .with_hidden_sizes(vec![9, 7])
        .with_num_classes(4);
    (config.init(device), config)
}

#[test]
fn shrunk_mlp_computes_what_the_masked_mlp_computes() {
    let device = Device::default();
    let (model, config) = mlp(&device);
    let keep = plan_units(
        &model.unit_groups(UnitImportance::L2),
        &StructuredConfig::new(0.5),
    )
    .unwrap();
    assert_eq!(keep.iter().map(Vec::len).collect::<Vec<_>>(), [5, 4]);
    let mut masked = model.clone();
    for (layer, kept) in masked.hidden.iter_mut().zip(&keep) {
        mask_outputs(layer, kept, 1);
    }
    let (shrunk, shrunk_config) = model.shrink_units(&config, &keep).unwrap();
    assert_eq!(shrunk_config.hidden_sizes, vec![5, 4]);
    assert_eq!(shrunk.hidden[0].weight.dims(), [6, 5]);
    assert_eq!(shrunk.hidden[1].weight.dims(), [5, 4]);
    assert_eq!(shrunk.head.weight.dims(), [4, 4]);
    let x = Tensor::<2>::random([8, 6], Distribution::Normal(0.0, 1.0), &device);
    shrunk
        .forward(x.clone())
        .into_data()
        .assert_approx_eq::<f32>(&masked.forward(x).into_data(), Tolerance::absolute(1e-5));
}

#[test]
fn a_neuron_scores_its_column_its_bias_and_the_next_row() {
    let device = Device::default();
    let (mut model, _) = mlp(&device);
    let set = |linear: &mut Linear, value: f32| {
        let dims = linear.weight.dims();
        linear.weight = Param::from_tensor(Tensor::full(dims, value, &device));
        linear.bias = linear
            .bias
            .take()
            .map(|b| Param::from_tensor(Tensor::full(b.dims(), value, &device)));
    };
    set(&mut model.hidden[0], 1.0);
    set(&mut model.hidden[1], 2.0);
    // hidden.0 neuron: 6 inputs of 1, bias 1, 7 next-layer entries of 2 → L1 6 + 1 + 14 = 21,
    // L2 √(6 + 1 + 28) = √35.
    let l1 = model.unit_groups(UnitImportance::L1);
    assert_eq!(l1[0].name, "hidden.0");
    assert!(l1[0].scores.iter().all(|&s| (s - 21.0).abs() < 1e-9));
    let l2 = model.unit_groups(UnitImportance::L2);
    assert!(
        l2[0]
            .scores
            .iter()
            .all(|&s| (s - 35f64.sqrt()).abs() < 1e-9)
    );
}

fn lm(device: &Device) -> (TransformerLm, TransformerLmConfig) {
    let config = TransformerLmConfig::new(13)
        .with_context(6)
        .with_d_model(16)
        .with_n_layers(2)
        .with_n_heads(4)
        .with_d_ff(Some(24))
        .with_tie_embeddings(false);
    (config.init(device), config)
}

fn tokens(device: &Device) -> Tensor<2, Int> {
    Tensor::<2>::random([3, 6], Distribution::Uniform(0.0, 13.0), device).int()
}

#[test]
fn shrunk_transformer_computes_what_the_masked_transformer_computes() {
    let device = Device::default();
    let (model, config) = lm(&device);
    let groups = model.unit_groups(UnitImportance::L2);
    let names: Vec<_> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "blocks.0.attention.heads",
            "blocks.0.feed_forward.channels",
            "blocks.1.attention.heads",
            "blocks.1.feed_forward.channels"
        ]
    );
    let keep = plan_units(&groups, &StructuredConfig::new(0.5)).unwrap();
    let mut masked = model.clone();
    for (block, pair) in masked.blocks.iter_mut().zip(keep.chunks_exact(2)) {
        // A head whose values are zero adds nothing; a channel whose pre-activation is zero
        // adds GELU(0)·w = 0.
        mask_outputs(&mut block.attention.value, &pair[0], 4);
        mask_outputs(&mut block.feed_forward.expand, &pair[1], 1);
    }
    let (shrunk, shrunk_config) = model.shrink_units(&config, &keep).unwrap();
    assert_eq!(
        shrunk_config.widths(),
        vec![BlockWidths::new(2, 12), BlockWidths::new(2, 12)]
    );
    assert_eq!(shrunk.widths(), shrunk_config.widths());
    let x = tokens(&device);
    shrunk
        .forward(x.clone())
        .into_data()
        .assert_approx_eq::<f32>(&masked.forward(x).into_data(), Tolerance::absolute(1e-4));
}

#[test]
fn the_new_config_rebuilds_the_shrunk_model_from_its_file() {
    let device = Device::default();
    let (model, config) = lm(&device);
    let structured = StructuredConfig::new(0.3).with_include(Some("feed_forward".into()));
    let (shrunk, shrunk_config, report) = shrink_structured(model, &config, &structured).unwrap();
    // Heads are excluded by the pattern; 24 channels keep ⌈0.7·24⌉ = 17.
    let kept: Vec<_> = report.groups.iter().map(|g| (g.before, g.after)).collect();
    assert_eq!(kept, [(4, 4), (24, 17), (4, 4), (24, 17)]);
    // Each channel is 16 + 1 expand entries and 16 contract entries: 7·33 per block gone.
    assert_eq!(
        report.parameters_before - report.parameters_after,
        2 * 7 * 33
    );
    let dir = tempfile::tempdir().unwrap();
    let (model_path, config_path) = (dir.path().join("small.bpk"), dir.path().join("small.json"));
    shrunk.clone().save_file(&model_path).unwrap();
    shrunk_config.save(&config_path).unwrap();
    let reloaded = TransformerLmConfig::load(&config_path)
        .unwrap()
        .init(&device)
        .load_file(&model_path);
    let x = tokens(&device);
    reloaded
        .forward(x.clone())
        .into_data()
        .assert_approx_eq::<f32>(&shrunk.forward(x).into_data(), Tolerance::absolute(1e-6));
}

#[test]
fn plan_keeps_the_most_important_in_index_order() {
    let group = |scores: Vec<f64>| UnitGroup {
        name: "g".into(),
        scores,
    };
    let groups = [group(vec![3.0, 1.0, 2.0, 5.0]), group(vec![1.0, 1.0, 1.0])];
    let keep = plan_units(&groups, &StructuredConfig::new(0.5)).unwrap();
    // ⌈0.5·4⌉ = 2: scores 5 and 3; ⌈0.5·3⌉ = 2 of three ties: the lower indices.
    assert_eq!(keep, vec![vec![0, 3], vec![0, 1]]);
    let floor = plan_units(&groups, &StructuredConfig::new(0.9).with_min_units(2)).unwrap();
    assert_eq!(floor, vec![vec![0, 3], vec![0, 1]]);
}

#[test]
fn bad_requests_name_the_problem() {
    let device = Device::default();
    let (model, config) = mlp(&device);
    let groups = model.unit_groups(UnitImportance::L1);
    let message = |e: PruneError| e.to_string();
    assert!(
        message(plan_units(&groups, &StructuredConfig::new(1.0)).unwrap_err()).contains("ratio")
    );
    let nothing = StructuredConfig::new(0.5).with_include(Some("heads".into()));
    assert!(message(plan_units(&groups, &nothing).unwrap_err()).contains("hidden.0, hidden.1"));
    let zero = StructuredConfig::new(0.5).with_min_units(0);
    assert!(message(plan_units(&groups, &zero).unwrap_err()).contains("min_units"));
    let cases: [(Vec<Vec<usize>>, &str); 4] = [
        (vec![vec![0]], "1 keep lists for 2 unit groups"),
        (vec![vec![], vec![0]], "'hidden.0': keeps no unit"),
        (vec![vec![0], vec![7]], "'hidden.1': unit 7 is out of range"),
        (vec![vec![2, 1], vec![0]], "sorted and distinct"),
    ];
    for (keep, expected) in cases {
        let error = model.clone().shrink_units(&config, &keep).unwrap_err();
        assert!(message(error.into()).contains(expected), "{expected}");
    }
}
