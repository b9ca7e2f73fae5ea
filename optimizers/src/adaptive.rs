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
//! ([`StepPath`](crate::host_step::StepPath)); tests check the two agree.

use burn::optim::{LearningRate, Optimizer};
use burn::tensor::{Device, Tensor};

use crate::RecordState;
use crate::finite_guard::{SkipCounter, finite_or_skip};
use crate::host_step::{StepPath, with_host_slices};

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
/// (`AmsGradConfig`, `AdaBoundConfig`, `PAdamConfig`, `GramsConfig`).
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

/// Per-step scalars, computed once in `f64` and shared by both paths.
#[derive(Clone, Copy, Debug)]
struct StepScalars {
    decay: f32,
    coupled: f32,
    v_scale: f32,
    /// `1/(1-β₂ᵗ)`, for the bias-corrected maximum.
    inv_bc2: f32,
    numer: f32,
    lo: f32,
    hi: f32,
    exponent: f32,
}

impl AdaptiveOptimizer {
    /// Returns a copy that always runs the tensor-operation path (for comparisons and GPUs).
    pub fn with_step_path(mut self, path: StepPath) -> Self {
        self.path = path;
        self
    }

    /// Steps skipped because a gradient held NaN or infinity.
    pub fn skip_counter(&self) -> SkipCounter {
        self.skips.clone()
    }

    fn scalars(&self, lr: LearningRate, t: usize) -> StepScalars {
        let (b1, b2) = (self.beta_1 as f64, self.beta_2 as f64);
        let bc1 = 1.0 - b1.powi(t as i32);
        let bc2 = 1.0 - b2.powi(t as i32);
        let wd = self.weight_decay as f64;
        let (decay, coupled) = if self.decoupled_weight_decay {
            (1.0 - lr * wd, 0.0)
        } else {
            (1.0, wd)
        };
        let mut s = StepScalars {
            decay: decay as f32,
            coupled: coupled as f32,
            v_scale: 1.0,
            inv_bc2: (1.0 / bc2) as f32,
            numer: 0.0,
            lo: 0.0,
            hi: f32::INFINITY,
            exponent: 1.0,
        };
        match self.denominator {
            Denominator::Adam {
                correct_m,
                correct_v,
            } => {
                s.numer = (lr / if correct_m { bc1 } else { 1.0 }) as f32;
                s.v_scale = if correct_v {
                    (1.0 / bc2.sqrt()) as f32
                } else {
                    1.0
                };
            }
            Denominator::Partial { p } => {
                s.numer = (lr * bc2.sqrt() / bc1) as f32;
                s.exponent = 2.0 * p;
            }
            Denominator::Bounded {
                final_lr,
                gamma,
                base_lr,
            } => {
                s.numer = (lr * bc2.sqrt() / bc1) as f32;
                let eta = final_lr as f64 * lr / base_lr as f64;
                let gt = gamma as f64 * t as f64;
                s.lo = (eta * (1.0 - 1.0 / (gt + 1.0))) as f32;
                s.hi = (eta * (1.0 + 1.0 / gt)) as f32;
            }
        }
        s
    }

    /// The step size `h` of one coordinate from `√v̂`.
    #[inline(always)]
    fn step_size(&self, s: &StepScalars, root_v: f32) -> f32 {
        let eps = self.epsilon;
        let h = match self.denominator {
            Denominator::Adam { .. } => s.numer / (root_v * s.v_scale + eps),
            // (√v̂ + ε)^(2p) without `powf` for the usual p = 1/2, 1/4, 1/8 (powf made PAdam
            // compute-bound: 2.3× the memory bound at 10M parameters).
            Denominator::Partial { .. } if s.exponent == 1.0 => s.numer / (root_v + eps),
            Denominator::Partial { .. } if s.exponent == 0.5 => s.numer / (root_v + eps).sqrt(),
            Denominator::Partial { .. } if s.exponent == 0.25 => {
                s.numer / (root_v + eps).sqrt().sqrt()
            }
            Denominator::Partial { .. } => s.numer / (root_v + eps).powf(s.exponent),
            Denominator::Bounded { .. } => (s.numer / (root_v + eps)).clamp(s.lo, s.hi),
        };
        // With ε = 0 and a coordinate that never had a gradient, 0/0: no step.
        if h.is_finite() { h } else { 0.0 }
    }

