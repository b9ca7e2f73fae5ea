//! The `tempering` binary itself on mutated checkpoints: every subcommand (inspect, prune,
//! verify, compress, with and without `--json`) exits with 0 or 1, never 101 (a panic) or a
//! signal (an abort), and prints no panic message. The library calls behind the subcommands
//! get 10⁵ inputs in `tempering-prune`'s `subcommand_fuzzing`; this adds argument handling and
//! rendering. CI runs 500 inputs (about 6 s); `TEMPERING_CLI_FUZZ_CASES=25000` runs 10⁵ commands.

mod common;

#[path = "../../tempering-prune/tests/common/mutation.rs"]
mod mutation;

use std::collections::HashMap;

use common::{s, tempering, text};
use safetensors::tensor::{Dtype, TensorView};
use tempering_core::split_mix::SplitMix64;

/// A pruned checkpoint (with its provenance record) and its original, as seeds.
fn seeds(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let w: Vec<u8> = (0..48)
        .flat_map(|i| (((i * 7 % 13) as f32 - 6.0) / 4.0).to_le_bytes())
        .collect();
    let g: Vec<u8> = (0..16)
        .flat_map(|i| (((i * 5 % 11) as f64 - 5.0) / 3.0).to_le_bytes())
        .collect();
    let b: Vec<u8> = [0.5f32; 6].iter().flat_map(|v| v.to_le_bytes()).collect();
    let views = vec![
        (
            "fc.weight",
            TensorView::new(Dtype::F32, vec![8, 6], &w).unwrap(),
        ),
        (
            "g.weight",
            TensorView::new(Dtype::F64, vec![4, 4], &g).unwrap(),
        ),
        ("fc.bias", TensorView::new(Dtype::F32, vec![6], &b).unwrap()),
    ];
    let meta = HashMap::from([("producer".to_string(), "fuzz".to_string())]);
    let original = dir.join("original.safetensors");
    std::fs::write(
        &original,
        safetensors::serialize(views, Some(meta)).unwrap(),
    )
    .unwrap();
    let pruned = dir.join("pruned.safetensors");
    let out = tempering(&[
        "prune",
        s(&original),
        "-o",
        s(&pruned),
        "--method",
        "nm",
        "--nm",
        "2:4",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    vec![
        (original.clone(), std::fs::read(&original).unwrap()),
        (original, std::fs::read(&pruned).unwrap()),
    ]
}

#[test]
fn every_subcommand_exits_cleanly_on_mutated_files() {
    let cases: usize = std::env::var("TEMPERING_CLI_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let dir = tempfile::tempdir().unwrap();
    let seeds = seeds(dir.path());
    let mut rng = SplitMix64::new(7);
    let mut exits: HashMap<(&str, Option<i32>), usize> = HashMap::new();
    for case in 0..cases {
        let (original, seed) = &seeds[case % seeds.len()];
        let input = dir.path().join("case.safetensors");
        std::fs::write(&input, mutation::mutate(&mut rng, seed)).unwrap();
        let out_file = dir.path().join("out.safetensors");
        // Every other case renders JSON instead of tables.
        let runs: [(&str, Vec<&str>); 4] = [
            ("inspect", vec!["inspect", s(&input)]),
            (
                "prune",
                vec![
                    "prune",
                    s(&input),
                    "-o",
                    s(&out_file),
                    "--force",
                    "--method",
                    "global-magnitude",
                    "--sparsity",
                    "0.5",
                ],
            ),
            ("verify", vec!["verify", s(original), s(&input)]),
            (
                "compress",
                vec![
                    "compress",
                    s(&input),
                    "--method",
                    "low-rank",
                    "--budget",
                    "0.9",
                ],
            ),
        ];
        for (name, args) in runs {
            let args: Vec<&str> = args
                .into_iter()
                .filter(|a| *a != "--force" || name == "prune")
                .collect();
            let out = tempering(&args);
            let code = out.status.code();
            assert!(
                matches!(code, Some(0) | Some(1)) && !text(&out).contains("panicked"),
                "case {case}, {name}: {}",
                text(&out)
            );
            *exits.entry((name, code)).or_default() += 1;
        }
    }
    eprintln!("{cases} inputs; exits per subcommand: {exits:?}");
    for name in ["inspect", "prune", "verify", "compress"] {
        assert!(
            exits.get(&(name, Some(1))).is_some_and(|&n| n > 0),
            "{name}: no mutation was rejected"
        );
    }
}
