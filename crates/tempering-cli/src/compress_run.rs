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
use tempering_models::TransformerLm;
use tempering_models::transformer::{Projection, SavedCharLm};
use tempering_prune::low_rank::{LayerAllocation, LowRankConfig};
use tempering_prune::low_rank_export::factorize_model;

use crate::language_model_files::{LanguageModelFiles, ValidationLoss};
use crate::render::{low_rank_summary, low_rank_table, print_json};
use crate::run_directory::write_run;

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
    validation: Option<ValidationLoss>,
    seconds: f64,
    output: Option<PathBuf>,
}

pub fn run(request: &CompressRequest<'_>) -> Result<ExitCode, String> {
    let started = Instant::now();
    let files = LanguageModelFiles::open(request.checkpoint, Some(request.config))?;
    if let (LanguageModelFiles::Gpt2 { .. }, Some(dir)) = (&files, request.output) {
        return Err(format!(
            "-o {}: a GPT-2 checkpoint holds dense layers, so the factorized model has no \
             GPT-2 form; leave out -o to see the ranks and, with --validation, the loss",
            dir.display()
        ));
    }
    let context = files.context();
    let (validation, model) = files.prepare(request.validation, (request.output, request.force))?;
    let windows = request.validation_tokens.div_ceil(context);
    let dense_loss = validation
        .as_ref()
        .and_then(|tokens| held_out(&model, tokens, windows, files.loss_batch(BATCH)));
    let before = model.num_params();
    let (small, small_config, layers) =
        factorize_model(model, files.lm_config(), &request.low_rank).map_err(|e| e.to_string())?;
    let compressed_loss = validation
        .as_ref()
        .and_then(|tokens| held_out(&small, tokens, windows, files.loss_batch(BATCH)));
    let written = match (&files, request.output) {
        (LanguageModelFiles::CharRun { saved, .. }, Some(dir)) => {
            let compressed = SavedCharLm {
                factorized: Some(small_config.factorized),
                ..(**saved).clone()
            };
            write_run(dir, &small, &compressed, request.checkpoint, request.force)?;
            Some(dir.to_path_buf())
        }
        _ => None,
    };
    let report = Report {
        method: "low-rank",
        budget: request.low_rank.budget,
        search: request.low_rank.search.is_some(),
        layers: &layers,
        model_parameters_before: before,
        model_parameters_after: small.num_params(),
        validation: ValidationLoss::new(files.unit(), dense_loss, compressed_loss),
        seconds: started.elapsed().as_secs_f64(),
        output: written,
    };
    if request.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_report(&report, &files);
    Ok(ExitCode::SUCCESS)
}

/// Nats per token of `tokens` under `model`, over at most `windows` context windows, `batch`
/// at a time.
fn held_out<P: Projection>(
    model: &TransformerLm<P>,
    tokens: &[u32],
    windows: usize,
    batch: usize,
) -> Option<f64> {
    model.held_out_loss(tokens, batch, windows)
}

fn print_report(report: &Report<'_>, files: &LanguageModelFiles) {
    print!("{}", low_rank_table(report.layers));
    let what = format!("the {} block linear layers", report.layers.len());
    println!(
        "\n{}; the model {} → {} parameters",
        low_rank_summary(report.layers, report.search, report.budget, &what),
        report.model_parameters_before,
        report.model_parameters_after,
    );
    if let Some(validation) = &report.validation {
        validation.print("compressed");
    }
    println!("took {:.1} s", report.seconds);
    files.print_written(report.output.as_deref());
}
