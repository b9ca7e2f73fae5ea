//! muP, the Maximal Update Parametrization (Yang & Hu 2021, arXiv:2011.14522; Yang et al. 2022,
//! "Tensor Programs V", arXiv:2203.03466), in the absolute-fan-in convention μLO uses
//! (Therien et al. 2024, "μLO: Compute-Efficient Meta-Generalization of Learned Optimizers",
//! `mu_mlp.py`).
//!
//! A model declares each parameter's [`MupRole`] and fan-in through [`MupModule`]; this module
//! turns them into what muP prescribes:
//!
//! | role | init | forward multiplier | Adam learning rate | learned-optimizer step scale |
//! |---|---|---|---|---|
//! | input weight | normal, variance 1/fan_in | 1 | lr | 1 |
//! | hidden weight | normal, variance 1/fan_in | 1 | lr · base/fan_in | 1/fan_in |
//! | output weight | zeros | logits × 1/fan_in | lr | 1 |
//! | vector (bias, norm) | the model's | 1 | lr | 1 |
//!
//! With these, the learning rate tuned at a small base width stays (near) best at any width,
//! where the standard parametrization's best learning rate shrinks with width. The learning-rate
//! multipliers reach an optimizer as Burn [`ParamGroup`]s ([`MupGroups`]).
//!
//! ```
//! use tempering_core::mup::{MupRole, MupTensorRole};
//! use burn::module::ParamId;
//! let hidden = MupTensorRole { id: ParamId::new(), role: MupRole::Hidden, fan_in: 1024 };
//! assert_eq!(hidden.adam_lr_multiplier(64), 64.0 / 1024.0);
//! assert_eq!(hidden.step_scale(), 1.0 / 1024.0);
//! ```

use burn::config::Config;
use burn::module::{ParamGroup, ParamId};

/// How a width-scalable model is parametrized.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Parametrization {
    /// muP: the table above.
    Mup,
    /// The standard parametrization: every weight normal with variance 1/fan_in, biases zero,
    /// no multipliers, one learning rate (μLO's SP baseline).
    Standard,
}

/// A parameter's role under muP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MupRole {
    /// Maps a fixed-size input into the width (fan-in does not grow with width).
    Input,
    /// Maps width to width (fan-in grows with width).
    Hidden,
    /// Maps the width to a fixed-size output (logits).
    Output,
    /// A bias, norm scale or other vector-like parameter (no fan-in that grows with width).
    Vector,
}

/// One parameter's role and fan-in, as a model declares it.
#[derive(Clone, Debug, PartialEq)]
pub struct MupTensorRole {
    /// The parameter.
    pub id: ParamId,
    /// Its role.
    pub role: MupRole,
    /// Its fan-in (input features of a weight; 1 for a vector).
    pub fan_in: usize,
}

impl MupTensorRole {
    /// muP's Adam learning-rate multiplier relative to a model of width `base_width`: hidden
    /// weights get `base_width / fan_in`, every other role 1 (Tensor Programs V, Table 3, with
    /// the output multiplier in the forward pass as in [`output_multiplier`]).
    pub fn adam_lr_multiplier(&self, base_width: usize) -> f64 {
        match self.role {
            MupRole::Hidden => base_width as f64 / self.fan_in as f64,
            _ => 1.0,
        }
    }

    /// μLO's per-tensor scale of the learned optimizer's step: 1/fan_in for hidden weights,
    /// 1 otherwise (`mup_adafac_mlp_lopt.py`).
    pub fn step_scale(&self) -> f64 {
        match self.role {
            MupRole::Hidden => 1.0 / self.fan_in as f64,
            _ => 1.0,
        }
    }
}

/// muP's initial standard deviation of a weight of `role` with `fan_in` inputs: 1/√fan_in for
/// input and hidden weights, 0 for the output weight (it starts at zero); `None` for vectors,
/// whose initialization is the model's choice.
pub fn init_std(role: MupRole, fan_in: usize) -> Option<f64> {
    match role {
        MupRole::Input | MupRole::Hidden => Some(1.0 / (fan_in as f64).sqrt()),
        MupRole::Output => Some(0.0),
        MupRole::Vector => None,
    }
}

/// muP's multiplier on the logits of an output layer with `fan_in` inputs: 1/fan_in.
pub fn output_multiplier(fan_in: usize) -> f64 {
    1.0 / fan_in as f64
}

