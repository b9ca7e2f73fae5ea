//! M-FAC pruning (Frantar, Kurtic & Alistarh, "M-FAC: Efficient Matrix-Free Approximations of
//! Second-Order Information", NeurIPS 2021; official code IST-DASLab/M-FAC, `main_prun.py`
//! and `prun.py`, which this follows).
//!
//! Optimal Brain Surgeon with the inverse Hessian replaced by the inverse empirical Fisher of
//! `m` minibatch gradients, in blocks of consecutive weights ([`InverseFisher`]): each weight
//! scores `w² / (2·[F⁻¹]_qq)`, the lowest go, and the survivors move by the OBS correction
//! `F⁻¹t` so the loss rises less than by zeroing alone ([`obs_prune_step`]). [`mfac_prune`]
//! runs it over a module's weights the way the official one-shot experiments do: the target
//! sparsity is reached in `recomputations` steps of geometrically shrinking density, each with
//! fresh gradients at the current weights.
//!
//! Defaults are the official script's: `m = 64` gradients (its `--ngrads_schedule`), blocks of
//! 128 weights, dampening 1e-5, 16 recomputations. Like the official loop, a step collects
//! `m − 1` gradients and leaves the last row of the window zero (its loop breaks on the `m`-th
//! batch before storing it), so `F = damp·I + (1/m) Σ` over `m − 1` gradients.
//!
//! ```
//! use burn::module::Module;
//! use burn::nn::{Linear, LinearConfig};
//! use burn::optim::GradientsParams;
//! use burn::tensor::{Device, Distribution, Tensor};
//! use tempering_prune::mfac::{MfacPruneConfig, mfac_prune};
//!
//! let device = Device::default().autodiff();
//! let layer: Linear = LinearConfig::new(8, 4).init(&device);
//! let config = MfacPruneConfig { gradients: 8, recomputations: 2, ..Default::default() };
//! // Each call: the gradient of the loss on a fresh minibatch.
//! let gradient = |m: &Linear| {
//!     let x = Tensor::<2>::random([16, 8], Distribution::Normal(0.0, 1.0), &device);
//!     let loss = m.forward(x).square().mean();
//!     Ok(GradientsParams::from_grads(loss.backward(), m))
//! };
//! let (layer, masks, report) = mfac_prune(layer, None, 0.5, &config, gradient)?;
//! assert!((masks.sparsity() - 0.5).abs() < 0.05);
//! # let _ = (layer, report);
//! # Ok::<(), tempering_prune::PruneError>(())
//! ```

mod module_weights;
mod obs_step;
mod static_inverse;

use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;

pub use obs_step::{ObsStep, obs_prune_step};
pub use static_inverse::InverseFisher;

use crate::error::PruneError;
use crate::module_masks::ModuleMasks;
use module_weights::TargetWeights;

/// Settings of [`mfac_prune`]; the defaults are the official script's.
#[derive(Clone, Debug, PartialEq)]
pub struct MfacPruneConfig {
    /// `m`, the window (`m − 1` gradients are collected per step, see the module docs).
    pub gradients: usize,
    /// Weights per block of the Fisher; `None` for one block over all of them.
    pub block_size: Option<usize>,
    /// Dampening `damp` of `F = damp·I + (1/m) Σ gᵢgᵢᵀ`.
    pub damp: f64,
    /// Steps to reach the target sparsity, each with fresh gradients.
    pub recomputations: usize,
    /// Only weights whose name matches this pattern (any rank); default: rank ≥ 2, no
    /// embeddings (as `tempering prune`).
    pub include: Option<String>,
    /// Leave out weights whose name matches this pattern.
    pub exclude: Option<String>,
}

impl Default for MfacPruneConfig {
    fn default() -> Self {
        Self {
            gradients: 64,
            block_size: Some(128),
            damp: 1e-5,
            recomputations: 16,
            include: None,
            exclude: None,
        }
    }
}

