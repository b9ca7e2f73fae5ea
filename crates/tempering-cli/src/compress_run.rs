//! `tempering compress model.bpk --config run.json --method low-rank --budget B -o DIR`: ALDS
//! (Liebenwein et al., NeurIPS 2021) on a character transformer language model with its code.
//! Every block linear layer (attention projections, feed-forward) is a candidate; the ranks
//! (and, with `--search`, the input chunks) are allocated under the budget over the selected
//! layers, the layers are factorized, and the run directory written holds the factorized
//! `model.bpk` and a `run.json` whose `factorized` list rebuilds it
//! (`SavedCharLm::factorized_config`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use burn::module::Module;
use tempering_data::CharTokenizer;
use tempering_models::TransformerLm;
use tempering_models::transformer::{Projection, SavedCharLm};
use tempering_prune::low_rank::{LayerAllocation, LowRankConfig};
use tempering_prune::low_rank_export::factorize_model;

use crate::calibrated_prune::{RUN_CONFIG, load_run, open_run, print_written, write_run};
use crate::render::{low_rank_summary, low_rank_table, print_json};

/// Validation windows per forward pass.
const BATCH: usize = 16;

/// What the model path of `compress` needs from the command line.
pub struct CompressRequest<'a> {
    pub checkpoint: &'a Path,
    pub config: &'a Path,
    pub low_rank: LowRankConfig,
    pub output: Option<&'a Path>,
    pub validation: Option<&'a Path>,
    pub validation_tokens: usize,
    pub force: bool,
    pub json: bool,
}

#[derive(serde::Serialize)]
struct Report<'a> {
    method: &'static str,
    budget: f64,
    search: bool,
    layers: &'a [LayerAllocation],
    model_parameters_before: usize,
    model_parameters_after: usize,
    dense_nats_per_char: Option<f64>,
    compressed_nats_per_char: Option<f64>,
    seconds: f64,
    output: Option<PathBuf>,
}

pub fn run(request: &CompressRequest<'_>) -> Result<ExitCode, String> {
    let started = Instant::now();
    let saved = load_run(request.checkpoint, request.config)?;
    let tokenizer = CharTokenizer::from_chars(saved.alphabet.chars().collect());
    let context = saved.model.context;
    let (validation, model) = open_run(
        &saved,
        &tokenizer,
        (request.checkpoint, request.config),
        request.validation,
        (request.output, request.force),
    )?;
    let windows = request.validation_tokens.div_ceil(context);
    let dense_loss = validation
        .as_ref()
        .and_then(|tokens| held_out(&model, tokens, windows));
    let before = model.num_params();
    let (small, small_config, layers) =
        factorize_model(model, &saved.model, &request.low_rank).map_err(|e| e.to_string())?;
    let compressed_loss = validation
        .as_ref()
        .and_then(|tokens| held_out(&small, tokens, windows));
    let written = match request.output {
        Some(dir) => {
            let compressed = SavedCharLm {
                factorized: Some(small_config.factorized),
                ..saved
            };
            write_run(dir, &small, &compressed, request.checkpoint, request.force)?;
            Some(dir.to_path_buf())
        }
        None => None,
    };
    let report = Report {
        method: "low-rank",
        budget: request.low_rank.budget,
        search: request.low_rank.search.is_some(),
        layers: &layers,
        model_parameters_before: before,
        model_parameters_after: small.num_params(),
        dense_nats_per_char: dense_loss,
        compressed_nats_per_char: compressed_loss,
        seconds: started.elapsed().as_secs_f64(),
        output: written,
    };
    if request.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_report(&report);
    Ok(ExitCode::SUCCESS)
}

/// Nats per character of `tokens` under `model`, over at most `windows` context windows.
fn held_out<P: Projection>(
    model: &TransformerLm<P>,
    tokens: &[u32],
    windows: usize,
) -> Option<f64> {
    model.held_out_loss(tokens, BATCH, windows)
}

fn print_report(report: &Report<'_>) {
    print!("{}", low_rank_table(report.layers));
    let what = format!("the {} block linear layers", report.layers.len());
    println!(
        "\n{}; the model {} → {} parameters",
        low_rank_summary(report.layers, report.search, report.budget, &what),
        report.model_parameters_before,
        report.model_parameters_after,
    );
    if let (Some(dense), Some(compressed)) =
        (report.dense_nats_per_char, report.compressed_nats_per_char)
    {
        println!("validation: {dense:.4} nats/char dense, {compressed:.4} compressed");
    }
    println!("took {:.1} s", report.seconds);
    print_written(report.output.as_deref(), RUN_CONFIG);
}
