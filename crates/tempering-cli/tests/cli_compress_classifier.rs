//! `tempering compress model.bpk --config model.json --method low-rank -o DIR` on the image
//! classifiers (the quickstart's MLP, `train_vit`'s ViT, `local_learning`'s ResNet), end to
//! end: the run directory written rebuilds the factorized model from its `model.json`, the
//! model loads and scores the test accuracy the report printed, the input is untouched, and
//! hostile or mismatched configs are refused by name before anything is built or written.

#![cfg(feature = "language-models")]

mod common;

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use common::{s, tempering, text};
use tempering_data::{FashionMnist, FashionMnistBatcher};
use tempering_models::local::{AuxiliaryKind, FactorizedResNetConfig, LocalResNetConfig};
use tempering_models::saved_classifier::{ClassifierArchitecture, SavedClassifier};
use tempering_models::{
    FactorizedVitConfig, ImageClassifier, LowRankMlpClassifierConfig, MlpClassifierConfig,
    VitClassifierConfig,
};

/// The Fashion-MNIST sample kept in the repository (1,000 test images).
fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/data/fashion-mnist-sample")
}

fn mlp() -> MlpClassifierConfig {
    MlpClassifierConfig::new().with_hidden_sizes(vec![48, 24])
}

fn vit() -> VitClassifierConfig {
    VitClassifierConfig::new()
        .with_patch_size(7)
        .with_d_model(16)
        .with_n_layers(2)
        .with_n_heads(2)
}

fn resnet() -> LocalResNetConfig {
    LocalResNetConfig::new()
        .with_widths(vec![4, 4, 8])
        .with_stages(3)
        .with_auxiliary(AuxiliaryKind::AugLocal { depth: 2, tau: 0.5 })
}

/// `model.bpk` of a fresh `architecture` and its `model.json` in `dir/name`.
fn classifier_run(dir: &Path, name: &str, architecture: ClassifierArchitecture) -> PathBuf {
    let run = dir.join(name);
    std::fs::create_dir_all(&run).unwrap();
    let device = Device::default();
    let path = run.join("model.bpk");
    match &architecture {
        ClassifierArchitecture::Mlp(c) => c.init(&device).save_file(&path).unwrap(),
        ClassifierArchitecture::Vit(c) => c.init(&device).save_file(&path).unwrap(),
        ClassifierArchitecture::LocalResNet(c) => c.init(&device).save_file(&path).unwrap(),
    }
    SavedClassifier::dense(architecture)
        .save(run.join("model.json"))
        .unwrap();
    run
}

fn compress(run: &Path, rest: &[&str]) -> std::process::Output {
    let (model, config) = (run.join("model.bpk"), run.join("model.json"));
    let mut args = vec![
        "compress",
        s(&model),
        "--config",
        s(&config),
        "--method",
        "low-rank",
    ];
    args.extend_from_slice(rest);
    tempering(&args)
}

/// Percent of the sample's test split that `model` classifies right.
fn accuracy<M: ImageClassifier>(model: &M) -> f64 {
    let data = FashionMnist::load(Some(&sample_dir())).unwrap();
    let test = data.test();
    let items = (0..test.len()).map(|i| test.get(i).unwrap()).collect();
    let batch = FashionMnistBatcher.batch(items, &Device::default());
    let predicted: Tensor<1, Int> = model.logits(batch.images).argmax(1).flatten(0, 1);
    let correct: i64 = predicted
        .equal(batch.targets)
        .int()
        .sum()
        .into_scalar::<i64>();
    100.0 * correct as f64 / test.len() as f64
}

/// The factorized model of `out`'s `model.json`, loaded from its `model.bpk`: parameters and
/// test accuracy.
fn reload(out: &Path) -> (usize, f64) {
    let saved = SavedClassifier::load(out.join("model.json")).unwrap();
    saved.check().unwrap();
    let device = Device::default();
    let layers = saved.factorized.clone().expect("the output is factorized");
    let path = out.join("model.bpk");
    let (params, accuracy) = match saved.classifier.clone() {
        ClassifierArchitecture::Mlp(c) => {
            let m = LowRankMlpClassifierConfig::from_factorized(c, &layers)
                .unwrap()
                .init(&device)
                .try_load_file(&path)
                .unwrap();
            (m.num_params(), accuracy(&m))
        }
        ClassifierArchitecture::Vit(c) => {
            let m = FactorizedVitConfig::new(c, layers)
                .init(&device)
                .try_load_file(&path)
                .unwrap();
            (m.num_params(), accuracy(&m))
        }
        ClassifierArchitecture::LocalResNet(c) => {
            let m = FactorizedResNetConfig::new(c, layers)
                .init(&device)
                .try_load_file(&path)
                .unwrap();
            (m.num_params(), accuracy(&m))
        }
    };
    assert_eq!(saved.parameter_count(), Some(params));
    (params, accuracy)
}

