//! `tempering shrink`: structured pruning of a transformer language model (a character run,
//! `train_char_lm`'s `model.bpk` with `--config run.json`, or a Hugging Face GPT-2 directory)
//! into a physically smaller one: whole attention heads and feed-forward channels leave, with
//! every weight coupled to them. The output is a run directory (`model.bpk` and the `run.json`
//! whose config builds the smaller model) that `train_char_lm --generate` loads, or a GPT-2
//! directory: its config has one width for every block, so blocks narrower than the widest
//! are filled with zero units (removed heads always are: GPT-2 derives the head width from the
//! head count).
//!
//! - `--method tyr`: Týr-the-Pruner (Li et al., NeurIPS 2025), a per-block distribution of the
//!   removed units searched on calibration text, kept units refit by least squares;
//! - `--method l2`: the same fraction of every block's units, the lowest L2 norms of their
//!   coupled weights (Torch-Pruning's uniform baseline), no data needed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use tempering_data::calibration_windows;
use tempering_models::TransformerLm;
use tempering_prune::calibrated::tyr::{
    Propagation, TyrConfig, TyrProgress, TyrReport, TyrSearchConfig, tyr_prune,
};
use tempering_prune::structured::{GroupReport, StructuredConfig, shrink_structured};

use crate::language_model_files::{LanguageModelFiles, ValidationLoss, print_widening};
use crate::render::{percent, print_json, table};
use tempering_models::transformer::hf_gpt2::Gpt2Widening;

/// Calibration sequences per forward pass.
const BATCH: usize = 16;

