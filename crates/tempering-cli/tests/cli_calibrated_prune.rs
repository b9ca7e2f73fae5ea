//! `tempering prune --config run.json --method sparsegpt|sparsellm|wanda|ecoflap|layer-magnitude`:
//! calibrated
//! pruning of a character transformer language model from the command line, end to end on a
//! small model saved as `train_char_lm` saves one (`model.bpk` beside `run.json`), and every
//! bad input refused with a message naming the problem and nothing written.

#![cfg(feature = "language-models")]

#[path = "common/char_lm_run.rs"]
mod char_lm_run;
mod common;
#[path = "../../tempering-prune/tests/common/mutation.rs"]
mod mutation;

use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Device;
use char_lm_run::{ALPHABET, config, run_dir};
use common::{s, tempering, text};
use tempering_core::split_mix::SplitMix64;
use tempering_models::TransformerLm;
use tempering_models::transformer::SavedCharLm;

fn prune(model: &Path, run_json: &Path, rest: &[&str]) -> std::process::Output {
    let mut args = vec!["prune", s(model), "--config", s(run_json)];
    args.extend_from_slice(rest);
    tempering(&args)
}

/// The model a run directory's `run.json` describes, loaded from `model`.
fn load_model(run_json: &Path, model: &Path) -> TransformerLm {
    SavedCharLm::load(run_json)
        .unwrap()
        .model
        .init(&Device::default())
        .try_load_file(model)
        .unwrap()
}

