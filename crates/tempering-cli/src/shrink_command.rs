//! `tempering shrink`: structured pruning of a character transformer language model
//! (`train_char_lm`'s `run.json` + `model.bpk`) into a physically smaller one: whole attention
//! heads and feed-forward channels leave, with every weight coupled to them, and the output is
//! a run directory (`model.bpk` and the `run.json` whose config builds the smaller model) that
//! `train_char_lm --generate` loads.
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
use tempering_data::{CharTokenizer, calibration_windows};
use tempering_models::TransformerLm;
use tempering_prune::calibrated::tyr::{
    Propagation, TyrConfig, TyrProgress, TyrReport, TyrSearchConfig, tyr_prune,
};
use tempering_prune::structured::{GroupReport, StructuredConfig, shrink_structured};

use crate::calibrated_prune::{
    RUN_CONFIG, load_run, open_run, print_written, text_tokens, write_run,
};
use crate::render::{percent, print_json, table};

/// Calibration sequences per forward pass.
const BATCH: usize = 16;

/// Arguments of `tempering shrink`.
#[derive(clap::Args, Debug)]
pub struct ShrinkArgs {
    /// The model's checkpoint (`model.bpk`); never modified.
    checkpoint: PathBuf,
    /// The model's `run.json` (as `train_char_lm` writes it).
    #[arg(long, value_name = "RUN_JSON")]
    config: PathBuf,
    /// How to choose the units to remove.
    #[arg(long, value_enum)]
    method: ShrinkMethod,
    /// Fraction of the attention heads and of the feed-forward channels to remove, in [0, 1).
    #[arg(long)]
    ratio: f64,
    /// The directory of the smaller run (`model.bpk` and `run.json`); without it, a dry run.
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Calibration text for `tyr` (UTF-8, in the model's alphabet).
    #[arg(long, value_name = "TEXT")]
    calibration: Option<PathBuf>,
    /// Calibration characters, drawn as windows of the model's context at seeded random
    /// offsets (--seed) [default: 256 windows].
    #[arg(long, value_name = "N")]
    calibration_tokens: Option<usize>,
    /// Text to report the model's nats per character on, before and after.
    #[arg(long, value_name = "TEXT")]
    validation: Option<PathBuf>,
    /// Characters of --validation evaluated, in consecutive windows of the model's context.
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
    dense_nats_per_char: Option<f64>,
    shrunk_nats_per_char: Option<f64>,
    seconds: f64,
    output: Option<PathBuf>,
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
    let saved = load_run(&args.checkpoint, &args.config)?;
    let tokenizer = CharTokenizer::from_chars(saved.alphabet.chars().collect());
    let context = saved.model.context;
    let calibration = match (&args.calibration, args.method) {
        (Some(path), _) => Some(text_tokens(path, "--calibration", &tokenizer, context)?),
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
    let (validation, model) = open_run(
        &saved,
        &tokenizer,
        (&args.checkpoint, &args.config),
        args.validation.as_deref(),
        (args.output.as_deref(), args.force),
    )?;
    let device = Device::default();
    let evaluate = |model: &TransformerLm| {
        validation.as_ref().and_then(|tokens| {
            model.held_out_loss(tokens, BATCH, args.validation_tokens.div_ceil(context))
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
                &saved.model,
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
                shrink_structured(model, &saved.model, &StructuredConfig::new(args.ratio))
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
    let written = match &args.output {
        Some(dir) => {
            let mut run = saved.clone();
            run.model = config;
            write_run(dir, &shrunk, &run, &args.checkpoint, args.force)?;
            Some(dir.clone())
        }
        None => None,
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
        dense_nats_per_char: dense_loss,
        shrunk_nats_per_char: shrunk_loss,
        seconds: started.elapsed().as_secs_f64(),
        output: written,
    };
    if args.json {
        print_json(&report)?;
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(report: &Report) {
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
    if let (Some(dense), Some(shrunk)) = (report.dense_nats_per_char, report.shrunk_nats_per_char) {
        println!("validation: {dense:.4} nats/char dense → {shrunk:.4} nats/char shrunk");
    }
    print_written(report.output.as_deref(), RUN_CONFIG);
}
