//! `tempering compress model.bpk --config run.json --method low-rank -o DIR`: ALDS on a
//! character language model with its code, end to end: the run directory written rebuilds the
//! factorized model from its `run.json`, the model loads and scores what the report says, the
//! input is untouched, and bad requests are refused by name with nothing written.

#![cfg(feature = "language-models")]

#[path = "common/char_lm_run.rs"]
mod char_lm_run;
mod common;

use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Device;
use char_lm_run::run_dir;
use common::{s, tempering, text};
use tempering_models::transformer::SavedCharLm;

fn compress(model: &Path, run_json: &Path, rest: &[&str]) -> std::process::Output {
    let mut args = vec![
        "compress",
        s(model),
        "--config",
        s(run_json),
        "--method",
        "low-rank",
    ];
    args.extend_from_slice(rest);
    tempering(&args)
}

#[test]
fn the_factorized_run_rebuilds_from_its_config_and_scores_as_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (model, run_json, text_file) = run_dir(dir.path());
    let original = std::fs::read(&model).unwrap();
    for (search, budget) in [(false, "0.5"), (true, "0.4")] {
        let out_dir = dir.path().join(format!("alds-{search}"));
        let mut flags = vec![
            "--budget",
            budget,
            "--validation",
            s(&text_file),
            "-o",
            s(&out_dir),
            "--json",
        ];
        if search {
            flags.push("--search");
        }
        let out = compress(&model, &run_json, &flags);
        assert!(out.status.success(), "{}", text(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let layers = report["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 12, "two blocks of six linear layers");
        let before: u64 = layers
            .iter()
            .map(|l| l["parameters_before"].as_u64().unwrap())
            .sum();
        let after: u64 = layers
            .iter()
            .map(|l| l["parameters_after"].as_u64().unwrap())
            .sum();
        let budget: f64 = budget.parse().unwrap();
        assert!(
            after as f64 <= budget * before as f64,
            "{after} of {before}"
        );
        assert_eq!(
            std::fs::read(&model).unwrap(),
            original,
            "the input changed"
        );

        // run.json lists the factorized layers; with it, model.bpk loads and scores what the
        // report printed.
        let saved = SavedCharLm::load(out_dir.join("run.json")).unwrap();
        saved.check().unwrap();
        let factorized = layers.iter().filter(|l| !l["rank"].is_null()).count();
        assert_eq!(saved.factorized_layers().len(), factorized);
        assert!(factorized > 0);
        let config = saved.factorized_config();
        let loaded = config
            .init(&Device::default())
            .try_load_file(out_dir.join("model.bpk"))
            .unwrap();
        assert_eq!(
            loaded.num_params(),
            report["model_parameters_after"].as_u64().unwrap() as usize
        );
        assert_eq!(config.parameter_count(), Some(loaded.num_params()));
        let tokenizer = tempering_data::CharTokenizer::from_chars(saved.alphabet.chars().collect());
        let tokens = tokenizer
            .encode(&std::fs::read_to_string(&text_file).unwrap())
            .unwrap();
        let windows = 65_536usize.div_ceil(saved.model.context);
        let nats = loaded.held_out_loss(&tokens, 16, windows).unwrap();
        let reported = report["validation"]["compressed_nats"].as_f64().unwrap();
        assert!((nats - reported).abs() < 1e-4, "{nats} against {reported}");
        assert_ne!(
            reported,
            report["validation"]["dense_nats"].as_f64().unwrap(),
            "factorizing changed nothing"
        );
    }
}

#[test]
fn bad_requests_are_refused_by_name_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (model, run_json, text_file) = run_dir(dir.path());
    let out_dir = dir.path().join("out");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--budget", "1.5"], "budget"),
        (
            vec!["--budget", "0.5", "--include", "^head"],
            "selects none of the layers",
        ),
        (
            vec!["--budget", "0.5", "--validation", s(&model)],
            "--validation",
        ),
    ];
    for (flags, expected) in &cases {
        let mut args = flags.clone();
        args.extend(["-o", s(&out_dir)]);
        let out = compress(&model, &run_json, &args);
        assert!(!out.status.success(), "{}", text(&out));
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains(expected), "{expected}: {}", text(&out));
        assert!(
            !out_dir.exists(),
            "a refused run wrote {}",
            out_dir.display()
        );
    }
    // -o over the input run: refused, the input untouched.
    let original = std::fs::read(&model).unwrap();
    let run = model.parent().unwrap();
    let out = compress(
        &model,
        &run_json,
        &["--budget", "0.5", "-o", s(run), "--force"],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read(&model).unwrap(), original);
    // -o needs --config.
    let out = tempering(&[
        "compress",
        s(&model),
        "--method",
        "low-rank",
        "--budget",
        "0.5",
        "-o",
        s(&out_dir),
    ]);
    assert!(
        !out.status.success() && text(&out).contains("--config"),
        "{}",
        text(&out)
    );

    // A factorized run is not a dense run: prune, shrink and compress refuse it by name.
    let alds = dir.path().join("alds");
    let out = compress(&model, &run_json, &["--budget", "0.5", "-o", s(&alds)]);
    assert!(out.status.success(), "{}", text(&out));
    let (alds_model, alds_run) = (alds.join("model.bpk"), alds.join("run.json"));
    for args in [
        vec![
            "compress",
            s(&alds_model),
            "--config",
            s(&alds_run),
            "--method",
            "low-rank",
            "--budget",
            "0.5",
        ],
        vec![
            "prune",
            s(&alds_model),
            "--config",
            s(&alds_run),
            "--method",
            "wanda",
            "--sparsity",
            "0.5",
            "--calibration",
            s(&text_file),
            "--dry-run",
        ],
        vec![
            "shrink",
            s(&alds_model),
            "--config",
            s(&alds_run),
            "--method",
            "l2",
            "--ratio",
            "0.25",
        ],
    ] {
        let out = tempering(&args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains("low-rank factors"), "{}", text(&out));
    }
}
