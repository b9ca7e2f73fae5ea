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

use burn::optim::{LearningRate, Optimizer};
use burn::tensor::{Device, Tensor};

use crate::RecordState;
use crate::cautious::CautiousNormalization;
use crate::deferred_release::release_tensor;
use crate::finite_guard::{SkipCounter, finite_or_skip};
use crate::host_step::{CautiousTally, StepPath, par_chunks, par_sum, with_host_slices};
#[cfg(target_arch = "x86_64")]
use crate::host_step::{wide_simd, widest_simd};

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
            skips: SkipCounter::default(),
        }
    }

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

    fn step_fused<const D: usize>(
        &self,
        s: &StepScalars,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: AdaptiveState<D>,
        cautious: Option<CautiousMask>,
    ) -> (Tensor<D>, AdaptiveState<D>, bool) {
        // Choose the denominator here, outside the loop, so that each loop below is a
        // straight-line body the compiler vectorizes (branches inside made it compute-bound).
        let (numer, v_scale, eps) = (s.numer, s.v_scale, self.epsilon);
        let (lo, hi, exponent) = (s.lo, s.hi, s.exponent);
        match self.denominator {
            Denominator::Adam { .. } => self.fused_with(
                s,
                move |r| numer / (r * v_scale + eps),
                tensor,
                grad,
                state,
                cautious,
            ),
            Denominator::Partial { .. } if exponent == 1.0 => {
                self.fused_with(s, move |r| numer / (r + eps), tensor, grad, state, cautious)
            }
            Denominator::Partial { .. } if exponent == 0.5 => self.fused_with(
                s,
                move |r| numer / (r + eps).sqrt(),
                tensor,
                grad,
                state,
                cautious,
            ),
            Denominator::Partial { .. } if exponent == 0.25 => self.fused_with(
                s,
                move |r| numer / (r + eps).sqrt().sqrt(),
                tensor,
                grad,
                state,
                cautious,
            ),
            Denominator::Partial { .. } => self.fused_with(
                s,
                move |r| numer / (r + eps).powf(exponent),
                tensor,
                grad,
                state,
                cautious,
            ),
            Denominator::Bounded { .. } => self.fused_with(
                s,
                move |r| (numer / (r + eps)).max(lo).min(hi),
                tensor,
                grad,
                state,
                cautious,
            ),
        }
    }

    /// The fused loop for one denominator `h`, monomorphized over the maximum and direction.
    fn fused_with<const D: usize, H: Fn(f32) -> f32 + Sync + Copy>(
        &self,
        s: &StepScalars,
        h: H,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: AdaptiveState<D>,
        cautious: Option<CautiousMask>,
    ) -> (Tensor<D>, AdaptiveState<D>, bool) {
        let AdaptiveState {
            step,
            moment_1,
            moment_2,
            max_moment_2,
        } = state;
        let k = Kernel {
            b1: self.beta_1,
            b2: self.beta_2,
            decay: s.decay,
            coupled: s.coupled,
            inv_bc2: s.inv_bc2,
            h,
            pre_decay: cautious.map_or(1.0, |c| c.pre_decay),
            cautious: cautious.map(|c| c.normalization),
        };
        let grams = self.direction == Direction::GradientSign;
        let (x, m, v, vm, applied) = match max_moment_2 {
            Some(v_max) => {
                let tensors = [tensor, grad, moment_1, moment_2, v_max];
                let ([x, g, m, v, vm], applied) = match (self.max_mode, grams) {
                    (MaxOfSecondMoment::BiasCorrected, false) => {
                        k.run_max::<D, true, false>(tensors)
                    }
                    (MaxOfSecondMoment::BiasCorrected, true) => k.run_max::<D, true, true>(tensors),
                    (_, false) => k.run_max::<D, false, false>(tensors),
                    (_, true) => k.run_max::<D, false, true>(tensors),
                };
                release_tensor(g);
                (x, m, v, Some(vm), applied)
            }
            None => {
                let tensors = [tensor, grad, moment_1, moment_2];
                let ([x, g, m, v], applied) = if grams {
                    k.run::<D, true>(tensors)
                } else {
                    k.run::<D, false>(tensors)
                };
                release_tensor(g);
                (x, m, v, None, applied)
            }
        };
        (
            x,
            AdaptiveState {
                step,
                moment_1: m,
                moment_2: v,
                max_moment_2: vm,
            },
            applied,
        )
    }

    /// The cautious step on host memory in two passes: count the components whose update
    /// agrees with the gradient and check the gradient is finite (read-only), then step with the
    /// mask and the scale. `mask.pre_decay` is the wrapper's decoupled decay factor, applied to
    /// the parameter inside the loops. Used by [`Cautious`](crate::Cautious) around this
    /// optimizer. The flag is false when the gradient held NaN or ±∞: then the parameter and
    /// the state come back untouched (`None` if there was none).
    pub(crate) fn cautious_fused<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdaptiveState<D>>,
        mask: CautiousMask,
    ) -> (Tensor<D>, Option<AdaptiveState<D>>, bool) {
        let fresh = state.is_none();
        let mut state = state.unwrap_or_else(|| self.fresh_state(&tensor));
        state.step += 1;
        let s = self.scalars(lr, state.step);
        let (x, mut state, applied) = self.step_fused(&s, tensor, grad, state, Some(mask));
        if applied {
            (x, Some(state), true)
        } else {
            state.step -= 1;
            (x, (!fresh).then_some(state), false)
        }
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

/// The per-step constants of a fused loop and its denominator `h(√v̂)`.
#[derive(Clone, Copy)]
struct Kernel<H> {
    b1: f32,
    b2: f32,
    decay: f32,
    coupled: f32,
    inv_bc2: f32,
    h: H,
    /// The cautious wrapper's decoupled decay `1 - lr·λ`, applied to `x` before the rule (1
    /// otherwise, which changes nothing).
    pre_decay: f32,
    /// Cautious masking (two passes) when set.
    cautious: Option<CautiousNormalization>,
}

/// What [`Cautious`](crate::Cautious) asks of a fused step: its decay factor and normalization.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CautiousMask {
    pub(crate) pre_decay: f32,
    pub(crate) normalization: CautiousNormalization,
}

