//! `tempering prune`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use tempering_prune::checkpoint::{Checkpoint, check_output};
use tempering_prune::{
    Method, Output, Progress, PruneConfig, mask_optimizer_checkpoint,
    prune_checkpoint_with_progress,
};

use crate::calibrated_method::CalibratedMethod;
use crate::render::{percent, print_json, shape, table};

/// Arguments of `tempering prune`.
#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// The checkpoint to prune (.bpk or .safetensors), or a Hugging Face GPT-2 directory
    /// (`config.json`, `model.safetensors`, `vocab.json`, `merges.txt`) for the calibrated
    /// methods; never modified.
    checkpoint: PathBuf,
    /// Where to write the pruned checkpoint (same format); with --config, the directory of the
    /// pruned run; from a GPT-2 directory, a new GPT-2 directory.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// How to choose the weights to remove.
    #[arg(long, value_enum)]
    method: MethodArg,
    /// Fraction of the targeted weights to remove, e.g. 0.9 for 90 % (not with --method nm); with
    /// --config, of every layer (ECoFLaP: on average over the blocks).
    #[arg(long)]
    sparsity: Option<f64>,
    /// Global MP's minimum threshold: every tensor keeps at least this percentage of all
    /// targeted weights (the paper uses 0.05).
    #[arg(long, value_name = "PCT")]
    min_keep: Option<f64>,
    /// N:M pattern: keep N of every M consecutive weights (--method nm [default: 2:4]; or with
    /// --config, instead of --sparsity).
    #[arg(long, value_name = "N:M", value_parser = parse_n_of_m)]
    nm: Option<(usize, usize)>,
    /// The N:M grouping axis [default: 0 for rank-2 tensors (Burn's Linear is [d_in, d_out]),
    /// 1 for higher ranks (convolutions are [out, in, k…])].
    #[arg(long)]
    axis: Option<usize>,
    /// Seed of --method random, and of the calibration windows with --config.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Prune the float tensors whose names match this regex (instead of every float tensor of
    /// rank ≥ 2 that is not an embedding).
    #[arg(long, value_name = "REGEX")]
    include: Option<String>,
    /// Leave the tensors whose names match this regex untouched.
    #[arg(long, value_name = "REGEX")]
    exclude: Option<String>,
    /// Report what would be pruned without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Replace the output if it exists (the input is never replaced).
    #[arg(long)]
    force: bool,
    /// The optimizer checkpoint saved with this model (burn-train's `optim-N.bpk`): also
    /// write a copy whose state (momentum, Adam's moments) is zero where weights were pruned,
    /// so resuming from it does not regrow them.
    #[arg(long, value_name = "FILE")]
    optim: Option<PathBuf>,
    /// Where the masked optimizer checkpoint goes [default: OUT's name with `.optim.bpk`].
    #[arg(long, value_name = "FILE", requires = "optim")]
    optim_output: Option<PathBuf>,
    /// The model's `run.json` (as `train_char_lm` writes it): prune the model's linear layers
    /// block by block with its code, and write `-o DIR` as a run directory (`model.bpk` and
    /// `run.json`). Needed by `sparsegpt`, `sparsellm`, `wanda` and `ecoflap`; with `layer-magnitude` it
    /// prunes the same layers without data.
    #[arg(long, value_name = "RUN_JSON")]
    config: Option<PathBuf>,
    /// Calibration text for `sparsegpt`, `sparsellm`, `wanda` and `ecoflap` (UTF-8; for a
    /// character model, in its alphabet).
    #[arg(long, value_name = "TEXT")]
    calibration: Option<PathBuf>,
    /// Calibration tokens (characters of a character model), drawn as windows of the model's context at seeded random
    /// offsets (--seed) [default: 128 windows, the official SparseGPT and Wanda count].
    #[arg(long, value_name = "N")]
    calibration_tokens: Option<usize>,
    /// Text to report the model's nats per token (per character) and perplexity on, before and
    /// after pruning.
    #[arg(long, value_name = "TEXT")]
    validation: Option<PathBuf>,
    /// Tokens of --validation evaluated, in consecutive windows of the model's context.
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    validation_tokens: usize,
    /// ProxSparse's λ: the strength of the proximal step after every optimizer step (its
    /// scale depends on the model's weights) [default: 0.3, tuned on train_char_lm's model].
    #[arg(long, value_name = "L")]
    proxsparse_lambda: Option<f64>,
    /// ProxSparse's training steps, each on 8 windows of the calibration text [default: 400].
    #[arg(long, value_name = "N")]
    proxsparse_steps: Option<usize>,
    /// ProxSparse's peak learning rate (AdamW, linear warm-up and decay) [default: 1e-4, the
    /// official scripts'].
    #[arg(long, value_name = "LR")]
    proxsparse_lr: Option<f64>,
    /// M-FAC's window m: each recomputation takes m − 1 gradients, each on 16 windows of the
    /// calibration text [default: 64, the official script's].
    #[arg(long, value_name = "M")]
    mfac_gradients: Option<usize>,
    /// M-FAC's block: weights sharing one Fisher [default: 128, the official script's].
    #[arg(long, value_name = "N")]
    mfac_block: Option<usize>,
    /// M-FAC's recomputations: steps to the target sparsity, each with fresh gradients
    /// [default: 16, the official script's].
    #[arg(long, value_name = "N")]
    mfac_recomputations: Option<usize>,
}

