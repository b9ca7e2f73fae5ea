//! The quickstart trained end to end on the shipped sample: outputs written, loss falling, and
//! the saved checkpoint reloading to the very accuracy the run reported.

use burn::config::Config;
use burn::module::Module;
use tempering_data::{FashionMnist, FashionMnistSource};
use tempering_examples::common::backend_choice::device_for;
use tempering_examples::common::common_args::{CommonArgs, shipped_sample};
use tempering_examples::common::fashion_classifier::FashionClassifier;
use tempering_examples::common::optimizer_choice::OptimizerChoice;
use tempering_examples::common::test_evaluation::evaluate;
use tempering_examples::quickstart::{QuickstartArgs, run};
use tempering_models::saved_classifier::{ClassifierArchitecture, SavedClassifier};

#[test]
fn quickstart_trains_writes_and_reloads() {
    let out = tempfile::tempdir().unwrap();
    let args = QuickstartArgs {
        epochs: 2,
        batch_size: 64,
        optimizer: OptimizerChoice::Adam,
        lr: None,
        hidden: vec![64],
        common: CommonArgs::default()
            .with_data(Some(shipped_sample()))
            .with_out(out.path().to_path_buf())
            .with_seed(7)
            .with_limit(Some(1200)),
    };
    let report = run(&args).unwrap();

    // 1200 images: 1100 train, 100 validation (the last twelfth); the sample's 1000 test images.
    assert_eq!(report.sizes, (1100, 100, 1000));
    let losses = report.history.points("train", "Loss");
    assert_eq!(losses.len(), 2);
    assert!(
        losses[1].1 < losses[0].1,
        "train loss did not fall: {losses:?}"
    );
    // Chance is 10 %; any model that learned is far above 50 % after two epochs.
    assert!(
        report.test_accuracy > 50.0,
        "test accuracy {}",
        report.test_accuracy
    );

    let csv = std::fs::read_to_string(&report.csv_path).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("epoch,train_accuracy,train_loss,valid_accuracy,valid_loss")
    );
    assert_eq!(lines.count(), 2);
    assert_eq!(&std::fs::read(&report.plot_path).unwrap()[1..4], b"PNG");
    assert!(out.path().join("checkpoint/model-2.bpk").is_file());

    // Reload the checkpoint into a fresh model built from the model.json written beside it
    // (what `tempering compress` reads) and evaluate it again: identical accuracy.
    let saved = SavedClassifier::load(&report.config_path).unwrap();
    let ClassifierArchitecture::Mlp(config) = saved.classifier else {
        panic!(
            "the quickstart's model.json names {}",
            saved.classifier.name()
        );
    };
    assert_eq!(config.hidden_sizes, vec![64]);
    assert!(saved.factorized.is_none());
    let device = device_for(None).unwrap();
    let loaded = FashionClassifier::new(config.init(&device).load_file(&report.model_path));
    let test = FashionMnist::load_from(FashionMnistSource::Explicit(shipped_sample()))
        .unwrap()
        .test();
    let again = evaluate(&loaded, test, 64, &device).unwrap();
    assert_eq!(again.count, 1000);
    assert!(
        (again.accuracy - report.test_accuracy).abs() < 1e-9,
        "reloaded {} vs reported {}",
        again.accuracy,
        report.test_accuracy
    );
}
