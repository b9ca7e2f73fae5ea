//! Meta-training of the learned optimizer (μLO, Therien et al. 2024, arXiv:2405.14658, after
//! `learned_optimization`'s truncated PES trainer): the outer loss is the mean (clipped)
//! training loss over truncated unrolls of inner training; its gradient with respect to the
//! optimizer's 2,409 meta-parameters is estimated by antithetic persistent evolution strategies
//! ([`pes`]), one estimator per task, pairs in parallel across cores, averaged over tasks; AdamW
//! (Burn's, clipped to global norm 1, weight decay 1e-4) steps the meta-parameters under a
//! warm-up + cosine schedule ([`schedule`]).
//!
//! The run writes `meta_loss.csv` (outer step, seconds, meta-loss, resets), `meta_loss.png`,
//! and a checkpoint (`checkpoint/weights.json`, `checkpoint/meta_optimizer.bpk`) every
//! `checkpoint_every` steps; `resume(true)` continues from it (the inner problems restart, which
//! keeps the estimator unbiased).
//!
//! ```no_run
//! use tempering_optim::learned::LoptWeights;
//! use tempering_train::meta_training::{MetaTrainConfig, MetaTrainer, lopt_unroll::InnerTask};
//! // `tasks`: your InnerTask, e.g. one small MLP per width (see the `meta_train_lopt` example).
//! fn meta_train<T: InnerTask>(tasks: Vec<T>) -> Result<(), Box<dyn std::error::Error>> {
//!     let outcome = MetaTrainer::new(MetaTrainConfig::new(), tasks)
//!         .output_dir("runs/meta_train")
//!         .run(LoptWeights::init(0))?;
//!     outcome.weights.save("lopt.json".as_ref(), "meta_train_lopt, 250 outer steps")?;
//!     Ok(())
//! }
//! ```

pub mod lopt_unroll;
pub mod pes;
pub mod schedule;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::config::Config;
use burn::module::{Module, Param, ParamId};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use tempering_core::atomic_write::write_atomically;
use tempering_optim::learned::LoptWeights;
use tempering_optim::learned::weights::META_PARAMETERS;

use crate::curves_plot::{Panel, Series, plot_panels};
use crate::progress::LoopProgress;
use lopt_unroll::{InnerTask, LoptUnroll};
use pes::{PesEstimate, PesEstimator, PesSettings};
use rayon::prelude::*;
use schedule::meta_learning_rate;

/// Settings of a meta-training run. The defaults scale the μLO recipe (truncated PES with
/// truncation 50 and 8 antithetic pairs, widths up to 1024) down to 2 CPU cores: truncation 20,
/// 4 pairs per task, horizons log-uniform in [50, 300], 250 outer steps.
#[derive(Config, Debug)]
pub struct MetaTrainConfig {
    /// Outer (meta-optimizer) steps.
    #[config(default = 250)]
    pub outer_steps: usize,
    /// Antithetic pairs per task.
    #[config(default = 4)]
    pub pairs: usize,
    /// Inner steps per truncation.
    #[config(default = 20)]
    pub truncation: usize,
    /// Standard deviation of the perturbations.
    #[config(default = 0.01)]
    pub sigma: f32,
    /// Shortest inner horizon (log-uniform between the two).
    #[config(default = 50)]
    pub min_horizon: usize,
    /// Longest inner horizon.
    #[config(default = 300)]
    pub max_horizon: usize,
    /// Peak meta-learning rate.
    #[config(default = 3e-3)]
    pub peak_lr: f64,
    /// Final meta-learning rate.
    #[config(default = 1e-3)]
    pub final_lr: f64,
    /// Warm-up steps.
    #[config(default = 100)]
    pub warmup: usize,
    /// Step at which the cosine reaches `final_lr`.
    #[config(default = 5000)]
    pub cosine_steps: usize,
    /// AdamW's decoupled weight decay on the meta-parameters.
    #[config(default = 1e-4)]
    pub weight_decay: f32,
    /// Global-norm clip of the meta-gradient.
    #[config(default = 1.0)]
    pub clip_norm: f32,
    /// Seed of the perturbations, inner initializations and data.
    #[config(default = 0)]
    pub seed: u64,
    /// Run the tasks' estimators, their pairs and each pair's two signs in parallel; `false`
    /// runs everything on one thread at a time, for measuring the speedup (the meta-gradient is
    /// the same bit for bit).
    #[config(default = true)]
    pub parallel: bool,
    /// Write a checkpoint every this many outer steps (0: only at the end).
    #[config(default = 25)]
    pub checkpoint_every: usize,
}

