//! `train_char_lm`: a character-level decoder-only transformer on the project's text corpus
//! (Shakespeare's plays), trained the way nanoGPT trains its character-level Shakespeare model
//! (karpathy/nanoGPT `train.py` with `config/train_shakespeare_char.py` at its CPU scale:
//! 4 layers, 4 heads, d 128, context 64, batch 12, 2000 steps, AdamW β₂ 0.99, weight decay 0.1
//! on matrices only, lr 1e-3 with 100 warmup steps and a cosine to 1e-4). It reports losses in
//! nats and bits per character, writes a metrics CSV, a PNG of the curves, a checkpoint and a
//! sample, and generates from a saved checkpoint.
//!
//! Differences from nanoGPT, on purpose: random windows come from a seeded SplitMix64, not
//! torch's generator; gradient clipping is Burn's per-tensor norm clipping (nanoGPT clips the
//! global norm, which Burn's `ModuleOptimizer` does not offer); biases are on (nanoGPT's
//! `bias=False` default has none).

pub mod breakdown;
pub mod saved;
pub mod schedule;
pub mod throughput;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, ParamGroup};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use tempering_core::atomic_write::write_atomically;
use tempering_core::mup::MupModule;
use tempering_core::split_mix::SplitMix64;
use tempering_data::{CharTokenizer, TextCorpus};
use tempering_models::transformer::{Positions, Projection, Sampling};
use tempering_models::{TransformerLm, TransformerLmConfig};
use tempering_optim::learned::LoptWeights;
use tempering_train::{Panel, Series, plot_panels};

use crate::common::common_args::{CommonArgs, ExampleDefaults};
use crate::common::optimizer_choice::OptimizerChoice;
use saved::{SavedCharLm, generate_text};
use schedule::nanogpt_lr;

/// train_char_lm's defaults of the common flags.
#[derive(Clone, Debug)]
pub struct TrainCharLm;

impl ExampleDefaults for TrainCharLm {
    const NAME: &'static str = "train_char_lm";
    const SEED: &'static str = "1337";
    const OUT: &'static str = "runs/char_lm";
    const DATA_HELP: Option<&'static str> = Some(
        "A UTF-8 text file to train on [default: the Shakespeare plays shipped with tempering-data].",
    );
    const LIMIT_HELP: Option<&'static str> =
        Some("Use only the first N characters of the text (for quick runs).");
}

/// Command-line options of `train_char_lm`.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "train_char_lm",
    about = "Train a character-level transformer language model on Shakespeare (nanoGPT's \
             recipe at its CPU scale), or generate text from a trained one (--generate)."
)]
pub struct CharLmArgs {
    /// Only generate from the model saved in --out (no training).
    #[arg(long)]
    pub generate: bool,
    /// Optimizer steps.
    #[arg(long, default_value_t = 2000)]
    pub steps: usize,
    /// Windows per batch.
    #[arg(long, default_value_t = 12)]
    pub batch_size: usize,
    /// Characters per window (the model's context).
    #[arg(long, default_value_t = 64)]
    pub context: usize,
    /// Width of the residual stream.
    #[arg(long, default_value_t = 128)]
    pub d_model: usize,
    /// Transformer blocks.
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    /// Attention heads per block.
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Dropout.
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// Rotary positions in every attention layer instead of learned position embeddings (the
    /// PyTorch twin has learned ones only).
    #[arg(long)]
    pub rotary: bool,
    /// The optimizer: the example's AdamW (below), or any other of the quickstart's, μLO and
    /// SP-LO (their step multiplied by the schedule), with the same gradient clipping and no
    /// decay on biases and norms.
    #[arg(long, value_enum, default_value = "adamw")]
    pub optimizer: OptimizerChoice,
    /// Meta-trained weights for `--optimizer mulo` or `splo` (a `meta_train_lopt` weights
    /// file) instead of the shipped ones.
    #[arg(long)]
    pub lopt_weights: Option<PathBuf>,
    /// Peak learning rate [default: 1e-3, or the optimizer's own: Lion 1e-4, PAdam 0.1, the
    /// learned optimizers 1.0].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning rate at the end of the cosine [default: a tenth of the peak].
    #[arg(long)]
    pub min_lr: Option<f64>,
    /// Linear warmup steps.
    #[arg(long, default_value_t = 100)]
    pub warmup: usize,
    /// AdamW's decoupled weight decay on weight matrices and embeddings (not biases or norms);
    /// the other decaying optimizers use 1e-2.
    #[arg(long, default_value_t = 0.1)]
    pub weight_decay: f64,
    /// Per-tensor gradient norm limit (0 turns clipping off).
    #[arg(long, default_value_t = 1.0)]
    pub grad_clip: f64,
    /// Evaluate every this many steps (and after the last).
    #[arg(long, default_value_t = 250)]
    pub eval_interval: usize,
    /// Batches per evaluation of each split.
    #[arg(long, default_value_t = 20)]
    pub eval_batches: usize,
    /// Characters to sample after training (or with --generate).
    #[arg(long, default_value_t = 500)]
    pub sample_chars: usize,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    /// Sample only among the k most likely characters (0 = all).
    #[arg(long, default_value_t = 200)]
    pub top_k: usize,
    /// Text the sample starts from.
    #[arg(long, default_value = "\n")]
    pub prompt: String,
    /// The flags every training example shares.
    #[command(flatten)]
    pub common: CommonArgs<TrainCharLm>,
}

