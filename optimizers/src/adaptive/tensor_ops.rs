//! The adaptive rule as Burn tensor operations: the path for devices whose memory the host
//! cannot borrow (GPUs), and the reference the fused loop is tested against.

use burn::tensor::Tensor;

use super::scalars::StepScalars;
use super::{AdaptiveOptimizer, AdaptiveState, Denominator, Direction, MaxOfSecondMoment};

impl AdaptiveOptimizer {
    pub(super) fn step_tensor_ops<const D: usize>(
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