/// Each `(flags, message)`, with the calibration text `text` and `-o out_dir --force`: the
/// prune fails and says `message`.
fn assert_refused(
    model: &Path,
    run_json: &Path,
    text_path: &str,
    out_dir: &Path,
    cases: &[(Vec<&str>, &str)],
) {
    for (rest, expected) in cases {
        let mut args = rest.clone();
        args.extend(["--calibration", text_path, "-o", s(out_dir), "--force"]);
        let out = prune(model, run_json, &args);
        assert!(
            !out.status.success() && text(&out).contains(expected),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn sparsegpt_two_of_four_writes_a_run_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (model, run_json, text_file) = run_dir(dir.path());
    let original = std::fs::read(&model).unwrap();
    let out_dir = dir.path().join("pruned");
    let out = prune(
        &model,
        &run_json,
        &[
            "--method",
            "sparsegpt",
            "--nm",
            "2:4",
            "--calibration",
            s(&text_file),
            "--validation",
            s(&text_file),
            "-o",
            s(&out_dir),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["method"], "sparsegpt");
    assert_eq!(report["layers"].as_array().unwrap().len(), 12);
    // 128 windows of the context of 8, the official count of calibration sequences.
    assert_eq!(report["calibration_tokens"], 1024);
    assert!(
        report["validation"]["compressed_nats"]
            .as_f64()
            .unwrap()
            .is_finite()
    );
    assert_eq!(report["validation"]["unit"], "char");
    assert_eq!(
        std::fs::read(&model).unwrap(),
        original,
        "the input changed"
    );

    // The output is a run directory: its run.json rebuilds the model and model.bpk loads.
    let saved = SavedCharLm::load(out_dir.join("run.json")).unwrap();
    let pruned = saved
        .model
        .init(&Device::default())
        .try_load_file(out_dir.join("model.bpk"))
        .unwrap();
    for block in &pruned.blocks {
        let weight = block.feed_forward.contract.weight.val();
        let [d_in, d_out] = weight.dims();
        let values = weight.into_data().try_into_vec::<f32>().unwrap();
        for o in 0..d_out {
            for g in (0..d_in).step_by(4) {
                let kept = (g..g + 4).filter(|&i| values[i * d_out + o] != 0.0).count();
                assert_eq!(kept, 2, "2:4 along the inputs of output {o}");
            }
        }
    }

    // `evaluate` scores the written run as the prune's report did, per character.
    let out = tempering(&[
        "evaluate",
        s(&out_dir.join("model.bpk")),
        "--config",
        s(&out_dir.join("run.json")),
        "--text",
        s(&text_file),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let evaluated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(evaluated["unit"], "char");
    let (ours, reported) = (
        evaluated["nats_per_token"].as_f64().unwrap(),
        report["validation"]["compressed_nats"].as_f64().unwrap(),
    );
    // Batches of 8 windows here, 16 in the prune: f32 sums in another order.
    assert!((ours - reported).abs() < 1e-5, "{ours} against {reported}");
}

/// SparseLLM from the command line: every layer of both blocks at 50 %, the run written.
#[test]
fn sparsellm_prunes_every_layer() {
    let dir = tempfile::tempdir().unwrap();
    let (model, run_json, text_file) = run_dir(dir.path());
    let out_dir = dir.path().join("pruned");
    let out = prune(
        &model,
        &run_json,
        &[
            "--method",
            "sparsellm",
            "--sparsity",
            "0.5",
            "--calibration",
            s(&text_file),
            "--calibration-tokens",
            "256",
            "-o",
            s(&out_dir),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["method"], "sparsellm");
    let layers = report["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 12);
    for layer in layers {
        let [d_in, d_out] = [0, 1].map(|k| layer["shape"][k].as_u64().unwrap());
        assert!(
            layer["zeros"].as_u64().unwrap() >= d_in * d_out / 2,
            "{layer}"
        );
        // Each feed-forward pair reports its output error after each of the 4 rounds.
        let rounds = layer
            .get("pair_output_errors")
            .map(|r| r.as_array().unwrap().len());
        let expand = layer["name"]
            .as_str()
            .unwrap()
            .ends_with("feed_forward.expand");
        assert_eq!(rounds, expand.then_some(4), "{layer}");
    }
    assert!(out_dir.join("model.bpk").is_file() && out_dir.join("run.json").is_file());
}

/// ProxSparse from the command line: 2:4 masks learned in a few training steps, the original
/// weights kept where the masks keep them; only 2:4 is accepted.
#[test]
fn proxsparse_learns_two_of_four_masks() {
    let dir = tempfile::tempdir().unwrap();
    let (model, run_json, text_file) = run_dir(dir.path());
    let t = s(&text_file);
    let out_dir = dir.path().join("pruned");
    let out = prune(
        &model,
        &run_json,
        &[
            "--method",
            "proxsparse",
            "--nm",
            "2:4",
            "--proxsparse-steps",
            "5",
            "--proxsparse-lambda",
            "20",
            "--calibration",
            t,
            "-o",
            s(&out_dir),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["method"], "proxsparse");
    assert_eq!(report["proxsparse"]["losses"].as_array().unwrap().len(), 5);
    // 5 steps of 8 windows of the context of 8 plus the next character.
    assert_eq!(report["calibration_tokens"], 5 * 8 * 9);
    let original = load_model(&run_json, &model);
    let pruned = load_model(&out_dir.join("run.json"), &out_dir.join("model.bpk"));
    for (a, b) in pruned.blocks.iter().zip(&original.blocks) {
        let after = a
            .feed_forward
            .expand
            .weight
            .val()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let before = b
            .feed_forward
            .expand
            .weight
            .val()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(after.iter().filter(|w| **w == 0.0).count(), after.len() / 2);
        assert!(after.iter().zip(&before).all(|(x, y)| *x == 0.0 || x == y));
    }
    assert_refused(
        &model,
        &run_json,
        t,
        &out_dir,
        &[
            (
                vec!["--method", "proxsparse", "--sparsity", "0.5"],
                "pass --nm 2:4",
            ),
            (
                vec!["--method", "proxsparse", "--nm", "1:4"],
                "pass --nm 2:4",
            ),
            (
                vec![
                    "--method",
                    "sparsegpt",
                    "--sparsity",
                    "0.5",
                    "--proxsparse-steps",
                    "3",
                ],
                "applies to --method proxsparse",
            ),
        ],
    );
}

/// M-FAC from the command line: one threshold over every block's linear layers (the others
/// untouched), `(m − 1) × recomputations` gradients of 16 windows; its flags only with it.
#[test]
fn mfac_prunes_every_block_linear_layer() {
    let dir = tempfile::tempdir().unwrap();
    let (model, run_json, text_file) = run_dir(dir.path());
    let t = s(&text_file);
    let out_dir = dir.path().join("pruned");
    let out = prune(
        &model,
        &run_json,
        &[
            "--method",
            "mfac",
            "--sparsity",
            "0.6",
            "--mfac-gradients",
            "8",
            "--mfac-recomputations",
            "3",
            "--calibration",
            t,
            "--validation",
            t,
            "-o",
            s(&out_dir),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["method"], "mfac");
    assert_eq!(report["mfac"]["gradient_evaluations"], 7 * 3);
    assert_eq!(report["mfac"]["steps"].as_array().unwrap().len(), 3);
    // 21 gradients of 16 windows of the context of 8 plus the next character.
    assert_eq!(report["calibration_tokens"], 21 * 16 * 9);
    let layers = report["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2 * 6);
    let (zeros, total) = layers.iter().fold((0, 0), |(z, n), l| {
        let shape = l["shape"].as_array().unwrap();
        (
            z + l["zeros"].as_u64().unwrap(),
            n + shape[0].as_u64().unwrap() * shape[1].as_u64().unwrap(),
        )
    });
    assert!(
        (zeros as f64 / total as f64 - 0.6).abs() < 1.0 / total as f64 + 1e-12,
        "{zeros} of {total}"
    );
    assert!(
        report["validation"]["compressed_nats"]
            .as_f64()
            .unwrap()
            .is_finite()
    );
    let original = load_model(&run_json, &model);
    let pruned = load_model(&out_dir.join("run.json"), &out_dir.join("model.bpk"));
    // Embeddings, norms and the head are not pruned.
    let embedding = |m: &TransformerLm| {
        m.token_embedding
            .weight
            .val()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap()
    };
    assert_eq!(embedding(&pruned), embedding(&original));
    assert_refused(
        &model,
        &run_json,
        t,
        &out_dir,
        &[
            (
                vec!["--method", "mfac", "--nm", "2:4"],
                "M-FAC prunes unstructured",
            ),
            (
                vec![
                    "--method",
                    "mfac",
                    "--sparsity",
                    "0.5",
                    "--mfac-gradients",
                    "1",
                ],
                "--mfac-gradients",
            ),
            (
                vec![
                    "--method",
                    "mfac",
                    "--sparsity",
                    "0.5",
                    "--calibration-tokens",
                    "64",
                ],
                "--calibration-tokens: not with mfac",
            ),
            (
                vec![
                    "--method",
                    "wanda",
                    "--sparsity",
                    "0.5",
                    "--mfac-block",
                    "64",
                ],
                "applies to --method mfac",
            ),
        ],
    );
}

/// ECoFLaP: one sparsity per block, averaging the target over blocks of equal size, each
/// block's layers pruned by Wanda at its own sparsity; N:M is refused with the reason.
#[test]
fn ecoflap_allocates_per_block() {
    let dir = tempfile::tempdir().unwrap();
    let (model, run_json, text_file) = run_dir(dir.path());
    let t = s(&text_file);
    let out = prune(
        &model,
        &run_json,
        &[
            "--method",
            "ecoflap",
            "--sparsity",
            "0.5",
            "--calibration",
            t,
            "--dry-run",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let blocks: Vec<f64> = report["block_sparsities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(blocks.len(), 2);
    // Two blocks of 2,048 weights: the mean is the target less at most 2 weights of 4,096
    // (the official allocation's ceilings and fix-up).
    let shortfall = 0.5 - (blocks[0] + blocks[1]) / 2.0;
    assert!(
        (0.0..=2.0 / 4096.0 + 1e-6).contains(&shortfall),
        "{blocks:?}"
    );
    assert!(
        blocks.iter().all(|&b| (0.0..=0.6 + 1e-12).contains(&b)),
        "{blocks:?}"
    );
    for layer in report["layers"].as_array().unwrap() {
        let block: usize = layer["name"].as_str().unwrap()[7..8].parse().unwrap();
        let [d_in, d_out] = [&layer["shape"][0], &layer["shape"][1]].map(|v| v.as_u64().unwrap());
        let expected = (d_in as f64 * blocks[block]) as u64 * d_out;
        assert_eq!(layer["zeros"].as_u64().unwrap(), expected, "{layer}");
    }
    let out = prune(
        &model,
        &run_json,
        &[
            "--method",
            "ecoflap",
            "--nm",
            "2:4",
            "--calibration",
            t,
            "--dry-run",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ECoFLaP"),
        "{}",
        text(&out)
    );
}

#[test]
fn magnitude_needs_no_calibration_and_a_dry_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (model, run_json, _) = run_dir(dir.path());
    let out = prune(
        &model,
        &run_json,
        &[
            "--method",
            "layer-magnitude",
            "--sparsity",
            "0.5",
            "--dry-run",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("dry run: nothing written"));
    assert_eq!(
        std::fs::read_dir(dir.path().join("run")).unwrap().count(),
        2
    );
}

/// Each bad request exits 1 with a message naming the problem, and leaves no output.
#[test]
fn bad_inputs_are_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (model, run_json, text_file) = run_dir(dir.path());
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let foreign = write("foreign.txt", "abc xyz abc abc abc".as_bytes());
    let empty = write("empty.txt", b"");
    let binary = write("binary.txt", &[0x61, 0xff, 0xfe, 0x62]);
    let wider = dir.path().join("wider.json");
    SavedCharLm::new(config(48), ALPHABET.into(), "test".into(), 0)
        .save(&wider)
        .unwrap();
    let short_alphabet = dir.path().join("short.json");
    SavedCharLm::new(config(32), "abc".into(), "test".into(), 0)
        .save(&short_alphabet)
        .unwrap();
    let garbage_model = write("garbage.bpk", b"not a checkpoint at all");
    let out_dir = dir.path().join("out");
    let o = s(&out_dir);
    let t = s(&text_file);
    // Each case: the arguments after `--config` (split at spaces; the paths have none), the
    // checkpoint, the run.json, and what the message must name.
    let (f, e, b) = (s(&foreign), s(&empty), s(&binary));
    let cases: Vec<(String, &Path, &Path, &str)> = vec![
        (
            format!("--method sparsegpt --sparsity 0.5 --calibration {t} -o {o}"),
            &model,
            &wider,
            "blocks.0.feed_forward.contract.weight",
        ),
        (
            format!("--method wanda --sparsity 0.5 --calibration {f} -o {o}"),
            &model,
            &run_json,
            "'x'",
        ),
        (
            format!("--method wanda --sparsity 0.5 --calibration {e} -o {o}"),
            &model,
            &run_json,
            "empty",
        ),
        (
            format!("--method wanda --sparsity 0.5 --calibration {b} -o {o}"),
            &model,
            &run_json,
            "not UTF-8",
        ),
        (
            format!("--method sparsegpt --sparsity 1.0 --calibration {t} -o {o}"),
            &model,
            &run_json,
            "--sparsity",
        ),
        (
            format!("--method sparsegpt --nm 2:3 --calibration {t} -o {o}"),
            &model,
            &run_json,
            "blocks.0.attention.query",
        ),
        (
            format!("--method sparsegpt --sparsity 0.5 -o {o}"),
            &model,
            &run_json,
            "--calibration",
        ),
        (
            format!("--method wanda --sparsity 0.5 --calibration {t} -o {o}"),
            &model,
            &short_alphabet,
            "alphabet",
        ),
        (
            format!("--method wanda --sparsity 0.5 --calibration {t} -o {o}"),
            &garbage_model,
            &run_json,
            "garbage.bpk",
        ),
        (
            format!("--method random --sparsity 0.5 -o {o}"),
            &model,
            &run_json,
            "not with a language model",
        ),
        (
            format!("--method wanda --sparsity 0.5 --calibration {t} --include x -o {o}"),
            &model,
            &run_json,
            "--include",
        ),
    ];
    for (rest, model, run_json, needle) in cases {
        let rest: Vec<&str> = rest.split(' ').collect();
        let out = prune(model, run_json, &rest);
        let message = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{rest:?}: {}", text(&out));
        assert!(
            message.contains(needle),
            "{rest:?}: wanted {needle:?} in {message}"
        );
        assert!(!out_dir.exists(), "{rest:?} wrote {}", out_dir.display());
    }
    // Wanda without the model's code.
    let out = tempering(&["prune", s(&model), "--method", "wanda", "--sparsity", "0.5"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--config"),
        "{}",
        text(&out)
    );
    // The run directory itself as the output: its model.bpk is the input, never replaced.
    let run = model.parent().unwrap();
    let before = std::fs::read(&model).unwrap();
    let out = prune(
        &model,
        &run_json,
        &[
            "--method",
            "wanda",
            "--sparsity",
            "0.5",
            "--calibration",
            t,
            "-o",
            s(run),
            "--force",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is the input"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(&model).unwrap(), before);
}

/// A hostile `run.json` (sizes that would need exabytes, overflow, or mismatch the file) is
/// refused with a message naming it, before any model is built: no allocation failure, no
/// crash.
#[test]
fn hostile_configs_are_refused_before_building_anything() {
    let dir = tempfile::tempdir().unwrap();
    let (model, run_json, text_file) = run_dir(dir.path());
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&run_json).unwrap()).unwrap();
    let edits: Vec<(&str, serde_json::Value)> = vec![
        ("n_layers", serde_json::json!(1u64 << 40)),
        ("n_layers", serde_json::json!(u64::MAX)),
        ("d_model", serde_json::json!(1u64 << 31)),
        ("d_ff", serde_json::json!(1u64 << 40)),
        ("context", serde_json::json!(1u64 << 50)),
        ("vocab_size", serde_json::json!(1u64 << 45)),
        ("n_heads", serde_json::json!(0)),
        ("d_head", serde_json::json!(0)),
        ("n_layers", serde_json::json!(0)),
        (
            "block_widths",
            serde_json::json!([{"n_heads": 1, "d_ff": 4}]),
        ),
        ("n_layers", serde_json::json!(-1)),
        ("d_model", serde_json::json!("wide")),
    ];
    for (field, value) in edits {
        let mut edited = original.clone();
        edited["model"][field] = value.clone();
        let hostile = dir.path().join("hostile.json");
        std::fs::write(&hostile, edited.to_string()).unwrap();
        let out = prune(
            &model,
            &hostile,
            &[
                "--method",
                "wanda",
                "--sparsity",
                "0.5",
                "--calibration",
                s(&text_file),
                "--dry-run",
            ],
        );
        let message = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{field} = {value}: {}",
            text(&out)
        );
        assert!(
            message.contains("hostile.json"),
            "{field} = {value}: {message}"
        );
    }
}

/// Mutated copies of `model.bpk` (bit flips, truncations, edited length fields, NaN and extreme
/// values) through the calibrated path: every run exits 0 or 1, never by a signal or a panic's
/// 101, and a run that succeeds wrote a model that loads. `TEMPERING_CLI_FUZZ_CASES` sets the
/// count (default 200).
#[test]
fn mutated_checkpoints_exit_cleanly() {
    let cases: usize = std::env::var("TEMPERING_CLI_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let (model, run_json, text_file) = run_dir(dir.path());
    let seed = std::fs::read(&model).unwrap();
    let mut rng = SplitMix64::new(17);
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..cases {
        let input = dir.path().join("case.bpk");
        std::fs::write(&input, mutation::mutate(&mut rng, &seed)).unwrap();
        let out_dir = dir.path().join("out");
        let out = prune(
            &input,
            &run_json,
            &[
                "--method",
                "sparsegpt",
                "--sparsity",
                "0.5",
                "--calibration",
                s(&text_file),
                "--calibration-tokens",
                "64",
                "-o",
                s(&out_dir),
                "--force",
            ],
        );
        match out.status.code() {
            Some(0) => {
                accepted += 1;
                let saved = SavedCharLm::load(out_dir.join("run.json")).unwrap();
                saved
                    .model
                    .init(&Device::default())
                    .try_load_file(out_dir.join("model.bpk"))
                    .unwrap_or_else(|e| panic!("case {case}: the output does not load: {e}"));
            }
            Some(1) => refused += 1,
            other => panic!("case {case}: exit {other:?}\n{}", text(&out)),
        }
    }
    assert!(refused > 0, "no mutation was refused");
    eprintln!("{accepted} accepted, {refused} refused");
}

fn shrink(model: &Path, run_json: &Path, rest: &[&str]) -> std::process::Output {
    let mut args = vec!["shrink", s(model), "--config", s(run_json)];
    args.extend_from_slice(rest);
    tempering(&args)
}

/// `tempering shrink --method tyr` writes a smaller run that loads, at the parameter count of
/// `--method l2` at the same ratio; the inputs are untouched.
#[test]
fn tyr_shrink_writes_a_smaller_run_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (model, run_json, text_file) = run_dir(dir.path());
    let original = std::fs::read(&model).unwrap();
    let mut counts = Vec::new();
    for method in ["tyr", "l2"] {
        let out_dir = dir.path().join(method);
        let out = shrink(
            &model,
            &run_json,
            &[
                "--method",
                method,
                "--ratio",
                "0.5",
                "--calibration",
                s(&text_file),
                "--calibration-tokens",
                "256",
                "--generations",
                "2",
                "--offspring",
                "4",
                "--validation",
                s(&text_file),
                "-o",
                s(&out_dir),
                "--json",
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["method"], method);
        let after = report["parameters_after"].as_u64().unwrap();
        assert!(after < report["parameters_before"].as_u64().unwrap());
        assert!(
            report["validation"]["compressed_nats"]
                .as_f64()
                .unwrap()
                .is_finite()
        );
        if method == "tyr" {
            assert_eq!(report["tyr"]["rounds"].as_array().unwrap().len(), 2);
        }
        let saved = SavedCharLm::load(out_dir.join("run.json")).unwrap();
        let shrunk = saved
            .model
            .init(&Device::default())
            .try_load_file(out_dir.join("model.bpk"))
            .unwrap();
        assert_eq!(shrunk.num_params() as u64, after);
        counts.push(after);
    }
    assert_eq!(counts[0], counts[1], "tyr and l2 at one budget");
    assert_eq!(
        std::fs::read(&model).unwrap(),
        original,
        "the input changed"
    );
}

/// Bad shrink requests: a ratio outside [0, 1), tyr without calibration text, an output over
/// the input; each refused by name with nothing written.
#[test]
fn bad_shrink_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (model, run_json, text_file) = run_dir(dir.path());
    let out_dir = dir.path().join("out");
    let cases: [(&[&str], &str); 3] = [
        (
            &["--method", "l2", "--ratio", "1", "-o", s(&out_dir)],
            "--ratio",
        ),
        (
            &["--method", "tyr", "--ratio", "0.5", "-o", s(&out_dir)],
            "--calibration",
        ),
        (
            &[
                "--method",
                "tyr",
                "--ratio",
                "0.5",
                "--calibration",
                s(&text_file),
                "-o",
                s(model.parent().unwrap()),
                "--force",
            ],
            "model.bpk",
        ),
    ];
    for (args, named) in cases {
        let out = shrink(&model, &run_json, args);
        assert!(!out.status.success(), "{args:?} was accepted");
        let message = text(&out);
        assert!(message.contains(named), "{args:?}: {message}");
    }
    assert!(!out_dir.exists(), "something was written");
}
