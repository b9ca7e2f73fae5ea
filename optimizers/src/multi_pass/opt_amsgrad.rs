//! OPT-AMSGrad (Jun-Kun Wang, Xiaoyun Li, Belhal Karimi and Ping Li, "An Optimistic
//! Acceleration of AMSGrad for Nonconvex Optimization", ACML 2021, PMLR 157; first as
//! arXiv:1903.01435, "Optimistic Adaptive Acceleration for Optimization"; official code
//! Hintonthu/optimistic-amsgrad @07fd55e, `Optadam_torch.py`).
//!
//! Two evaluations per step **on the same batch**: `g` at the iterate `x` and `pg` at the
//! predicted point `q`. With `θ` the first moment and `w½` the half-step iterate:
//! `h = β₁·θ + (1-β₁)·pg`, `θ ← β₁·θ + (1-β₁)·g`, `v ← β₂·v + (1-β₂)·(pg - g)²` (the second
//! moment of the prediction error), `v̂ ← max(v̂, v)`, `s = lr·√(1-β₂ᵗ)/(1-β₁ᵗ)`,
//! `w½ ← w½ - s·θ/(√v̂ + ε)`, `x ← w½ - s·h/(√v̂ + ε)`.
//!
//! The prediction is a regularized minimal-polynomial extrapolation over the last `span`
//! iterates `xᵢ` and their offsets `dᵢ = xᵢ - w½ᵢ`: solve `(D·Dᵀ + λI)·z = 1`, normalize
//! `z ← z/Σz`, and `q = Σ zᵢ·xᵢ`. As in the reference, the `q` computed in one step is used in
//! the next, the first step's offset (always zero) is not stored, and until `span` offsets are
//! stored `q = 0` — so the early predicted gradients are gradients at the origin. Coupled L2
//! decay (`weight_decay`) is added to `g` only, as the reference does.
//!
//! The reference script (`cifar10_opt.py`) evaluates the first step's predicted gradient at
//! its auxiliary network's own random initialization; a closure optimizer has one network, so
//! here the first prediction is evaluated at the origin, like those that follow until the
//! history fills.
//!
//! **The paper's prediction** ([`OptAmsGradPrediction::Gradients`]): the paper predicts the
//! next gradient `m` by extrapolating past *gradients* with RMPE (Scieur et al. 2016,
//! "Regularized Nonlinear Acceleration", Algorithm 1), at no extra evaluation: over the last
//! `span + 1` gradients `g₀ … g_span`, `U = [g₁ - g₀, …, g_span - g_{span-1}]`, solve
//! `(UᵀU + λI)·z = 1`, `c = z/Σz`, and `m = Σ_{i<span} cᵢ·gᵢ`; until `span + 1` gradients are
//! stored `m = 0`. As in the paper's algorithm, the second moment compares `g_t` with the
//! prediction made at the previous step, `v ← β₂·v + (1-β₂)·(g_t - m_t)²`, and the update uses
//! the new one, `h = β₁·θ_{t-1} + (1-β₁)·m_{t+1}`. Step size, bias corrections and ε stay the
//! script's (the paper's pseudocode writes `η_t` and starts `v` at ε), so the two variants
//! differ only in the prediction. The default is the script's, which produced the paper's
//! results; both are transcribed in `optimizers/tests/reference/opt_amsgrad.py`.
//!
//! Departures: the moments live in `f32` (the reference keeps its history in `f64`), the
//! `span × span` system is solved in `f64` on the host, and a degenerate extrapolation
//! (`Σz = 0`, non-finite `z`) predicts the latest iterate (gradient) instead of producing NaN.

use burn::config::Config;
use burn::module::Module;
use burn::optim::{GradientsParams, LearningRate};
use burn::tensor::{Tensor, TensorData};

use super::flat::{flatten_grads, flatten_params, load_flat_params, norm};
use super::running_stats::RunningStatistics;
use super::{ClosureOptimizer, StateRecord, record_of, state_from};
use crate::RecordState;
use crate::config_error::{Check, OptimConfigError};
use crate::finite_guard::{SkipCounter, report_skip};

