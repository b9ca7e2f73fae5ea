//! `compare_optimizers --only mfac --mfac-gradients 4,16` on the shipped Fashion-MNIST sample.
//! Its own process: Burn's random generator is global, and the other end-to-end tests seed it.

use tempering_examples::compare_optimizers::{CompareArgs, Contender, run};

/// Several M-FAC windows: one run each, labelled by the window, each in its own folder.
#[test]
fn mfac_runs_once_per_window() {
    let out = tempfile::tempdir().unwrap();
    let mut a = CompareArgs {
        only: vec![Contender::Mfac],
        ..CompareArgs::on_shipped_sample(out.path().to_path_buf(), 0.25, 42)
    };
    a.mfac_gradients = vec![4, 16];
    let report = run(&a).unwrap();
    let labels: Vec<&str> = report.results.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["M-FAC (m = 4)", "M-FAC (m = 16)"]);
    assert!(out.path().join("m-fac-m-4/steps.csv").exists());
    assert!(out.path().join("m-fac-m-16/steps.csv").exists());
    // The windows change the trajectory (after the first step, which every window takes alike).
    let losses =
        |i: usize| -> Vec<f64> { report.results[i].history.iter().map(|r| r.loss).collect() };
    assert_eq!(losses(0)[0], losses(1)[0]);
    assert_ne!(losses(0), losses(1));
}