/// Why meta-training stopped.
#[derive(Debug, thiserror::Error)]
pub enum MetaTrainError {
    /// A setting cannot be used.
    #[error("invalid meta-training setting {field}: {problem}")]
    Config {
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// Output or checkpoint files could not be written or read.
    #[error("{0}")]
    Files(String),
}

/// What a run returns.
#[derive(Clone, Debug)]
pub struct MetaOutcome {
    /// The meta-trained weights.
    pub weights: LoptWeights,
    /// Meta-loss of every outer step (including those before a resume).
    pub meta_losses: Vec<f64>,
    /// Seconds of this process's meta-training.
    pub seconds: f64,
    /// The outer step the run resumed after, if it did.
    pub resumed_after: Option<usize>,
    /// Inner steps taken by this process (both signs, every pair and task).
    pub inner_steps: u64,
}

/// A meta-training run over `tasks` (e.g. the same MLP at several widths).
pub struct MetaTrainer<T: InnerTask> {
    config: MetaTrainConfig,
    tasks: Vec<LoptUnroll<T>>,
    output_dir: Option<PathBuf>,
    resume: bool,
    progress: bool,
}

/// The meta-parameters as a one-tensor module, so Burn's `ModuleOptimizer` (AdamW, gradient
/// clipping, burnpack state) steps and saves them. Its id is fixed so a saved state reloads.
#[derive(Module, Debug)]
struct MetaParameters {
    theta: Param<Tensor<1>>,
}

const THETA_ID: u64 = 0x6c6f_7074; // "lopt"

impl MetaParameters {
    /// The current meta-parameters as optimizer weights.
    fn weights(&self) -> LoptWeights {
        LoptWeights::from_flat(
            &self
                .theta
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32"),
        )
    }
}

impl<T: InnerTask> MetaTrainer<T> {
    /// A run of `config` over `tasks`.
    pub fn new(config: MetaTrainConfig, tasks: Vec<T>) -> Self {
        Self {
            config,
            tasks: tasks.into_iter().map(LoptUnroll).collect(),
            output_dir: None,
            resume: false,
            progress: true,
        }
    }

    /// Write CSV, plot and checkpoints into `dir`.
    pub fn output_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.output_dir = Some(dir.into());
        self
    }