/// How [`OptAmsGrad`] predicts the next gradient.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum OptAmsGradPrediction {
    /// The official script's: the gradient at an extrapolation of past iterates, a second
    /// evaluation on the same batch (2 per step).
    Iterates,
    /// The paper's: an RMPE extrapolation of past gradients, no extra evaluation (1 per step).
    Gradients,
}

/// Configuration of [`OptAmsGrad`]; defaults of `Optadam_torch.py` (its scripts pass
/// `lr = 1e-3`, `weight_decay = 5e-4`).
#[derive(Config, Debug)]
pub struct OptAmsGradConfig {
    /// How the next gradient is predicted (default: the official script's).
    #[config(default = "OptAmsGradPrediction::Iterates")]
    pub prediction: OptAmsGradPrediction,
    /// β₁, the first-moment decay.
    #[config(default = 0.9)]
    pub beta_1: f64,
    /// β₂, the decay of the prediction error's second moment.
    #[config(default = 0.999)]
    pub beta_2: f64,
    /// ε added to `√v̂`.
    #[config(default = 1e-8)]
    pub epsilon: f64,
    /// Coupled L2 weight decay, added to the gradient at `x`.
    #[config(default = 0.0)]
    pub weight_decay: f64,
    /// Iterates the extrapolation uses.
    #[config(default = 5)]
    pub span: usize,
    /// λ, the ridge term of the extrapolation's linear system (fixed at 10⁻³ in the reference).
    #[config(default = 1e-3)]
    pub regularization: f64,
}

impl OptAmsGradConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimConfigError> {
        let check = Check("OPT-AMSGrad");
        check.beta("beta_1", self.beta_1 as f32)?;
        check.beta("beta_2", self.beta_2 as f32)?;
        check.positive("epsilon", self.epsilon)?;
        check.non_negative("weight_decay", self.weight_decay)?;
        check.positive("span", self.span as f64)?;
        check.positive("regularization", self.regularization)
    }

    /// The optimizer, or the first invalid field.
    pub fn try_build(&self) -> Result<OptAmsGrad, OptimConfigError> {
        self.validate()?;
        Ok(OptAmsGrad {
            config: self.clone(),
            state: None,
            skips: SkipCounter::default(),
        })
    }

    /// The optimizer. Panics with the field's error if the config is invalid.
    pub fn build(&self) -> OptAmsGrad {
        self.try_build().unwrap_or_else(|e| panic!("{e}"))
    }
}

/// What [`OptAmsGrad`] carries between steps, all over the flat parameter vector.
#[derive(RecordState, Clone)]
pub struct OptAmsGradState {
    /// Steps taken (`t`).
    pub step: usize,
    /// θ, the first moment of the gradients.
    pub first_moment: Tensor<1>,
    /// v, the second moment of the prediction errors.
    pub second_moment: Tensor<1>,
    /// v̂, its running maximum.
    pub max_second_moment: Tensor<1>,
    /// w½, the half-step iterate.
    pub half_step: Tensor<1>,
    /// [`Iterates`](OptAmsGradPrediction::Iterates): q, where the next step evaluates the
    /// predicted gradient; [`Gradients`](OptAmsGradPrediction::Gradients): the predicted
    /// gradient itself.
    pub predicted: Tensor<1>,
    /// The last iterates `xᵢ` (at most `span`, oldest first; official prediction).
    pub iterates: Vec<Tensor<1>>,
    /// Their offsets `xᵢ - w½ᵢ`, in the same order.
    pub offsets: Vec<Tensor<1>>,
    /// The last gradients (at most `span + 1`, oldest first; the paper's prediction).
    pub gradients: Vec<Tensor<1>>,
}

/// OPT-AMSGrad; see the module docs.
pub struct OptAmsGrad {
    config: OptAmsGradConfig,
    state: Option<OptAmsGradState>,
    skips: SkipCounter,
}

impl OptAmsGrad {
    /// Steps skipped because a gradient held NaN or infinity.
    pub fn skip_counter(&self) -> SkipCounter {
        self.skips.clone()
    }

    /// The state carried between steps (`None` before the first step).
    pub fn state(&self) -> Option<&OptAmsGradState> {
        self.state.as_ref()
    }

