//! Time of one SparseGPT pass (Frantar & Alistarh, ICML 2023) on a GPT-2-sized layer: a
//! `--outputs × --inputs` weight (default 3072 × 768, GPT-2 small's first feed-forward layer
//! in PyTorch's `[out, in]` order) calibrated on `--tokens` inputs (default 2,048), at 50 %
//! unstructured and at 2:4, with the official block size 128 and dampening 0.01. It prints the
//! time of each phase: `XᵀX` on the device, and the prune (dead inputs, dampening, the
//! Cholesky factor of the inverse, the OBS loop), the minimum of `--repeats` runs.
//!
//! With `--python PATH --sparsegpt-repo DIR` it also runs the official implementation
//! (IST-DASLab/sparsegpt `sparsegpt.py`, from a checkout in `DIR`) through
//! `examples/bench_sparsegpt/bench_sparsegpt.py` on the identical layer and inputs, with the same threads, in
//! the same run, and prints each side's times and their ratio (tempering / PyTorch).
//!
//! ```sh
//! cargo run --release -p tempering-examples --bin bench_sparsegpt
//! cargo run --release -p tempering-examples --bin bench_sparsegpt -- \
//!     --python venv/bin/python --sparsegpt-repo sparsegpt --threads 2
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use clap::Parser;
use tempering_core::compression::linear_units::host_values;
use tempering_prune::calibrated::{InputHessian, SparseGptConfig, sparsegpt};

/// Options of `bench_sparsegpt`.
#[derive(Parser, Debug)]
#[command(about = "Time SparseGPT on one large linear layer")]
struct Args {
    /// Outputs of the layer (rows of the weight).
    #[arg(long, default_value_t = 3072)]
    outputs: usize,
    /// Inputs of the layer (columns of the weight).
    #[arg(long, default_value_t = 768)]
    inputs: usize,
    /// Calibration tokens.
    #[arg(long, default_value_t = 2048)]
    tokens: usize,
    /// Runs of each measurement (the minimum is printed).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// A Python with torch and transformers, to time the official code too.
    #[arg(long, requires = "sparsegpt_repo")]
    python: Option<String>,
    /// A checkout of the official SparseGPT repository (IST-DASLab/sparsegpt).
    #[arg(long, requires = "python")]
    sparsegpt_repo: Option<PathBuf>,
    /// Threads of the PyTorch side (tempering's uses the machine's: run both with the same).
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

/// The official code's times, from the script's JSON line.
struct TorchTimes {
    gram: f64,
    unstructured: f64,
    two_of_four: f64,
    version: String,
    threads: usize,
}

fn write_f32(path: &Path, values: &[f32]) -> std::io::Result<()> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes)
}

fn torch_times(
    args: &Args,
    python: &str,
    repo: &Path,
    weight: &[f32],
    inputs: &[f32],
) -> Result<TorchTimes, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (weight_file, inputs_file) = (dir.path().join("weight.f32"), dir.path().join("inputs.f32"));
    write_f32(&weight_file, weight).map_err(|e| e.to_string())?;
    write_f32(&inputs_file, inputs).map_err(|e| e.to_string())?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench_sparsegpt/bench_sparsegpt.py");
    let output = Command::new(python)
        .arg(&script)
        .arg("--repo")
        .arg(repo)
        .arg("--weight")
        .arg(&weight_file)
        .arg("--inputs")
        .arg(&inputs_file)
        .args(["--outputs", &args.outputs.to_string()])
        .args(["--in-features", &args.inputs.to_string()])
        .args(["--tokens", &args.tokens.to_string()])
        .args(["--threads", &args.threads.to_string()])
        .args(["--repeats", &args.repeats.to_string()])
        .output()
        .map_err(|e| format!("{python} cannot run: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "the script failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| format!("no JSON line in {stdout:?}"))?;
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let number = |key: &str| {
        value[key]
            .as_f64()
            .ok_or_else(|| format!("no {key} in {line}"))
    };
    Ok(TorchTimes {
        gram: number("gram_seconds")?,
        unstructured: number("prune_50_seconds")?,
        two_of_four: number("prune_2_4_seconds")?,
        version: value["torch"].as_str().unwrap_or("?").to_string(),
        threads: number("threads")? as usize,
    })
}

fn minimum_seconds(repeats: usize, mut run: impl FnMut()) -> f64 {
    (0..repeats.max(1))
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let args = Args::parse();
    let device = Device::default();
    device.seed(0);
    let inputs = Tensor::<2>::random(
        [args.tokens, args.inputs],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let weight = host_values(Tensor::<2>::random(
        [args.outputs, args.inputs],
        Distribution::Normal(0.0, 0.02),
        &device,
    ));
    let mut hessian = InputHessian::new(args.inputs);
    let gram = minimum_seconds(args.repeats, || {
        hessian = InputHessian::new(args.inputs);
        hessian
            .add_tensor(inputs.clone(), 1)
            .expect("finite random inputs");
    });
    let mut ours = vec![("XᵀX", gram)];
    for (name, config) in [
        ("prune 50 %", SparseGptConfig::unstructured(0.5)),
        ("prune 2:4", SparseGptConfig::n_of_m(2, 4)),
    ] {
        let seconds = minimum_seconds(args.repeats, || {
            let mut w = weight.clone();
            sparsegpt(&mut w, args.outputs, &hessian, &config).expect("a valid layer");
        });
        ours.push((name, seconds));
    }
    println!(
        "SparseGPT on a [{} out, {} in] layer, {} calibration tokens (minimum of {} runs)",
        args.outputs, args.inputs, args.tokens, args.repeats
    );
    let torch = match (&args.python, &args.sparsegpt_repo) {
        (Some(python), Some(repo)) => {
            let inputs = host_values(inputs);
            match torch_times(&args, python, repo, &weight, &inputs) {
                Ok(t) => Some(t),
                Err(e) => {
                    eprintln!("bench_sparsegpt: the official code did not run: {e}");
                    std::process::exit(2);
                }
            }
        }
        _ => None,
    };
    match torch {
        None => {
            for (name, seconds) in ours {
                println!("{name:<11} tempering {seconds:.3} s");
            }
        }
        Some(t) => {
            println!(
                "PyTorch {} with {} threads (official sparsegpt.py); tempering on the machine's \
                 threads (XᵀX by the backend, the prune split by rows)",
                t.version, t.threads
            );
            println!(
                "{:<11} {:>10} {:>10} {:>6}",
                "", "tempering", "PyTorch", "ratio"
            );
            for ((name, seconds), theirs) in
                ours.into_iter()
                    .zip([t.gram, t.unstructured, t.two_of_four])
            {
                println!(
                    "{name:<11} {seconds:>9.3}s {theirs:>9.3}s {:>6.2}",
                    seconds / theirs
                );
            }
        }
    }
}