/// A module that declares the muP role and fan-in of each of its parameters.
pub trait MupModule {
    /// Every trainable parameter's role, in the module's visiting order.
    fn mup_roles(&self) -> Vec<MupTensorRole>;
}

/// The parameters of a model grouped by learning-rate multiplier: one [`ParamGroup`] per distinct
/// multiplier, for `ModuleOptimizer::with_group` (or a learning-rate policy) to apply.
#[derive(Clone, Debug)]
pub struct MupGroups {
    groups: Vec<(ParamGroup, f64)>,
}

impl MupGroups {
    /// Groups `roles` by muP's Adam learning-rate multiplier relative to `base_width`.
    ///
    /// # Panics
    /// If `base_width` is zero or a role has a zero fan-in.
    pub fn adam(roles: &[MupTensorRole], base_width: usize) -> Self {
        assert!(base_width > 0, "MupGroups: base_width must be positive");
        Self::by(roles, |role| role.adam_lr_multiplier(base_width))
    }

    /// Groups `roles` by `multiplier`, a function of each role (equal values share a group).
    ///
    /// # Panics
    /// If a role has a zero fan-in or a multiplier is not positive and finite.
    pub fn by(roles: &[MupTensorRole], multiplier: impl Fn(&MupTensorRole) -> f64) -> Self {
        let mut buckets: Vec<(f64, Vec<ParamId>)> = Vec::new();
        for role in roles {
            assert!(
                role.fan_in > 0,
                "MupGroups: parameter {} has fan_in 0",
                role.id
            );
            let value = multiplier(role);
            assert!(
                value.is_finite() && value > 0.0,
                "MupGroups: multiplier {value} of parameter {} is not positive",
                role.id
            );
            match buckets.iter_mut().find(|(m, _)| *m == value) {
                Some((_, ids)) => ids.push(role.id),
                None => buckets.push((value, vec![role.id])),
            }
        }
        Self {
            groups: buckets
                .into_iter()
                .map(|(m, ids)| (ParamGroup::from_ids(ids), m))
                .collect(),
        }
    }

    /// The groups and their multipliers.
    pub fn groups(&self) -> &[(ParamGroup, f64)] {
        &self.groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(role: MupRole, fan_in: usize) -> MupTensorRole {
        MupTensorRole {
            id: ParamId::new(),
            role,
            fan_in,
        }
    }

    #[test]
    fn multipliers_follow_the_table() {
        // The table of μLO's `mu_mlp.py` and Tensor Programs V, Table 3 (worked by hand).
        assert_eq!(role(MupRole::Input, 784).adam_lr_multiplier(64), 1.0);
        assert_eq!(role(MupRole::Hidden, 256).adam_lr_multiplier(64), 0.25);
        assert_eq!(role(MupRole::Output, 256).adam_lr_multiplier(64), 1.0);
        assert_eq!(role(MupRole::Vector, 1).adam_lr_multiplier(64), 1.0);
        assert_eq!(role(MupRole::Hidden, 256).step_scale(), 1.0 / 256.0);
        assert_eq!(role(MupRole::Output, 256).step_scale(), 1.0);
        assert_eq!(init_std(MupRole::Hidden, 400), Some(0.05));
        assert_eq!(init_std(MupRole::Output, 400), Some(0.0));
        assert_eq!(init_std(MupRole::Vector, 1), None);
        assert_eq!(output_multiplier(512), 1.0 / 512.0);
    }

    #[test]
    fn groups_collect_equal_multipliers() {
        let roles = [
            role(MupRole::Input, 32),
            role(MupRole::Vector, 1),
            role(MupRole::Hidden, 256),
            role(MupRole::Hidden, 256),
            role(MupRole::Output, 256),
        ];
        let groups = MupGroups::adam(&roles, 64);
        let multipliers: Vec<f64> = groups.groups().iter().map(|(_, m)| *m).collect();
        assert_eq!(multipliers, vec![1.0, 0.25]);
        let (hidden, _) = &groups.groups()[1];
        assert!(hidden.matches(&roles[2].id, None) && hidden.matches(&roles[3].id, None));
        assert!(!hidden.matches(&roles[0].id, None) && !hidden.matches(&roles[4].id, None));
    }

    #[test]
    #[should_panic(expected = "fan_in 0")]
    fn zero_fan_in_is_refused() {
        MupGroups::adam(&[role(MupRole::Hidden, 0)], 64);
    }
}