impl CharLmArgs {
    /// The peak learning rate: `--lr`, or 1e-3 for the example's AdamW and the optimizer's
    /// default for the others.
    pub fn peak_lr(&self) -> f64 {
        self.lr.unwrap_or(self.optimizer.default_lr())
    }

    /// The gradient norm each tensor is clipped to: `--grad-clip`, none at 0.
    pub fn clip_norm(&self) -> Option<f32> {
        (self.grad_clip > 0.0).then_some(self.grad_clip as f32)
    }

    /// The learning rate at the end of the cosine: `--min-lr`, or a tenth of the peak.
    pub fn min_lr(&self) -> f64 {
        self.min_lr.unwrap_or(self.peak_lr() / 10.0)
    }

    /// Rejects values that cannot train or sample, naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        self.common.validate()?;
        if self.lopt_weights.is_some()
            && !matches!(
                self.optimizer,
                OptimizerChoice::Mulo | OptimizerChoice::Splo
            )
        {
            return Err(format!(
                "--lopt-weights applies to --optimizer mulo and splo, not {}",
                self.optimizer.name()
            ));
        }
        let positive = [
            ("--steps", self.steps),
            ("--batch-size", self.batch_size),
            ("--context", self.context),
            ("--d-model", self.d_model),
            ("--layers", self.layers),
            ("--heads", self.heads),
            ("--eval-interval", self.eval_interval),
            ("--eval-batches", self.eval_batches),
        ];
        if let Some((flag, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{flag} must be at least 1"));
        }
        if !self.d_model.is_multiple_of(self.heads) {
            return Err(format!(
                "--d-model {} must be a multiple of --heads {}",
                self.d_model, self.heads
            ));
        }
        for (flag, v) in [("--lr", self.peak_lr()), ("--min-lr", self.min_lr())] {
            if !(v.is_finite() && v >= 0.0) || (flag == "--lr" && v == 0.0) {
                return Err(format!("{flag} must be a positive number, got {v}"));
            }
        }
        if self.min_lr() > self.peak_lr() {
            return Err(format!(
                "--min-lr {} exceeds --lr {}",
                self.min_lr(),
                self.peak_lr()
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(format!(
                "--weight-decay must be ≥ 0, got {}",
                self.weight_decay
            ));
        }
        if !(self.grad_clip.is_finite() && self.grad_clip >= 0.0) {
            return Err(format!("--grad-clip must be ≥ 0, got {}", self.grad_clip));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("--dropout must be in [0, 1), got {}", self.dropout));
        }
        self.sampling()
            .check()
            .map_err(|e| format!("--temperature/--top-k: {e}"))?;
        if self.prompt.is_empty() {
            return Err("--prompt must not be empty".into());
        }
        // A tenth is held out for validation, and each split must hold one window.
        let least = 10 * (self.context + 1);
        if self.common.limit.is_some_and(|n| n < least) {
            return Err(format!(
                "--limit must keep at least {least} characters (ten windows of --context + 1)"
            ));
        }
        Ok(())
    }

    /// The sampling settings of the flags.
    pub fn sampling(&self) -> Sampling {
        Sampling {
            temperature: self.temperature,
            top_k: (self.top_k > 0).then_some(self.top_k),
        }
    }

    pub(crate) fn model_config(&self, vocab_size: usize) -> TransformerLmConfig {
        TransformerLmConfig::new(vocab_size)
            .with_context(self.context)
            .with_d_model(self.d_model)
            .with_n_layers(self.layers)
            .with_n_heads(self.heads)
            .with_dropout(self.dropout)
            .with_positions(if self.rotary {
                Positions::Rotary
            } else {
                Positions::Learned
            })
    }
}

/// One evaluation: mean loss of each split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Steps taken before it.
    pub step: usize,
    /// Learning rate of the last step taken.
    pub lr: f64,
    /// Mean training-split cross-entropy, nats per character.
    pub train_loss: f64,
    /// Mean validation-split cross-entropy, nats per character.
    pub valid_loss: f64,
    /// Seconds of training so far (evaluations excluded).
    pub seconds: f64,
}

