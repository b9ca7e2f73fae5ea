//! `tempering prune --config run.json --method sparsegpt|sparsellm|wanda|ecoflap|layer-magnitude
//! --calibration TEXT`: calibrated pruning of a character transformer language model
//! (`train_char_lm`'s `run.json` + `model.bpk`), block by block through the blocks already
//! pruned, as the official SparseGPT and Wanda loops run it; and `--method proxsparse --nm 2:4`,
//! 2:4 masks learned by training on the calibration text; and `--method mfac`, M-FAC's
//! second-order pruning from gradients on the calibration text.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use burn::config::Config;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use tempering_core::atomic_write::finish_atomically;
use tempering_data::{CharTokenizer, calibration_windows};
use tempering_models::TransformerLm;
use tempering_models::transformer::SavedCharLm;
use tempering_models::transformer::block::BLOCK_LINEAR_WEIGHTS;
use tempering_prune::calibrated::{
    ECOFLAP_FIRST_STAGE_BATCH, ECOFLAP_FIRST_STAGE_WINDOWS, LayerOutcome, LayerSparsity,
    ProxSparseReport, SequentialMethod, apply_two_of_four_masks, ecoflap_block_patterns,
    proxsparse_masks, prune_blocks_sequentially,
};
use tempering_prune::checkpoint::check_output;
use tempering_prune::mfac::{MfacPruneConfig, MfacPruneReport, mfac_prune};
use tempering_prune::module_load::{load_module, save_module};

use crate::calibrated_method::CalibratedMethod;
use crate::render::{percent, print_json, shape, table};

/// Calibration sequences per forward pass.
const BATCH: usize = 16;

/// Training windows per ProxSparse step.
const PROXSPARSE_BATCH: usize = 8;

/// Windows per M-FAC gradient.
const MFAC_BATCH: usize = 16;

/// What the calibrated path needs from the command line.
pub struct CalibratedRequest<'a> {
    pub checkpoint: &'a Path,
    pub config: &'a Path,
    pub calibration: Option<&'a Path>,
    pub calibration_tokens: Option<usize>,
    pub validation: Option<&'a Path>,
    pub validation_tokens: usize,
    pub method: CalibratedMethod,
    pub pattern: LayerSparsity,
    pub output: Option<&'a Path>,
    pub force: bool,
    pub seed: u64,
    pub json: bool,
}

#[derive(serde::Serialize)]
struct Report<'a> {
    method: &'static str,
    ecoflap: bool,
    sparsity: f64,
    n_of_m: Option<(usize, usize)>,
    calibration_sequences: usize,
    calibration_tokens: usize,
    layers: &'a [LayerOutcome],
    block_sparsities: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proxsparse: Option<ProxSparseReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mfac: Option<MfacPruneReport>,
    dense_nats_per_char: Option<f64>,
    pruned_nats_per_char: Option<f64>,
    seconds: f64,
    output: Option<PathBuf>,
}

/// The tokens of the UTF-8 text file `path` (given with `flag`), naming the file in every
/// error: it must be UTF-8, in the model's alphabet, and hold at least `at_least` characters
/// (one window of the model's context).
pub(crate) fn text_tokens(
    path: &Path,
    flag: &str,
    tokenizer: &CharTokenizer,
    at_least: usize,
) -> Result<Vec<u32>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "{flag} {}: not UTF-8 text (byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    if text.is_empty() {
        return Err(format!("{flag} {}: the file is empty", path.display()));
    }
    let tokens = tokenizer.encode(&text).map_err(|e| {
        format!(
            "{flag} {}: {e}; the model knows only the {} characters of its alphabet",
            path.display(),
            tokenizer.vocab_size()
        )
    })?;
    if tokens.len() < at_least {
        return Err(format!(
            "{flag} {}: {} characters; one window of the model's context needs {at_least}",
            path.display(),
            tokens.len()
        ));
    }
    Ok(tokens)
}

/// The config file of a character language model's run directory.
pub(crate) const RUN_CONFIG: &str = "run.json";

/// The two files of an output run directory `dir`: `model.bpk` and its config `config_file`
/// (`run.json` for a language model, `model.json` for a classifier).
pub(crate) fn outputs(dir: &Path, config_file: &str) -> (PathBuf, PathBuf) {
    (dir.join("model.bpk"), dir.join(config_file))
}

