//! `tempering compress`: the data-free low-rank (ALDS) rank allocation and error report.

use std::path::PathBuf;
use std::process::ExitCode;

use tempering_prune::low_rank::LowRankConfig;
use tempering_prune::low_rank_plan::low_rank_allocation;

use crate::render::{percent, print_json, shape, table};

/// Arguments of `tempering compress`.
#[derive(clap::Args, Debug)]
pub struct CompressArgs {
    /// The checkpoint (.bpk or .safetensors); only read.
    checkpoint: PathBuf,
    /// The compression method.
    #[arg(long, value_enum)]
    method: CompressMethod,
    /// Fraction of the targeted weights' parameters to keep, e.g. 0.5.
    #[arg(long)]
    budget: f64,
    /// Input-channel groups decomposed separately (ALDS's k), the same in every layer (the
    /// paper's error-only ablation).
    #[arg(long, default_value_t = 3, conflicts_with = "search")]
    chunks: usize,
    /// ALDS's search: each layer's k among the divisors of its input channels, jointly with
    /// the ranks (15 seeds of 4 iterations, as the official allocator).
    #[arg(long)]
    search: bool,
    /// Seed of the search's random starting points.
    #[arg(long, default_value_t = 0, requires = "search")]
    seed: u64,
    /// Compress the float tensors whose names match this regex (instead of every float tensor
    /// of rank ≥ 2 that is not an embedding).
    #[arg(long, value_name = "REGEX")]
    include: Option<String>,
    /// Leave the tensors whose names match this regex untouched.
    #[arg(long, value_name = "REGEX")]
    exclude: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CompressMethod {
    /// ALDS: chunked SVD per layer, ranks that minimize the largest relative error.
    LowRank,
}

pub fn run(args: &CompressArgs) -> Result<ExitCode, String> {
    let CompressMethod::LowRank = args.method;
    let config = LowRankConfig {
        budget: args.budget,
        chunks: args.chunks,
        search: args
            .search
            .then(|| tempering_prune::alds_search::AldsSearchConfig {
                seed: args.seed,
                ..Default::default()
            }),
        include: args.include.clone(),
        exclude: args.exclude.clone(),
    };
    let report = low_rank_allocation(&args.checkpoint, &config).map_err(|e| e.to_string())?;
    if args.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = report
        .layers
        .iter()
        .map(|l| {
            vec![
                l.name.clone(),
                shape(&l.shape),
                l.rank
                    .map_or_else(|| "dense".into(), |r| format!("{r} × {}", l.chunks)),
                l.parameters_before.to_string(),
                l.parameters_after.to_string(),
                format!("{:.4}", l.relative_error),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "tensor",
                "shape",
                "rank × chunks",
                "params",
                "after",
                "rel. error"
            ],
            &rows
        )
    );
    println!(
        "\nlow-rank (ALDS{}) at budget {}: {} → {} parameters ({} kept) over {} layers; largest \
         relative spectral error {:.4}",
        if args.search {
            ", chunks searched per layer"
        } else {
            ""
        },
        percent(report.budget),
        report.parameters_before(),
        report.parameters_after(),
        percent(report.parameters_after() as f64 / report.parameters_before().max(1) as f64),
        report.layers.len(),
        report.max_error()
    );
    println!(
        "nothing written: exporting factorized layers needs the model code \
         (tempering_prune::low_rank::factorize)"
    );
    Ok(ExitCode::SUCCESS)
}