/// Nats to bits.
pub fn bits(nats: f64) -> f64 {
    nats / std::f64::consts::LN_2
}

/// What a training run measured and wrote.
#[derive(Debug, Clone)]
pub struct CharLmReport {
    /// Corpus name, characters, alphabet size.
    pub corpus: (String, usize, usize),
    /// Every evaluation, the last one after the final step.
    pub evaluations: Vec<Evaluation>,
    /// Training loss of every step.
    pub step_losses: Vec<f64>,
    /// Training throughput: tokens (characters) per second of optimizer steps.
    pub tokens_per_second: f64,
    /// The sample written after training.
    pub sample: String,
    /// The output directory.
    pub out: PathBuf,
}

/// `batch` random windows of `context + 1` characters: inputs and next-character targets.
pub(crate) fn batch(
    tokens: &[u32],
    batch: usize,
    context: usize,
    rng: &mut SplitMix64,
    device: &Device,
) -> (Tensor<2, Int>, Tensor<2, Int>) {
    let (mut x, mut y) = (
        Vec::with_capacity(batch * context),
        Vec::with_capacity(batch * context),
    );
    for _ in 0..batch {
        let start = rng.below(tokens.len() - context);
        x.extend(tokens[start..start + context].iter().map(|&t| i64::from(t)));
        y.extend(
            tokens[start + 1..start + context + 1]
                .iter()
                .map(|&t| i64::from(t)),
        );
    }
    (
        Tensor::from_data(TensorData::new(x, [batch, context]), device),
        Tensor::from_data(TensorData::new(y, [batch, context]), device),
    )
}

/// The optimizer of `--optimizer` for `model` (μLO's step scales come from its muP roles): the
/// example's AdamW ([`optimizer`]) by default, any other choice with the same gradient clipping
/// (each tensor's norm to `--grad-clip`).
pub(crate) fn chosen_optimizer(
    args: &CharLmArgs,
    model: &TransformerLm,
) -> Result<ModuleOptimizer, Box<dyn Error>> {
    if let Some(path) = &args.lopt_weights {
        let weights = LoptWeights::load(path)?;
        return Ok(args.optimizer.init_learned(
            weights,
            Some(&model.mup_roles()),
            args.clip_norm(),
        )?);
    }
    if args.optimizer == OptimizerChoice::Adamw {
        return optimizer(args);
    }
    Ok(args
        .optimizer
        .init(args.peak_lr(), Some(&model.mup_roles()), args.clip_norm())?)
}

