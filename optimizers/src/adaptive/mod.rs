//! The shared core of the Adam-like optimizers here: one moment transform, several small rules.
//!
//! Every optimizer of the AMSGrad family and Grams keeps `m ← β₁m + (1-β₁)g` and
//! `v ← β₂v + (1-β₂)g²` and moves the parameter by `direction · h(√v̂)`, where
//! - weight decay is coupled (`g ← g + λx`, L2 as in Adam/AdaBound/PAdam) or decoupled
//!   (`x ← x(1 - lr·λ)`, AdamW, Grams);
//! - `v̂` is `v` (Adam, AdaBound, Grams), the running max of the raw `v` (AMSGrad as in
//!   PyTorch and Burn, AMSBound, PAdam), or the running max of `v / (1-β₂ᵗ)` (optax);
//! - the direction is `m`, or `sign(g)·|m|` (Grams);
//! - `h` is one of three denominators ([`Denominator`]).
//!
//! The rule runs either as one fused loop over host memory or as tensor operations
//! ([`StepPath`]); tests check the two agree.

mod fused;
mod kernel;
mod rule;
mod scalars;
mod tensor_ops;

pub use rule::AdaptiveRule;

use burn::optim::{LearningRate, Optimizer};
use burn::tensor::{Device, Tensor};

use crate::RecordState;
use crate::finite_guard::{GradientCheck, SkipCounter, finite_or_skip};
use crate::host_step::StepPath;

pub(crate) use kernel::CautiousMask;

/// Which running maximum of the second moment the denominator uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxOfSecondMoment {
    /// No maximum: `v̂ = v` (Adam, AdaBound, Grams).
    Off,
    /// `v̂ = max(v̂, v)` on the raw `v` (AMSGrad in PyTorch and Burn, AMSBound, PAdam, and the
    /// paper's Algorithm 2).
    Raw,
    /// `v̂ = max(v̂, v/(1-β₂ᵗ))` on the bias-corrected `v` (optax's `amsgrad`).
    BiasCorrected,
}

/// How `h(√v̂)` turns the second moment into a per-coordinate step size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Denominator {
    /// `lr·(1/bc₁)/(√v̂·(1/√bc₂) + ε)` with the bias corrections on or off:
    /// PyTorch's AMSGrad has both, optax's folds `bc₂` into `v̂`, the paper's has neither.
    Adam {
        /// Divide `m` by `1-β₁ᵗ`.
        correct_m: bool,
        /// Divide `√v̂` by `√(1-β₂ᵗ)`.
        correct_v: bool,
    },
    /// PAdam: `lr·√bc₂/bc₁ / (√v̂ + ε)^(2p)`.
    Partial {
        /// The partial exponent `p` in (0, 1/2].
        p: f32,
    },
    /// AdaBound/AMSBound: `clip(lr·√bc₂/bc₁ / (√v̂ + ε), lo(t), hi(t))` with
    /// `lo = η·(1 - 1/(γt+1))`, `hi = η·(1 + 1/(γt))`, `η = final_lr·lr/base_lr`.
    Bounded {
        /// The SGD learning rate the bounds converge to (at `lr = base_lr`).
        final_lr: f32,
        /// Convergence speed of the bounds.
        gamma: f32,
        /// The learning rate the bounds were configured for.
        base_lr: f32,
    },
}

/// The update direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The first moment `m`.
    Momentum,
    /// `sign(g)·|m|` (Grams): the current gradient's sign with the momentum's magnitude.
    GradientSign,
}

/// An Adam-like optimizer assembled from the choices above; built by the configs of this crate
/// (`AmsGradConfig`, `AdaBoundConfig`, `PAdamConfig`, `GramsConfig`), or from any combination
/// of them by [`AdaptiveRule`].
#[derive(Clone, Debug)]
pub struct AdaptiveOptimizer {
    pub(crate) name: &'static str,
    pub(crate) beta_1: f32,
    pub(crate) beta_2: f32,
    pub(crate) epsilon: f32,
    pub(crate) weight_decay: f32,
    pub(crate) decoupled_weight_decay: bool,
    pub(crate) max_mode: MaxOfSecondMoment,
    pub(crate) denominator: Denominator,
    pub(crate) direction: Direction,
    pub(crate) path: StepPath,
    pub(crate) gradient_check: GradientCheck,
    pub(crate) skips: SkipCounter,
}

