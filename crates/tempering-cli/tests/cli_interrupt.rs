//! An interrupted `tempering prune` leaves nothing behind: SIGINT in the middle of writing
//! removes the temporary file and exits with 130, and the output never appears.

#![cfg(unix)]

mod common;

use std::time::{Duration, Instant};

use common::{s, text};
use safetensors::tensor::{Dtype, TensorView};

/// Files in `dir` other than `keep`.
fn others(dir: &std::path::Path, keep: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != keep)
        .collect()
}

#[test]
fn sigint_while_writing_removes_the_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("big.safetensors");
    // 32M f32 (128 MiB): long enough to write that the interrupt lands mid-write.
    let elements = 32 << 20;
    let bytes: Vec<u8> = (0..elements)
        .flat_map(|i: usize| ((i % 1000) as f32 - 500.0).to_le_bytes())
        .collect();
    let view = TensorView::new(Dtype::F32, vec![8192, elements / 8192], &bytes).unwrap();
    safetensors::serialize_to_file([("w", view)], None, &model).unwrap();
    drop(bytes);
    let out = dir.path().join("out.safetensors");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tempering"))
        .args([
            "prune",
            s(&model),
            "-o",
            s(&out),
            "--method",
            "layer-magnitude",
            "--sparsity",
            "0.5",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the temporary file to appear, then interrupt.
    let started = Instant::now();
    let mut seen = None;
    while started.elapsed() < Duration::from_secs(60) {
        if let Some(tmp) = others(dir.path(), "big.safetensors")
            .into_iter()
            .find(|n| n.starts_with(".out.safetensors."))
        {
            seen = Some(tmp);
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let tmp = seen.expect("the temporary output never appeared before the run ended");
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let result = child.wait_with_output().unwrap();
    if result.status.success() {
        // The write finished between the poll and the signal: nothing to test this time, but
        // nothing may be left either.
        eprintln!("the run finished before the interrupt ({tmp} was seen)");
    } else {
        assert_eq!(result.status.code(), Some(130), "{}", text(&result));
        assert!(!out.exists(), "an interrupted run published its output");
    }
    let left: Vec<_> = others(dir.path(), "big.safetensors")
        .into_iter()
        .filter(|n| n != "out.safetensors")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
