//! The model commands on a Hugging Face GPT-2 directory: `evaluate` gives the loss
//! `transformers` gives, `prune` (calibrated) and `shrink` write GPT-2 directories that load
//! back and score what their reports say, and bad directories, texts and outputs are refused
//! by name with nothing written.
//!
//! The model is the tiny random GPT-2 of `models/tests/data/tiny_gpt2` (2 blocks of width 64,
//! 2 heads, 256 channels, 64 positions, 512 BPE tokens). `expected_perplexity.json` there is
//! what `examples/prune_gpt2/gpt2_perplexity.py` printed for it on `evaluation.txt` (the end of
//! the Shakespeare corpus) with torch 2.15 and transformers 5.25.

#![cfg(feature = "language-models")]

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use common::{s, tempering, text};
use tempering_models::transformer::hf_gpt2::{Gpt2Tokenizer, load_hf_gpt2};

fn tiny_gpt2() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/tests/data/tiny_gpt2")
}

fn evaluation_text() -> PathBuf {
    tiny_gpt2().join("evaluation.txt")
}

/// Runs `tempering` with `args`, which must succeed, and parses its `--json` report.
fn report(args: &[&str]) -> serde_json::Value {
    let out = tempering(args);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

/// Every file of `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Fraction of exact zeros in each block linear weight of the GPT-2 in `dir`.
fn block_sparsities(dir: &Path) -> Vec<f64> {
    let (model, _) = load_hf_gpt2(dir, &Device::default()).unwrap();
    let mut out = Vec::new();
    for block in &model.blocks {
        for (_, layer) in block.linears() {
            let values: Vec<f32> = layer.weight.val().into_data().iter::<f32>().collect();
            let zeros = values.iter().filter(|v| **v == 0.0).count();
            out.push(zeros as f64 / values.len() as f64);
        }
    }
    out
}

/// `tempering evaluate` scores the GPT-2 in `dir` on the evaluation text as a report said
/// (`reported` nats per token).
fn assert_scores_as_reported(dir: &Path, reported: f64) {
    let evaluated = report(&[
        "evaluate",
        s(dir),
        "--text",
        s(&evaluation_text()),
        "--json",
    ])["nats_per_token"]
        .as_f64()
        .unwrap();
    // The same windows, batched by 16 in the reports and by 8 here: f32 sums in another order.
    assert!(
        (reported - evaluated).abs() < 1e-5,
        "{reported} against {evaluated}"
    );
}

#[test]
fn evaluate_gives_the_loss_transformers_gives() {
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tiny_gpt2().join("expected_perplexity.json")).unwrap(),
    )
    .unwrap();
    let got = report(&[
        "evaluate",
        s(&tiny_gpt2()),
        "--text",
        s(&evaluation_text()),
        "--json",
    ]);
    assert_eq!(got["unit"], "token");
    for field in ["tokens", "windows", "context"] {
        assert_eq!(got[field], expected[field], "{field}");
    }
    let (ours, theirs) = (
        got["nats_per_token"].as_f64().unwrap(),
        expected["nats_per_token"].as_f64().unwrap(),
    );
    // f32 logits on both sides; the mean over 3,072 tokens agrees far inside this.
    assert!((ours - theirs).abs() < 1e-4, "{ours} against {theirs}");
    let perplexity = got["perplexity"].as_f64().unwrap();
    assert!((perplexity - ours.exp()).abs() < 1e-9 * perplexity);

    // --tokens evaluates the first windows only: 100 tokens are two windows of 64.
    let two = report(&[
        "evaluate",
        s(&tiny_gpt2()),
        "--text",
        s(&evaluation_text()),
        "--tokens",
        "100",
        "--json",
    ]);
    assert_eq!(
        (two["windows"].as_u64(), two["tokens"].as_u64()),
        (Some(2), Some(128))
    );
    assert_ne!(two["nats_per_token"], got["nats_per_token"]);
}