impl<H: Fn(f32) -> f32 + Sync + Copy> Kernel<H> {
    /// `x`'s new value, from the updated moments (`v_hat` already maximized) and the gradient.
    #[inline(always)]
    fn update<const GRAMS: bool>(&self, x: f32, g: f32, m: f32, v_hat: f32) -> f32 {
        let dir = if GRAMS { sign(g) * m.abs() } else { m };
        let h = (self.h)(v_hat.sqrt());
        // ε = 0 and a coordinate without gradient history: 0/0 → no step.
        let h = if h.is_finite() { h } else { 0.0 };
        x * self.decay - dir * h
    }

    #[inline(always)]
    fn moments(&self, x: f32, g: f32, m: &mut f32, v: &mut f32) {
        let g = g + self.coupled * x;
        *m = self.b1 * *m + (1.0 - self.b1) * g;
        *v = self.b2 * *v + (1.0 - self.b2) * g * g;
    }

    /// The new `x` from the old one, with cautious masking when `scale` is set: a component
    /// whose update `x - x_new` disagrees with the gradient stays, the others are scaled.
    #[inline(always)]
    fn finish<const MASK: bool>(x: f32, x_new: f32, g: f32, scale: f32) -> f32 {
        if MASK {
            let u = x - x_new;
            if u * g > 0.0 { x - u * scale } else { x }
        } else {
            x_new
        }
    }

    /// The cautious scale from a read-only pass: `Some(None)` without cautious masking,
    /// `Some(Some(scale))` with it, `None` when the gradient holds NaN or ±∞ (the caller has
    /// checked finiteness itself when not cautious).
    fn cautious_scale<const N: usize>(
        &self,
        slices: [&[f32]; N],
        agrees: impl Fn([f32; N]) -> bool + Sync,
    ) -> Option<Option<f32>> {
        let Some(normalization) = self.cautious else {
            return Some(None);
        };
        let n = slices[0].len();
        let tally = par_sum(slices, &|_, chunk| {
            CautiousTally::count_dispatched::<N, 1>(chunk, &agrees)
        });
        (!tally.non_finite).then(|| Some(normalization.scale(tally.kept, n)))
    }