    #[inline(always)]
    fn element(
        &self,
        s: &StepScalars,
        x: &mut f32,
        g: f32,
        m: &mut f32,
        v: &mut f32,
        v_max: Option<&mut f32>,
    ) {
        let g_eff = g + s.coupled * *x;
        *m = self.beta_1 * *m + (1.0 - self.beta_1) * g_eff;
        *v = self.beta_2 * *v + (1.0 - self.beta_2) * g_eff * g_eff;
        let v_hat = match (self.max_mode, v_max) {
            (MaxOfSecondMoment::Raw, Some(vm)) => {
                *vm = vm.max(*v);
                *vm
            }
            (MaxOfSecondMoment::BiasCorrected, Some(vm)) => {
                *vm = vm.max(*v * s.inv_bc2);
                *vm
            }
            _ => *v,
        };
        let dir = match self.direction {
            Direction::Momentum => *m,
            Direction::GradientSign => sign(g) * m.abs(),
        };
        *x = *x * s.decay - dir * self.step_size(s, v_hat.sqrt());
    }

    fn step_fused<const D: usize>(
        &self,
        s: &StepScalars,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: AdaptiveState<D>,
    ) -> (Tensor<D>, AdaptiveState<D>) {
        let AdaptiveState {
            step,
            moment_1,
            moment_2,
            max_moment_2,
        } = state;
        let (tensor, moment_1, moment_2, max_moment_2) = match max_moment_2 {
            Some(v_max) => {
                let [x, _, m, v, vm] = with_host_slices(
                    [tensor, grad, moment_1, moment_2, v_max],
                    |[x, g, m, v, vm]| {
                        for i in 0..x.len() {
                            let vm = Some(&mut vm[i]);
                            self.element(s, &mut x[i], g[i], &mut m[i], &mut v[i], vm);
                        }
                    },
                );
                (x, m, v, Some(vm))
            }
            None => {
                let [x, _, m, v] =
                    with_host_slices([tensor, grad, moment_1, moment_2], |[x, g, m, v]| {
                        for i in 0..x.len() {
                            self.element(s, &mut x[i], g[i], &mut m[i], &mut v[i], None);
                        }
                    });
                (x, m, v, None)
            }
        };
        (
            tensor,
            AdaptiveState {
                step,
                moment_1,
                moment_2,
                max_moment_2,
            },
        )
    }

