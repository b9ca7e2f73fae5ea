//! `compress_char_lm`: how much of the trained character language model each compression method
//! removes for how much validation loss. It loads the `train_char_lm` run (training it first
//! when there is none), then measures validation nats per character after
//!
//! - unstructured pruning at each `--sparsities` level and 2:4 pruning of every linear layer of
//!   every block, by magnitude (one threshold per layer), Wanda (Sun et al., ICLR 2024),
//!   ECoFLaP (Sung et al., ICLR 2024: Wanda at one sparsity per block; unstructured only) and
//!   SparseGPT (Frantar & Alistarh, ICML 2023), unstructured SparseLLM (Bai et al., NeurIPS
//!   2024: each feed-forward pair refit jointly, SparseGPT inside) and 2:4 ProxSparse (Liu et
//!   al., ICML 2025: masks learned by training with a proximal step), calibrated block by block
//!   through the blocks already pruned (`tempering_prune::calibrated::prune_sequentially`);
//! - structured removal of 25 % and 50 % of the heads and feed-forward channels, at equal
//!   parameter counts: the same share of every block by L2 norm
//!   (`tempering_prune::structured::shrink_structured`) and per-block shares searched by
//!   Týr-the-Pruner (Li et al., NeurIPS 2025; `tempering_prune::calibrated::tyr::tyr_prune`),
//!   each with and without a short fine-tune.
//!
//! The measured table and plot are in this folder's `README.md`.
//!
//! Calibration: `--calibration-sequences` windows of the model's context at seeded random
//! offsets of the training split (the official scripts' 128 by default). Validation: the
//! first `--validation-tokens` characters of the held-out tenth, in consecutive windows. It
//! prints the table and writes `results.csv`, `results.md` and `sparsity.png`.

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Tensor;
use tempering_core::split_mix::SplitMix64;
use tempering_data::{TextCorpus, calibration_windows};
use tempering_models::{LinearLayer, TransformerLm};
use tempering_prune::calibrated::tyr::{TyrConfig, TyrSearchConfig, tyr_prune};
use tempering_prune::calibrated::{
    ECOFLAP_FIRST_STAGE_BATCH, ECOFLAP_FIRST_STAGE_WINDOWS, LayerSparsity, ProxSparseConfig,
    SequentialMethod, SparseLlmConfig, apply_two_of_four_masks, ecoflap_block_patterns,
    proxsparse_masks, prune_blocks_sequentially, prune_sequentially,
};
use tempering_prune::structured::{StructuredConfig, shrink_structured};

use crate::common::common_args::{CommonArgs, ExampleDefaults};
use crate::train_char_lm::{CharLmArgs, optimizer, saved, train, train_step};

mod low_rank_rows;
mod outputs;

use low_rank_rows::{LOW_RANK_METHODS, LowRankSetup, low_rank_rows};
use outputs::write_outputs;
pub use outputs::{results_csv, results_table, rows_from_csv};

/// compress_char_lm's defaults of the common flags.
#[derive(Clone, Debug)]
pub struct CompressCharLm;

impl ExampleDefaults for CompressCharLm {
    const NAME: &'static str = "compress_char_lm";
    const SEED: &'static str = "0";
    const OUT: &'static str = "runs/compress_char_lm";
    const DATA_HELP: Option<&'static str> = Some(
        "The UTF-8 text the model in --run was trained on, to calibrate and validate on [default: the Shakespeare plays shipped with tempering-data].",
    );
    const LIMIT_HELP: Option<&'static str> = None;
    const NOT_APPLICABLE: &'static str =
        "the calibration and validation windows are set by their own flags";
}

