//! The paper claim of GAM (Zhang et al., CVPR 2023) and Entropy-SGD (Chaudhari et al., ICLR
//! 2017) at toy scale: with the same gradient-evaluation budget as their base SGD (momentum 0.9,
//! lr 0.05), they end at flatter minima, measured by the top Hessian eigenvalue of the full
//! training loss.
//!
//! Setting: an MLP 784-64-10 on 1,024 images of the shipped Fashion-MNIST sample, batches of
//! 32, 30 epochs (960 gradient evaluations), seeds 1–4; the claim is checked on the mean over
//! the seeds, because a single seed's eigenvalue is noisy (the four SGD runs give 2.98, 5.25,
//! 7.68 and 8.73).
//!
//! Where the claim holds, measured with `compare_optimizers` (mean top eigenvalue over four
//! seeds, SGD / GAM / Entropy-SGD):
//! - 20 epochs, seeds 1–4: 6.18 / 4.46 / 3.36;
//! - 30 epochs, seeds 1–4: 6.16 / 2.46 / 2.49; seeds 5–8: 3.74 / 1.78 / 2.59;
//! - 10 epochs it fails for GAM (6.73 / 7.59 / 5.37): GAM has made 80 steps and its sharpness
//!   is still rising;
//! - 45 epochs it fails for GAM (2.84 / 4.31 / 1.49): SGD's training loss approaches zero
//!   (0.05), and a cross-entropy Hessian shrinks with the loss, so the eigenvalue then measures
//!   training progress as much as flatness (GAM, at a quarter of the steps, is at 0.3).
//!
//! The test runs in its own process (one test in this file), so Burn's process-global random
//! generator, seeded by `compare_optimizers`, gives the same initializations every run.
//!
//! **Not run by default (`#[ignore]`): the outcome depends on the machine.** The numbers above
//! were measured on an earlier CI-class machine. On an AMD EPYC machine of the same class
//! (2026-12-03), the same commit gave, for seeds 1–4, SGD 2.77 / 2.32 / 1.63 / 3.47 (mean
//! 2.55), GAM 3.48 / 12.19 / 1.47 / 1.80 (mean 4.74) and Entropy-SGD 2.11 / 1.95 / 3.87 / 2.14
//! (mean 2.52): SGD itself lands at a different sharpness, GAM's training loss is still 0.47–0.67
//! (SGD's 0.13–0.28), and one GAM seed dominates the mean. A claim that flips with the CPU is not
//! a regression test; it stays runnable with `cargo test -p tempering-examples --test
//! flat_minimum_claim -- --ignored` until it is restated at matched training loss over more
//! seeds.

use std::path::PathBuf;

use tempering_examples::compare_optimizers::{CompareArgs, Contender, run};

const SEEDS: [u64; 4] = [1, 2, 3, 4];

fn args(out: PathBuf, seed: u64) -> CompareArgs {
    CompareArgs {
        only: vec![Contender::Sgd, Contender::Gam, Contender::EntropySgd],
        ..CompareArgs::on_shipped_sample(out, 30.0, seed)
    }
}

#[test]
#[ignore = "machine-dependent: holds on the earlier CI machine, fails for GAM on AMD EPYC (see the module docs)"]
fn gam_and_entropy_sgd_end_flatter_than_sgd_at_the_same_budget() {
    let mut sums = [0.0f64; 3];
    for seed in SEEDS {
        let out = tempfile::tempdir().unwrap();
        let report = run(&args(out.path().to_path_buf(), seed)).unwrap();
        assert_eq!(report.budget, 960);
        for (sum, r) in sums.iter_mut().zip(&report.results) {
            assert!(
                r.failure.is_none(),
                "{}: {:?}",
                r.contender.name(),
                r.failure
            );
            assert!(r.evaluations + 6 > report.budget, "{}", r.contender.name());
            *sum += r.top_eigenvalue.unwrap();
        }
        eprintln!("seed {seed}:\n{}", report.table);
    }
    let [sgd, gam, entropy_sgd] = sums.map(|s| s / SEEDS.len() as f64);
    eprintln!("mean top eigenvalue: SGD {sgd:.2}, GAM {gam:.2}, Entropy-SGD {entropy_sgd:.2}");
    assert!(gam < sgd, "GAM {gam:.2} is not flatter than SGD {sgd:.2}");
    assert!(
        entropy_sgd < sgd,
        "Entropy-SGD {entropy_sgd:.2} is not flatter than SGD {sgd:.2}"
    );
}