#[test]
fn sparsegpt_prunes_a_gpt2_directory_into_a_new_one() {
    let before = snapshot(&tiny_gpt2());
    let out = tempfile::tempdir().unwrap();
    let pruned = out.path().join("pruned");
    let got = report(&[
        "prune",
        s(&tiny_gpt2()),
        "--method",
        "sparsegpt",
        "--sparsity",
        "0.5",
        "--calibration",
        s(&evaluation_text()),
        "--validation",
        s(&evaluation_text()),
        "-o",
        s(&pruned),
        "--json",
    ]);
    assert_eq!(
        snapshot(&tiny_gpt2()),
        before,
        "the input directory changed"
    );
    assert_eq!(got["layers"].as_array().unwrap().len(), 12);
    // 128 windows of the 64-token context, the official count of calibration sequences.
    assert_eq!(got["calibration_tokens"], 128 * 64);
    assert!(
        got.get("gpt2_widening").is_none(),
        "pruning keeps the widths"
    );
    for sparsity in block_sparsities(&pruned) {
        // Half of each layer's columns' weights within rounding of the 64-row blocks.
        assert!((sparsity - 0.5).abs() < 0.01, "{sparsity}");
    }
    // The written directory scores what the report said, and carries the tokenizer.
    let validation = &got["validation"];
    assert_eq!(validation["unit"], "token");
    let reported = validation["compressed_nats"].as_f64().unwrap();
    assert_scores_as_reported(&pruned, reported);
    assert_ne!(reported, validation["dense_nats"].as_f64().unwrap());
    for name in ["vocab.json", "merges.txt", "tokenizer.json", "config.json"] {
        assert!(pruned.join(name).is_file(), "{name} missing");
    }
    Gpt2Tokenizer::from_dir(&pruned).unwrap();

    // The same directory through --config: the checkpoint and its config.json.
    let again = out.path().join("again");
    report(&[
        "prune",
        s(&tiny_gpt2().join("model.safetensors")),
        "--config",
        s(&tiny_gpt2().join("config.json")),
        "--method",
        "wanda",
        "--nm",
        "2:4",
        "--calibration",
        s(&evaluation_text()),
        "-o",
        s(&again),
        "--json",
    ]);
    for sparsity in block_sparsities(&again) {
        assert_eq!(sparsity, 0.5);
    }
}

#[test]
fn shrink_writes_a_smaller_gpt2_and_fills_uneven_blocks_with_zero_units() {
    let out = tempfile::tempdir().unwrap();
    // L2: every block loses the same share, so the checkpoint is smaller and needs no filling.
    let uniform = out.path().join("l2");
    let got = report(&[
        "shrink",
        s(&tiny_gpt2()),
        "--method",
        "l2",
        "--ratio",
        "0.25",
        "--validation",
        s(&evaluation_text()),
        "-o",
        s(&uniform),
        "--json",
    ]);
    assert!(got.get("gpt2_widening").is_none());
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(uniform.join("config.json")).unwrap())
            .unwrap();
    // A quarter of 256 channels removed; the heads (2 · 0.25 rounds to none) stay.
    assert_eq!(config["n_inner"], 192);
    assert!(
        std::fs::metadata(uniform.join("model.safetensors"))
            .unwrap()
            .len()
            < std::fs::metadata(tiny_gpt2().join("model.safetensors"))
                .unwrap()
                .len()
    );
    let reported = got["validation"]["compressed_nats"].as_f64().unwrap();
    assert_scores_as_reported(&uniform, reported);

    // Týr at 50 % distributes the removal unevenly; the written GPT-2 fills the narrower
    // blocks with zero units and still scores what the shrunk model scored.
    let searched = out.path().join("tyr");
    let got = report(&[
        "shrink",
        s(&tiny_gpt2()),
        "--method",
        "tyr",
        "--ratio",
        "0.5",
        "--calibration",
        s(&evaluation_text()),
        "--calibration-tokens",
        "1024",
        "--rounds",
        "1",
        "--generations",
        "2",
        "--offspring",
        "4",
        "--validation",
        s(&evaluation_text()),
        "-o",
        s(&searched),
        "--json",
    ]);
    let reported = got["validation"]["compressed_nats"].as_f64().unwrap();
    assert_scores_as_reported(&searched, reported);
    let groups = got["groups"].as_array().unwrap();
    let kept = |i: usize| groups[i][2].as_u64().unwrap();
    let uneven = kept(0) != kept(2) || kept(1) != kept(3) || kept(0) < 2 || kept(2) < 2;
    assert_eq!(got.get("gpt2_widening").is_some(), uneven, "{got}");
    // This seeded search removes a head of each block, which only zero heads can write.
    assert!(
        uneven,
        "the search kept uniform widths, so filling went untested: {got}"
    );
}

