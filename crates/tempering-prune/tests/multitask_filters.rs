//! Structured filter pruning of the multitask CNN (PAGCP's setting, Ye et al., TPAMI 2023):
//! a filter leaves with its batch-norm channel and the next layer's input channel (or every
//! head's input row), physically; removing filters that contribute nothing leaves every task's
//! logits as they were, and uniform L1 filter pruning (Li et al., ICLR 2017) halves every
//! layer and rebuilds from its config.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData, Tolerance};
use tempering_core::compression::{ShrinkUnits, UnitImportance};
use tempering_models::{MultitaskCnn, MultitaskCnnConfig};
use tempering_prune::structured::{StructuredConfig, shrink_structured};

fn config() -> MultitaskCnnConfig {
    MultitaskCnnConfig::new()
        .with_widths(vec![4, 6, 8])
        .with_task_classes(vec![3, 2])
        .with_image_size(12)
}

fn images(device: &Device) -> Tensor<3> {
    let values: Vec<f32> = (0..3 * 144)
        .map(|i| ((i * 31) % 23) as f32 / 23.0 - 0.5)
        .collect();
    Tensor::from_data(TensorData::new(values, [3, 12, 12]), device)
}

fn assert_same(a: &MultitaskCnn, b: &MultitaskCnn, device: &Device) {
    for (x, y) in a
        .forward(images(device))
        .into_iter()
        .zip(b.forward(images(device)))
    {
        x.into_data()
            .assert_approx_eq::<f32>(&y.into_data(), Tolerance::absolute(1e-5));
    }
}

/// `model` with filter `c` of layer `l` silenced: zero weights and zero shift, so the channel
/// is exactly zero after batch norm and ReLU whatever the statistics.
fn silence(mut model: MultitaskCnn, l: usize, c: usize) -> MultitaskCnn {
    let layer = &mut model.layers[l];
    let [out, inputs, kh, kw] = layer.conv.weight.dims();
    let device = layer.conv.weight.device();
    let mut w = layer
        .conv
        .weight
        .val()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let per = inputs * kh * kw;
    w[c * per..(c + 1) * per].fill(0.0);
    layer.conv.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(w, [out, inputs, kh, kw]),
        &device,
    ));
    let mut beta = layer
        .norm
        .beta
        .val()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    beta[c] = 0.0;
    layer.norm.beta = Param::from_tensor(Tensor::from_data(TensorData::new(beta, [out]), &device));
    model
}

#[test]
fn removing_silent_filters_changes_no_task() {
    let device = Device::default();
    let dense = config().init(&device);
    // Silence filter 1 of layer 0, 4 of layer 1 and 7 (the last) of layer 2.
    let silenced = silence(silence(silence(dense, 0, 1), 1, 4), 2, 7);
    let keep: Vec<Vec<usize>> = vec![vec![0, 2, 3], vec![0, 1, 2, 3, 5], (0..7).collect()];
    let (small, small_config) = silenced.clone().shrink_units(&config(), &keep).unwrap();
    assert_eq!(small_config.widths, vec![3, 5, 7]);
    assert_eq!(small.layers[1].conv.weight.dims(), [5, 3, 3, 3]);
    assert_eq!(small.layers[2].norm.gamma.dims(), [7]);
    assert_eq!(small.heads[0].weight.dims(), [7, 3]);
    assert_same(&small, &silenced, &device);
    // Keeping every filter changes nothing either.
    let all: Vec<Vec<usize>> = vec![(0..4).collect(), (0..6).collect(), (0..8).collect()];
    let (same, _) = silenced.clone().shrink_units(&config(), &all).unwrap();
    assert_same(&same, &silenced, &device);
}

#[test]
fn uniform_l1_filter_pruning_halves_every_layer_and_reloads() {
    let device = Device::default();
    let dense = config().init(&device);
    let flops = dense.flops(12);
    let structured = StructuredConfig {
        importance: UnitImportance::L1,
        ..StructuredConfig::new(0.5)
    };
    let (small, small_config, _) = shrink_structured(dense, &config(), &structured).unwrap();
    assert_eq!(small_config.widths, vec![2, 3, 4]);
    // Every convolution's in·out falls to about a quarter (the first's input stays 1).
    assert!(
        small.flops(12) * 3 < flops,
        "{} of {flops}",
        small.flops(12)
    );
    let dir = tempfile::tempdir().unwrap();
    let (file, json) = (dir.path().join("cnn.bpk"), dir.path().join("cnn.json"));
    small.clone().save_file(&file).unwrap();
    small_config.save(&json).unwrap();
    let reloaded = MultitaskCnnConfig::load(&json)
        .unwrap()
        .init(&device)
        .load_file(&file);
    assert_same(&reloaded, &small, &device);
}
