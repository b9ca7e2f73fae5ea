//! Files built to break the `tempering` command: each one ends in a correct result or a clean
//! error (exit status 1, the file and the problem named), never a panic (101) or an abort.
//! The inputs are the kinds a mutation run found: a weight near `f32::MAX`, `--include`
//! selecting a bias, an `f64` too large for `f32`, provenance records claiming impossible N:M
//! patterns, `f64` values below `f32`'s range, a FIFO, and an optimizer output spelled as the
//! model output.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{s, tempering, text};
use safetensors::tensor::{Dtype, TensorView};

/// A safetensors file of `(name, dtype, shape, little-endian bytes)` with optional metadata.
fn write_safetensors(
    path: &Path,
    tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)],
    metadata: Option<HashMap<String, String>>,
) {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            let view = TensorView::new(*dtype, shape.clone(), bytes).expect("a valid tensor");
            (name.to_string(), view)
        })
        .collect();
    safetensors::serialize_to_file(views, metadata, path).expect("written");
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A small dense weight `[8, 6]` with distinct values, and its bias.
fn layer(max: Option<f32>) -> Vec<(&'static str, Dtype, Vec<usize>, Vec<u8>)> {
    let mut weight: Vec<f32> = (0..48)
        .map(|i| ((i * 13 % 17) as f32 - 8.0) / 8.0)
        .collect();
    if let Some(max) = max {
        weight[5] = max;
    }
    vec![
        ("fc.weight", Dtype::F32, vec![8, 6], f32_bytes(&weight)),
        ("fc.bias", Dtype::F32, vec![6], f32_bytes(&[0.5; 6])),
    ]
}

fn assert_clean_error(out: &Output, expected: &[&str]) {
    let all = text(out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(!all.contains("panicked"), "{all}");
    for needle in expected {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
}

#[test]
fn compress_factorizes_a_weight_near_f32_max() {
    // burn-linalg's SVD did not converge on a matrix holding 3.4e38 and panicked; the matrix
    // is scaled to a largest magnitude of 1 before the decomposition now.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("huge.safetensors");
    write_safetensors(&model, &layer(Some(3.4e38)), None);
    let out = tempering(&[
        "compress",
        s(&model),
        "--method",
        "low-rank",
        "--budget",
        "0.9",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("fc.weight"));
}

#[test]
fn compress_names_a_selected_tensor_that_is_no_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    write_safetensors(&model, &layer(None), None);
    let out = tempering(&[
        "compress",
        s(&model),
        "--method",
        "low-rank",
        "--budget",
        "0.5",
        "--include",
        "bias",
    ]);
    assert_clean_error(&out, &["fc.bias", "rank 1"]);
    // A matrix with an empty dimension has nothing to factorize either: it is left out, and
    // the error says why.
    let empty = dir.path().join("e.safetensors");
    write_safetensors(&empty, &[("w", Dtype::F32, vec![0, 4], vec![])], None);
    let out = tempering(&[
        "compress",
        s(&empty),
        "--method",
        "low-rank",
        "--budget",
        "0.5",
        "--include",
        "w",
    ]);
    assert_clean_error(&out, &["e.safetensors", "w (empty)"]);
}

#[test]
fn compress_calls_an_f64_beyond_f32_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("wide.safetensors");
    let mut weight = vec![0.25f64; 12];
    weight[7] = 1e300;
    write_safetensors(
        &model,
        &[("w", Dtype::F64, vec![3, 4], f64_bytes(&weight))],
        None,
    );
    let out = tempering(&[
        "compress",
        s(&model),
        "--method",
        "low-rank",
        "--budget",
        "0.5",
    ]);
    assert_clean_error(&out, &["'w'", "1e300", "element 7"]);
    assert!(!text(&out).contains("NaN"), "{}", text(&out));
}

/// A provenance record as `tempering prune` writes it, with `n_of_m` and its axes replaced.
fn record(n_of_m: serde_json::Value, axes: serde_json::Value) -> HashMap<String, String> {
    let record = serde_json::json!([{
        "tool": "tempering 0.1.0", "operation": "prune", "method": "nm", "sparsity": 0.5,
        "min_keep_percent": null, "n_of_m": n_of_m, "seed": null, "include": null,
        "exclude": null, "input": "model.safetensors", "input_bytes": 0, "unix_time": 0,
        "zeros": {}, "n_of_m_axes": axes,
    }]);
    HashMap::from([("tempering.provenance".to_string(), record.to_string())])
}

#[test]
fn verify_does_not_trust_the_record_it_checks() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original.safetensors");
    let mut tensors = layer(None);
    tensors.push(("step", Dtype::I64, vec![2], vec![0; 16]));
    tensors.push(("empty", Dtype::F32, vec![0, 3], vec![]));
    write_safetensors(&original, &tensors, None);
    let cases = [
        // N:M 2:0 once panicked in `step_by(0)`.
        (
            serde_json::json!([2, 0]),
            serde_json::json!({"fc.weight": 0}),
            "not 2:0",
        ),
        // An integer tensor once indexed past its (absent) magnitude keys.
        (
            serde_json::json!([2, 4]),
            serde_json::json!({"step": 0}),
            "'step'",
        ),
        // M = 2^40 on an empty dimension once allocated an 8 TiB group.
        (
            serde_json::json!([2, 1u64 << 40]),
            serde_json::json!({"empty": 0}),
            "no N:M group",
        ),
        // An axis the tensor does not have.
        (
            serde_json::json!([2, 4]),
            serde_json::json!({"fc.weight": 9}),
            "no axis 9",
        ),
    ];
    for (i, (n_of_m, axes, expected)) in cases.into_iter().enumerate() {
        let pruned = dir.path().join(format!("pruned-{i}.safetensors"));
        write_safetensors(&pruned, &tensors, Some(record(n_of_m, axes)));
        let out = tempering(&["verify", s(&original), s(&pruned)]);
        let all = text(&out);
        assert!(!all.contains("panicked"), "{all}");
        if expected == "no N:M group" {
            // Nothing to check in an empty tensor: only the record's other claims count.
            assert!(
                out.status.code() == Some(0) || out.status.code() == Some(1),
                "{all}"
            );
        } else {
            assert_clean_error(&out, &[expected]);
        }
    }
}