/// Command-line options of `compress_char_lm`.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "compress_char_lm",
    about = "Prune the trained character language model by magnitude, Wanda, ECoFLaP, SparseGPT, \
             SparseLLM and ProxSparse (unstructured and 2:4) and shrink it structurally, and \
             compare validation nats per character."
)]
pub struct CompressArgs {
    /// The `train_char_lm` run to compress (trained with its defaults when missing).
    #[arg(long, default_value = "runs/char_lm")]
    pub run: PathBuf,
    /// Unstructured sparsities, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.6,0.7,0.8")]
    pub sparsities: Vec<f64>,
    /// Structured ratios (fraction of heads and channels removed), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.25,0.5")]
    pub structured: Vec<f64>,
    /// Calibration windows of the model's context.
    #[arg(long, default_value_t = 128)]
    pub calibration_sequences: usize,
    /// Held-out characters evaluated.
    #[arg(long, default_value_t = 65_536)]
    pub validation_tokens: usize,
    /// Fine-tuning steps after structured shrinking and low-rank compression (0 skips the
    /// fine-tuned rows).
    #[arg(long, default_value_t = 200)]
    pub finetune_steps: usize,
    /// Learning rate of the fine-tune (AdamW as in training, constant).
    #[arg(long, default_value_t = 1e-4)]
    pub finetune_lr: f64,
    /// Methods to run, comma-separated: magnitude, wanda, sparsegpt, sparsellm, ecoflap,
    /// proxsparse, uniform-l2 and tyr (the structured rows), alds, alds-k3 and svd (the
    /// low-rank rows, where magnitude also runs at their budgets) [default: all].
    #[arg(long, value_delimiter = ',', value_parser = ["magnitude", "wanda", "sparsegpt", "sparsellm", "ecoflap", "proxsparse", "uniform-l2", "tyr", "alds", "alds-k3", "svd"])]
    pub methods: Vec<String>,
    /// Low-rank budgets: the fraction of the blocks' linear weights kept, comma-separated
    /// (ALDS with its search, fixed k = 3, plain SVD and magnitude at each).
    #[arg(long, value_delimiter = ',', default_value = "0.3,0.5")]
    pub low_rank_budgets: Vec<f64>,
    /// ProxSparse's λ, comma-separated (one 2:4 row each; 0.3 did best of 0.1, 0.3 and 1 on
    /// the default model).
    #[arg(long, value_delimiter = ',', default_value = "0.3")]
    pub proxsparse_lambda: Vec<f64>,
    /// ProxSparse's training steps (batches of 8 windows of the training text).
    #[arg(long, default_value_t = 400)]
    pub proxsparse_steps: usize,
    /// ProxSparse's peak learning rate (AdamW; the official scripts' 1e-4).
    #[arg(long, default_value_t = 1e-4)]
    pub proxsparse_lr: f64,
    /// Týr-the-Pruner's coarse-to-fine rounds (official 4).
    #[arg(long, default_value_t = 2)]
    pub tyr_rounds: usize,
    /// Týr-the-Pruner's search generations per round (official 50).
    #[arg(long, default_value_t = 16)]
    pub tyr_generations: usize,
    /// Redraw `sparsity.png` and `results.md` from the `results.csv` in --out, running
    /// nothing.
    #[arg(long)]
    pub replot: bool,
    /// The flags every training example shares.
    #[command(flatten)]
    pub common: CommonArgs<CompressCharLm>,
}

/// One measured configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// `magnitude`, `wanda`, `sparsegpt`, `sparsellm`, `ecoflap`, `proxsparse`, `uniform-l2`,
    /// `tyr` (each structured one also `+finetune`), or `dense`.
    pub method: String,
    /// `50 %`, `2:4`, `25 % of units`, …
    pub setting: String,
    /// Fraction of the blocks' linear weights that are zero or removed.
    pub sparsity: f64,
    /// Parameters of the model (structured shrinking makes it smaller).
    pub parameters: usize,
    /// Validation cross-entropy, nats per character.
    pub nats_per_char: f64,
    /// Seconds the compression took (and the fine-tune, where there is one).
    pub seconds: f64,
}

