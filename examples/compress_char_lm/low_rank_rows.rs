//! The low-rank rows of `compress_char_lm`: the comparison of ALDS (Liebenwein et al.,
//! "Compressing neural networks: towards determining the optimal layer-wise decomposition",
//! NeurIPS 2021) at equal parameter budgets of the blocks' linear weights, as the paper makes it:
//!
//! - `alds`: the per-layer search of input chunks and ranks (`--search` of `tempering compress`);
//! - `alds-k3`: three input chunks in every layer, the paper's error-only ablation;
//! - `svd`: one chunk, a plain truncated SVD of every layer;
//! - `magnitude`: the same share of every layer's weights kept by magnitude (unstructured, so
//!   the parameters are zeros, not gone);
//!
//! each before and after the same short fine-tune (AdamW as in training; magnitude's masked, so
//! pruned weights stay zero).

use std::error::Error;
use std::time::Instant;

use burn::module::Module;
use tempering_core::split_mix::SplitMix64;
use tempering_models::TransformerLm;
use tempering_models::transformer::Projection;
use tempering_models::transformer::block::BLOCK_LINEAR_WEIGHTS;
use tempering_prune::alds_search::AldsSearchConfig;
use tempering_prune::low_rank::LowRankConfig;
use tempering_prune::low_rank_export::factorize_model;
use tempering_prune::{Method, ModuleMasks, PruneConfig};

use super::Row;
use crate::train_char_lm::{CharLmArgs, optimizer, train_step_with};

/// The low-rank methods, by row name.
pub const LOW_RANK_METHODS: [&str; 4] = ["alds", "alds-k3", "svd", "magnitude"];

/// What every low-rank row shares.
pub struct LowRankSetup<'a> {
    /// The trained model (no autodiff).
    pub dense: &'a TransformerLm,
    /// Its config.
    pub config: &'a tempering_models::TransformerLmConfig,
    /// The training split, for the fine-tune.
    pub train_tokens: &'a [u32],
    /// Validation nats per character of a model.
    pub evaluate: &'a dyn Fn(&TransformerLm<tempering_models::LinearLayer>) -> Result<f64, String>,
    /// Fine-tuning steps (0: no fine-tuned rows).
    pub finetune_steps: usize,
    /// Fine-tuning learning rate.
    pub finetune_lr: f64,
    /// Seed of the search and the fine-tuning batches.
    pub seed: u64,
    /// Weights in the blocks' linear layers of the dense model.
    pub block_weights: usize,
}

/// `steps` fine-tuning steps of `model` with `step` doing each update.
fn finetune<P: Projection>(
    model: TransformerLm<P>,
    setup: &LowRankSetup<'_>,
    mut step: impl FnMut(TransformerLm<P>, burn::optim::GradientsParams) -> TransformerLm<P>,
) -> Result<TransformerLm<P>, Box<dyn Error>> {
    let mut train_args = <CharLmArgs as clap::Parser>::parse_from(["train_char_lm"]);
    train_args.context = setup.config.context;
    let mut rng = SplitMix64::new(setup.seed);
    let mut model = model.train();
    for _ in 0..setup.finetune_steps {
        model = train_step_with(model, setup.train_tokens, &train_args, &mut rng, &mut step)
            .map_err(|loss| format!("fine-tuning diverged (loss {loss})"))?
            .0;
    }
    Ok(model.valid())
}

/// The rows of `method` (one of [`LOW_RANK_METHODS`]) at `budget`, the fraction of the blocks'
/// linear weights kept: before and, with fine-tuning steps, after the fine-tune.
pub fn low_rank_rows(
    setup: &LowRankSetup<'_>,
    method: &str,
    budget: f64,
) -> Result<Vec<Row>, Box<dyn Error>> {
    let started = Instant::now();
    let setting = format!("{:.0} % kept", 100.0 * budget);
    let dense_like = |model: TransformerLm| {
        model.map_projections(|_, linear| tempering_models::LinearLayer::Dense(linear))
    };
    let (compressed, kept, masks) = if method == "magnitude" {
        let config = PruneConfig::new(Method::LayerMagnitude, 1.0 - budget)
            .with_include(Some(BLOCK_LINEAR_WEIGHTS.into()));
        let masks = ModuleMasks::compute(setup.dense, &config)?;
        let pruned = masks.apply(setup.dense.clone());
        let kept = (1.0 - masks.sparsity()) * setup.block_weights as f64;
        (dense_like(pruned), kept.round() as usize, Some(masks))
    } else {
        let low_rank = LowRankConfig {
            chunks: if method == "svd" { 1 } else { 3 },
            search: (method == "alds").then(|| AldsSearchConfig {
                seed: setup.seed,
                ..Default::default()
            }),
            ..LowRankConfig::new(budget)
        };
        let (small, _, layers) = factorize_model(setup.dense.clone(), setup.config, &low_rank)?;
        let kept: u64 = layers.iter().map(|l| l.parameters_after).sum();
        (small, kept as usize, None)
    };
    let removed = 1.0 - kept as f64 / setup.block_weights as f64;
    let row = |method: String, model: &TransformerLm<_>, seconds: f64| -> Result<Row, String> {
        let unstructured = masks.as_ref().map_or(0, |m| {
            (m.sparsity() * setup.block_weights as f64).round() as usize
        });
        Ok(Row {
            method,
            setting: setting.clone(),
            sparsity: removed,
            parameters: model.num_params() - unstructured,
            nats_per_char: (setup.evaluate)(model)?,
            seconds,
        })
    };
    let mut rows = vec![row(
        method.into(),
        &compressed,
        started.elapsed().as_secs_f64(),
    )?];
    if setup.finetune_steps > 0 {
        let mut train_args = <CharLmArgs as clap::Parser>::parse_from(["train_char_lm"]);
        train_args.context = setup.config.context;
        let mut optim = optimizer(&train_args)?;
        let lr = setup.finetune_lr;
        let tuned = finetune(compressed, setup, |model, grads| match &masks {
            Some(masks) => masks.step(&mut optim, lr, model, grads),
            None => optim.step(lr, model, grads),
        })?;
        rows.push(row(
            format!("{method}+finetune"),
            &tuned,
            started.elapsed().as_secs_f64(),
        )?);
    }
    for r in &rows {
        eprintln!(
            "{:<18} {:>9}: {:.4} nats/char, {:.1} % of block weights removed ({:.1} s)",
            r.method,
            r.setting,
            r.nats_per_char,
            100.0 * r.sparsity,
            r.seconds
        );
    }
    Ok(rows)
}