/// State of an [`AdaptiveOptimizer`] for one parameter.
#[derive(RecordState, Clone)]
pub struct AdaptiveState<const D: usize> {
    /// Steps taken (the `t` of the bias corrections).
    pub step: usize,
    /// First moment `m`.
    pub moment_1: Tensor<D>,
    /// Second moment `v`.
    pub moment_2: Tensor<D>,
    /// The running maximum `v̂`, when the optimizer keeps one.
    pub max_moment_2: Option<Tensor<D>>,
}

impl AdaptiveOptimizer {
    /// Assembles an optimizer from the choices of a config (the configs validate first):
    /// `moments` is `(β₁, β₂, ε)`, `decay` is `(λ, decoupled)`.
    pub(crate) fn assemble(
        name: &'static str,
        (beta_1, beta_2, epsilon): (f32, f32, f32),
        (weight_decay, decoupled_weight_decay): (f32, bool),
        max_mode: MaxOfSecondMoment,
        denominator: Denominator,
        direction: Direction,
    ) -> Self {
        Self {
            name,
            beta_1,
            beta_2,
            epsilon,
            weight_decay,
            decoupled_weight_decay,
            max_mode,
            denominator,
            direction,
            path: StepPath::Auto,
            gradient_check: GradientCheck::SkipNonFinite,
            skips: SkipCounter::default(),
        }
    }

    /// Returns a copy that always runs the tensor-operation path (for comparisons and GPUs).
    pub fn with_step_path(mut self, path: StepPath) -> Self {
        self.path = path;
        self
    }

    /// Returns a copy with the given [`GradientCheck`]: by default a step whose gradient holds
    /// NaN or ±∞ is skipped; [`GradientCheck::Unchecked`] saves the read that decides it.
    ///
    /// ```
    /// use tempering_optim::{AmsGradConfig, GradientCheck};
    /// // The caller checks every gradient of the model once per step, then steps unchecked.
    /// let optimizer = AmsGradConfig::new()
    ///     .build()
    ///     .with_gradient_check(GradientCheck::Unchecked);
    /// # let _ = optimizer;
    /// ```
    pub fn with_gradient_check(mut self, check: GradientCheck) -> Self {
        self.gradient_check = check;
        self
    }

    /// Steps skipped because a gradient held NaN or infinity.
    pub fn skip_counter(&self) -> SkipCounter {
        self.skips.clone()
    }

    fn fresh_state<const D: usize>(&self, tensor: &Tensor<D>) -> AdaptiveState<D> {
        let zeros = || Tensor::zeros(tensor.shape(), &tensor.device());
        AdaptiveState {
            step: 0,
            moment_1: zeros(),
            moment_2: zeros(),
            max_moment_2: (self.max_mode != MaxOfSecondMoment::Off).then(zeros),
        }
    }
}

/// `sign(0) = 0`, as `torch.sign`.
#[inline(always)]
pub(crate) fn sign(x: f32) -> f32 {
    // Branch-free, so loops using it vectorize.
    f32::from(u8::from(x > 0.0)) - f32::from(u8::from(x < 0.0))
}

impl Optimizer for AdaptiveOptimizer {
    type State<const D: usize> = AdaptiveState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let fused = self.path.fused(&tensor);
        let grad = match self.gradient_check {
            GradientCheck::SkipNonFinite => {
                let Some(grad) = finite_or_skip(grad, fused, &self.skips, self.name) else {
                    return (tensor, state);
                };
                grad
            }
            GradientCheck::Unchecked => grad,
        };
        let mut state = state.unwrap_or_else(|| self.fresh_state(&tensor));
        state.step += 1;
        let scalars = self.scalars(lr, state.step);
        let (tensor, state) = if fused {
            let (tensor, state, _) = self.step_fused(&scalars, tensor, grad, state, None);
            (tensor, state)
        } else {
            self.step_tensor_ops(&scalars, tensor, grad, state)
        };
        (tensor, Some(state))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.moment_1 = state.moment_1.to_device(device);
        state.moment_2 = state.moment_2.to_device(device);
        state.max_moment_2 = state.max_moment_2.map(|t| t.to_device(device));
        state
    }
}