/// Refuses a run directory `dir` (when given) whose files (`model.bpk`, `config_file`) would
/// replace `checkpoint` or `config`, or existing files without `force`, before any work is
/// done.
pub(crate) fn check_run_outputs(
    dir: Option<&Path>,
    config_file: &str,
    (checkpoint, config): (&Path, &Path),
    force: bool,
) -> Result<(), String> {
    let Some(dir) = dir else {
        return Ok(());
    };
    let (model_path, run_path) = outputs(dir, config_file);
    for dest in [&model_path, &run_path] {
        for input in [checkpoint, config] {
            check_output(input, dest, force).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// What every run-directory command does before its own work: the `--validation` text's
/// tokens (when given, one window of the context plus its target at the least), the output
/// directory checked against the inputs, and the dense model of `saved` loaded from
/// `checkpoint` on the default device.
pub(crate) fn open_run(
    saved: &SavedCharLm,
    tokenizer: &CharTokenizer,
    (checkpoint, config): (&Path, &Path),
    validation: Option<&Path>,
    (output, force): (Option<&Path>, bool),
) -> Result<(Option<Vec<u32>>, TransformerLm), String> {
    let context = saved.model.context;
    let validation = validation
        .map(|path| text_tokens(path, "--validation", tokenizer, context + 1))
        .transpose()?;
    check_run_outputs(output, RUN_CONFIG, (checkpoint, config), force)?;
    let model =
        load_module(saved.model.init(&Device::default()), checkpoint).map_err(|e| e.to_string())?;
    Ok((validation, model))
}

/// Writes the run directory `dir`: `model` as `model.bpk` (never over `checkpoint`) and
/// `saved` as `run.json`, each atomically.
pub(crate) fn write_run<M: Module>(
    dir: &Path,
    model: &M,
    saved: &SavedCharLm,
    checkpoint: &Path,
    force: bool,
) -> Result<(), String> {
    write_run_files(dir, model, (RUN_CONFIG, saved), checkpoint, force)
}

/// Writes an output run directory `dir`: `model` as `model.bpk` (never over `checkpoint`) and
/// `config` as `config_file`, each atomically.
pub(crate) fn write_run_files<M: Module, C: Config>(
    dir: &Path,
    model: &M,
    (config_file, config): (&str, &C),
    checkpoint: &Path,
    force: bool,
) -> Result<(), String> {
    let (model_path, config_path) = outputs(dir, config_file);
    save_module(model, checkpoint, &model_path, force).map_err(|e| e.to_string())?;
    finish_atomically(&config_path, |tmp| config.save(tmp))
        .map_err(|e| format!("cannot write {}: {e}", config_path.display()))
}

/// The last line of a report: the run directory written (`model.bpk` and `config_file`), or
/// that nothing was.
pub(crate) fn print_written(output: Option<&Path>, config_file: &str) {
    match output {
        Some(dir) => {
            let (model, config) = outputs(dir, config_file);
            println!("wrote {} and {}", model.display(), config.display())
        }
        None => println!("dry run: nothing written"),
    }
}

/// Refuses a config (`--config config`) that describes a `what` of `count` parameters (`None`:
/// more than `usize` holds) which `checkpoint` cannot hold at two bytes per parameter at the
/// least: what a reader of an untrusted config checks before building anything by its sizes.
pub(crate) fn check_fits(
    count: Option<usize>,
    what: &str,
    (checkpoint, config): (&Path, &Path),
) -> Result<(), String> {
    let checkpoint_bytes = std::fs::metadata(checkpoint)
        .map_err(|e| format!("{}: {e}", checkpoint.display()))?
        .len();
    match count {
        Some(n) if (n as u64).saturating_mul(2) <= checkpoint_bytes => Ok(()),
        count => Err(format!(
            "--config {}: it describes a {what} of {} parameters, more than {} ({} bytes) can \
             hold",
            config.display(),
            count.map_or_else(|| "more than 2^64".into(), |n| n.to_string()),
            checkpoint.display(),
            checkpoint_bytes
        )),
    }
}

/// The run's config (`run.json`) of a dense model, checked against the checkpoint's size and
/// for its own consistency before anything is built from it.
pub(crate) fn load_run(checkpoint: &Path, config: &Path) -> Result<SavedCharLm, String> {
    let saved =
        SavedCharLm::load(config).map_err(|e| format!("--config {}: {e}", config.display()))?;
    if !saved.factorized_layers().is_empty() {
        return Err(format!(
            "--config {}: {} of the model's layers are low-rank factors (written by `tempering \
             compress`); this command takes the dense run it was compressed from",
            config.display(),
            saved.factorized_layers().len()
        ));
    }
    // Before the config is checked or built (both allocate by its sizes).
    check_fits(saved.model.parameter_count(), "model", (checkpoint, config))?;
    saved
        .check()
        .map_err(|e| format!("--config {}: {e}", config.display()))?;
    Ok(saved)
}

pub fn run(request: &CalibratedRequest<'_>) -> Result<ExitCode, String> {
    let started = Instant::now();
    let saved = load_run(request.checkpoint, request.config)?;
    let tokenizer = CharTokenizer::from_chars(saved.alphabet.chars().collect());
    let context = saved.model.context;
    let calibration = match request.calibration {
        Some(path) => text_tokens(path, "--calibration", &tokenizer, context)?,
        None if matches!(
            request.method,
            CalibratedMethod::Sequential(SequentialMethod::Magnitude)
        ) =>
        {
            Vec::new()
        }
        None => {
            return Err(format!(
                "--calibration TEXT is required: {} prunes by what each layer receives on \
                 calibration text",
                request.method.name()
            ));
        }
    };
    let calibration_tokens = request.calibration_tokens.unwrap_or(128 * context);
    if calibration_tokens == 0 {
        return Err("--calibration-tokens: must be at least 1".into());
    }
    let sequences = if calibration.is_empty() {
        0
    } else {
        calibration_tokens.div_ceil(context)
    };
    let (validation, mut model) = open_run(
        &saved,
        &tokenizer,
        (request.checkpoint, request.config),
        request.validation,
        (request.output, request.force),
    )?;
    let device = Device::default();
    let evaluate = |model: &TransformerLm| {
        validation.as_ref().and_then(|tokens| {
            model.held_out_loss(tokens, BATCH, request.validation_tokens.div_ceil(context))
        })
    };
    let dense_loss = evaluate(&model);
    let ecoflap = matches!(request.method, CalibratedMethod::Ecoflap);
    // Windows and their length: ProxSparse trains on windows of inputs and next characters.
    let trained_on = match &request.method {
        CalibratedMethod::ProxSparse(config) => (PROXSPARSE_BATCH * config.steps, context + 1),
        CalibratedMethod::Mfac(config) => (MFAC_BATCH * mfac_gradients(config), context + 1),
        _ => (sequences, context),
    };
    let mut mfac = None;
    let (layers, block_sparsities, proxsparse, bar) = match &request.method {
        CalibratedMethod::Mfac(config) => {
            let (pruned, report, bar) = prune_mfac(request, config, &calibration, &saved, &device)?;
            model = pruned;
            mfac = Some(report);
            (block_linear_outcomes(&model), None, None, bar)
        }
        CalibratedMethod::ProxSparse(config) => {
            let autodiff = device.clone().autodiff();
            let trainable: TransformerLm =
                load_module(saved.model.init(&autodiff), request.checkpoint)
                    .map_err(|e| e.to_string())?;
            let windows = calibration_windows(
                &calibration,
                context + 1,
                PROXSPARSE_BATCH * config.steps,
                PROXSPARSE_BATCH,
                request.seed,
                &autodiff,
            )
            .map_err(|e| format!("--calibration: {e}"))?;
            let bar = ProgressBar::new(config.steps as u64);
            bar.set_style(
                ProgressStyle::with_template("proxsparse [{bar:30}] step {pos}/{len} {elapsed}")
                    .expect("a valid template"),
            );
            let loss = |m: &TransformerLm, step: usize| m.window_loss_tensor(windows[step].clone());
            let (masks, report) = proxsparse_masks(trainable, config, loss, &mut |done| {
                bar.set_position(done as u64)
            })
            .map_err(|e| e.to_string())?;
            let layers = apply_two_of_four_masks(&mut model, &masks).map_err(|e| e.to_string())?;
            (layers, None, Some(report), bar)
        }
        method => {
            let (layers, block_sparsities, bar) = sequential_prune(
                request,
                method,
                &mut model,
                &calibration,
                sequences,
                &device,
            )?;
            (layers, block_sparsities, None, bar)
        }
    };
    bar.finish_and_clear();
    let pruned_loss = evaluate(&model);
    let written = match request.output {
        Some(dir) => {
            write_run(dir, &model, &saved, request.checkpoint, request.force)?;
            Some(dir.to_path_buf())
        }
        None => None,
    };
    let report = Report {
        method: request.method.name(),
        ecoflap,
        sparsity: request.pattern.fraction(),
        n_of_m: match request.pattern {
            LayerSparsity::NOfM { keep, m } => Some((keep, m)),
            LayerSparsity::Unstructured(_) => None,
        },
        calibration_sequences: trained_on.0,
        calibration_tokens: trained_on.0 * trained_on.1,
        layers: &layers,
        block_sparsities,
        proxsparse,
        mfac,
        dense_nats_per_char: dense_loss,
        pruned_nats_per_char: pruned_loss,
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

/// Gradients M-FAC takes: `m − 1` per recomputation.
fn mfac_gradients(config: &MfacPruneConfig) -> usize {
    (config.gradients - 1) * config.recomputations
}

/// M-FAC over every block's linear layers, with gradients of the next-character loss on
/// windows of the calibration text; the pruned model on `device` and the report.
fn prune_mfac(
    request: &CalibratedRequest<'_>,
    config: &MfacPruneConfig,
    calibration: &[u32],
    saved: &SavedCharLm,
    device: &Device,
) -> Result<(TransformerLm, MfacPruneReport, ProgressBar), String> {
    let autodiff = device.clone().autodiff();
    let trainable: TransformerLm =
        load_module(saved.model.init(&autodiff), request.checkpoint).map_err(|e| e.to_string())?;
    // Loaded parameters track no gradient until asked to.
    let trainable = trainable.set_require_grad(true);
    let count = mfac_gradients(config);
    let context = saved.model.context;
    let windows = calibration_windows(
        calibration,
        context + 1,
        MFAC_BATCH * count,
        MFAC_BATCH,
        request.seed,
        &autodiff,
    )
    .map_err(|e| format!("--calibration: {e}"))?;
    let bar = ProgressBar::new(count as u64);
    bar.set_style(
        ProgressStyle::with_template("mfac [{bar:30}] gradient {pos}/{len} {elapsed}")
            .expect("a valid template"),
    );
    let config = MfacPruneConfig {
        include: Some(BLOCK_LINEAR_WEIGHTS.into()),
        ..config.clone()
    };
    let mut next = 0;
    let gradient = |m: &TransformerLm| {
        let loss = m.window_loss_tensor(windows[next].clone());
        next += 1;
        bar.set_position(next as u64);
        Ok(GradientsParams::from_grads(loss.backward(), m))
    };
    let (pruned, _, report) = mfac_prune(
        trainable,
        None,
        request.pattern.fraction(),
        &config,
        gradient,
    )
    .map_err(|e| e.to_string())?;
    Ok((pruned.valid(), report, bar))
}

/// Every block's linear layers: shape and zeros (no output error: M-FAC measures none).
fn block_linear_outcomes(model: &TransformerLm) -> Vec<LayerOutcome> {
    let mut out = Vec::new();
    for (i, block) in model.blocks.iter().enumerate() {
        let attention = &block.attention;
        let feed_forward = &block.feed_forward;
        for (name, layer) in [
            ("attention.query", &attention.query),
            ("attention.key", &attention.key),
            ("attention.value", &attention.value),
            ("attention.output", &attention.output),
            ("feed_forward.expand", &feed_forward.expand),
            ("feed_forward.contract", &feed_forward.contract),
        ] {
            let weight = layer.weight.val();
            let shape = weight.dims();
            let zeros = weight
                .into_data()
                .iter::<f32>()
                .filter(|v| *v == 0.0)
                .count();
            out.push(LayerOutcome {
                name: format!("blocks.{i}.{name}"),
                shape,
                zeros,
                relative_error: None,
                pair_output_errors: None,
            });
        }
    }
    out
}

/// Each layer's outcome, ECoFLaP's block sparsities, and the progress bar to clear.
type SequentialOutcome = (Vec<LayerOutcome>, Option<Vec<f64>>, ProgressBar);

/// The block-by-block methods: SparseGPT, SparseLLM, Wanda, magnitude, ECoFLaP.
fn sequential_prune(
    request: &CalibratedRequest<'_>,
    method: &CalibratedMethod,
    model: &mut TransformerLm,
    calibration: &[u32],
    sequences: usize,
    device: &Device,
) -> Result<SequentialOutcome, String> {
    let context = model.context();
    let sequential = match method {
        CalibratedMethod::Sequential(m) => m.clone(),
        CalibratedMethod::Ecoflap => SequentialMethod::Wanda,
        CalibratedMethod::ProxSparse(_) | CalibratedMethod::Mfac(_) => {
            unreachable!("ProxSparse and M-FAC are not block by block")
        }
    };
    let batches = if sequences == 0 {
        Vec::new()
    } else {
        calibration_windows(calibration, context, sequences, BATCH, request.seed, device)
            .map_err(|e| format!("--calibration: {e}"))?
    };
    let bar = ProgressBar::new(model.blocks.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] block {pos}/{len} {elapsed}")
            .expect("a valid template"),
    );
    bar.set_message(sequential.name());
    let per_block = match (matches!(method, CalibratedMethod::Ecoflap), request.pattern) {
        (true, LayerSparsity::Unstructured(target)) => {
            bar.set_message("ecoflap: block importance");
            let windows = |length| {
                calibration_windows(
                    calibration,
                    length,
                    ECOFLAP_FIRST_STAGE_WINDOWS,
                    ECOFLAP_FIRST_STAGE_BATCH,
                    request.seed,
                    device,
                )
            };
            // Windows of context + 1 characters (inputs and their next characters), or of the
            // context when the text holds no longer one.
            let windows = windows(context + 1)
                .or_else(|_| windows(context))
                .map_err(|e| format!("--calibration: {e}"))?;
            let patterns = ecoflap_block_patterns(
                &*model,
                target,
                windows.len(),
                request.seed,
                |m: &TransformerLm, k| m.window_loss(windows[k].clone()),
            )
            .map_err(|e| e.to_string())?;
            bar.set_message("ecoflap: wanda");
            patterns
        }
        (true, LayerSparsity::NOfM { .. }) => {
            return Err(
                "--nm: ECoFLaP allocates unstructured sparsity per block; with N:M it \
                        applies Wanda uniformly, which --method wanda --nm does"
                    .into(),
            );
        }
        (false, pattern) => vec![pattern; model.blocks.len()],
    };
    let block_sparsities = matches!(method, CalibratedMethod::Ecoflap)
        .then(|| per_block.iter().map(LayerSparsity::fraction).collect());
    let layers = prune_blocks_sequentially(model, batches, &sequential, &per_block, &mut |p| {
        bar.set_position(p.done as u64)
    })
    .map_err(|e| e.to_string())?;
    Ok((layers, block_sparsities, bar))
}

fn print_report(report: &Report<'_>) {
    let rows: Vec<Vec<String>> = report
        .layers
        .iter()
        .map(|l| {
            vec![
                l.name.clone(),
                shape(&l.shape),
                percent(l.zeros as f64 / (l.shape[0] * l.shape[1]) as f64),
                l.relative_error
                    .map_or_else(|| "-".into(), |e| format!("{e:.4}")),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["layer", "shape", "zeros", "output error"], &rows)
    );
    let pattern = match report.n_of_m {
        Some((n, m)) => format!("{n}:{m}"),
        None => percent(report.sparsity),
    };
    println!(
        "\n{} at {pattern} over {} linear layers, calibrated on {} sequences ({} characters), \
         in {:.1} s",
        if report.ecoflap {
            "ecoflap (wanda)"
        } else {
            report.method
        },
        report.layers.len(),
        report.calibration_sequences,
        report.calibration_tokens,
        report.seconds
    );
    if let Some(blocks) = &report.block_sparsities {
        let text: Vec<String> = blocks.iter().map(|&s| percent(s)).collect();
        println!("ECoFLaP block sparsities: {}", text.join(", "));
    }
    if let Some(prox) = &report.proxsparse {
        println!(
            "ProxSparse: {} training steps, loss {:.4} → {:.4}; {} of the learned groups of 4 \
             already 2-sparse; the masks keep the original weights",
            prox.losses.len(),
            prox.losses.first().copied().unwrap_or(f64::NAN),
            prox.losses.last().copied().unwrap_or(f64::NAN),
            percent(prox.groups.at_most_two_kept()),
        );
    }
    if let Some(mfac) = &report.mfac {
        let steps: Vec<String> = mfac.steps.iter().map(|s| percent(s.sparsity)).collect();
        println!(
            "M-FAC: {} gradients over {} weights, one threshold; sparsity after each \
             recomputation {}",
            mfac.gradient_evaluations,
            mfac.target_elements,
            steps.join(" → ")
        );
    } else {
        println!("output error: ‖WX − ŴX‖² / ‖WX‖² on the calibration inputs each layer received");
    }
    for layer in report.layers {
        if let Some(rounds) = &layer.pair_output_errors {
            let text: Vec<String> = rounds.iter().map(|e| format!("{e:.4}")).collect();
            println!(
                "SparseLLM {}: the pair's output error after each round {}",
                layer.name.trim_end_matches(".expand"),
                text.join(" → ")
            );
        }
    }
    if let (Some(dense), Some(pruned)) = (report.dense_nats_per_char, report.pruned_nats_per_char) {
        println!("validation: {dense:.4} nats/char dense → {pruned:.4} nats/char pruned");
    }
    print_written(report.output.as_deref(), RUN_CONFIG);
}
