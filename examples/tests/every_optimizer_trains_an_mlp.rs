//! Every optimizer of the quickstart's `--optimizer` flag but μLO (see below) trains a small
//! MLP on the shipped Fashion-MNIST sample through burn-train's `Learner`: the training loss of
//! the second epoch is below the first's, and nothing is NaN.

use clap::ValueEnum;
use tempering_examples::common::common_args::{CommonArgs, shipped_sample};
use tempering_examples::common::optimizer_choice::OptimizerChoice;
use tempering_examples::quickstart::{QuickstartArgs, run};

#[test]
fn every_optimizer_lowers_the_training_loss() {
    let sample = shipped_sample();
    // μLO is meta-trained on muP networks (`MupMlp`: muP initialization and output
    // multiplier); the quickstart's MLP is a standard one, on which μLO at its meta-trained
    // step diverges (training loss 4.0 → 4.9 over these two epochs). The learned optimizer
    // that assumes nothing of the parametrization, SP-LO, is held to the same bar as the rest.
    for &optimizer in OptimizerChoice::value_variants()
        .iter()
        .filter(|&&o| o != OptimizerChoice::Mulo)
    {
        let out = tempfile::tempdir().unwrap();
        let args = QuickstartArgs {
            epochs: 2,
            batch_size: 32,
            optimizer,
            lr: None,
            hidden: vec![64],
            common: CommonArgs::default()
                .with_data(Some(sample.clone()))
                .with_out(out.path().to_path_buf())
                .with_seed(11)
                .with_limit(Some(960)),
        };
        let report = run(&args).unwrap();
        let losses = report.history.points("train", "Loss");
        assert_eq!(losses.len(), 2, "{optimizer:?}");
        assert!(
            losses[1].1 < losses[0].1 && losses[1].1.is_finite(),
            "{optimizer:?}: training loss {losses:?}"
        );
        // Chance is 10 %: every optimizer has learned something after two short epochs.
        assert!(
            report.test_accuracy > 30.0,
            "{optimizer:?}: {}",
            report.test_accuracy
        );
    }
}
