//! The adaptive rule as one fused loop over host memory: the denominator is chosen outside the
//! loop, so each loop is a straight-line body the compiler vectorizes.

use burn::optim::LearningRate;
use burn::tensor::Tensor;

use super::kernel::{CautiousMask, Kernel};
use super::scalars::StepScalars;
use super::{AdaptiveOptimizer, AdaptiveState, Denominator, Direction, MaxOfSecondMoment};
use crate::deferred_release::release_tensor;

impl AdaptiveOptimizer {
    pub(super) fn step_fused<const D: usize>(
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
}