/// The example's AdamW (β₂ 0.99, ε 1e-8) with weight decay on weight matrices and embeddings
/// and none on biases and norm parameters, as nanoGPT's `configure_optimizers` groups them;
/// each tensor's gradient norm clipped to `--grad-clip`.
pub(crate) fn optimizer(args: &CharLmArgs) -> Result<ModuleOptimizer, Box<dyn Error>> {
    let clip = args.clip_norm().map(GradientClippingConfig::Norm);
    let adamw = |decay: f64| {
        AdamWConfig::new()
            .with_beta_2(0.99)
            .with_epsilon(1e-8)
            .with_weight_decay(decay as f32)
            .with_grad_clipping(clip.clone())
    };
    let no_decay = ParamGroup::from_regex(r"(^|\.)(bias|gamma|beta)$")
        .map_err(|e| format!("the no-decay group: {e:?}"))?;
    Ok(adamw(args.weight_decay).init().with_group(
        no_decay,
        adamw(0.0).build(),
        clip.map(|c| c.init()),
    ))
}

/// Mean loss over `batches` random batches of `tokens`, without autodiff.
fn mean_loss(
    model: &TransformerLm,
    tokens: &[u32],
    args: &CharLmArgs,
    batches: usize,
    rng: &mut SplitMix64,
    device: &Device,
) -> f64 {
    let total: f64 = (0..batches)
        .map(|_| {
            let (x, y) = batch(tokens, args.batch_size, args.context, rng, device);
            model.loss(x, y).into_scalar::<f64>()
        })
        .sum();
    total / batches as f64
}

/// The corpus of `--data` (the shipped Shakespeare without it), its tokenizer and its tokens
/// (the first `--limit` characters' with that flag).
pub(crate) fn corpus_tokens(
    args: &CharLmArgs,
) -> Result<(TextCorpus, CharTokenizer, Vec<u32>), Box<dyn Error>> {
    let corpus = match &args.common.data {
        Some(path) => TextCorpus::from_file(path)?,
        None => TextCorpus::shakespeare()?,
    };
    let tokenizer = CharTokenizer::from_text(corpus.text());
    let mut tokens = tokenizer.encode(corpus.text())?;
    if let Some(limit) = args.common.limit {
        tokens.truncate(limit);
    }
    Ok((corpus, tokenizer, tokens))
}

/// One optimizer step at `lr` on a random batch of `tokens`, on the model's device. The batch's
/// loss is read first (which waits for the forward pass); if it is not finite the step is not
/// taken and the loss is the error.
pub(crate) fn train_step<P: Projection>(
    model: TransformerLm<P>,
    optim: &mut ModuleOptimizer,
    tokens: &[u32],
    args: &CharLmArgs,
    lr: f64,
    rng: &mut SplitMix64,
) -> Result<(TransformerLm<P>, f64), f64> {
    train_step_with(model, tokens, args, rng, |model, grads| {
        optim.step(lr, model, grads)
    })
}

/// [`train_step`] with the update given by `step` (the model and its gradients in, the
/// updated model out), for steps that do more than the optimizer's (masked fine-tuning).
pub(crate) fn train_step_with<P: Projection>(
    model: TransformerLm<P>,
    tokens: &[u32],
    args: &CharLmArgs,
    rng: &mut SplitMix64,
    step: impl FnOnce(TransformerLm<P>, GradientsParams) -> TransformerLm<P>,
) -> Result<(TransformerLm<P>, f64), f64> {
    let device = model.token_embedding.weight.device();
    let (x, y) = batch(tokens, args.batch_size, args.context, rng, &device);
    let loss = model.loss(x, y);
    let value = loss.clone().into_scalar::<f64>();
    if !value.is_finite() {
        return Err(value);
    }
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    Ok((step(model, grads), value))
}

