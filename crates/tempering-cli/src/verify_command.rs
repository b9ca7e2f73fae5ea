//! `tempering verify`.

use std::path::PathBuf;
use std::process::ExitCode;

use tempering_prune::verify::verify;

use crate::render::print_json;

/// Arguments of `tempering verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The checkpoint before pruning.
    original: PathBuf,
    /// The checkpoint `tempering prune` wrote.
    pruned: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &VerifyArgs) -> Result<ExitCode, String> {
    let report = verify(&args.original, &args.pruned).map_err(|e| e.to_string())?;
    if args.json {
        print_json(&report)?;
    } else {
        println!(
            "{} tensors: {} byte-identical, {} pruned as recorded",
            report.tensors, report.identical, report.pruned_tensors
        );
        if let Some(r) = &report.record {
            println!("record: {} {} of {}", r.operation, r.method, r.input);
        }
        for p in &report.problems {
            println!("FAIL {p}");
        }
        println!("{}", if report.passed() { "ok" } else { "FAILED" });
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