/// ProxSparse's λ on `train_char_lm`'s model (see docs/pruning-and-compression.md).
const PROXSPARSE_LAMBDA: f64 = 0.3;
/// ProxSparse's steps: the official scripts take 400 optimizer steps.
const PROXSPARSE_STEPS: usize = 400;

/// Where the masked optimizer state goes by default: beside OUT, `<OUT stem>.optim.bpk`.
fn default_optim_output(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map_or_else(|| "pruned".into(), |s| s.to_string_lossy().into_owned());
    output.with_file_name(format!("{stem}.optim.bpk"))
}

/// burn-train keeps `optim-N.bpk` beside `model-N.bpk`: the state that would regrow pruned
/// weights if training resumed from it.
fn sibling_optimizer_state(checkpoint: &Path) -> Option<PathBuf> {
    let name = checkpoint.file_name()?.to_str()?;
    let epoch = name.strip_prefix("model-")?.strip_suffix(".bpk")?;
    let sibling = checkpoint.with_file_name(format!("optim-{epoch}.bpk"));
    sibling.is_file().then_some(sibling)
}

/// Whether two output paths name the same file, however they are spelled (`./out.bpk` and
/// `out.bpk`, `dir/../out.bpk`, a symlinked directory): their parent directories are resolved
/// where they exist, the file names compared.
fn same_destination(a: &Path, b: &Path) -> bool {
    let resolved = |p: &Path| -> Option<PathBuf> {
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = std::fs::canonicalize(parent.unwrap_or(Path::new("."))).ok()?;
        Some(dir.join(p.file_name()?))
    };
    match (resolved(a), resolved(b)) {
        (Some(x), Some(y)) => x == y,
        _ => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum MethodArg {
    /// One magnitude threshold over all targeted weights (Global MP).
    GlobalMagnitude,
    /// The same sparsity in every tensor, smallest magnitudes first.
    LayerMagnitude,
    /// The same sparsity in every tensor, at random (a control).
    Random,
    /// N:M semi-structured: keep the N largest of every M along the input axis.
    Nm,
    /// SparseGPT (Frantar & Alistarh, ICML 2023): per layer, prune and update the remaining
    /// weights to reconstruct the layer's outputs on calibration text (needs --config).
    Sparsegpt,
    /// SparseLLM (Bai et al., NeurIPS 2024): each feed-forward pair pruned jointly through
    /// auxiliary variables (SparseGPT inside), every other layer by SparseGPT (needs --config).
    Sparsellm,
    /// ProxSparse (Liu et al., ICML 2025): 2:4 masks learned by training the model on
    /// calibration text with a proximal step of a 2:4 regularizer after every optimizer step,
    /// applied to the original weights (needs --config and --nm 2:4).
    Proxsparse,
    /// Wanda (Sun et al., ICLR 2024): per output, prune the lowest |weight| × input norm on
    /// calibration text (needs --config).
    Wanda,
    /// ECoFLaP (Sung et al., ICLR 2024): one sparsity per block from zeroth-order block
    /// importance, then Wanda within each block (needs --config).
    Ecoflap,
    /// M-FAC (Frantar, Kurtic & Alistarh, NeurIPS 2021): Optimal Brain Surgeon with the inverse
    /// empirical Fisher of gradients on calibration text, one threshold over every block's
    /// linear layers, the kept weights corrected (needs --config).
    Mfac,
}

fn parse_n_of_m(text: &str) -> Result<(usize, usize), String> {
    let (n, m) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not N:M, e.g. 2:4"))?;
    let parse = |s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| format!("{text:?} is not N:M with whole numbers, e.g. 2:4"))
    };
    Ok((parse(n)?, parse(m)?))
}