impl MfacPruneConfig {
    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<(), PruneError> {
        if self.gradients < 2 {
            return Err(PruneError::bad(
                "gradients",
                format!(
                    "{} leaves no gradient to collect (a step uses m − 1)",
                    self.gradients
                ),
            ));
        }
        if self.block_size == Some(0) {
            return Err(PruneError::bad("block_size", "a block must hold a weight"));
        }
        if !(self.damp > 0.0 && self.damp.is_finite()) {
            return Err(PruneError::bad(
                "damp",
                format!("{} is not a positive number", self.damp),
            ));
        }
        if self.recomputations == 0 {
            return Err(PruneError::bad("recomputations", "at least one step"));
        }
        Ok(())
    }
}

/// One recomputation step of [`mfac_prune`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct MfacPruneStep {
    /// Sparsity of the targeted weights after the step.
    pub sparsity: f64,
    /// Weights dropped by the step.
    pub dropped: usize,
    /// Seconds, gradients included.
    pub seconds: f64,
}

/// What [`mfac_prune`] did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MfacPruneReport {
    /// The weights pruned (module paths), in visit order.
    pub targets: Vec<String>,
    /// Their element count.
    pub target_elements: usize,
    /// Gradient evaluations made (`(m − 1)` per step).
    pub gradient_evaluations: usize,
    /// Each step.
    pub steps: Vec<MfacPruneStep>,
}

/// Prunes the weights of `module` to `sparsity` (of the targeted weights) by M-FAC, and
/// returns the pruned module, its masks (for masked fine-tuning) and a report.
///
/// `gradient(&module)` returns the gradients of the loss on a fresh minibatch at `module`
/// (whose parameters must track gradients on an autodiff device: a module loaded from a file
/// may need `set_require_grad(true)` first); it is called `m − 1` times per step. `previous` masks (a gradual
/// schedule's) stay pruned and count toward the current sparsity. The recomputation schedule
/// is the official one: step `j` of `R` prunes to `1 − (1 − s₀)·f^j` with
/// `f = ((1 − s)/(1 − s₀))^(1/R)`, `s₀` the sparsity before.
pub fn mfac_prune<M, F>(
    module: M,
    previous: Option<&ModuleMasks>,
    sparsity: f64,
    config: &MfacPruneConfig,
    mut gradient: F,
) -> Result<(M, ModuleMasks, MfacPruneReport), PruneError>
where
    M: Module,
    F: FnMut(&M) -> Result<GradientsParams, PruneError>,
{
    config.validate()?;
    if !(0.0..1.0).contains(&sparsity) {
        return Err(PruneError::bad(
            "sparsity",
            format!("{sparsity} is not in [0, 1)"),
        ));
    }
    let targets = TargetWeights::select(
        &module,
        config.include.as_deref(),
        config.exclude.as_deref(),
    )?;
    let mut keep = targets.keep(previous);
    let d = keep.len();
    let start = (d - keep.iter().filter(|&&k| k).count()) as f64 / d.max(1) as f64;
    let factor = ((1.0 - sparsity) / (1.0 - start)).powf(1.0 / config.recomputations as f64);
    let mut module = module;
    let mut steps = Vec::with_capacity(config.recomputations);
    let mut evaluations = 0;
    for j in 1..=config.recomputations {
        let started = Instant::now();
        let goal = 1.0 - (1.0 - start) * factor.powi(j as i32);
        let mut window = Vec::with_capacity(config.gradients);
        for _ in 0..config.gradients - 1 {
            let grads = gradient(&module)?;
            window.push(targets.flat_gradient(&module, &grads)?);
            evaluations += 1;
        }
        window.push(vec![0.0; d]);
        let weights = targets.flat_values(&module)?;
        let step = obs_prune_step(
            &weights,
            &keep,
            &window,
            goal,
            config.block_size,
            config.damp,
        )?;
        module = targets.write(module, &step.weights);
        keep = step.keep;
        steps.push(MfacPruneStep {
            sparsity: keep.iter().filter(|&&k| !k).count() as f64 / d.max(1) as f64,
            dropped: step.dropped,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let masks = targets.masks(&keep);
    let module = masks.apply(module);
    let report = MfacPruneReport {
        targets: targets.names(),
        target_elements: d,
        gradient_evaluations: evaluations,
        steps,
    };
    Ok((module, masks, report))
}