    /// Continue from the checkpoint in the output directory when there is one.
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Show progress on stderr (on by default).
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }

    fn validate(&self) -> Result<(), MetaTrainError> {
        let c = &self.config;
        let bad = |field, problem: &str| {
            Err(MetaTrainError::Config {
                field,
                problem: problem.into(),
            })
        };
        if self.tasks.is_empty() {
            return bad("tasks", "give at least one task");
        }
        if c.pairs == 0 || c.truncation == 0 || c.outer_steps == 0 {
            return bad("pairs/truncation/outer_steps", "must be at least 1");
        }
        if c.min_horizon == 0 || c.min_horizon > c.max_horizon {
            return bad("min_horizon", "must be at least 1 and at most max_horizon");
        }
        if !(c.sigma > 0.0 && c.sigma.is_finite()) {
            return bad("sigma", "must be a positive number");
        }
        if !(c.peak_lr > 0.0 && c.final_lr > 0.0 && c.clip_norm > 0.0) {
            return bad("peak_lr/final_lr/clip_norm", "must be positive");
        }
        Ok(())
    }

    /// Meta-trains from `initial` (ignored when resuming from a checkpoint).
    ///
    /// # Errors
    /// [`MetaTrainError`] for a bad setting or files that cannot be written or read.
    pub fn run(self, initial: LoptWeights) -> Result<MetaOutcome, MetaTrainError> {
        self.validate()?;
        let c = &self.config;
        // Burn's ModuleOptimizer steps modules on autodiff devices.
        let device = Device::default().autodiff();
        let files = |e: String| MetaTrainError::Files(e);
        let mut optimizer = ModuleOptimizer::from(
            AdamWConfig::new()
                .with_weight_decay(c.weight_decay)
                .with_epsilon(1e-8)
                .build(),
        )
        .with_grad_clipping(GradientClippingConfig::Norm(c.clip_norm).init());
        let mut weights = initial;
        let mut losses: Vec<(f64, f64, usize)> = Vec::new();
        let checkpoint = self.output_dir.as_ref().map(|d| d.join("checkpoint"));
        if self.resume
            && let Some(dir) = &checkpoint
            && dir.join("weights.json").exists()
        {
            weights =
                LoptWeights::load(&dir.join("weights.json")).map_err(|e| files(e.to_string()))?;
            optimizer = optimizer
                .load(dir.join("meta_optimizer.bpk"))
                .map_err(|e| {
                    files(format!(
                        "{}: {e:?}",
                        dir.join("meta_optimizer.bpk").display()
                    ))
                })?;
            losses = read_losses(&dir.join("meta_loss.csv")).map_err(files)?;
        }
        let resumed_after = (!losses.is_empty()).then_some(losses.len());
        let mut params = MetaParameters {
            theta: Param::initialized(
                ParamId::from(THETA_ID),
                Tensor::from_data(
                    TensorData::new(weights.to_flat(), [META_PARAMETERS]),
                    &device,
                ),
            ),
        };
        let settings = PesSettings {
            pairs: c.pairs,
            truncation: c.truncation,
            sigma: c.sigma,
            min_horizon: c.min_horizon,
            max_horizon: c.max_horizon,
            parallel: c.parallel,
        };
        let dimension = META_PARAMETERS;
        let start_step = losses.len();
        let mut estimators: Vec<PesEstimator<LoptUnroll<T>>> = self
            .tasks
            .iter()
            .enumerate()
            .map(|(i, task)| {
                let seed = tempering_core::split_mix::at(c.seed ^ start_step as u64, i as u64);
                PesEstimator::new(task, settings, dimension, seed)
            })
            .collect();
        let mut progress = LoopProgress::new(
            self.progress,
            "meta-training",
            c.outer_steps,
            start_step,
            "outer steps",
        );
        let started = Instant::now();
        let seconds_before = losses.last().map_or(0.0, |l| l.1);
        let mut inner_steps = 0u64;
        for step in start_step..c.outer_steps {
            let theta: Vec<f32> = params.theta.val().into_data().try_to_vec().expect("f32");
            let mut gradient = vec![0.0f32; dimension];
            let (mut meta_loss, mut resets) = (0.0, 0);
            // Every task's estimator at once when parallel (summed in task order either way).
            let estimates: Vec<PesEstimate> = if c.parallel {
                self.tasks
                    .par_iter()
                    .zip(estimators.par_iter_mut())
                    .map(|(task, estimator)| estimator.estimate(task, &theta))
                    .collect()
            } else {
                self.tasks
                    .iter()
                    .zip(&mut estimators)
                    .map(|(task, estimator)| estimator.estimate(task, &theta))
                    .collect()
            };
            for estimate in estimates {
                for (g, e) in gradient.iter_mut().zip(&estimate.gradient) {
                    *g += e / self.tasks.len() as f32;
                }
                meta_loss += estimate.meta_loss / self.tasks.len() as f64;
                resets += estimate.resets;
            }
            inner_steps += (self.tasks.len() * c.pairs * 2 * c.truncation) as u64;
            let mut grads = GradientsParams::new();
            grads.register(
                params.theta.id,
                Tensor::<1>::from_data(TensorData::new(gradient, [dimension]), &device),
            );
            let lr = meta_learning_rate(step, c.peak_lr, c.final_lr, c.warmup, c.cosine_steps);
            params = optimizer.step(lr, params, grads);
            let seconds = seconds_before + started.elapsed().as_secs_f64();
            losses.push((meta_loss, seconds, resets));
            progress.update(step + 1, format!("meta-loss {meta_loss:.4}"));
            let done = step + 1 == c.outer_steps;
            if let Some(dir) = &self.output_dir
                && (done || (c.checkpoint_every > 0 && (step + 1) % c.checkpoint_every == 0))
            {
                weights = params.weights();
                save(dir, &weights, &optimizer, &losses, step + 1).map_err(files)?;
            }
        }
        progress.finish();
        weights = params.weights();
        Ok(MetaOutcome {
            weights,
            meta_losses: losses.iter().map(|l| l.0).collect(),
            seconds: started.elapsed().as_secs_f64(),
            resumed_after,
            inner_steps,
        })
    }
}