fn block_linear_weights(model: &TransformerLm) -> (usize, usize) {
    let mut total = 0;
    let mut zeros = 0;
    for block in &model.blocks {
        for (_, linear) in block.linears() {
            let values = linear
                .weight
                .val()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("f32 weights");
            total += values.len();
            zeros += values.iter().filter(|v| **v == 0.0).count();
        }
    }
    (total, zeros)
}

/// The row of a pruned model, printed to stderr as it is measured.
fn pruned_row(
    method: &str,
    setting: &str,
    model: &TransformerLm,
    parameters: usize,
    seconds: f64,
    nats_per_char: f64,
) -> Row {
    let (total, zeros) = block_linear_weights(model);
    let row = Row {
        method: method.into(),
        setting: setting.into(),
        sparsity: zeros as f64 / total as f64,
        parameters,
        nats_per_char,
        seconds,
    };
    eprintln!(
        "{:<10} {:>5}: {:.4} nats/char ({:.1} s)",
        row.method, row.setting, row.nats_per_char, row.seconds
    );
    row
}

/// Runs the comparison; progress goes to stderr.
pub fn run(args: &CompressArgs) -> Result<Vec<Row>, Box<dyn Error>> {
    args.common.validate()?;
    if args.replot {
        let csv = args.common.out.join("results.csv");
        let text = std::fs::read_to_string(&csv)
            .map_err(|e| format!("--replot: cannot read {}: {e}", csv.display()))?;
        let rows = rows_from_csv(&text).map_err(|e| format!("{}: {e}", csv.display()))?;
        if rows.is_empty() {
            return Err(format!("{}: no rows to plot", csv.display()).into());
        }
        write_outputs(&args.common.out, &rows)?;
        return Ok(rows);
    }
    let device = args.common.device()?;
    let autodiff = device.clone().autodiff();
    let (run_json, _) = saved::run_files(&args.run);
    if !run_json.exists() {
        eprintln!(
            "no trained model in {}: training one with train_char_lm's defaults",
            args.run.display()
        );
        let mut train_args = <CharLmArgs as clap::Parser>::parse_from(["train_char_lm"]);
        train_args.common.out = args.run.clone();
        train(&train_args)?;
    }
    let (saved_run, trained, tokenizer) = saved::load(&args.run, &autodiff)?;
    let corpus = match &args.common.data {
        Some(path) => TextCorpus::from_file(path)?,
        None => TextCorpus::shakespeare()?,
    };
    let tokens = tokenizer
        .encode(corpus.text())
        .map_err(|e| format!("the model's alphabet does not cover the corpus: {e}"))?;
    let cut = tokens.len() * 9 / 10;
    let (train_tokens, valid_tokens) = tokens.split_at(cut);
    let context = saved_run.model.context;
    let windows = args.validation_tokens.div_ceil(context);
    let evaluate = |model: &TransformerLm| -> Result<f64, Box<dyn Error>> {
        model
            .held_out_loss(valid_tokens, 16, windows)
            .ok_or_else(|| "the validation split is shorter than one window".into())
    };
    let dense = trained.valid();
    let parameters = dense.num_params();
    let mut rows = vec![Row {
        method: "dense".into(),
        setting: "-".into(),
        sparsity: 0.0,
        parameters,
        nats_per_char: evaluate(&dense)?,
        seconds: 0.0,
    }];
    eprintln!("dense: {:.4} nats/char", rows[0].nats_per_char);
    let calibration = |seed: u64| {
        calibration_windows(
            train_tokens,
            context,
            args.calibration_sequences,
            16,
            seed,
            &device,
        )
    };
    let mut patterns: Vec<(String, LayerSparsity)> = args
        .sparsities
        .iter()
        .map(|&s| {
            (
                format!("{:.0} %", 100.0 * s),
                LayerSparsity::Unstructured(s),
            )
        })
        .collect();
    patterns.push(("2:4".into(), LayerSparsity::NOfM { keep: 2, m: 4 }));
    let wanted = |name: &str| args.methods.is_empty() || args.methods.iter().any(|m| m == name);
    for (setting, pattern) in &patterns {
        let mut methods = vec![
            SequentialMethod::Magnitude,
            SequentialMethod::Wanda,
            SequentialMethod::sparsegpt(),
        ];
        // SparseLLM targets the high-sparsity regime; the comparison runs it unstructured.
        if let LayerSparsity::Unstructured(_) = pattern {
            methods.push(SequentialMethod::SparseLlm(SparseLlmConfig::default()));
        }
        for method in methods.into_iter().filter(|m| wanted(m.name())) {
            let started = Instant::now();
            let mut model = dense.clone();
            prune_sequentially(
                &mut model,
                calibration(args.common.seed)?,
                &method,
                *pattern,
                &mut |_| {},
            )?;
            let seconds = started.elapsed().as_secs_f64();
            let nats = evaluate(&model)?;
            rows.push(pruned_row(
                method.name(),
                setting,
                &model,
                parameters,
                seconds,
                nats,
            ));
        }
        if let LayerSparsity::NOfM { keep: 2, m: 4 } = *pattern
            && wanted("proxsparse")
        {
            for &lambda in &args.proxsparse_lambda {
                let started = Instant::now();
                let config = ProxSparseConfig {
                    learning_rate: args.proxsparse_lr,
                    ..ProxSparseConfig::new(lambda, args.proxsparse_steps)
                };
                let batches = calibration_windows(
                    train_tokens,
                    context + 1,
                    8 * config.steps,
                    8,
                    args.common.seed,
                    &autodiff,
                )?;
                let loss =
                    |m: &TransformerLm, step: usize| m.window_loss_tensor(batches[step].clone());
                let (masks, report) =
                    proxsparse_masks(trained.clone(), &config, loss, &mut |_| {})?;
                let mut model = dense.clone();
                apply_two_of_four_masks(&mut model, &masks)?;
                let seconds = started.elapsed().as_secs_f64();
                let nats = evaluate(&model)?;
                eprintln!(
                    "proxsparse λ {lambda}: {:.1} % of learned groups 2-sparse, weights moved \
                     {:.3}, loss {:.3} → {:.3}",
                    100.0 * report.groups.at_most_two_kept(),
                    report.weight_change,
                    report.losses.first().copied().unwrap_or(f64::NAN),
                    report.losses.last().copied().unwrap_or(f64::NAN),
                );
                let mut row = pruned_row("proxsparse", setting, &model, parameters, seconds, nats);
                if args.proxsparse_lambda.len() > 1 {
                    row.method = format!("proxsparse λ={lambda}");
                }
                rows.push(row);
            }
        }
        if let LayerSparsity::Unstructured(target) = *pattern
            && wanted("ecoflap")
        {
            // ECoFLaP: Wanda at one sparsity per block, allocated by zeroth-order importance
            // on calibration windows as the official first stage takes them.
            let started = Instant::now();
            let windows = calibration_windows(
                train_tokens,
                context + 1,
                ECOFLAP_FIRST_STAGE_WINDOWS,
                ECOFLAP_FIRST_STAGE_BATCH,
                args.common.seed,
                &device,
            )?;
            let per_block = ecoflap_block_patterns(
                &dense,
                target,
                windows.len(),
                args.common.seed,
                |m: &TransformerLm, k| m.window_loss(windows[k].clone()),
            )?;
            let mut model = dense.clone();
            prune_blocks_sequentially(
                &mut model,
                calibration(args.common.seed)?,
                &SequentialMethod::Wanda,
                &per_block,
                &mut |_| {},
            )?;
            let seconds = started.elapsed().as_secs_f64();
            let nats = evaluate(&model)?;
            rows.push(pruned_row(
                "ecoflap", setting, &model, parameters, seconds, nats,
            ));
        }
    }
    let (dense_total, _) = block_linear_weights(&dense);
    let structured_methods: Vec<&str> = ["uniform-l2", "tyr"]
        .into_iter()
        .filter(|m| wanted(m))
        .collect();
    for &ratio in &args.structured {
        for &method in &structured_methods {
            let started = Instant::now();
            let small = match method {
                "tyr" => {
                    let batches = calibration(args.common.seed)?;
                    let all = Tensor::cat(batches.clone(), 0);
                    let logits = |m: &TransformerLm, ids: &[usize]| {
                        let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
                        m.forward(
                            all.clone()
                                .select(0, Tensor::from_ints(ids.as_slice(), &device)),
                        )
                    };
                    let mut config = TyrConfig::new(ratio);
                    config.rounds = args.tyr_rounds;
                    config.search = TyrSearchConfig::scaled(
                        args.calibration_sequences * context,
                        context,
                        args.common.seed,
                    );
                    config.search.generations = args.tyr_generations;
                    let (small, _, report) = tyr_prune(
                        dense.clone(),
                        &saved_run.model,
                        &batches,
                        args.calibration_sequences,
                        &logits,
                        &config,
                        &mut |_| {},
                    )?;
                    let widths: Vec<String> =
                        report.layers.iter().map(|l| l.after.to_string()).collect();
                    eprintln!(
                        "tyr {:.0} %: kept heads/channels per block {}",
                        100.0 * ratio,
                        widths.join(" ")
                    );
                    small
                }
                _ => {
                    shrink_structured(
                        dense.clone(),
                        &saved_run.model,
                        &StructuredConfig::new(ratio),
                    )?
                    .0
                }
            };
            let seconds = started.elapsed().as_secs_f64();
            let (total, _) = block_linear_weights(&small);
            let setting = format!("{:.0} % of units", 100.0 * ratio);
            let removed = 1.0 - total as f64 / dense_total as f64;
            rows.push(Row {
                method: method.into(),
                setting: setting.clone(),
                sparsity: removed,
                parameters: small.num_params(),
                nats_per_char: evaluate(&small)?,
                seconds,
            });
            if args.finetune_steps > 0 {
                let mut train_args = <CharLmArgs as clap::Parser>::parse_from(["train_char_lm"]);
                train_args.context = context;
                let mut optim = optimizer(&train_args)?;
                let mut rng = SplitMix64::new(args.common.seed);
                let mut model = small.train();
                for _ in 0..args.finetune_steps {
                    model = train_step(
                        model,
                        &mut optim,
                        train_tokens,
                        &train_args,
                        args.finetune_lr,
                        &mut rng,
                    )
                    .map_err(|loss| format!("fine-tuning diverged (loss {loss})"))?
                    .0;
                }
                rows.push(Row {
                    method: format!("{method}+finetune"),
                    setting,
                    sparsity: removed,
                    parameters: model.num_params(),
                    nats_per_char: evaluate(&model.valid())?,
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
            let last = rows.last().expect("a row was pushed");
            eprintln!(
                "{:<10} {:>5}: {:.4} nats/char",
                last.method, last.setting, last.nats_per_char
            );
        }
    }
    let evaluate_any = |model: &TransformerLm<LinearLayer>| -> Result<f64, String> {
        model
            .held_out_loss(valid_tokens, 16, windows)
            .ok_or_else(|| "the validation split is shorter than one window".into())
    };
    let setup = LowRankSetup {
        dense: &dense,
        config: &saved_run.model,
        train_tokens,
        evaluate: &evaluate_any,
        finetune_steps: args.finetune_steps,
        finetune_lr: args.finetune_lr,
        seed: args.common.seed,
        block_weights: dense_total,
    };
    let low_rank: Vec<&str> = LOW_RANK_METHODS
        .into_iter()
        .filter(|&m| wanted(m))
        .collect();
    for &budget in &args.low_rank_budgets {
        for &method in &low_rank {
            rows.extend(low_rank_rows(&setup, method, budget)?);
        }
    }
    write_outputs(&args.common.out, &rows)?;
    Ok(rows)
}
