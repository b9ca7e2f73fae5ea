//! `es_lottery_tickets` end to end on the shipped Fashion-MNIST sample: every round trained by
//! both trainers, every level compared, accuracies that beat chance after ES and after Adam,
//! outputs written. Its own process: Burn's random generator is global.

use tempering_examples::es_lottery_tickets::{EsLotteryArgs, run};

#[test]
fn es_lottery_tickets_on_the_shipped_sample() {
    let dir = tempfile::tempdir().unwrap();
    let args = EsLotteryArgs::on_shipped_sample(dir.path().to_path_buf());
    let report = run(&args).unwrap();
    assert_eq!(report.es_rounds.len(), args.rounds + 1);
    assert_eq!(report.sgd_rounds.len(), args.rounds + 1);
    // Rounds keep half of what is left: 0, 50, 75, 87.5 %.
    for (r, (sparsity, _)) in report.es_rounds.iter().enumerate() {
        assert!((sparsity - (1.0 - 0.5f64.powi(r as i32))).abs() < 1e-12);
    }
    // Ten classes: chance is 10 %; both trainers learn the dense linear classifier.
    assert!(
        report.es_rounds[0].1 > 30.0,
        "ES dense {}",
        report.es_rounds[0].1
    );
    assert!(
        report.sgd_rounds[0].1 > 50.0,
        "Adam dense {}",
        report.sgd_rounds[0].1
    );
    assert_eq!(report.levels.len(), 2);
    for l in &report.levels {
        assert!(l.sparsity >= l.target);
        for a in [
            l.es_ticket,
            l.es_random,
            l.sgd_ticket_by_es,
            l.sgd_ticket,
            l.sgd_random,
            l.es_ticket_by_sgd,
        ] {
            assert!((0.0..=100.0).contains(&a));
        }
    }
    let written = std::fs::read_to_string(dir.path().join("table.md")).unwrap();
    assert!(written.contains("ES: random mask"));
    assert!(
        std::fs::read(&report.plot_path)
            .unwrap()
            .starts_with(b"\x89PNG")
    );
}

#[test]
fn bad_flags_are_named() {
    let base = EsLotteryArgs::on_shipped_sample(std::env::temp_dir());
    for (args, flag) in [
        (
            EsLotteryArgs {
                levels: vec![0.99],
                ..base.clone()
            },
            "--levels",
        ),
        (
            EsLotteryArgs {
                keep_per_round: 1.0,
                ..base.clone()
            },
            "--keep-per-round",
        ),
        (
            EsLotteryArgs {
                pairs: 0,
                ..base.clone()
            },
            "pairs",
        ),
    ] {
        let err = args.validate().unwrap_err();
        assert!(err.contains(flag), "{err}");
    }
}