    /// The extrapolated point of the stored history, or zeros while it holds fewer than `span`.
    /// `latest` stands in when the extrapolation is degenerate.
    fn extrapolate(&self, state: &OptAmsGradState, latest: &Tensor<1>) -> Tensor<1> {
        let span = self.config.span;
        if state.offsets.len() < span {
            return latest.zeros_like();
        }
        let d = Tensor::stack::<2>(state.offsets.clone(), 0);
        extrapolate_with(d, &state.iterates, latest, self.config.regularization)
    }

    /// The paper's RMPE prediction of the next gradient from the stored gradients, or zeros
    /// while fewer than `span + 1` are stored; `latest` stands in when it is degenerate.
    fn extrapolate_gradients(&self, state: &OptAmsGradState, latest: &Tensor<1>) -> Tensor<1> {
        let span = self.config.span;
        if state.gradients.len() < span + 1 {
            return latest.zeros_like();
        }
        let g = Tensor::stack::<2>(state.gradients.clone(), 0);
        let n = latest.dims()[0];
        let u = g.clone().slice([1..span + 1, 0..n]) - g.slice([0..span, 0..n]);
        extrapolate_with(
            u,
            &state.gradients[..span],
            latest,
            self.config.regularization,
        )
    }
}

/// The regularized minimal-polynomial extrapolation both predictions share: with `D` the
/// `k` rows of `differences`, solve `(D·Dᵀ + λI)·z = 1`, normalize `z` to sum one and return
/// `Σ zᵢ·vᵢ` over `vectors` (`k` of them), or `fallback` when the system is degenerate.
fn extrapolate_with(
    differences: Tensor<2>,
    vectors: &[Tensor<1>],
    fallback: &Tensor<1>,
    lambda: f64,
) -> Tensor<1> {
    let k = differences.dims()[0];
    let gram: Vec<f64> = differences
        .clone()
        .matmul(differences.transpose())
        .into_data()
        .convert::<f64>()
        .try_to_vec()
        .expect("f64 gram matrix");
    match solve_normalized(gram, k, lambda) {
        Some(z) => {
            let z = Tensor::<1>::from_data(TensorData::new(z, [k]), &fallback.device());
            let v = Tensor::stack::<2>(vectors.to_vec(), 0);
            z.unsqueeze::<2>().matmul(v).reshape([fallback.dims()[0]])
        }
        None => fallback.clone(),
    }
}

/// `z` solving `(G + λI)·z = 1` and scaled to sum to one (`G` is `n × n`, row-major), by
/// Gaussian elimination with partial pivoting; `None` if the system or the sum is degenerate.
fn solve_normalized(mut gram: Vec<f64>, n: usize, lambda: f64) -> Option<Vec<f32>> {
    for i in 0..n {
        gram[i * n + i] += lambda;
    }
    let mut rhs = vec![1.0; n];
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&a, &b| gram[a * n + col].abs().total_cmp(&gram[b * n + col].abs()))?;
        if gram[pivot * n + col] == 0.0 {
            return None;
        }
        for k in 0..n {
            gram.swap(col * n + k, pivot * n + k);
        }
        rhs.swap(col, pivot);
        for row in col + 1..n {
            let factor = gram[row * n + col] / gram[col * n + col];
            for k in col..n {
                gram[row * n + k] -= factor * gram[col * n + k];
            }
            rhs[row] -= factor * rhs[col];
        }
    }
    let mut z = vec![0.0; n];
    for row in (0..n).rev() {
        let tail: f64 = (row + 1..n).map(|k| gram[row * n + k] * z[k]).sum();
        z[row] = (rhs[row] - tail) / gram[row * n + row];
    }
    let sum: f64 = z.iter().sum();
    let z: Vec<f32> = z.iter().map(|v| (v / sum) as f32).collect();
    (sum != 0.0 && z.iter().all(|v| v.is_finite())).then_some(z)
}

impl ClosureOptimizer for OptAmsGrad {
    fn evaluations_per_step(&self) -> usize {
        match self.config.prediction {
            OptAmsGradPrediction::Iterates => 2,
            OptAmsGradPrediction::Gradients => 1,
        }
    }

