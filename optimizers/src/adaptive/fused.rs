//! The adaptive rule as one fused loop over host memory: the denominator is chosen outside the
//! loop, so each loop is a straight-line body the compiler vectorizes.

use burn::optim::LearningRate;
use burn::tensor::Tensor;

use super::kernel::{CautiousMask, Kernel};
use super::scalars::StepScalars;
use super::{AdaptiveOptimizer, AdaptiveState, Denominator, Direction, MaxOfSecondMoment};
use crate::deferred_release::release_tensor;
use crate::host_step::with_host_slices;

impl AdaptiveOptimizer {
    /// One fused step of a tensor of rank `D`: moves parameter, gradient and state to host
    /// slices and runs [`fused_slices`](Self::fused_slices) on them. The flag is false when a
    /// cautious pass found a non-finite gradient (nothing was written).
    pub(super) fn step_fused<const D: usize>(
        &self,
        s: &StepScalars,
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
        let mut applied = false;
        let (x, m, v, vm) = match max_moment_2 {
            Some(v_max) => {
                let tensors = [tensor, grad, moment_1, moment_2, v_max];
                let [x, g, m, v, vm] = with_host_slices(tensors, |[x, g, m, v, vm]| {
                    applied = self.fused_slices(s, [x, g, m, v], Some(vm), cautious);
                });
                release_tensor(g);
                (x, m, v, Some(vm))
            }
            None => {
                let tensors = [tensor, grad, moment_1, moment_2];
                let [x, g, m, v] = with_host_slices(tensors, |slices| {
                    applied = self.fused_slices(s, slices, None, cautious);
                });
                release_tensor(g);
                (x, m, v, None)
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

    /// The step over host slices (parameter, gradient, `m`, `v`, and `v̂` when the rule keeps
    /// one). Not generic in the tensor's rank: Burn's `ModuleOptimizer` instantiates a step for
    /// every rank from 0 to 8, and the loops below, compiled once for all of them, are most of
    /// this crate's build time.
    fn fused_slices(
        &self,
        s: &StepScalars,
        slices: [&mut [f32]; 4],
        v_max: Option<&mut [f32]>,
        cautious: Option<CautiousMask>,
    ) -> bool {
        // Choose the denominator here, outside the loop, so that each loop below is a
        // straight-line body the compiler vectorizes (branches inside made it compute-bound).
        let (numer, v_scale, eps) = (s.numer, s.v_scale, self.epsilon);
        let (lo, hi, exponent) = (s.lo, s.hi, s.exponent);
        let arrays = (slices, v_max);
        match self.denominator {
            Denominator::Adam { .. } => {
                self.fused_with(s, move |r| numer / (r * v_scale + eps), arrays, cautious)
            }
            Denominator::Partial { .. } if exponent == 1.0 => {
                self.fused_with(s, move |r| numer / (r + eps), arrays, cautious)
            }
            Denominator::Partial { .. } if exponent == 0.5 => {
                self.fused_with(s, move |r| numer / (r + eps).sqrt(), arrays, cautious)
            }
            Denominator::Partial { .. } if exponent == 0.25 => self.fused_with(
                s,
                move |r| numer / (r + eps).sqrt().sqrt(),
                arrays,
                cautious,
            ),
            Denominator::Partial { .. } => self.fused_with(
                s,
                move |r| numer / (r + eps).powf(exponent),
                arrays,
                cautious,
            ),
            Denominator::Bounded { .. } => self.fused_with(
                s,
                move |r| (numer / (r + eps)).max(lo).min(hi),
                arrays,
                cautious,
            ),
        }
    }

    /// The fused loop for one denominator `h`, monomorphized over the maximum and direction.
    fn fused_with<H: Fn(f32) -> f32 + Sync + Copy>(
        &self,
        s: &StepScalars,
        h: H,
        ([x, g, m, v], v_max): ([&mut [f32]; 4], Option<&mut [f32]>),
        cautious: Option<CautiousMask>,
    ) -> bool {
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
        match v_max {
            Some(vm) => {
                let slices = [x, g, m, v, vm];
                match (self.max_mode, grams) {
                    (MaxOfSecondMoment::BiasCorrected, false) => k.run_max::<true, false>(slices),
                    (MaxOfSecondMoment::BiasCorrected, true) => k.run_max::<true, true>(slices),
                    (_, false) => k.run_max::<false, false>(slices),
                    (_, true) => k.run_max::<false, true>(slices),
                }
            }
            None if grams => k.run::<true>([x, g, m, v]),
            None => k.run::<false>([x, g, m, v]),
        }
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
}
