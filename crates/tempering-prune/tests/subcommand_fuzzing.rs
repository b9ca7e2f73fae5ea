//! Every subcommand's whole path on mutated checkpoints never panics: each input is inspected,
//! pruned to a file (one of the four methods), verified against its unmutated original, and
//! planned for low-rank compression, the library calls behind `tempering inspect`, `prune`,
//! `verify` and `compress`. Inputs are byte-level mutations of burnpack and safetensors files
//! (plain and already pruned, so the provenance record is mutated too) and, for a quarter of
//! them, provenance records with random claims (N:M patterns with extreme N and M, axes of
//! absent, integer or empty tensors, zero counts). Each call must return a report or an error
//! that names a file; a panic fails the test with the case number, an abort kills it.
//!
//! CI runs 2,000 inputs (about 10 s); a release check runs more:
//! `TEMPERING_FUZZ_CASES=100000 cargo test --release -p tempering-prune --test subcommand_fuzzing -- --nocapture`.

mod common;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use burn_pack::{Bytes, DType, Tensor, Writer};
use common::mutation::mutate;
use safetensors::tensor::TensorView;
use tempering_core::split_mix::SplitMix64;
use tempering_prune::inspect::inspect;
use tempering_prune::low_rank::LowRankConfig;
use tempering_prune::low_rank_plan::low_rank_allocation;
use tempering_prune::verify::verify;
use tempering_prune::{Method, Output, PruneConfig, PruneError, prune_checkpoint};

/// The seed tensors: every float type, an integer counter and an empty matrix.
fn tensors() -> Vec<(&'static str, DType, Vec<usize>, Vec<u8>)> {
    let values = |n: usize, f: fn(f64) -> Vec<u8>| -> Vec<u8> {
        (0..n)
            .flat_map(|i| f(((i * 7 % 13) as f64 - 6.0) / 4.0))
            .collect()
    };
    vec![
        (
            "fc.weight",
            DType::F32,
            vec![8, 4],
            values(32, |v| (v as f32).to_le_bytes().to_vec()),
        ),
        (
            "fc.bias",
            DType::F32,
            vec![4],
            values(4, |v| (v as f32).to_le_bytes().to_vec()),
        ),
        (
            "g.weight",
            DType::F64,
            vec![4, 4],
            values(16, |v| v.to_le_bytes().to_vec()),
        ),
        (
            "h.weight",
            DType::F16,
            vec![4, 4],
            values(16, |v| half::f16::from_f64(v).to_le_bytes().to_vec()),
        ),
        (
            "k.weight",
            DType::BF16,
            vec![4, 2],
            values(8, |v| half::bf16::from_f64(v).to_le_bytes().to_vec()),
        ),
        ("step", DType::I64, vec![1], 7i64.to_le_bytes().to_vec()),
        ("empty.weight", DType::F32, vec![0, 4], vec![]),
    ]
}

fn burnpack(metadata: &HashMap<String, String>) -> Vec<u8> {
    let tensors = tensors()
        .into_iter()
        .enumerate()
        .map(|(i, (name, dtype, shape, bytes))| {
            Tensor::new(
                name.into(),
                dtype,
                shape,
                Some(i as u64),
                Bytes::from_bytes_vec(bytes),
            )
        })
        .collect();
    let mut writer = Writer::new(tensors);
    for (k, v) in metadata {
        writer = writer.with_metadata(k, v);
    }
    writer.into_bytes().unwrap().to_vec()
}

fn safetensors(metadata: &HashMap<String, String>) -> Vec<u8> {
    let dtype = |d: DType| match d {
        DType::F64 => safetensors::Dtype::F64,
        DType::F32 => safetensors::Dtype::F32,
        DType::F16 => safetensors::Dtype::F16,
        DType::BF16 => safetensors::Dtype::BF16,
        _ => safetensors::Dtype::I64,
    };
    let tensors = tensors();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, d, shape, bytes)| {
            (
                name.to_string(),
                TensorView::new(dtype(*d), shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, Some(metadata.clone())).unwrap()
}

/// A provenance record with random claims, as `verify` reads it from the file it checks.
fn random_record(rng: &mut SplitMix64) -> HashMap<String, String> {
    let extremes = [0u64, 1, 2, 3, 4, 1 << 20, 1 << 40, u64::MAX];
    let pick = |rng: &mut SplitMix64| extremes[rng.below(extremes.len())];
    let names = [
        "fc.weight",
        "fc.bias",
        "g.weight",
        "step",
        "empty.weight",
        "absent",
    ];
    let mut axes = serde_json::Map::new();
    let mut zeros = serde_json::Map::new();
    for _ in 0..rng.below(4) {
        let name = names[rng.below(names.len())];
        axes.insert(name.into(), serde_json::json!(pick(rng) % 5));
        zeros.insert(name.into(), serde_json::json!(pick(rng)));
    }
    let n_of_m = match rng.below(3) {
        0 => serde_json::Value::Null,
        _ => serde_json::json!([pick(rng), pick(rng)]),
    };
    let record = serde_json::json!([{
        "tool": "tempering", "operation": "prune", "method": "nm", "sparsity": 0.5,
        "min_keep_percent": null, "n_of_m": n_of_m, "seed": null, "include": null,
        "exclude": null, "input": "x", "input_bytes": 0, "unix_time": 0,
        "zeros": zeros, "n_of_m_axes": axes,
    }]);
    HashMap::from([("tempering.provenance".to_string(), record.to_string())])
}

/// The four prune configurations the cases rotate through.
fn prune_config(case: usize) -> PruneConfig {
    match case % 4 {
        0 => PruneConfig::new(Method::GlobalMagnitude, 0.5).with_min_keep(Some(5.0)),
        1 => PruneConfig::new(Method::LayerMagnitude, 0.3),
        2 => PruneConfig::new(Method::Random, 0.5).with_seed(case as u64),
        _ => PruneConfig::new(Method::NOfM { n: 2, m: 4 }, 0.0),
    }
}

/// Outcomes of one subcommand: calls that returned a report, and that returned an error.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    err: usize,
    first_error: Option<String>,
}