    fn step<M, F>(&mut self, lr: LearningRate, module: M, mut closure: F) -> (M, f64)
    where
        M: Module + Clone,
        F: FnMut(M) -> (f64, GradientsParams),
    {
        let c = &self.config;
        let x = flatten_params(&module);
        let device = x.device();
        let (loss, grads) = closure(module.clone());
        let mut g = flatten_grads(&module, &grads);
        // Running statistics keep the values of the evaluation at `x`.
        let frozen = RunningStatistics::capture(&module);
        let mut state = match &self.state {
            Some(state) => state.clone(),
            None => OptAmsGradState {
                step: 0,
                first_moment: x.zeros_like(),
                second_moment: x.zeros_like(),
                max_second_moment: x.zeros_like(),
                half_step: x.clone(),
                predicted: x.zeros_like(),
                iterates: Vec::new(),
                offsets: Vec::new(),
                gradients: Vec::new(),
            },
        };
        let to_device = |v: Vec<Tensor<1>>| v.into_iter().map(|t| t.to_device(&device)).collect();
        state.iterates = to_device(state.iterates);
        state.offsets = to_device(state.offsets);
        state.gradients = to_device(state.gradients);
        let predicted = state.predicted.clone().to_device(&device);
        let half_step = state.half_step.clone().to_device(&device);
        // `now`: the prediction compared with this step's gradient; `next`: the one the update
        // leans on; `next_prediction`: what the state carries to the next step.
        let (now, next, next_prediction) = match c.prediction {
            OptAmsGradPrediction::Iterates => {
                let (_, grads) = closure(load_flat_params(module.clone(), &predicted));
                let pg = flatten_grads(&module, &grads);
                if !(norm(&g).is_finite() && norm(&pg).is_finite()) {
                    report_skip(&self.skips, "OPT-AMSGrad", &g.dims());
                    return (frozen.restore(module), loss);
                }
                if c.weight_decay > 0.0 {
                    g = g + x.clone().mul_scalar(c.weight_decay);
                }
                // The first step's offset is zero and, as in the reference, not stored.
                if state.step >= 1 {
                    state.iterates.push(x.clone());
                    state.offsets.push(x.clone() - half_step.clone());
                    if state.offsets.len() > c.span {
                        state.iterates.remove(0);
                        state.offsets.remove(0);
                    }
                }
                (pg.clone(), pg, self.extrapolate(&state, &x))
            }
            OptAmsGradPrediction::Gradients => {
                if !norm(&g).is_finite() {
                    report_skip(&self.skips, "OPT-AMSGrad", &g.dims());
                    return (frozen.restore(module), loss);
                }
                if c.weight_decay > 0.0 {
                    g = g + x.clone().mul_scalar(c.weight_decay);
                }
                state.gradients.push(g.clone());
                if state.gradients.len() > c.span + 1 {
                    state.gradients.remove(0);
                }
                let m = self.extrapolate_gradients(&state, &g);
                (predicted, m.clone(), m)
            }
        };
        let (b1, b2) = (c.beta_1, c.beta_2);
        let theta = state.first_moment.to_device(&device).mul_scalar(b1);
        let h = theta.clone() + next.mul_scalar(1.0 - b1);
        let theta = theta + g.clone().mul_scalar(1.0 - b1);
        let error = now - g;
        let v = state.second_moment.to_device(&device).mul_scalar(b2)
            + error.square().mul_scalar(1.0 - b2);
        let v_max = state
            .max_second_moment
            .to_device(&device)
            .max_pair(v.clone());
        state.step += 1;
        let t = state.step as i32;
        let step_size = lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
        let denom = v_max.clone().sqrt().add_scalar(c.epsilon);
        let half_step = half_step - (theta.clone() / denom.clone()).mul_scalar(step_size);
        let x_next = half_step.clone() - (h / denom).mul_scalar(step_size);
        state.first_moment = theta;
        state.second_moment = v;
        state.max_second_moment = v_max;
        state.half_step = half_step;
        state.predicted = next_prediction;
        self.state = Some(state);
        (load_flat_params(frozen.restore(module), &x_next), loss)
    }

    fn to_record(&self) -> StateRecord {
        record_of("opt_amsgrad", self.state.as_ref())
    }

    fn load_record(&mut self, record: StateRecord) {
        self.state = state_from(&record, "opt_amsgrad");
    }
}