/// Trains, evaluates, samples and writes the outputs; progress goes to stderr.
pub fn train(args: &CharLmArgs) -> Result<CharLmReport, Box<dyn Error>> {
    args.validate()?;
    let device = args.common.device()?;
    device.seed(args.common.seed);
    let (corpus, tokenizer, tokens) = corpus_tokens(args)?;
    // nanoGPT's split: the first 90 % trains, the last 10 % validates.
    let cut = tokens.len() * 9 / 10;
    let (train_tokens, valid_tokens) = tokens.split_at(cut);
    if valid_tokens.len() <= args.context {
        return Err(format!(
            "the corpus ({} characters) is too short for --context {}: its last tenth must \
             hold a window",
            tokens.len(),
            args.context
        )
        .into());
    }
    let config = args.model_config(tokenizer.vocab_size());
    config.check()?;
    let autodiff = device.clone().autodiff();
    let mut model = config.init(&autodiff);
    let mut optim = chosen_optimizer(args, &model)?;
    let mut rng = SplitMix64::new(args.common.seed);

    let bar = ProgressBar::new(args.steps as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps {msg} [{elapsed} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut evaluations = Vec::new();
    let mut step_losses = Vec::with_capacity(args.steps);
    let mut seconds = 0.0;
    let mut lr = 0.0;
    for step in 0..=args.steps {
        if step % args.eval_interval == 0 || step == args.steps {
            let valid_model = model.valid();
            let mut eval_rng =
                SplitMix64::new(args.common.seed ^ (step as u64).wrapping_mul(0x9E37));
            let e = Evaluation {
                step,
                lr,
                train_loss: mean_loss(
                    &valid_model,
                    train_tokens,
                    args,
                    args.eval_batches,
                    &mut eval_rng,
                    &device,
                ),
                valid_loss: mean_loss(
                    &valid_model,
                    valid_tokens,
                    args,
                    args.eval_batches,
                    &mut eval_rng,
                    &device,
                ),
                seconds,
            };
            say(
                &bar,
                format!(
                    "step {step:>5}: train {:.4} nats ({:.3} bits/char), validation {:.4} nats \
                     ({:.3} bits/char), {seconds:.0} s",
                    e.train_loss,
                    bits(e.train_loss),
                    e.valid_loss,
                    bits(e.valid_loss)
                ),
            );
            evaluations.push(e);
        }
        if step == args.steps {
            break;
        }
        let started = Instant::now();
        lr = nanogpt_lr(step, args.peak_lr(), args.min_lr(), args.warmup, args.steps);
        let value;
        (model, value) = match train_step(model, &mut optim, train_tokens, args, lr, &mut rng) {
            Ok(stepped) => stepped,
            Err(value) => {
                bar.abandon();
                return Err(
                    format!("the training loss is {value} at step {step}; lower --lr").into(),
                );
            }
        };
        seconds += started.elapsed().as_secs_f64();
        step_losses.push(value);
        bar.set_message(format!("loss {value:.3}"));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let tokens_per_second = (args.steps * args.batch_size * args.context) as f64 / seconds;

    let model = model.valid();
    let saved = SavedCharLm::new(
        config,
        tokenizer.chars().iter().collect(),
        corpus.name().to_string(),
        args.steps,
    );
    saved::save(&args.common.out, &saved, &model)?;
    let sample = sample(args, &model, &tokenizer)?;
    write_text(&args.common.out.join("sample.txt"), &sample)?;
    write_metrics(&args.common.out.join("metrics.csv"), &evaluations)?;
    plot(
        &args.common.out.join("curves.png"),
        &evaluations,
        &step_losses,
    )?;
    Ok(CharLmReport {
        corpus: (
            corpus.name().to_string(),
            tokens.len(),
            tokenizer.vocab_size(),
        ),
        evaluations,
        step_losses,
        tokens_per_second,
        sample,
        out: args.common.out.clone(),
    })
}

/// A line above the progress bar, or on stderr when there is no bar (not a terminal), so logs
/// keep it.
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// Loads the model saved in `args.common.out` and samples from it.
pub fn generate(args: &CharLmArgs) -> Result<String, Box<dyn Error>> {
    args.validate()?;
    let device = args.common.device()?;
    match saved::load_any(&args.common.out, &device)? {
        (_, saved::SavedModel::Dense(model), tokenizer) => sample(args, &model, &tokenizer),
        (_, saved::SavedModel::Factorized(model), tokenizer) => sample(args, &model, &tokenizer),
    }
}

/// The text the flags ask for: `--sample-chars` after `--prompt`, with `--seed`.
fn sample<P: Projection>(
    args: &CharLmArgs,
    model: &TransformerLm<P>,
    tokenizer: &CharTokenizer,
) -> Result<String, Box<dyn Error>> {
    generate_text(
        model,
        tokenizer,
        &args.prompt,
        args.sample_chars,
        &args.sampling(),
        args.common.seed,
    )
}

fn write_text(path: &Path, text: &str) -> Result<(), Box<dyn Error>> {
    write_atomically(path, |f| {
        use std::io::Write;
        f.write_all(text.as_bytes())
    })
    .map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

/// The evaluations as CSV: step, learning rate, both losses in nats and in bits per character,
/// training seconds.
pub fn metrics_csv(evaluations: &[Evaluation]) -> String {
    let mut csv = String::from(
        "step,lr,train_loss_nats,valid_loss_nats,train_bits_per_char,valid_bits_per_char,seconds\n",
    );
    for e in evaluations {
        csv.push_str(&format!(
            "{},{:.6e},{:.5},{:.5},{:.5},{:.5},{:.2}\n",
            e.step,
            e.lr,
            e.train_loss,
            e.valid_loss,
            bits(e.train_loss),
            bits(e.valid_loss),
            e.seconds
        ));
    }
    csv
}

fn write_metrics(path: &Path, evaluations: &[Evaluation]) -> Result<(), Box<dyn Error>> {
    write_text(path, &metrics_csv(evaluations))
}

fn plot(
    path: &Path,
    evaluations: &[Evaluation],
    step_losses: &[f64],
) -> Result<(), Box<dyn Error>> {
    let at =
        |f: fn(&Evaluation) -> f64| evaluations.iter().map(|e| (e.step as f64, f(e))).collect();
    let panel = Panel {
        title: "character-level transformer on Shakespeare".into(),
        x_label: "optimizer step".into(),
        y_label: "cross-entropy (nats/char)".into(),
        series: vec![
            Series {
                label: "training batch".into(),
                points: step_losses
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| (i as f64 + 1.0, l))
                    .collect(),
            },
            Series {
                label: "training (evaluation)".into(),
                points: at(|e| e.train_loss),
            },
            Series {
                label: "validation".into(),
                points: at(|e| e.valid_loss),
            },
        ],
    };
    plot_panels(path, &[panel], (900, 600))
        .map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> CharLmArgs {
        CharLmArgs::try_parse_from(std::iter::once("train_char_lm").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn defaults_are_nanogpts_cpu_scale() {
        let a = parse(&[]);
        assert_eq!((a.layers, a.heads, a.d_model, a.context), (4, 4, 128, 64));
        assert_eq!((a.batch_size, a.steps), (12, 2000));
        a.validate().unwrap();
    }

    #[test]
    fn the_learning_rates_follow_the_optimizer() {
        let a = parse(&[]);
        assert_eq!(a.optimizer, OptimizerChoice::Adamw);
        assert_eq!((a.peak_lr(), a.min_lr()), (1e-3, 1e-4));
        let lion = parse(&["--optimizer", "lion"]);
        assert_eq!((lion.peak_lr(), lion.min_lr()), (1e-4, 1e-5));
        let mulo = parse(&["--optimizer", "mulo", "--min-lr", "0"]);
        assert_eq!((mulo.peak_lr(), mulo.min_lr()), (1.0, 0.0));
        let e = parse(&["--optimizer", "lion", "--min-lr", "1e-3"])
            .validate()
            .unwrap_err();
        assert!(e.contains("--min-lr 0.001 exceeds --lr 0.0001"), "{e}");
    }

    #[test]
    fn learned_weights_are_refused_for_other_optimizers() {
        let e = parse(&["--lopt-weights", "w.json"]).validate().unwrap_err();
        assert!(e.contains("--lopt-weights") && e.contains("adamw"), "{e}");
        assert!(
            parse(&["--lopt-weights", "w.json", "--optimizer", "splo"])
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (args, flag) in [
            (&["--steps", "0"][..], "--steps"),
            (&["--heads", "3"], "--heads"),
            (&["--lr", "0"], "--lr"),
            (&["--min-lr", "0.1"], "--min-lr"),
            (&["--temperature=-1"], "--temperature"),
            (&["--dropout", "1"], "--dropout"),
            (&["--prompt", ""], "--prompt"),
        ] {
            let e = parse(args).validate().unwrap_err();
            assert!(e.contains(flag), "{args:?}: {e}");
        }
    }

    /// A short run on the shipped corpus: the validation loss falls well below ln(vocabulary)
    /// (an untrained model's), the files appear, and generation from the saved run reproduces
    /// the sample for the same seed.
    #[test]
    fn a_short_run_learns_saves_and_generates() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let out_str = out.to_str().unwrap();
        let args = parse(&[
            "--out",
            out_str,
            "--steps",
            "60",
            "--batch-size",
            "8",
            "--context",
            "16",
            "--d-model",
            "32",
            "--layers",
            "1",
            "--heads",
            "2",
            "--lr",
            "1e-2",
            "--warmup",
            "5",
            "--eval-interval",
            "30",
            "--eval-batches",
            "4",
            "--sample-chars",
            "40",
        ]);
        let report = train(&args).unwrap();
        let vocab = report.corpus.2 as f64;
        let first = report.evaluations.first().unwrap();
        let last = report.evaluations.last().unwrap();
        assert_eq!(report.evaluations.len(), 3);
        assert_eq!(last.step, 60);
        // An untrained model predicts about uniformly: ln(vocabulary) nats.
        assert!((first.valid_loss - vocab.ln()).abs() < 0.5, "{first:?}");
        assert!(
            last.valid_loss < first.valid_loss - 0.8,
            "{:?}",
            report.evaluations
        );
        for f in [
            "run.json",
            "model.bpk",
            "metrics.csv",
            "curves.png",
            "sample.txt",
        ] {
            assert!(out.join(f).is_file(), "{f} missing");
        }
        assert_eq!(report.sample.chars().count(), 41);
        let again = generate(&parse(&["--out", out_str, "--sample-chars", "40"])).unwrap();
        assert_eq!(again, report.sample);
        let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
        assert_eq!(csv.lines().count(), 4);

        // The run factorized by ALDS (as `tempering compress -o` writes it) samples too, and
        // the dense loader refuses it by name.
        let device = Device::default();
        let (saved_run, model, _) = saved::load(&out, &device).unwrap();
        let (small, small_config, _) = tempering_prune::low_rank_export::factorize_model(
            model,
            &saved_run.model,
            &tempering_prune::low_rank::LowRankConfig::new(0.5),
        )
        .unwrap();
        let compressed = dir.path().join("alds");
        std::fs::create_dir_all(&compressed).unwrap();
        small.save_file(compressed.join("model.bpk")).unwrap();
        burn::config::Config::save(
            &SavedCharLm {
                factorized: Some(small_config.factorized),
                ..saved_run
            },
            compressed.join("run.json"),
        )
        .unwrap();
        let compressed_str = compressed.to_str().unwrap();
        let text = generate(&parse(&["--out", compressed_str, "--sample-chars", "40"])).unwrap();
        assert_eq!(text.chars().count(), 41);
        let e = saved::load(&compressed, &device).unwrap_err().to_string();
        assert!(e.contains("low-rank factors"), "{e}");
    }

    #[test]
    fn generating_without_a_run_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = generate(&parse(&["--out", dir.path().to_str().unwrap()]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("run.json"), "{e}");
    }
}
