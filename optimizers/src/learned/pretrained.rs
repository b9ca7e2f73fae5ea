//! The meta-trained weights shipped with tempering (`optimizers/weights/`), embedded in the
//! crate so they load offline: μLO (meta-trained under muP) and its standard-parametrization
//! twin SP-LO, each from 600 outer steps of antithetic persistent ES on 3-hidden-layer MLPs of
//! widths 32 and 64 over Fashion-MNIST pooled to 7×7, inner horizons log-uniform in 100–1000
//! (Therien et al. 2024, "μLO: Compute-Efficient Meta-Generalization of Learned Optimizers",
//! arXiv:2405.14658; the command that reproduces each file is its `provenance`).
//!
//! Keep runs within about 5× that 1,000-step horizon for μLO and 3× for SP-LO: past it each
//! drifts up, and by 25× both are near chance where muP AdamW keeps improving (measured with the
//! `lopt_horizon` example; the README has the table).
//!
//! ```
//! use tempering_core::mup::MupModule;
//! use tempering_optim::learned::{mulo_optimizer, splo_optimizer};
//! // `model`: a muP network that declares its roles, e.g. tempering-models' `MupMlp`.
//! fn optimizers_for(model: &impl MupModule) {
//!     let mulo = mulo_optimizer(model); // step with learning rate 1.0
//!     let splo = splo_optimizer(); // for a standard-parametrization network
//!     # let _ = (mulo, splo);
//! }
//! ```

use burn::optim::ModuleOptimizer;
use burn::optim::grad_clipping::GradientClippingConfig;
use tempering_core::mup::{MupModule, MupTensorRole, Parametrization};

use super::{LoptWeights, learned_module_optimizer};

const MULO_JSON: &str = include_str!("../../weights/mulo.json");
const SPLO_JSON: &str = include_str!("../../weights/splo.json");

impl LoptWeights {
    /// μLO's shipped weights (use them with [`LearnedOptimizerConfig::mu`](super::LearnedOptimizerConfig::mu) and muP step scales,
    /// or through [`mulo_optimizer`]).
    pub fn mulo() -> Self {
        Self::from_json(MULO_JSON, "optimizers/weights/mulo.json")
            .expect("the shipped μLO weights are checked by the tests")
    }

    /// SP-LO's shipped weights (use them with [`LearnedOptimizerConfig::new`](super::LearnedOptimizerConfig::new) on a
    /// standard-parametrization network, or through [`splo_optimizer`]).
    pub fn splo() -> Self {
        Self::from_json(SPLO_JSON, "optimizers/weights/splo.json")
            .expect("the shipped SP-LO weights are checked by the tests")
    }

    /// How the shipped weights `name` (`"mulo"` or `"splo"`) were made: the command, its
    /// budget and its wall time.
    pub fn shipped_provenance(name: &str) -> Option<String> {
        let text = match name {
            "mulo" => MULO_JSON,
            "splo" => SPLO_JSON,
            _ => return None,
        };
        let document: serde_json::Value = serde_json::from_str(text).ok()?;
        document["provenance"].as_str().map(str::to_string)
    }
}

/// μLO for `model` (a muP network declaring its roles): the shipped weights, `step_mult` 0.01,
/// each tensor's step scaled by its muP role (hidden weights 1/fan_in). Step it with learning
/// rate 1.0, and build it for the very model instance you train (the scales are keyed by its
/// parameters' ids).
pub fn mulo_optimizer(model: &impl MupModule) -> ModuleOptimizer {
    mulo_optimizer_for_roles(&model.mup_roles(), None)
}

/// μLO for a model whose tensors have the muP `roles` (as [`MupModule::mup_roles`] lists
/// them), every group's gradients clipped as `grad_clipping` says: [`mulo_optimizer`] where
/// the roles come from elsewhere than the model itself.
pub fn mulo_optimizer_for_roles(
    roles: &[MupTensorRole],
    grad_clipping: Option<GradientClippingConfig>,
) -> ModuleOptimizer {
    learned_module_optimizer(
        LoptWeights::mulo(),
        Parametrization::Mup,
        roles,
        grad_clipping,
    )
}

/// SP-LO: the shipped standard-parametrization weights, `step_mult` 0.001, one scale for every
/// tensor. Step it with learning rate 1.0.
pub fn splo_optimizer() -> ModuleOptimizer {
    learned_module_optimizer(LoptWeights::splo(), Parametrization::Standard, &[], None)
}