/// Arguments of `tempering shrink`.
#[derive(clap::Args, Debug)]
pub struct ShrinkArgs {
    /// The model's checkpoint (`model.bpk`), or a Hugging Face GPT-2 directory; never
    /// modified.
    checkpoint: PathBuf,
    /// The model's `run.json` (as `train_char_lm` writes it); not with a GPT-2 directory.
    #[arg(long, value_name = "RUN_JSON")]
    config: Option<PathBuf>,
    /// How to choose the units to remove.
    #[arg(long, value_enum)]
    method: ShrinkMethod,
    /// Fraction of the attention heads and of the feed-forward channels to remove, in [0, 1).
    #[arg(long)]
    ratio: f64,
    /// The directory of the smaller run (`model.bpk` and `run.json`), or of the smaller GPT-2;
    /// without it, a dry run.
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Calibration text for `tyr` (UTF-8; for a character model, in its alphabet).
    #[arg(long, value_name = "TEXT")]
    calibration: Option<PathBuf>,
    /// Calibration tokens (characters of a character model), drawn as windows of the model's context at seeded random
    /// offsets (--seed) [default: 256 windows].
    #[arg(long, value_name = "N")]
    calibration_tokens: Option<usize>,
    /// Text to report the model's nats per token (per character) and perplexity on, before
    /// and after.
    #[arg(long, value_name = "TEXT")]
    validation: Option<PathBuf>,
    /// Tokens of --validation evaluated, in consecutive windows of the model's context.
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    validation_tokens: usize,
    /// Týr: coarse-to-fine rounds, each with half the previous step between levels
    /// (official 4).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Týr: generations of the evolutionary search per round (official 50).
    #[arg(long, default_value_t = 16)]
    generations: usize,
    /// Týr: offspring per generation (official 128).
    #[arg(long, default_value_t = 32)]
    offspring: usize,
    /// Týr: what the blocks after a pruned block are calibrated on.
    #[arg(long, value_enum, default_value_t = PropagationArg::Target)]
    propagation: PropagationArg,
    /// Seed of the calibration windows and of the search.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Replace the output files if they exist (the inputs are never replaced).
    #[arg(long)]
    force: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ShrinkMethod {
    /// Týr-the-Pruner: searched per-block widths, least-squares refit (needs --calibration).
    Tyr,
    /// The same fraction of every block, lowest L2 norm first (no data).
    L2,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PropagationArg {
    /// The level-0 candidate (the update the official code's comment describes).
    Target,
    /// The density-weighted mean of the candidates (the paper's expectation).
    Expectation,
    /// The dense weights (what the released code computes).
    Dense,
}

#[derive(serde::Serialize)]
struct Report {
    method: &'static str,
    ratio: f64,
    groups: Vec<(String, usize, usize)>,
    parameters_before: usize,
    parameters_after: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    tyr: Option<TyrReport>,
    calibration_sequences: usize,
    validation: Option<ValidationLoss>,
    seconds: f64,
    output: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gpt2_widening: Option<Gpt2Widening>,
}

/// The Týr settings of the command line: the official local pruner, a search sized for a
/// small model ([`TyrSearchConfig::scaled`]).
fn tyr_config(args: &ShrinkArgs, sequences: usize, context: usize) -> TyrConfig {
    let mut config = TyrConfig::new(args.ratio);
    config.rounds = args.rounds;
    config.supernet.propagation = match args.propagation {
        PropagationArg::Target => Propagation::TargetLevel,
        PropagationArg::Expectation => Propagation::Expectation,
        PropagationArg::Dense => Propagation::Dense,
    };
    config.search = TyrSearchConfig::scaled(sequences * context, context, args.seed);
    config.search.generations = args.generations;
    config.search.offspring = args.offspring;
    config
}

pub fn run(args: &ShrinkArgs) -> Result<ExitCode, String> {
    let started = Instant::now();
    if !(0.0..1.0).contains(&args.ratio) {
        return Err(format!("--ratio: {} is not in [0, 1)", args.ratio));
    }
    let files = LanguageModelFiles::open(&args.checkpoint, args.config.as_deref())?;
    let context = files.context();
    let calibration = match (&args.calibration, args.method) {
        (Some(path), _) => Some(files.tokens(path, "--calibration", context)?),
        (None, ShrinkMethod::L2) => None,
        (None, ShrinkMethod::Tyr) => {
            return Err(
                "--calibration TEXT is required: tyr searches which units to remove \
                        by the model's output on calibration text"
                    .into(),
            );
        }
    };
    let sequences = match args.calibration_tokens {
        Some(0) => return Err("--calibration-tokens: must be at least 1".into()),
        Some(n) => n.div_ceil(context),
        None => 256,
    };
    let (validation, model) = files.prepare(
        args.validation.as_deref(),
        (args.output.as_deref(), args.force),
    )?;
    let device = Device::default();
    let evaluate = |model: &TransformerLm| {
        validation.as_ref().and_then(|tokens| {
            let batch = files.loss_batch(BATCH);
            model.held_out_loss(tokens, batch, args.validation_tokens.div_ceil(context))
        })
    };
    let dense_loss = evaluate(&model);
    let parameters_before = model.num_params();
    let (shrunk, config, groups, tyr) = match (args.method, &calibration) {
        (ShrinkMethod::Tyr, Some(tokens)) => {
            let batches =
                calibration_windows(tokens, context, sequences, BATCH, args.seed, &device)
                    .map_err(|e| format!("--calibration: {e}"))?;
            let all: Tensor<2, Int> = Tensor::cat(batches.clone(), 0);
            let logits = |m: &TransformerLm, ids: &[usize]| {
                let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
                let index = Tensor::<1, Int>::from_ints(ids.as_slice(), &device);
                m.forward(all.clone().select(0, index))
            };
            let tyr = tyr_config(args, sequences, context);
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
                    .expect("a valid template"),
            );
            let (shrunk, config, report) = tyr_prune(
                model,
                files.lm_config(),
                &batches,
                sequences,
                &logits,
                &tyr,
                &mut |p| match p {
                    TyrProgress::Supernet { round, done, total } => {
                        bar.set_message(format!("tyr round {}: supernet blocks", round + 1));
                        bar.set_length(total as u64);
                        bar.set_position(done as u64);
                    }
                    TyrProgress::Search { round, generation } => {
                        bar.set_message(format!(
                            "tyr round {}: search (KL {:.4})",
                            round + 1,
                            generation.fitness
                        ));
                        bar.set_length(generation.total as u64);
                        bar.set_position(generation.done as u64);
                    }
                },
            )
            .map_err(|e| e.to_string())?;
            bar.finish_and_clear();
            let groups = report
                .layers
                .iter()
                .map(|l| (l.group.clone(), l.before, l.after))
                .collect();
            (shrunk, config, groups, Some(report))
        }
        _ => {
            let (shrunk, config, report) =
                shrink_structured(model, files.lm_config(), &StructuredConfig::new(args.ratio))
                    .map_err(|e| e.to_string())?;
            let groups = report
                .groups
                .iter()
                .map(
                    |GroupReport {
                         name,
                         before,
                         after,
                     }| (name.clone(), *before, *after),
                )
                .collect();
            (shrunk, config, groups, None)
        }
    };
    let shrunk_loss = evaluate(&shrunk);
    let (written, gpt2_widening) = match &args.output {
        Some(dir) => {
            let widening = files.write(dir, &shrunk, &config, args.force)?;
            (Some(dir.clone()), widening)
        }
        None => (None, None),
    };
    let report = Report {
        method: match args.method {
            ShrinkMethod::Tyr => "tyr",
            ShrinkMethod::L2 => "l2",
        },
        ratio: args.ratio,
        parameters_before,
        parameters_after: shrunk.num_params(),
        groups,
        tyr,
        calibration_sequences: calibration.as_ref().map_or(0, |_| sequences),
        validation: ValidationLoss::new(files.unit(), dense_loss, shrunk_loss),
        seconds: started.elapsed().as_secs_f64(),
        output: written,
        gpt2_widening,
    };
    if args.json {
        print_json(&report)?;
    } else {
        print_report(&report, &files);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(report: &Report, files: &LanguageModelFiles) {
    let rows: Vec<Vec<String>> = report
        .groups
        .iter()
        .map(|(name, before, after)| {
            vec![
                name.clone(),
                before.to_string(),
                after.to_string(),
                percent(1.0 - *after as f64 / *before as f64),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["unit group", "before", "kept", "removed"], &rows)
    );
    println!(
        "\n{} at {}: {} → {} parameters ({} of the model) in {:.1} s",
        report.method,
        percent(report.ratio),
        report.parameters_before,
        report.parameters_after,
        percent(report.parameters_after as f64 / report.parameters_before as f64),
        report.seconds
    );
    if let Some(tyr) = &report.tyr {
        for (r, round) in tyr.rounds.iter().enumerate() {
            let search = match (round.fitness.first(), round.fitness.last()) {
                (Some(first), Some(last)) => format!(
                    "KL to the dense model {first:.4} → {last:.4} over {} generations",
                    round.fitness.len()
                ),
                _ => "no search (every layer at the target)".into(),
            };
            println!(
                "Týr round {}: steps of {} / {} weights (heads / channels), {search}",
                r + 1,
                round.step_weights[0],
                round.step_weights[1],
            );
        }
    }
    if let Some(validation) = &report.validation {
        validation.print("shrunk");
    }
    print_widening(report.gpt2_widening.as_ref());
    files.print_written(report.output.as_deref());
}
