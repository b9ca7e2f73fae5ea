//! The per-step scalars of the adaptive rule (bias corrections, decay, the denominator's
//! constants), computed once in `f64` and shared by the fused loop and the tensor path.

use burn::optim::LearningRate;

use super::{AdaptiveOptimizer, Denominator};

/// Per-step scalars, computed once in `f64` and shared by both paths.
#[derive(Clone, Copy, Debug)]
pub(super) struct StepScalars {
    pub(super) decay: f32,
    pub(super) coupled: f32,
    pub(super) v_scale: f32,
    /// `1/(1-β₂ᵗ)`, for the bias-corrected maximum.
    pub(super) inv_bc2: f32,
    pub(super) numer: f32,
    pub(super) lo: f32,
    pub(super) hi: f32,
    pub(super) exponent: f32,
}

impl AdaptiveOptimizer {
    pub(super) fn scalars(&self, lr: LearningRate, t: usize) -> StepScalars {
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
}
