//! A short run of every method on one fixed batch: the loss of its last stage falls.

use burn::config::Config;
use burn::module::Module;
use burn::optim::AdamConfig;
use burn::tensor::{Device, Int, Tensor, TensorData};
use tempering_core::local_stages::LocalStages;
use tempering_models::local::AuxiliaryKind;
use tempering_models::saved_classifier::{ClassifierArchitecture, SavedClassifier};

use super::LocalLearningArgs;
use super::methods::{Method, RunPlan, Sizes, train_method};

/// 32 images whose pixels depend on their class (and a fixed ripple), labels 0..10.
fn fixed_batch(device: &Device) -> (Tensor<3>, Tensor<1, Int>) {
    let labels: Vec<i64> = (0..32).map(|i| i % 10).collect();
    let pixels: Vec<f32> = (0..32 * 784)
        .map(|i| {
            let (image, pixel) = (i / 784, i % 784);
            let class = labels[image] as f32;
            (pixel as f32 * 0.01 * (class + 1.0)).sin() + 0.3 * ((i * 7919) as f32).sin()
        })
        .collect();
    (
        Tensor::from_data(TensorData::new(pixels, [32, 28, 28]), device),
        Tensor::from_data(TensorData::new(labels, [32]), device),
    )
}

#[test]
fn every_method_lowers_its_loss_on_a_fixed_batch() {
    let device = Device::default().autodiff();
    let sizes = Sizes::small();
    let batch = fixed_batch(&device);
    for &method in <Method as clap::ValueEnum>::value_variants() {
        let mut optimizer = AdamConfig::new().init();
        let trained = train_method(
            method,
            &sizes,
            &device,
            &mut optimizer,
            &RunPlan {
                lr: 3e-3,
                steps: 40,
                out: None,
                checkpoint_every: 0,
                resume: false,
            },
            std::iter::repeat(batch.clone()),
            &mut || {},
            &|| vec![(batch.0.clone().inner(), batch.1.clone().inner())],
        )
        .unwrap();
        let stages = trained.losses[0].len();
        assert_eq!(
            stages,
            if method.baseline() == method {
                1
            } else {
                method.stages(&sizes)
            }
        );
        let mean = |steps: &[Vec<f64>]| {
            steps.iter().map(|l| *l.last().unwrap()).sum::<f64>() / steps.len() as f64
        };
        let (first, last) = (mean(&trained.losses[..5]), mean(&trained.losses[35..]));
        assert!(
            last < 0.7 * first,
            "{}: the last stage's loss went from {first:.3} to {last:.3}",
            method.name()
        );
        let accuracy = trained.accuracy.unwrap();
        assert!(
            accuracy > 10.0,
            "{}: {accuracy}% on its own training batch",
            method.name()
        );
    }
}

#[test]
fn cnn_flags_are_checked_and_stages_default_to_one_per_layer() {
    let parse = |flags: &[&str]| {
        <LocalLearningArgs as clap::Parser>::try_parse_from(
            std::iter::once("local_learning").chain(flags.iter().copied()),
        )
        .unwrap()
    };
    let args = parse(&["--cnn-widths", "8,8,16"]);
    assert_eq!(args.cnn_stages(), 3);
    args.validate().unwrap();
    assert_eq!(
        parse(&["--cnn-widths", "8,8,16", "--cnn-stages", "2"]).cnn_stages(),
        2
    );
    let too_many = parse(&["--cnn-widths", "8,8,16", "--cnn-stages", "4"])
        .validate()
        .unwrap_err();
    assert!(
        too_many.contains("--cnn-stages") && too_many.contains("3 layers"),
        "{too_many}"
    );
    let uneven = parse(&["--cnn-widths", "8,12"]).validate().unwrap_err();
    assert!(
        uneven.contains("--cnn-widths") && uneven.contains("multiple"),
        "{uneven}"
    );
}

#[test]
fn a_cnn_run_saves_the_model_and_the_config_that_rebuilds_it() {
    let device = Device::default().autodiff();
    let batch = fixed_batch(&device);
    let out = tempfile::tempdir().unwrap();
    let mut optimizer = AdamConfig::new().init();
    let test = || vec![(batch.0.clone().inner(), batch.1.clone().inner())];
    let trained = train_method(
        Method::Dgl,
        &Sizes::small(),
        &device,
        &mut optimizer,
        &RunPlan {
            lr: 3e-3,
            steps: 3,
            out: Some(out.path()),
            checkpoint_every: 0,
            resume: false,
        },
        std::iter::repeat(batch.clone()),
        &mut || {},
        &test,
    )
    .unwrap();
    // model.json (what `tempering compress` reads) rebuilds the network model.bpk holds, which
    // classifies the test batch as the trained network did.
    let saved = SavedClassifier::load(out.path().join("model.json")).unwrap();
    let ClassifierArchitecture::LocalResNet(config) = saved.classifier else {
        panic!("the CNN's model.json names {}", saved.classifier.name());
    };
    assert_eq!(config.auxiliary, AuxiliaryKind::Dgl);
    let model = config
        .init(&Device::default())
        .try_load_file(out.path().join("model.bpk"))
        .unwrap();
    let (images, targets) = test().remove(0);
    let correct = model
        .logits(images)
        .argmax(1)
        .flatten::<1>(0, 1)
        .equal(targets)
        .int()
        .sum()
        .into_scalar::<i64>();
    assert_eq!(Some(100.0 * correct as f64 / 32.0), trained.accuracy);
}
