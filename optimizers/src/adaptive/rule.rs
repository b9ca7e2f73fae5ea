//! Composing a rule of the family by hand, as optax chains its transforms: every choice of
//! [`AdaptiveOptimizer`] (moments, weight decay, running maximum, denominator, direction) is a
//! public field, so combinations the configs do not name (Grams' direction with AMSGrad's
//! maximum, PAdam's denominator with decoupled weight decay, …) are one struct literal away.

use burn::optim::ModuleOptimizer;
use burn::optim::grad_clipping::GradientClippingConfig;

use super::{AdaptiveOptimizer, Denominator, Direction, MaxOfSecondMoment};
use crate::config_error::{Check, OptimConfigError};

/// The choices of an Adam-like rule; [`Default`] is Adam's (β 0.9 and 0.999, ε 1e-8, no weight
/// decay, no maximum, both bias corrections, the momentum as direction).
///
/// ```
/// use tempering_optim::{AdaptiveRule, Direction, MaxOfSecondMoment};
/// // Grams' direction with AMSGrad's running maximum and AdamW's decoupled weight decay.
/// let optimizer = AdaptiveRule {
///     direction: Direction::GradientSign,
///     max_of_second_moment: MaxOfSecondMoment::Raw,
///     weight_decay: 0.01,
///     decoupled_weight_decay: true,
///     ..AdaptiveRule::default()
/// }
/// .init(None)?;
/// # let _ = optimizer;
/// # Ok::<(), tempering_optim::OptimConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveRule {
    /// Decay of the first moment, in [0, 1).
    pub beta_1: f32,
    /// Decay of the second moment, in [0, 1).
    pub beta_2: f32,
    /// ε of the denominator (≥ 0 for [`Denominator::Adam`], > 0 for the others).
    pub epsilon: f32,
    /// Weight decay λ (≥ 0).
    pub weight_decay: f32,
    /// Decoupled (`x ← x(1 - lr·λ)`, AdamW) rather than L2 (`g ← g + λx`) weight decay.
    pub decoupled_weight_decay: bool,
    /// Which running maximum of the second moment the denominator uses.
    pub max_of_second_moment: MaxOfSecondMoment,
    /// How the second moment becomes a step size.
    pub denominator: Denominator,
    /// The update direction.
    pub direction: Direction,
}

impl Default for AdaptiveRule {
    fn default() -> Self {
        Self {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            max_of_second_moment: MaxOfSecondMoment::Off,
            denominator: Denominator::Adam {
                correct_m: true,
                correct_v: true,
            },
            direction: Direction::Momentum,
        }
    }
}

impl AdaptiveRule {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), OptimConfigError> {
        let check = Check("AdaptiveRule");
        check.beta("beta_1", self.beta_1)?;
        check.beta("beta_2", self.beta_2)?;
        check.non_negative("weight_decay", self.weight_decay.into())?;
        match self.denominator {
            Denominator::Adam { .. } => check.non_negative("epsilon", self.epsilon.into()),
            Denominator::Partial { p } => {
                check.positive("epsilon", self.epsilon.into())?;
                check.within("p", p.into(), f64::MIN_POSITIVE, 0.5, "must be in (0, 1/2]")
            }
            Denominator::Bounded {
                final_lr,
                gamma,
                base_lr,
            } => {
                check.positive("epsilon", self.epsilon.into())?;
                check.positive("final_lr", final_lr.into())?;
                check.positive("gamma", gamma.into())?;
                check.positive("base_lr", base_lr.into())
            }
        }
    }

    /// The bare optimizer (for `ModuleOptimizer::with_group`), or the first invalid field.
    pub fn build(&self) -> Result<AdaptiveOptimizer, OptimConfigError> {
        self.validate()?;
        Ok(AdaptiveOptimizer::assemble(
            "AdaptiveRule",
            (self.beta_1, self.beta_2, self.epsilon),
            (self.weight_decay, self.decoupled_weight_decay),
            self.max_of_second_moment,
            self.denominator,
            self.direction,
        ))
    }

    /// A `ModuleOptimizer` for a whole module, with optional gradient clipping, or the first
    /// invalid field.
    pub fn init(
        &self,
        grad_clipping: Option<GradientClippingConfig>,
    ) -> Result<ModuleOptimizer, OptimConfigError> {
        Ok(crate::module_optimizer(self.build()?, &grad_clipping))
    }
}

