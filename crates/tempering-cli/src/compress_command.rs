//! `tempering compress`: the data-free low-rank (ALDS) rank allocation and error report of a
//! checkpoint; with `--config` (a character language model's `run.json`, or an image
//! classifier's `model.json`: MLP, ViT, local-learning ResNet), the factorized model itself,
//! written as a run directory whose config rebuilds it.

use std::path::PathBuf;
use std::process::ExitCode;

use tempering_prune::low_rank::LowRankConfig;
use tempering_prune::low_rank_plan::low_rank_allocation;

use crate::render::{low_rank_table, percent, print_json};

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
    /// The model's config: a character language model's `run.json` (as `train_char_lm`
    /// writes it; its block linear layers are factorized) or an image classifier's
    /// `model.json` (as the quickstart, `train_vit` and `local_learning` write them: the MLP's
    /// linear layers, the ViT's block linear layers, the ResNet's backbone convolutions).
    /// Factorizes the model with its code, and writes the factorized run with -o.
    #[arg(long, value_name = "JSON")]
    config: Option<PathBuf>,
    /// The directory of the factorized run (`model.bpk` and the `run.json` or `model.json`
    /// that rebuilds it); needs --config. Without it, nothing is written.
    #[arg(short, long, value_name = "DIR", requires = "config")]
    output: Option<PathBuf>,
    /// Text to report a language model's nats per character on, before and after (needs
    /// --config).
    #[arg(long, value_name = "TEXT", requires = "config")]
    validation: Option<PathBuf>,
    /// Report a classifier's Fashion-MNIST test accuracy before and after (needs --config):
    /// from the idx files in DIR (`--fashion-mnist=DIR`), or without DIR where the examples
    /// look: $TEMPERING_DATA, Debian's dataset-fashion-mnist, the sample shipped with
    /// tempering.
    #[arg(
        long,
        value_name = "DIR",
        num_args = 0..=1,
        require_equals = true,
        requires = "config"
    )]
    fashion_mnist: Option<Option<PathBuf>>,
    /// Characters of --validation evaluated, in consecutive windows of the model's context.
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    validation_tokens: usize,
    /// Replace the output files if they exist (the inputs are never replaced).
    #[arg(long)]
    force: bool,
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
    let low_rank = LowRankConfig {
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
    if let Some(run_json) = &args.config {
        return compress_run(args, run_json, low_rank);
    }
    let report = low_rank_allocation(&args.checkpoint, &low_rank).map_err(|e| e.to_string())?;
    if args.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", low_rank_table(&report.layers));
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
        "nothing written: the factorized model needs its code; give the model's --config \
         (run.json or model.json) and -o DIR (or use tempering_prune::low_rank_export in Rust)"
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "language-models")]
fn compress_run(
    args: &CompressArgs,
    run_json: &std::path::Path,
    low_rank: LowRankConfig,
) -> Result<ExitCode, String> {
    use crate::model_config::{ModelConfig, model_config_kind};
    let kind = model_config_kind(run_json)?;
    if kind == ModelConfig::Classifier {
        if args.validation.is_some() {
            return Err(format!(
                "--validation: {} is an image classifier's config; score it with \
                 --fashion-mnist",
                run_json.display()
            ));
        }
        return crate::compress_classifier::run(
            &crate::compress_classifier::ClassifierCompressRequest {
                checkpoint: &args.checkpoint,
                config: run_json,
                low_rank,
                output: args.output.as_deref(),
                fashion_mnist: args.fashion_mnist.as_ref().map(Option::as_deref),
                force: args.force,
                json: args.json,
            },
        );
    }
    if args.fashion_mnist.is_some() {
        return Err(format!(
            "--fashion-mnist: {} is a language model's run; score it with --validation TEXT",
            run_json.display()
        ));
    }
    crate::compress_run::run(&crate::compress_run::CompressRequest {
        checkpoint: &args.checkpoint,
        config: run_json,
        low_rank,
        output: args.output.as_deref(),
        validation: args.validation.as_deref(),
        validation_tokens: args.validation_tokens,
        force: args.force,
        json: args.json,
    })
}

#[cfg(not(feature = "language-models"))]
fn compress_run(
    _: &CompressArgs,
    _: &std::path::Path,
    _: LowRankConfig,
) -> Result<ExitCode, String> {
    Err(
        "--config: this build of tempering has no model code; rebuild it with the \
         `language-models` feature (on by default)"
            .into(),
    )
}