#[test]
fn bad_directories_texts_and_outputs_are_refused_by_name() {
    let out = tempfile::tempdir().unwrap();
    let copy = |skip: &str| {
        let dir = tempfile::tempdir_in(out.path()).unwrap();
        for (path, bytes) in snapshot(&tiny_gpt2()) {
            let name = path.file_name().unwrap();
            if name != skip {
                std::fs::write(dir.path().join(name), bytes).unwrap();
            }
        }
        dir
    };
    let no_vocab = copy("vocab.json");
    let no_config = copy("config.json");
    // A vocabulary file claiming 65 MiB (sparse: nothing is written), over the reader's cap.
    let huge_vocab = copy("");
    std::fs::File::options()
        .write(true)
        .open(huge_vocab.path().join("vocab.json"))
        .unwrap()
        .set_len(65 << 20)
        .unwrap();
    let busy = tempfile::tempdir_in(out.path()).unwrap();
    std::fs::write(busy.path().join("keep.txt"), "mine").unwrap();
    let short = out.path().join("short.txt");
    std::fs::write(&short, "Too short for a window of 64 tokens.").unwrap();
    let latin1 = out.path().join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9").unwrap();
    let fresh = out.path().join("fresh");
    let (tiny, eval) = (tiny_gpt2(), evaluation_text());
    let prune = |model: &Path, extra: &[&str]| {
        let mut args = vec![
            "prune".to_string(),
            s(model).into(),
            "--method".into(),
            "wanda".into(),
            "--sparsity".into(),
            "0.5".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            prune(
                no_vocab.path(),
                &["--calibration", s(&eval), "-o", s(&fresh)],
            ),
            "vocab.json",
        ),
        (
            prune(
                no_config.path(),
                &["--calibration", s(&eval), "-o", s(&fresh)],
            ),
            "config.json",
        ),
        (
            prune(
                huge_vocab.path(),
                &["--calibration", s(&eval), "-o", s(&fresh)],
            ),
            "more than a tokenizer file holds",
        ),
        (
            prune(&tiny, &["--calibration", s(&eval), "-o", s(busy.path())]),
            "not empty",
        ),
        (
            prune(&tiny, &["--calibration", s(&short), "-o", s(&fresh)]),
            "short.txt",
        ),
        (
            prune(&tiny, &["--calibration", s(&latin1), "-o", s(&fresh)]),
            "not UTF-8",
        ),
        (
            prune(
                &tiny,
                &[
                    "--config",
                    s(&tiny.join("config.json")),
                    "--calibration",
                    s(&eval),
                    "-o",
                    s(&fresh),
                ],
            ),
            "not with the directory",
        ),
        (
            vec![
                "compress".into(),
                s(&tiny.join("model.safetensors")).into(),
                "--config".into(),
                s(&tiny.join("config.json")).into(),
                "--method".into(),
                "low-rank".into(),
                "--budget".into(),
                "0.5".into(),
                "-o".into(),
                s(&fresh).into(),
            ],
            "no GPT-2 form",
        ),
        (
            vec![
                "evaluate".into(),
                s(&tiny).into(),
                "--text".into(),
                s(&out.path().join("absent.txt")).into(),
            ],
            "absent.txt",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = tempering(&args);
        assert_eq!(run.status.code(), Some(1), "{args:?}\n{}", text(&run));
        let said = String::from_utf8_lossy(&run.stderr);
        assert!(
            said.contains(expected),
            "{args:?}: wanted {expected:?}\n{}",
            text(&run)
        );
    }
    assert!(!fresh.exists(), "a refused run wrote its output");
    assert_eq!(
        std::fs::read_to_string(busy.path().join("keep.txt")).unwrap(),
        "mine"
    );
}