impl Tally {
    fn count<T>(&mut self, result: Result<T, PruneError>, files: &[&Path]) {
        match result {
            Ok(_) => self.ok += 1,
            Err(e) => {
                let text = e.to_string();
                let named = files
                    .iter()
                    .any(|f| text.contains(&*f.file_name().unwrap().to_string_lossy()));
                // Errors about a tensor or an option name that instead of the file.
                let about_content = matches!(
                    e,
                    PruneError::BadShape { .. }
                        | PruneError::NotANumber { .. }
                        | PruneError::NotFinite { .. }
                        | PruneError::Numerical { .. }
                        | PruneError::BadConfig { .. }
                );
                assert!(named || about_content, "an error names no file: {text}");
                self.err += 1;
                self.first_error.get_or_insert(text);
            }
        }
    }
}

#[test]
fn every_subcommand_survives_mutated_checkpoints() {
    let cases: usize = std::env::var("TEMPERING_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let dir = tempfile::tempdir().unwrap();
    let mut seeds: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for (ext, bytes) in [
        ("bpk", burnpack(&HashMap::new())),
        ("safetensors", safetensors(&HashMap::new())),
    ] {
        let original = dir.path().join(format!("original.{ext}"));
        std::fs::write(&original, &bytes).unwrap();
        // The same file pruned 2:4, so its provenance record is among the mutated bytes.
        let pruned = dir.path().join(format!("pruned.{ext}"));
        let output = Output::File {
            path: &pruned,
            overwrite: true,
        };
        prune_checkpoint(&original, output, &prune_config(3)).unwrap();
        let pruned_bytes = std::fs::read(&pruned).unwrap();
        seeds.push((original.clone(), bytes));
        seeds.push((original, pruned_bytes));
    }
    let mut tallies: [(&str, Tally); 4] = [
        ("inspect", Tally::default()),
        ("prune", Tally::default()),
        ("verify", Tally::default()),
        ("compress", Tally::default()),
    ];
    // SVD failures are caught and reported as errors; their panic messages need not flood the
    // log.
    tempering_prune::numerical_guard::install_quiet_panic_hook();
    let mut rng = SplitMix64::new(37);
    for case in 0..cases {
        let (original, seed) = &seeds[case % seeds.len()];
        let ext = original.extension().unwrap().to_string_lossy().into_owned();
        let input = if rng.below(4) == 0 {
            let record = random_record(&mut rng);
            match ext.as_str() {
                "bpk" => burnpack(&record),
                _ => safetensors(&record),
            }
        } else {
            mutate(&mut rng, seed)
        };
        let path = dir.path().join(format!("case.{ext}"));
        std::fs::write(&path, &input).unwrap();
        let out = dir.path().join(format!("out.{ext}"));
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            tallies[0].1.count(inspect(&path), &[&path]);
            let output = Output::File {
                path: &out,
                overwrite: true,
            };
            let pruned = prune_checkpoint(&path, output, &prune_config(case));
            tallies[1].1.count(pruned, &[&path, &out]);
            tallies[2]
                .1
                .count(verify(original, &path), &[original, &path]);
            let low_rank = LowRankConfig {
                chunks: 1,
                ..LowRankConfig::new(0.9)
            };
            let plan = low_rank_allocation(&path, &low_rank);
            tallies[3].1.count(plan, &[&path]);
        }));
        if outcome.is_err() {
            let kept = dir.path().join("panicked-input");
            std::fs::write(&kept, &input).unwrap();
            panic!("case {case} panicked (input format {ext})");
        }
    }
    // No temporary file of the outputs survived any case.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    eprintln!("{cases} inputs; ok / error per subcommand: {tallies:?}");
    for (name, tally) in &tallies {
        assert!(
            tally.ok > cases / 20 && tally.err > cases / 20,
            "{name}: {tally:?}: the mutations do not reach both outcomes"
        );
    }
}