    /// The cautious scale by C-Optim's own test, `1[m·g > 0]` on the new first moment (for
    /// Grams its direction `sign(g)·|m|`), read from the gradient and `m` alone (and the
    /// parameter under coupled L2 decay): two or three arrays instead of all of them, and no
    /// square root or division. Used when the kernel has no decoupled decay of its own: then the
    /// update is `dir·h` with `h > 0`, whose sign is `dir`'s, so this keeps exactly the
    /// components the full rule keeps, save updates so small they round away (which change
    /// nothing either way, but count here as in C-Optim). Returns as
    /// [`cautious_scale`](Self::cautious_scale) does.
    fn momentum_scale<const GRAMS: bool>(
        &self,
        x: &[f32],
        g: &[f32],
        m: &[f32],
    ) -> Option<Option<f32>> {
        let Some(normalization) = self.cautious else {
            return Some(None);
        };
        let k = *self;
        let agrees = move |xd: f32, g: f32, m: f32| {
            let m = k.b1 * m + (1.0 - k.b1) * (g + k.coupled * xd);
            let dir = if GRAMS { sign(g) * m.abs() } else { m };
            dir * g > 0.0
        };
        let tally = if k.coupled == 0.0 {
            par_sum([g, m], &|_, c| {
                CautiousTally::count_dispatched::<2, 0>(c, |[g, m]| agrees(0.0, g, m))
            })
        } else {
            par_sum([x, g, m], &|_, c| {
                CautiousTally::count_dispatched::<3, 1>(c, |[x, g, m]| {
                    agrees(x * k.pre_decay, g, m)
                })
            })
        };
        (!tally.non_finite).then(|| Some(normalization.scale(tally.kept, g.len())))
    }

    /// Parameter, gradient, `m`, `v`: one parallel pass (two with cautious masking). The flag
    /// is false when the cautious pass found a non-finite gradient and nothing was written.
    fn run<const D: usize, const GRAMS: bool>(
        &self,
        tensors: [Tensor<D>; 4],
    ) -> ([Tensor<D>; 4], bool) {
        let mut applied = false;
        let tensors = with_host_slices(tensors, |[x, g, m, v]| {
            // `k` by value (`move`): the loop keeps the constants in registers and vectorizes.
            let k = *self;
            let scale = if k.decay == 1.0 {
                self.momentum_scale::<GRAMS>(x, g, m)
            } else {
                self.cautious_scale([&*x, &*g, &*m, &*v], move |[x, g, mut m, mut v]| {
                    let xd = x * k.pre_decay;
                    k.moments(xd, g, &mut m, &mut v);
                    (xd - k.update::<GRAMS>(xd, g, m, v)) * g > 0.0
                })
            };
            // The mask is a const parameter so the plain loop carries no trace of it.
            match scale {
                None => return,
                Some(None) => par_chunks([x, g, m, v], &|_, c| {
                    chunk4::<H, GRAMS, false>(self, c, 0.0)
                }),
                Some(Some(sc)) => {
                    par_chunks([x, g, m, v], &|_, c| chunk4::<H, GRAMS, true>(self, c, sc))
                }
            }
            applied = true;
        });
        (tensors, applied)
    }

    /// Parameter, gradient, `m`, `v`, `v̂`: one parallel pass (two with cautious masking);
    /// `CORRECTED` maximizes `v/bc₂`. The flag is as for [`run`](Self::run).
    fn run_max<const D: usize, const CORRECTED: bool, const GRAMS: bool>(
        &self,
        tensors: [Tensor<D>; 5],
    ) -> ([Tensor<D>; 5], bool) {
        let inv_bc2 = self.inv_bc2;
        let v_hat = move |v: f32, vm: f32| vm.max(if CORRECTED { v * inv_bc2 } else { v });
        let mut applied = false;
        let tensors = with_host_slices(tensors, |[x, g, m, v, vm]| {
            let slices = [&*x, &*g, &*m, &*v, &*vm];
            let k = *self;
            let scale = if k.decay == 1.0 {
                self.momentum_scale::<GRAMS>(x, g, m)
            } else {
                self.cautious_scale(slices, move |[x, g, mut m, mut v, vm]| {
                    let xd = x * k.pre_decay;
                    k.moments(xd, g, &mut m, &mut v);
                    let x_new = k.update::<GRAMS>(xd, g, m, v_hat(v, vm));
                    (xd - x_new) * g > 0.0
                })
            };
            match scale {
                None => return,
                Some(None) => par_chunks([x, g, m, v, vm], &|_, c| {
                    chunk5::<H, CORRECTED, GRAMS, false>(self, c, 0.0)
                }),
                Some(Some(sc)) => par_chunks([x, g, m, v, vm], &|_, c| {
                    chunk5::<H, CORRECTED, GRAMS, true>(self, c, sc)
                }),
            }
            applied = true;
        });
        (tensors, applied)
    }
}