#[test]
fn f64_values_below_f32_range_are_pruned_not_counted_as_zeros() {
    // 1e-300 rounds to 0 in f32: it once counted as already zero, so pruning 25 % changed
    // nothing while reporting 25 % sparsity.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.safetensors");
    let values = [1e-300, 1.0, 2.0, 3.0];
    write_safetensors(
        &model,
        &[("w", Dtype::F64, vec![2, 2], f64_bytes(&values))],
        None,
    );
    let pruned = dir.path().join("pruned.safetensors");
    let out = tempering(&[
        "prune",
        s(&model),
        "-o",
        s(&pruned),
        "--method",
        "global-magnitude",
        "--sparsity",
        "0.25",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let bytes = std::fs::read(&pruned).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let w: Vec<f64> = file
        .tensor("w")
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(w, vec![0.0, 1.0, 2.0, 3.0]);
    let out = tempering(&["verify", s(&model), s(&pruned)]);
    assert!(out.status.success(), "{}", text(&out));
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_instead_of_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("model.bpk");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo unavailable; skipping");
        return;
    }
    // Without a writer, opening a FIFO for reading blocks: the command must not.
    let out = tempering(&["inspect", s(&fifo)]);
    assert_clean_error(&out, &["model.bpk", "not a regular file"]);
    let out = tempering(&["inspect", s(dir.path())]);
    assert_clean_error(&out, &["a directory"]);
}

#[test]
fn small_mistakes_get_their_own_message() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    write_safetensors(&model, &layer(None), None);
    let out_path = dir.path().join("out.safetensors");
    // 5:4 is a bad pattern, not a bad sparsity.
    let out = tempering(&[
        "prune",
        s(&model),
        "-o",
        s(&out_path),
        "--method",
        "nm",
        "--nm",
        "5:4",
    ]);
    assert_clean_error(&out, &["--nm", "5:4"]);
    assert!(!text(&out).contains("--sparsity"), "{}", text(&out));
    // Random pruning ranks by random keys: no magnitude threshold to print.
    let out = tempering(&[
        "prune",
        s(&model),
        "-o",
        s(&out_path),
        "--method",
        "random",
        "--sparsity",
        "0.5",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for target in report["targets"].as_array().unwrap() {
        assert!(target["threshold"].is_null(), "{target}");
    }
}

#[test]
fn an_optimizer_output_spelled_as_the_model_output_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.bpk");
    let optim = dir.path().join("optim.bpk");
    // Any burnpack will do: the command must stop before reading either as a model.
    write_burnpack(&model);
    write_burnpack(&optim);
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tempering"))
        .current_dir(&sub)
        .args([
            "prune",
            "../model.bpk",
            "-o",
            "out.bpk",
            "--optim",
            "../optim.bpk",
            "--optim-output",
            "./out.bpk",
            "--method",
            "global-magnitude",
            "--sparsity",
            "0.5",
        ])
        .output()
        .unwrap();
    assert_clean_error(&out, &["--optim-output", "same file"]);
    assert!(
        !sub.join("out.bpk").exists(),
        "the pruned file was written first"
    );
}

fn write_burnpack(path: &PathBuf) {
    use burn::module::Module;
    use burn::nn::LinearConfig;
    let device = burn::tensor::Device::default();
    LinearConfig::new(4, 4)
        .init(&device)
        .save_file(path)
        .expect("saved");
}
