//! `tempering evaluate MODEL --text FILE`: a language model's mean cross-entropy (nats per
//! token, per character for a character model) and perplexity on a text file, the measure the
//! pruning papers report (SparseGPT, Wanda: WikiText-2 perplexity). The text is tokenized whole
//! and cut into consecutive windows of the model's context, each predicting its tokens after
//! the first (the windows overlap by one token so that every token but the very first is a
//! target once); no window sees the one before it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};

use crate::language_model_files::LanguageModelFiles;
use crate::render::print_json;

/// Arguments of `tempering evaluate`.
#[derive(clap::Args, Debug)]
pub struct EvaluateArgs {
    /// The model: a Hugging Face GPT-2 directory, or a checkpoint (`model.bpk`) with its
    /// --config; never modified.
    model: PathBuf,
    /// The model's `run.json` (as `train_char_lm` writes it); not with a GPT-2 directory.
    #[arg(long, value_name = "RUN_JSON")]
    config: Option<PathBuf>,
    /// The text to evaluate on (UTF-8; for a character model, in its alphabet).
    #[arg(long, value_name = "FILE")]
    text: PathBuf,
    /// Tokens of the text evaluated at most, from its start [default: all of it].
    #[arg(long, value_name = "N")]
    tokens: Option<usize>,
    /// Windows per forward pass [default: 8, fewer where their logits would pass 256 MiB:
    /// one for GPT-2's 1,024 positions × 50,257 tokens].
    #[arg(long)]
    batch: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Report {
    text: PathBuf,
    /// `char` or `token`.
    unit: &'static str,
    /// Tokens predicted: windows × context.
    tokens: usize,
    windows: usize,
    context: usize,
    nats_per_token: f64,
    bits_per_token: f64,
    perplexity: f64,
    seconds: f64,
}

pub fn run(args: &EvaluateArgs) -> Result<ExitCode, String> {
    let started = Instant::now();
    if args.batch == Some(0) {
        return Err("--batch: must be at least 1".into());
    }
    if args.tokens == Some(0) {
        return Err("--tokens: must be at least 1".into());
    }
    let files = LanguageModelFiles::open(&args.model, args.config.as_deref())?;
    let context = files.context();
    let tokens = files.tokens(&args.text, "--text", context + 1)?;
    let model = files.load(&Device::default())?;
    let batch = args.batch.unwrap_or_else(|| files.loss_batch(8));
    let available = (tokens.len() - 1) / context;
    let windows = match args.tokens {
        Some(n) => n.div_ceil(context).min(available),
        None => available,
    };
    let bar = ProgressBar::new(windows as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "evaluate [{bar:30}] window {pos}/{len} {elapsed} (eta {eta})",
        )
        .expect("a valid template"),
    );
    let nats = model
        .held_out_loss_observed(&tokens, batch, windows, &mut |done| {
            bar.set_position(done as u64)
        })
        .expect("the text holds at least one window");
    bar.finish_and_clear();
    let report = Report {
        text: args.text.clone(),
        unit: files.unit(),
        tokens: windows * context,
        windows,
        context,
        nats_per_token: nats,
        bits_per_token: nats / std::f64::consts::LN_2,
        perplexity: nats.exp(),
        seconds: started.elapsed().as_secs_f64(),
    };
    if args.json {
        print_json(&report)?;
    } else {
        println!(
            "{}: {:.4} nats/{unit} ({:.4} bits/{unit}), perplexity {:.3}, over {} {unit}s in {} \
             windows of {} ({:.1} s)",
            report.text.display(),
            report.nats_per_token,
            report.bits_per_token,
            report.perplexity,
            report.tokens,
            report.windows,
            report.context,
            report.seconds,
            unit = report.unit,
        );
    }
    Ok(ExitCode::SUCCESS)
}