/// Generates a chunk loop three times, for the baseline target and, on x86-64, with AVX2 and FMA
/// enabled (8 lanes instead of SSE2's 4: the loops are compute-bound on `sqrt` and `/`) and with
/// AVX-512 (16 lanes), plus a dispatcher that chooses at run time. The features change no result: Rust never fuses
/// `a * b + c` on its own.
macro_rules! simd_dispatch {
    ($name:ident, $base:ident, $wide:ident, [$($c:ident),*], $n:literal,
     |$k:ident, $s:ident, $scale:ident| $body:block) => {
        #[inline(always)]
        fn $base<H: Fn(f32) -> f32 + Sync + Copy, $(const $c: bool),*>(
            $k: &Kernel<H>,
            $s: [&mut [f32]; $n],
            $scale: f32,
        ) $body

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        fn $wide<H: Fn(f32) -> f32 + Sync + Copy, $(const $c: bool),*>(
            k: &Kernel<H>,
            s: [&mut [f32]; $n],
            scale: f32,
        ) {
            $base::<H, $($c),*>(k, s, scale)
        }

        fn $name<H: Fn(f32) -> f32 + Sync + Copy, $(const $c: bool),*>(
            k: &Kernel<H>,
            s: [&mut [f32]; $n],
            scale: f32,
        ) {
            // AVX-512 where the CPU has it (16 lanes; see `widest_dispatch`), declared here
            // so each loop gets its own.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
            fn widest<H: Fn(f32) -> f32 + Sync + Copy, $(const $c: bool),*>(
                k: &Kernel<H>,
                s: [&mut [f32]; $n],
                scale: f32,
            ) {
                $base::<H, $($c),*>(k, s, scale)
            }
            #[cfg(target_arch = "x86_64")]
            if widest_simd() {
                // SAFETY: the CPU supports AVX-512F, AVX-512VL, AVX2 and FMA, checked just
                // above.
                return unsafe { widest::<H, $($c),*>(k, s, scale) };
            }
            #[cfg(target_arch = "x86_64")]
            if wide_simd() {
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                return unsafe { $wide::<H, $($c),*>(k, s, scale) };
            }
            $base::<H, $($c),*>(k, s, scale)
        }
    };
}

simd_dispatch!(
    chunk4,
    chunk4_base,
    chunk4_wide,
    [GRAMS, MASK],
    4,
    |k, s, scale| {
        let n = s[0].len();
        let [x, g, m, v] = s.map(|s| &mut s[..n]);
        for i in 0..n {
            // Only the cautious wrapper decays here (1 otherwise): skip the multiply then.
            let xd = if MASK { x[i] * k.pre_decay } else { x[i] };
            k.moments(xd, g[i], &mut m[i], &mut v[i]);
            let x_new = k.update::<GRAMS>(xd, g[i], m[i], v[i]);
            x[i] = Kernel::<H>::finish::<MASK>(xd, x_new, g[i], scale);
        }
    }
);

simd_dispatch!(
    chunk5,
    chunk5_base,
    chunk5_wide,
    [CORRECTED, GRAMS, MASK],
    5,
    |k, s, scale| {
        let n = s[0].len();
        let [x, g, m, v, vm] = s.map(|s| &mut s[..n]);
        for i in 0..n {
            // Only the cautious wrapper decays here (1 otherwise): skip the multiply then.
            let xd = if MASK { x[i] * k.pre_decay } else { x[i] };
            k.moments(xd, g[i], &mut m[i], &mut v[i]);
            vm[i] = vm[i].max(if CORRECTED { v[i] * k.inv_bc2 } else { v[i] });
            let x_new = k.update::<GRAMS>(xd, g[i], m[i], vm[i]);
            x[i] = Kernel::<H>::finish::<MASK>(xd, x_new, g[i], scale);
        }
    }
);

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
        let Some(grad) = finite_or_skip(grad, fused, &self.skips, self.name) else {
            return (tensor, state);
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