#[test]
fn every_classifier_factorizes_into_a_run_that_rebuilds_and_scores_as_reported() {
    let dir = tempfile::tempdir().unwrap();
    let fashion = format!("--fashion-mnist={}", s(&sample_dir()));
    // Layers each architecture offers: the MLP's three, the ViT's 2 blocks × 6, the
    // ResNet's stem, two blocks of two convolutions and one projection shortcut.
    let cases = [
        ("mlp", ClassifierArchitecture::Mlp(mlp()), 3, false),
        ("vit", ClassifierArchitecture::Vit(vit()), 12, true),
        (
            "resnet",
            ClassifierArchitecture::LocalResNet(resnet()),
            6,
            true,
        ),
    ];
    for (name, architecture, layer_count, search) in cases {
        let run = classifier_run(dir.path(), name, architecture);
        let original = std::fs::read(run.join("model.bpk")).unwrap();
        let out_dir = dir.path().join(format!("{name}-alds"));
        let mut flags = vec!["--budget", "0.5", &fashion, "-o", s(&out_dir), "--json"];
        if search {
            flags.push("--search");
        }
        let out = compress(&run, &flags);
        assert!(out.status.success(), "{name}: {}", text(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            report["architecture"],
            name.replace("resnet", "local-resnet")
        );
        let layers = report["layers"].as_array().unwrap();
        assert_eq!(layers.len(), layer_count, "{name}");
        let sum = |key: &str| -> u64 { layers.iter().map(|l| l[key].as_u64().unwrap()).sum() };
        let (before, after) = (sum("parameters_before"), sum("parameters_after"));
        assert!(
            after as f64 <= 0.5 * before as f64,
            "{name}: {after} of {before}"
        );
        assert_eq!(report["test_images"], 1000);
        assert_eq!(
            std::fs::read(run.join("model.bpk")).unwrap(),
            original,
            "{name}: the input changed"
        );

        // model.json lists the factorized layers; with it, model.bpk loads, has the
        // parameters and scores the accuracy the report printed.
        let (params, compressed) = reload(&out_dir);
        assert_eq!(
            params as u64,
            report["model_parameters_after"].as_u64().unwrap(),
            "{name}"
        );
        let reported = report["compressed_accuracy"].as_f64().unwrap();
        assert!(
            (compressed - reported).abs() < 1e-9,
            "{name}: {compressed} against {reported}"
        );
    }
}

#[test]
fn hostile_and_mismatched_configs_are_refused_by_name_before_building() {
    let dir = tempfile::tempdir().unwrap();
    let run = classifier_run(dir.path(), "mlp", ClassifierArchitecture::Mlp(mlp()));
    let out_dir = dir.path().join("out");
    let config = run.join("model.json");
    let write = |saved: SavedClassifier| saved.save(&config).unwrap();
    let refused = |expected: &str| {
        let out = compress(&run, &["--budget", "0.5", "-o", s(&out_dir)]);
        assert_eq!(out.status.code(), Some(1), "{expected}: {}", text(&out));
        assert!(text(&out).contains(expected), "{expected}: {}", text(&out));
        assert!(
            !out_dir.exists(),
            "a refused run wrote {}",
            out_dir.display()
        );
    };
    // Sizes no checkpoint of this size holds, up to ones that overflow a count: refused
    // before an allocation by them.
    for (architecture, expected) in [
        (
            ClassifierArchitecture::Mlp(mlp().with_hidden_sizes(vec![1 << 30, 1 << 30])),
            "parameters, more than",
        ),
        (
            ClassifierArchitecture::Mlp(mlp().with_hidden_sizes(vec![usize::MAX / 2])),
            "more than 2^64",
        ),
        (
            ClassifierArchitecture::Vit(vit().with_image_size(1 << 40).with_patch_size(1)),
            "more than 2^64",
        ),
        (
            ClassifierArchitecture::LocalResNet(resnet().with_widths(vec![
                1 << 20,
                1 << 21,
                1 << 22,
            ])),
            "parameters, more than",
        ),
        (
            ClassifierArchitecture::LocalResNet(resnet().with_widths(vec![4, 6, 12])),
            "each width must be a multiple",
        ),
        (
            ClassifierArchitecture::Mlp(mlp().with_dropout(1.5)),
            "dropout 1.5",
        ),
    ] {
        write(SavedClassifier::dense(architecture));
        refused(expected);
    }
    // A config of another (smaller) model: the first tensor that differs, in name order, is
    // named.
    write(SavedClassifier::dense(ClassifierArchitecture::Mlp(
        mlp().with_hidden_sizes(vec![48, 20]),
    )));
    refused("tensor 'head.weight' has shape [24, 10], the config's model [20, 10]");
    // An already factorized config, and a factorized entry for no layer.
    let entry = |name: &str| tempering_models::transformer::FactorizedLayer::new(name.into(), 2, 1);
    write(
        SavedClassifier::dense(ClassifierArchitecture::Mlp(mlp()))
            .with_factorized(Some(vec![entry("head.weight")])),
    );
    refused("already factorized");
    // An unknown architecture, and a file that is no config.
    std::fs::write(&config, r#"{"classifier": {"Resnet50": {}}}"#).unwrap();
    refused("Resnet50");
    std::fs::write(&config, "[]").unwrap();
    refused("not a JSON object");

    // Flags of the other kind of model.
    write(SavedClassifier::dense(ClassifierArchitecture::Mlp(mlp())));
    let out = compress(&run, &["--budget", "0.5", "--validation", s(&config)]);
    assert!(
        text(&out).contains("score it with --fashion-mnist"),
        "{}",
        text(&out)
    );
    // Images of another size.
    write(SavedClassifier::dense(ClassifierArchitecture::Mlp(
        mlp().with_input_size(100),
    )));
    let out = compress(&run, &["--budget", "0.5", "--fashion-mnist"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("takes 100 input features"),
        "{}",
        text(&out)
    );

    // -o over the input run: refused, the input untouched.
    write(SavedClassifier::dense(ClassifierArchitecture::Mlp(mlp())));
    let original = std::fs::read(run.join("model.bpk")).unwrap();
    let out = compress(&run, &["--budget", "0.5", "-o", s(&run), "--force"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(std::fs::read(run.join("model.bpk")).unwrap(), original);
}

/// Every number in `value`, as a path of keys and indices.
fn number_paths(value: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        serde_json::Value::Number(_) => out.push(path.clone()),
        serde_json::Value::Object(fields) => {
            for (key, field) in fields {
                path.push(key.clone());
                number_paths(field, path, out);
                path.pop();
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                number_paths(item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(value: &'a mut serde_json::Value, path: &[String]) -> &'a mut serde_json::Value {
    path.iter().fold(value, |v, key| match v {
        serde_json::Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
        other => &mut other[key.as_str()],
    })
}

#[test]
fn mutated_configs_exit_cleanly() {
    // `TEMPERING_CLI_CONFIG_FUZZ_CASES` per architecture (default 50, under a second).
    let cases: u64 = std::env::var("TEMPERING_CLI_CONFIG_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let hostile = [
        "0",
        "1",
        "3",
        "2147483648",
        "1099511627776",
        "4611686018427387904",
        "18446744073709551615",
        "-1",
        "0.5",
        "1e300",
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut rng = tempering_core::split_mix::SplitMix64::new(11);
    for (name, architecture) in [
        ("mlp", ClassifierArchitecture::Mlp(mlp())),
        ("vit", ClassifierArchitecture::Vit(vit())),
        ("resnet", ClassifierArchitecture::LocalResNet(resnet())),
    ] {
        let run = classifier_run(dir.path(), name, architecture);
        let config = run.join("model.json");
        let base: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        let mut paths = Vec::new();
        number_paths(&base, &mut Vec::new(), &mut paths);
        for case in 0..cases {
            let mut mutated = base.clone();
            for _ in 0..1 + rng.below(2) {
                let path = &paths[rng.below(paths.len())];
                *at(&mut mutated, path) =
                    serde_json::from_str(hostile[rng.below(hostile.len())]).unwrap();
            }
            std::fs::write(&config, mutated.to_string()).unwrap();
            let out = compress(&run, &["--budget", "0.5", "--json"]);
            let code = out.status.code();
            assert!(
                matches!(code, Some(0 | 1)) && !text(&out).contains("panicked"),
                "{name} case {case}: {mutated}\n{}",
                text(&out)
            );
        }
    }
}
