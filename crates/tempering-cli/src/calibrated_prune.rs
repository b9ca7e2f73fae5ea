//! `tempering prune MODEL --method sparsegpt|sparsellm|wanda|ecoflap|layer-magnitude
//! --calibration TEXT`: calibrated pruning of a transformer language model (a character run,
//! `train_char_lm`'s `model.bpk` with `--config run.json`, or a Hugging Face GPT-2 directory),
//! block by block through the blocks already
//! pruned, as the official SparseGPT and Wanda loops run it; and `--method proxsparse --nm 2:4`,
//! 2:4 masks learned by training on the calibration text; and `--method mfac`, M-FAC's
//! second-order pruning from gradients on the calibration text.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use tempering_data::calibration_windows;
use tempering_models::TransformerLm;
use tempering_models::transformer::block::BLOCK_LINEAR_WEIGHTS;
use tempering_models::transformer::hf_gpt2::Gpt2Widening;
use tempering_prune::calibrated::{
    ECOFLAP_FIRST_STAGE_BATCH, ECOFLAP_FIRST_STAGE_WINDOWS, LayerOutcome, LayerSparsity,
    ProxSparseReport, SequentialMethod, apply_two_of_four_masks, ecoflap_block_patterns,
    proxsparse_masks, prune_blocks_sequentially,
};
use tempering_prune::mfac::{MfacPruneConfig, MfacPruneReport, mfac_prune};

use crate::calibrated_method::CalibratedMethod;
use crate::language_model_files::{LanguageModelFiles, ValidationLoss, print_widening};
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
    pub config: Option<&'a Path>,
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
    validation: Option<ValidationLoss>,
    seconds: f64,
    output: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gpt2_widening: Option<Gpt2Widening>,
}

pub fn run(request: &CalibratedRequest<'_>) -> Result<ExitCode, String> {
    let started = Instant::now();
    let files = LanguageModelFiles::open(request.checkpoint, request.config)?;
    let context = files.context();
    let calibration = match request.calibration {
        Some(path) => files.tokens(path, "--calibration", context)?,
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
    let (validation, mut model) =
        files.prepare(request.validation, (request.output, request.force))?;
    let device = Device::default();
    let evaluate = |model: &TransformerLm| {
        validation.as_ref().and_then(|tokens| {
            let batch = files.loss_batch(BATCH);
            model.held_out_loss(tokens, batch, request.validation_tokens.div_ceil(context))
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
            let (pruned, report, bar) = prune_mfac(request, config, &calibration, &files, &device)?;
            model = pruned;
            mfac = Some(report);
            (block_linear_outcomes(&model), None, None, bar)
        }
        CalibratedMethod::ProxSparse(config) => {
            let autodiff = device.clone().autodiff();
            let trainable = files.load(&autodiff)?;
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
    let (written, gpt2_widening) = match request.output {
        Some(dir) => {
            let widening = files.write(dir, &model, files.lm_config(), request.force)?;
            (Some(dir.to_path_buf()), widening)
        }
        None => (None, None),
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
        validation: ValidationLoss::new(files.unit(), dense_loss, pruned_loss),
        seconds: started.elapsed().as_secs_f64(),
        output: written,
        gpt2_widening,
    };
    if request.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_report(&report, &files);
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
    files: &LanguageModelFiles,
    device: &Device,
) -> Result<(TransformerLm, MfacPruneReport, ProgressBar), String> {
    let autodiff = device.clone().autodiff();
    let trainable = files.load(&autodiff)?;
    // Loaded parameters track no gradient until asked to.
    let trainable = trainable.set_require_grad(true);
    let count = mfac_gradients(config);
    let context = files.context();
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

fn print_report(report: &Report<'_>, files: &LanguageModelFiles) {
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
        "\n{} at {pattern} over {} linear layers, calibrated on {} sequences ({} {}s), in \
         {:.1} s",
        if report.ecoflap {
            "ecoflap (wanda)"
        } else {
            report.method
        },
        report.layers.len(),
        report.calibration_sequences,
        report.calibration_tokens,
        files.unit(),
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
    if let Some(validation) = &report.validation {
        validation.print("pruned");
    }
    print_widening(report.gpt2_widening.as_ref());
    files.print_written(report.output.as_deref());
}