fn config(args: &PruneArgs) -> Result<PruneConfig, String> {
    let method = match args.method {
        MethodArg::GlobalMagnitude => Method::GlobalMagnitude,
        MethodArg::LayerMagnitude => Method::LayerMagnitude,
        MethodArg::Random => Method::Random,
        MethodArg::Nm => {
            if args.sparsity.is_some() {
                return Err("--sparsity: N:M fixes the sparsity at 1 - N/M; use --nm".into());
            }
            let (n, m) = args.nm.unwrap_or((2, 4));
            Method::NOfM { n, m }
        }
        MethodArg::Sparsegpt
        | MethodArg::Sparsellm
        | MethodArg::Proxsparse
        | MethodArg::Wanda
        | MethodArg::Ecoflap
        | MethodArg::Mfac => {
            unreachable!("calibrated methods take the --config path")
        }
    };
    if args.nm.is_some() && args.method != MethodArg::Nm {
        return Err("--nm: applies to --method nm, sparsegpt, sparsellm and wanda".into());
    }
    let sparsity = match method {
        Method::NOfM { .. } => 0.0,
        _ => args
            .sparsity
            .ok_or("--sparsity is required, e.g. --sparsity 0.9 for 90 %")?,
    };
    let config = PruneConfig::new(method, sparsity)
        .with_min_keep(args.min_keep)
        .with_axis(args.axis)
        .with_seed(args.seed)
        .with_include(args.include.clone())
        .with_exclude(args.exclude.clone());
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

pub fn run(args: &PruneArgs) -> Result<ExitCode, String> {
    if args.config.is_some()
        || args.checkpoint.is_dir()
        || matches!(
            args.method,
            MethodArg::Sparsegpt
                | MethodArg::Sparsellm
                | MethodArg::Proxsparse
                | MethodArg::Wanda
                | MethodArg::Ecoflap
                | MethodArg::Mfac
        )
    {
        return calibrated(args);
    }
    for (given, flag) in [
        (args.calibration.is_some(), "--calibration"),
        (args.calibration_tokens.is_some(), "--calibration-tokens"),
        (args.validation.is_some(), "--validation"),
        (args.proxsparse_lambda.is_some(), "--proxsparse-lambda"),
        (args.proxsparse_steps.is_some(), "--proxsparse-steps"),
        (args.proxsparse_lr.is_some(), "--proxsparse-lr"),
        (args.mfac_gradients.is_some(), "--mfac-gradients"),
        (args.mfac_block.is_some(), "--mfac-block"),
        (args.mfac_recomputations.is_some(), "--mfac-recomputations"),
    ] {
        if given {
            return Err(format!("{flag}: applies with --config only"));
        }
    }
    let config = config(args)?;
    let output = match (&args.output, args.dry_run) {
        (_, true) => Output::DryRun,
        (Some(path), false) => Output::File {
            path,
            overwrite: args.force,
        },
        (None, false) => return Err("-o OUT is required (or --dry-run)".into()),
    };
    let bar = ProgressBar::hidden();
    let mut progress = |p: Progress| {
        // Only large checkpoints get a bar; indicatif draws nothing when stderr is no terminal.
        if p.total >= 64 << 20 {
            if bar.is_hidden() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template("{msg:>8} [{bar:40}] {bytes}/{total_bytes}")
                        .expect("a valid template"),
                );
            }
            bar.set_length(p.total);
            bar.set_position(p.done);
            bar.set_message(p.phase);
        }
    };
    let optim_output = args
        .optim
        .as_ref()
        .map(|_| match (&args.optim_output, &args.output) {
            (Some(path), _) => path.clone(),
            (None, Some(out)) => default_optim_output(out),
            (None, None) => PathBuf::from("pruned.optim.bpk"),
        });
    if let (Some(optim), Some(dest), false) = (&args.optim, &optim_output, args.dry_run) {
        // Refuse a bad optimizer file or destination before any work is done.
        for input in [&args.checkpoint, optim] {
            check_output(input, dest, args.force).map_err(|e| e.to_string())?;
        }
        Checkpoint::open(optim).map_err(|e| e.to_string())?;
        if let Some(out) = &args.output
            && same_destination(out, dest)
        {
            return Err(format!(
                "--optim-output: {} is the same file as -o {}",
                dest.display(),
                out.display()
            ));
        }
    }
    let report = prune_checkpoint_with_progress(&args.checkpoint, output, &config, &mut progress)
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    let optimizer = match (&args.optim, &optim_output, &report.output) {
        (Some(optim), Some(dest), Some(pruned)) => Some(
            mask_optimizer_checkpoint(&args.checkpoint, pruned, optim, dest, args.force)
                .map_err(|e| e.to_string())?,
        ),
        _ => None,
    };
    if args.optim.is_none()
        && !args.dry_run
        && let Some(sibling) = sibling_optimizer_state(&args.checkpoint)
    {
        eprintln!(
            "warning: {} holds the optimizer state of these weights; resuming training from it \
             would regrow pruned weights. Pass --optim {} to write a masked copy.",
            sibling.display(),
            sibling.display()
        );
    }
    if args.json {
        let mut value = serde_json::to_value(&report).map_err(|e| e.to_string())?;
        value["optimizer"] = serde_json::to_value(&optimizer).map_err(|e| e.to_string())?;
        print_json(&value)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = report
        .targets
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                shape(&t.shape),
                t.elements.to_string(),
                percent(t.zeros_before as f64 / t.elements as f64),
                percent(t.zeros_after as f64 / t.elements as f64),
                t.threshold
                    .map_or_else(|| "-".into(), |x| format!("{x:.4e}")),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "tensor",
                "shape",
                "elements",
                "before",
                "after",
                "threshold"
            ],
            &rows
        )
    );
    println!(
        "\n{} at {} over {} tensors ({} weights): sparsity {} → {}; {} of all float elements \
         are now zero",
        report.method,
        percent(report.requested_sparsity),
        report.targets.len(),
        report.target_elements(),
        percent(report.target_sparsity_before()),
        percent(report.target_sparsity_after()),
        percent(report.overall_sparsity_after()),
    );
    if !report.skipped.is_empty() {
        let mut reasons: Vec<(&str, usize)> = Vec::new();
        for s in &report.skipped {
            match reasons.iter_mut().find(|(r, _)| *r == s.reason) {
                Some((_, n)) => *n += 1,
                None => reasons.push((s.reason, 1)),
            }
        }
        let text: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        println!("untouched: {}", text.join(", "));
    }
    match &report.output {
        Some(path) => println!("wrote {}", path.display()),
        None => println!("dry run: nothing written"),
    }
    if let Some(optimizer) = &optimizer {
        let entries: u64 = optimizer.masked.iter().map(|m| m.masked).sum();
        println!(
            "optimizer state: {} tensors masked ({} entries zeroed); wrote {}",
            optimizer.masked.len(),
            entries,
            optimizer.output.display()
        );
        if !optimizer.pruned_without_state.is_empty() {
            println!(
                "  pruned weights without optimizer state: {}",
                optimizer.pruned_without_state.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The calibrated path: `--config run.json` with `sparsegpt`, `sparsellm`, `wanda`, `ecoflap`
/// or `layer-magnitude`.
fn calibrated(args: &PruneArgs) -> Result<ExitCode, String> {
    if args.config.is_none() && !args.checkpoint.is_dir() {
        return Err(format!(
            "--method {}: needs the model's code; pass a Hugging Face GPT-2 directory, or \
             --config run.json (the run directory of train_char_lm)",
            match args.method {
                MethodArg::Sparsegpt => "sparsegpt",
                MethodArg::Sparsellm => "sparsellm",
                MethodArg::Proxsparse => "proxsparse",
                MethodArg::Ecoflap => "ecoflap",
                MethodArg::Mfac => "mfac",
                _ => "wanda",
            }
        ));
    };
    for (given, flag) in [
        (args.min_keep.is_some(), "--min-keep"),
        (args.axis.is_some(), "--axis"),
        (args.include.is_some(), "--include"),
        (args.exclude.is_some(), "--exclude"),
        (args.optim.is_some(), "--optim"),
    ] {
        if given {
            return Err(format!(
                "{flag}: not with a language model (every linear layer of every block is pruned)"
            ));
        }
    }
    let pattern = match (args.sparsity, args.nm) {
        (Some(_), Some(_)) => return Err("--sparsity and --nm: give one".into()),
        (Some(s), None) => tempering_prune::calibrated::LayerSparsity::Unstructured(s),
        (None, Some((keep, m))) => tempering_prune::calibrated::LayerSparsity::NOfM { keep, m },
        (None, None) => {
            return Err("--sparsity S or --nm N:M is required, e.g. --sparsity 0.5".into());
        }
    };
    if let tempering_prune::calibrated::LayerSparsity::Unstructured(s) = pattern
        && !(0.0..1.0).contains(&s)
    {
        return Err(format!("--sparsity: {s} is not in [0, 1)"));
    }
    use tempering_prune::calibrated::{ProxSparseConfig, SequentialMethod, SparseLlmConfig};
    let method = match args.method {
        MethodArg::Sparsegpt => CalibratedMethod::Sequential(SequentialMethod::sparsegpt()),
        MethodArg::Sparsellm => {
            CalibratedMethod::Sequential(SequentialMethod::SparseLlm(SparseLlmConfig::default()))
        }
        MethodArg::Wanda => CalibratedMethod::Sequential(SequentialMethod::Wanda),
        MethodArg::Ecoflap => CalibratedMethod::Ecoflap,
        MethodArg::LayerMagnitude => CalibratedMethod::Sequential(SequentialMethod::Magnitude),
        MethodArg::Proxsparse => {
            if pattern != (tempering_prune::calibrated::LayerSparsity::NOfM { keep: 2, m: 4 }) {
                return Err(
                    "--method proxsparse: learns 2:4 masks (its regularizer is defined on \
                     groups of 4); pass --nm 2:4"
                        .into(),
                );
            }
            if args.calibration_tokens.is_some() {
                return Err(
                    "--calibration-tokens: not with proxsparse, which trains for \
                            --proxsparse-steps batches of 8 windows"
                        .into(),
                );
            }
            let config = ProxSparseConfig::new(
                args.proxsparse_lambda.unwrap_or(PROXSPARSE_LAMBDA),
                args.proxsparse_steps.unwrap_or(PROXSPARSE_STEPS),
            );
            CalibratedMethod::ProxSparse(ProxSparseConfig {
                learning_rate: args.proxsparse_lr.unwrap_or(config.learning_rate),
                ..config
            })
        }
        MethodArg::Mfac => {
            if matches!(
                pattern,
                tempering_prune::calibrated::LayerSparsity::NOfM { .. }
            ) {
                return Err(
                    "--nm: M-FAC prunes unstructured, one threshold over every layer; pass \
                     --sparsity"
                        .into(),
                );
            }
            if args.calibration_tokens.is_some() {
                return Err(
                    "--calibration-tokens: not with mfac, which takes (m − 1) × recomputations \
                     gradients of 16 windows each (--mfac-gradients, --mfac-recomputations)"
                        .into(),
                );
            }
            let defaults = tempering_prune::mfac::MfacPruneConfig::default();
            let config = tempering_prune::mfac::MfacPruneConfig {
                gradients: args.mfac_gradients.unwrap_or(defaults.gradients),
                block_size: args.mfac_block.map_or(defaults.block_size, Some),
                recomputations: args.mfac_recomputations.unwrap_or(defaults.recomputations),
                ..defaults
            };
            config.validate().map_err(|e| match e {
                tempering_prune::PruneError::BadConfig { field, reason } => {
                    let flag = match field {
                        "gradients" => "--mfac-gradients",
                        "block_size" => "--mfac-block",
                        "recomputations" => "--mfac-recomputations",
                        other => other,
                    };
                    format!("{flag}: {reason}")
                }
                other => other.to_string(),
            })?;
            CalibratedMethod::Mfac(config)
        }
        other => {
            return Err(format!(
                "--method {other:?}: not with a language model; use sparsegpt, sparsellm, proxsparse, \
                 wanda, ecoflap, mfac or layer-magnitude"
            ));
        }
    };
    // Each method's own flags, refused with any other method.
    for (given, flag, owner, name) in [
        (
            args.proxsparse_lambda.is_some(),
            "--proxsparse-lambda",
            MethodArg::Proxsparse,
            "proxsparse",
        ),
        (
            args.proxsparse_steps.is_some(),
            "--proxsparse-steps",
            MethodArg::Proxsparse,
            "proxsparse",
        ),
        (
            args.proxsparse_lr.is_some(),
            "--proxsparse-lr",
            MethodArg::Proxsparse,
            "proxsparse",
        ),
        (
            args.mfac_gradients.is_some(),
            "--mfac-gradients",
            MethodArg::Mfac,
            "mfac",
        ),
        (
            args.mfac_block.is_some(),
            "--mfac-block",
            MethodArg::Mfac,
            "mfac",
        ),
        (
            args.mfac_recomputations.is_some(),
            "--mfac-recomputations",
            MethodArg::Mfac,
            "mfac",
        ),
    ] {
        if given && args.method != owner {
            return Err(format!("{flag}: applies to --method {name}"));
        }
    }
    let output = match (&args.output, args.dry_run) {
        (Some(_), true) => return Err("-o and --dry-run: give one".into()),
        (None, false) => return Err("-o DIR is required (or --dry-run)".into()),
        (output, _) => output.as_deref(),
    };
    calibrated_request(args, method, pattern, output)
}

#[cfg(feature = "language-models")]
fn calibrated_request(
    args: &PruneArgs,
    method: CalibratedMethod,
    pattern: tempering_prune::calibrated::LayerSparsity,
    output: Option<&Path>,
) -> Result<ExitCode, String> {
    crate::calibrated_prune::run(&crate::calibrated_prune::CalibratedRequest {
        checkpoint: &args.checkpoint,
        config: args.config.as_deref(),
        calibration: args.calibration.as_deref(),
        calibration_tokens: args.calibration_tokens,
        validation: args.validation.as_deref(),
        validation_tokens: args.validation_tokens,
        method,
        pattern,
        output,
        force: args.force,
        seed: args.seed,
        json: args.json,
    })
}

#[cfg(not(feature = "language-models"))]
fn calibrated_request(
    _: &PruneArgs,
    _: CalibratedMethod,
    _: tempering_prune::calibrated::LayerSparsity,
    _: Option<&Path>,
) -> Result<ExitCode, String> {
    Err(
        "--config or a GPT-2 directory: this build of tempering has no model code; rebuild it with the \
         `language-models` feature (on by default)"
            .into(),
    )
}