#[cfg(test)]
mod tests {
    use burn::optim::Optimizer;
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;
    use crate::{AmsGradConfig, GramsConfig, StepPath};

    /// Ten steps of `optimizer` from one start on fixed gradients, on the tensor path and the
    /// fused one: the parameter after each.
    fn trajectory(optimizer: &AdaptiveOptimizer, path: StepPath) -> Vec<Vec<f32>> {
        let optimizer = optimizer.clone().with_step_path(path);
        let device = Device::default();
        let mut x = Tensor::<1>::from_data(TensorData::from([0.5f32, -1.0, 2.0, 0.0]), &device);
        let mut state = None;
        let mut out = Vec::new();
        for t in 0..10 {
            // The third coordinate's gradient drops after a large first one, so its second
            // moment decays and a running maximum of it differs from it.
            let third = if t == 0 { 10.0 } else { 0.01 };
            let g = Tensor::<1>::from_data(
                TensorData::from([0.3f32, -0.2, third, -0.05 * t as f32]),
                &device,
            );
            let (next, next_state) = optimizer.step(1e-2, x, g, state);
            x = next;
            state = next_state;
            out.push(x.to_data().try_to_vec::<f32>().unwrap());
        }
        out
    }

    #[test]
    fn the_configs_rules_composed_by_hand_step_identically() {
        let amsgrad = AdaptiveRule {
            max_of_second_moment: MaxOfSecondMoment::Raw,
            weight_decay: 0.1,
            decoupled_weight_decay: true,
            ..AdaptiveRule::default()
        };
        let config = AmsGradConfig::new()
            .with_weight_decay(0.1)
            .with_decoupled_weight_decay(true);
        // Grams: ε 1e-6 and `lr·√bc₂/bc₁/(√v + ε)`, PAdam's denominator at p = 1/2.
        let grams = AdaptiveRule {
            epsilon: 1e-6,
            denominator: Denominator::Partial { p: 0.5 },
            direction: Direction::GradientSign,
            weight_decay: 0.01,
            decoupled_weight_decay: true,
            ..AdaptiveRule::default()
        };
        for path in [StepPath::Auto, StepPath::TensorOps] {
            assert_eq!(
                trajectory(&amsgrad.build().unwrap(), path),
                trajectory(&config.build(), path)
            );
            assert_eq!(
                trajectory(&grams.build().unwrap(), path),
                trajectory(&GramsConfig::new().with_weight_decay(0.01).build(), path)
            );
        }
    }

    #[test]
    fn a_combination_no_config_names_runs_and_differs_from_its_parts() {
        let grams_with_max = AdaptiveRule {
            direction: Direction::GradientSign,
            max_of_second_moment: MaxOfSecondMoment::Raw,
            ..AdaptiveRule::default()
        };
        let fused = trajectory(&grams_with_max.build().unwrap(), StepPath::Auto);
        let tensor_ops = trajectory(&grams_with_max.build().unwrap(), StepPath::TensorOps);
        for (a, b) in fused.iter().flatten().zip(tensor_ops.iter().flatten()) {
            assert!((a - b).abs() <= 1e-6, "fused {a} against tensor ops {b}");
        }
        let grams = AdaptiveRule {
            direction: Direction::GradientSign,
            ..AdaptiveRule::default()
        };
        // The third coordinate's second moment decays after its first step, so the running
        // maximum changes the steps.
        assert_ne!(fused, trajectory(&grams.build().unwrap(), StepPath::Auto));
    }

    #[test]
    fn invalid_fields_are_named() {
        let bad_p = AdaptiveRule {
            denominator: Denominator::Partial { p: 0.75 },
            ..AdaptiveRule::default()
        };
        assert_eq!(bad_p.build().unwrap_err().field, "p");
        let bad_beta = AdaptiveRule {
            beta_2: 1.0,
            ..AdaptiveRule::default()
        };
        assert_eq!(bad_beta.init(None).err().unwrap().field, "beta_2");
        let zero_eps_bounded = AdaptiveRule {
            epsilon: 0.0,
            denominator: Denominator::Bounded {
                final_lr: 0.1,
                gamma: 1e-3,
                base_lr: 1e-3,
            },
            ..AdaptiveRule::default()
        };
        assert_eq!(zero_eps_bounded.build().unwrap_err().field, "epsilon");
    }
}