    /// The cautious step on host memory in two passes: count the components whose update
    /// agrees with the gradient (read-only, on copies of the state), then step with the mask and
    /// the scale. Used by [`Cautious`](crate::Cautious) around this optimizer.
    pub(crate) fn cautious_fused<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdaptiveState<D>>,
        normalization: crate::CautiousNormalization,
    ) -> (Tensor<D>, AdaptiveState<D>) {
        let mut state = state.unwrap_or_else(|| self.fresh_state(&tensor));
        state.step += 1;
        let s = self.scalars(lr, state.step);
        let n = tensor.shape().num_elements();
        let step = state.step;
        let zeros = || Tensor::<D>::zeros(tensor.shape(), &tensor.device());
        let has_max = state.max_moment_2.is_some();
        let v_max = state.max_moment_2.unwrap_or_else(zeros);
        let [x, _, m, v, vm] = with_host_slices(
            [tensor, grad, state.moment_1, state.moment_2, v_max],
            |[x, g, m, v, vm]| {
                let inner = |i: usize, x: &mut f32, m: &mut f32, v: &mut f32, vm: &mut f32| {
                    self.element(&s, x, g[i], m, v, has_max.then_some(vm));
                };
                let mut kept = 0usize;
                for i in 0..x.len() {
                    let (mut xi, mut mi, mut vi, mut vmi) = (x[i], m[i], v[i], vm[i]);
                    inner(i, &mut xi, &mut mi, &mut vi, &mut vmi);
                    kept += usize::from((x[i] - xi) * g[i] > 0.0);
                }
                let scale = normalization.scale(kept, n);
                for i in 0..x.len() {
                    let x0 = x[i];
                    inner(i, &mut x[i], &mut m[i], &mut v[i], &mut vm[i]);
                    let u = x0 - x[i];
                    x[i] = if u * g[i] > 0.0 { x0 - u * scale } else { x0 };
                }
            },
        );
        (
            x,
            AdaptiveState {
                step,
                moment_1: m,
                moment_2: v,
                max_moment_2: has_max.then_some(vm),
            },
        )
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

    fn step_tensor_ops<const D: usize>(
        &self,
        s: &StepScalars,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: AdaptiveState<D>,
    ) -> (Tensor<D>, AdaptiveState<D>) {
        let g_eff = if s.coupled != 0.0 {
            grad.clone() + tensor.clone().mul_scalar(s.coupled)
        } else {
            grad.clone()
        };
        let m =
            state.moment_1.mul_scalar(self.beta_1) + g_eff.clone().mul_scalar(1.0 - self.beta_1);
        let v =
            state.moment_2.mul_scalar(self.beta_2) + g_eff.square().mul_scalar(1.0 - self.beta_2);
        let v_max = match self.max_mode {
            MaxOfSecondMoment::Off => None,
            MaxOfSecondMoment::Raw => Some(v.clone()),
            MaxOfSecondMoment::BiasCorrected => Some(v.clone().mul_scalar(s.inv_bc2)),
        }
        .map(|candidate| match state.max_moment_2 {
            Some(previous) => previous.max_pair(candidate),
            None => candidate.clamp_min(0.0),
        });
        let root_v = v_max.as_ref().unwrap_or(&v).clone().sqrt();
        let eps = self.epsilon;
        let h = match self.denominator {
            Denominator::Adam { .. } => root_v
                .mul_scalar(s.v_scale)
                .add_scalar(eps)
                .recip()
                .mul_scalar(s.numer),
            Denominator::Partial { .. } if s.exponent == 1.0 => {
                root_v.add_scalar(eps).recip().mul_scalar(s.numer)
            }
            Denominator::Partial { .. } => root_v
                .add_scalar(eps)
                .powf_scalar(s.exponent)
                .recip()
                .mul_scalar(s.numer),
            Denominator::Bounded { .. } => root_v
                .add_scalar(eps)
                .recip()
                .mul_scalar(s.numer)
                .clamp(s.lo, s.hi),
        };
        // ε = 0 and a coordinate without gradient history: 0/0 → no step, as on the fused path.
        let h = if eps == 0.0 {
            let bad = h.clone().is_nan().bool_or(h.clone().is_inf());
            h.mask_fill(bad, 0.0)
        } else {
            h
        };
        let dir = match self.direction {
            Direction::Momentum => m.clone(),
            Direction::GradientSign => grad.sign() * m.clone().abs(),
        };
        let tensor = if s.decay != 1.0 {
            tensor.mul_scalar(s.decay)
        } else {
            tensor
        };
        (
            tensor - dir * h,
            AdaptiveState {
                step: state.step,
                moment_1: m,
                moment_2: v,
                max_moment_2: v_max,
            },
        )
    }
}

/// `sign(0) = 0`, as `torch.sign`.
#[inline(always)]
fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
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
        let Some(grad) = finite_or_skip(grad, fused, &self.skips, self.name) else {
            return (tensor, state);
        };
        let mut state = state.unwrap_or_else(|| self.fresh_state(&tensor));
        state.step += 1;
        let scalars = self.scalars(lr, state.step);
        let (tensor, state) = if fused {
            self.step_fused(&scalars, tensor, grad, state)
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
