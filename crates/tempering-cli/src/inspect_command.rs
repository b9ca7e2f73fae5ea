//! `tempering inspect`.

use std::path::PathBuf;
use std::process::ExitCode;

use tempering_prune::inspect::inspect;

use crate::render::{bytes, percent, print_json, shape, table};

/// Arguments of `tempering inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// The checkpoint (.bpk or .safetensors).
    checkpoint: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &InspectArgs) -> Result<ExitCode, String> {
    let report = inspect(&args.checkpoint).map_err(|e| e.to_string())?;
    if args.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = report
        .tensors
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.dtype.clone(),
                shape(&t.shape),
                t.elements.to_string(),
                bytes(t.bytes),
                t.zeros.map_or_else(
                    || "-".into(),
                    |z| percent(z as f64 / t.elements.max(1) as f64),
                ),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["tensor", "dtype", "shape", "elements", "size", "sparsity"],
            &rows
        )
    );
    let (zeros, float_elements) = report.float_zeros();
    println!(
        "\n{}: {} checkpoint, {}, {} tensors, {} elements ({} of tensor data); {} of the \
         floating-point elements are zero",
        report.path.display(),
        report.format.name(),
        bytes(report.file_bytes),
        report.tensors.len(),
        report.elements(),
        bytes(report.bytes()),
        percent(zeros as f64 / float_elements.max(1) as f64),
    );
    if !report.metadata.is_empty() {
        let keys: Vec<&str> = report.metadata.keys().map(String::as_str).collect();
        println!("metadata: {}", keys.join(", "));
    }
    for (i, r) in report.provenance.iter().enumerate() {
        println!(
            "pass {}: {} {} {} of {} ({} tensors)",
            i + 1,
            r.operation,
            r.method,
            percent(r.sparsity),
            r.input,
            r.zeros.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