fn losses_csv(losses: &[(f64, f64, usize)]) -> String {
    let mut out = String::from("outer_step,seconds,meta_loss,resets\n");
    for (i, (loss, seconds, resets)) in losses.iter().enumerate() {
        out += &format!("{},{seconds:.3},{loss},{resets}\n", i + 1);
    }
    out
}

fn read_losses(path: &Path) -> Result<Vec<(f64, f64, usize)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .skip(1)
        .enumerate()
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split(',').collect();
            let parse = || -> Option<(f64, f64, usize)> {
                Some((
                    fields.get(2)?.parse().ok()?,
                    fields.get(1)?.parse().ok()?,
                    fields.get(3)?.parse().ok()?,
                ))
            };
            parse().ok_or_else(|| {
                format!(
                    "{}: line {} is not `step,seconds,meta_loss,resets`",
                    path.display(),
                    i + 2
                )
            })
        })
        .collect()
}

/// Writes the CSV and plot, and the checkpoint (weights, meta-optimizer, losses) atomically.
fn save(
    dir: &Path,
    weights: &LoptWeights,
    optimizer: &ModuleOptimizer,
    losses: &[(f64, f64, usize)],
    step: usize,
) -> Result<(), String> {
    let checkpoint = dir.join("checkpoint");
    std::fs::create_dir_all(&checkpoint).map_err(|e| format!("{}: {e}", checkpoint.display()))?;
    let csv = losses_csv(losses);
    for path in [dir.join("meta_loss.csv"), checkpoint.join("meta_loss.csv")] {
        write_atomically(&path, |w| std::io::Write::write_all(w, csv.as_bytes()))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    // The optimizer state first, the weights last: a checkpoint is complete once its weights
    // file exists.
    let state = checkpoint.join("meta_optimizer.bpk");
    let tmp = checkpoint.join("meta_optimizer.bpk.tmp");
    optimizer
        .save(&tmp)
        .map_err(|e| format!("{}: {e:?}", state.display()))?;
    std::fs::rename(&tmp, &state).map_err(|e| format!("{}: {e}", state.display()))?;
    weights
        .save(
            &checkpoint.join("weights.json"),
            &format!("meta-training checkpoint at outer step {step}"),
        )
        .map_err(|e| e.to_string())?;
    let panel = Panel {
        title: "learned-optimizer meta-training".into(),
        x_label: "outer step".into(),
        y_label: "meta-loss (mean clipped training loss)".into(),
        series: vec![Series {
            label: "meta-loss".into(),
            points: losses
                .iter()
                .enumerate()
                .map(|(i, l)| ((i + 1) as f64, l.0))
                .collect(),
        }],
    };
    plot_panels(&dir.join("meta_loss.png"), &[panel], (900, 500)).map_err(|e| e.to_string())
}
