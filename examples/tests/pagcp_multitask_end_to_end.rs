//! `pagcp_multitask` end to end on the shipped Fashion-MNIST sample: PAGCP and uniform L1
//! filter pruning at the closest FLOPs, both tasks measured, the table written. Its own
//! process: Burn's random generator is global.

use tempering_examples::pagcp_multitask::{PagcpArgs, coarse_group, run};

#[test]
fn pagcp_against_uniform_on_the_shipped_sample() {
    let dir = tempfile::tempdir().unwrap();
    let args = PagcpArgs::on_shipped_sample(dir.path().to_path_buf());
    let report = run(&args).unwrap();
    assert_eq!(report.rows.len(), 2 * args.rates.len());
    assert_eq!(report.searches.len(), args.rates.len());
    let (pagcp, uniform) = (&report.rows[0], &report.rows[1]);
    assert!(pagcp.method.starts_with("PAGCP") && uniform.method.starts_with("uniform"));
    // Uniform L1 is matched to PAGCP's FLOPs at a 1 % ratio grid.
    assert!(
        (pagcp.flops_kept - uniform.flops_kept).abs() < 0.1,
        "{pagcp:?} {uniform:?}"
    );
    for row in &report.rows {
        assert!(row.flops_kept <= 1.0);
        for a in row.pruned.iter().chain(&row.finetuned) {
            assert!((0.0..=100.0).contains(a));
        }
    }
    assert!(
        std::fs::read_to_string(dir.path().join("table.md"))
            .unwrap()
            .contains("uniform L1")
    );
    assert!(
        std::fs::read(&report.plot_path)
            .unwrap()
            .starts_with(b"\x89PNG")
    );
}

#[test]
fn coarse_groups_follow_the_garment_kind() {
    // T-shirt, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot.
    let groups: Vec<i64> = (0..10).map(coarse_group).collect();
    assert_eq!(groups, [0, 1, 0, 0, 0, 2, 0, 2, 3, 2]);
}

#[test]
fn bad_flags_are_named() {
    let base = PagcpArgs::on_shipped_sample(std::env::temp_dir());
    let bad = PagcpArgs {
        rates: vec![],
        ..base.clone()
    };
    assert!(bad.validate().unwrap_err().contains("--rates"));
    let bad = PagcpArgs {
        widths: vec![0],
        ..base
    };
    assert!(bad.validate().unwrap_err().contains("--widths"));
}
