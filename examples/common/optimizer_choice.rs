//! Choosing an optimizer from a command-line flag, the same names in every training example:
//! Burn's Adam, AdamW and Lion, every per-parameter optimizer of tempering-optim, and the
//! learned optimizers μLO and SP-LO (Therien et al. 2024, "μLO: Compute-Efficient
//! Meta-Generalization of Learned Optimizers"), each with a default learning rate from its paper
//! or official code. The rules that decay weights leave biases and norm parameters undecayed, as
//! nanoGPT's `configure_optimizers` groups them.

use burn::module::ParamGroup;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamConfig, AdamWConfig, LionConfig, ModuleOptimizer, Optimizer};
use tempering_core::mup::{MupGroups, MupTensorRole, Parametrization};
use tempering_optim::learned::{LoptWeights, learned_module_optimizer};
use tempering_optim::mup_module_optimizer;
use tempering_optim::{
    AdaBoundConfig, AmsGradConfig, AmsGradConvention, CautiousConfig, CautiousNormalization,
    GramsConfig, PAdamConfig,
};

/// The decoupled weight decay of the rules that decay weights (PyTorch's AdamW default).
pub const WEIGHT_DECAY: f64 = 1e-2;

/// The parameters that are never decayed: biases and norm scales and shifts.
pub const NO_DECAY: &str = r"(^|\.)(bias|gamma|beta)$";

/// An optimizer the examples can train with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerChoice {
    /// Burn's Adam (the baseline).
    Adam,
    /// Burn's AdamW (decoupled weight decay 1e-2, none on biases and norms).
    Adamw,
    /// AMSGrad, PyTorch/Burn convention.
    Amsgrad,
    /// AMSGrad, optax convention.
    AmsgradOptax,
    /// AdamW + AMSGrad (decoupled weight decay 1e-2, none on biases and norms).
    AdamwAmsgrad,
    /// AdaBound (final lr 0.1).
    Adabound,
    /// AMSBound (final lr 0.1).
    Amsbound,
    /// PAdam (p = 1/4).
    Padam,
    /// Grams.
    Grams,
    /// Burn's Lion.
    Lion,
    /// Cautious Lion (C-Lion): Burn's Lion with cautious masking.
    CLion,
    /// Cautious AdamW (C-AdamW): Burn's Adam moments, decoupled decay 1e-2 (none on biases
    /// and norms), cautious masking.
    CAdamw,
    /// μLO, the shipped learned optimizer meta-trained under muP: each tensor's step scaled by
    /// its muP role; the learning rate multiplies the learned step (1.0 as meta-trained).
    Mulo,
    /// SP-LO, the shipped learned optimizer meta-trained in standard parametrization; the
    /// learning rate multiplies the learned step (1.0 as meta-trained).
    Splo,
    /// AdamW under muP (Yang et al. 2022, Tensor Programs V): each tensor's learning rate
    /// scaled by its muP role relative to base width 64 (hidden weights `64 / fan_in`), at the
    /// rate tuned on the narrow MLP by `mup_lr_sweep` (2⁻⁶, the best at width 64), to see
    /// whether it transfers to other networks untuned.
    MupAdamw,
}

/// The base width of `mup-adamw`: the narrowest MLP of `mup_lr_sweep`, where its learning rate
/// was tuned.
pub const MUP_BASE_WIDTH: usize = 64;

impl OptimizerChoice {
    /// The learning rate used when none is given: the official default (PAdam 0.1), the
    /// paper's advice (Lion: 3-10× below AdamW's), 1.0 for the learned optimizers (their step
    /// as meta-trained).
    pub fn default_lr(self) -> f64 {
        match self {
            Self::Padam => 0.1,
            Self::Lion | Self::CLion => 1e-4,
            Self::Mulo | Self::Splo => 1.0,
            Self::MupAdamw => 1.0 / 64.0,
            _ => 1e-3,
        }
    }

    /// The flag's name for it (`adamw-amsgrad`).
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }

    /// Whether the rule needs the network's muP roles (μLO, muP AdamW).
    pub fn needs_mup_roles(self) -> bool {
        matches!(self, Self::Mulo | Self::MupAdamw)
    }

    /// Whether the rule decays weights (AdamW, AdamW-AMSGrad, C-AdamW).
    pub fn decays_weights(self) -> bool {
        matches!(self, Self::Adamw | Self::AdamwAmsgrad | Self::CAdamw)
    }

    /// The optimizer for a model whose tensors have the muP `roles` (`None` where the model
    /// declares none), every tensor's gradient clipped to norm `clip` when given. AdaBound's
    /// bounds are set for `lr`. The rules that decay weights form a second group without decay
    /// for the parameters [`NO_DECAY`] names. μLO needs the roles: it is refused, by name,
    /// for a model without them.
    pub fn init(
        self,
        lr: f64,
        roles: Option<&[MupTensorRole]>,
        clip: Option<f32>,
    ) -> Result<ModuleOptimizer, String> {
        let clipping = clip.map(GradientClippingConfig::Norm);
        let decay = WEIGHT_DECAY as f32;
        let optimizer = match self {
            Self::Adam => AdamConfig::new().init(),
            Self::Adamw => without_decay(
                AdamWConfig::new().with_weight_decay(decay).init(),
                AdamWConfig::new().with_weight_decay(0.0).build(),
                &clipping,
            ),
            Self::Amsgrad => AmsGradConfig::new().init(),
            Self::AmsgradOptax => AmsGradConfig::new()
                .with_convention(AmsGradConvention::Optax)
                .init(),
            Self::AdamwAmsgrad => {
                let rule = |decay: f32| {
                    AmsGradConfig::new()
                        .with_weight_decay(decay)
                        .with_decoupled_weight_decay(true)
                };
                without_decay(rule(decay).init(), rule(0.0).build(), &clipping)
            }
            Self::Adabound => AdaBoundConfig::new().with_base_lr(lr as f32).init(),
            Self::Amsbound => AdaBoundConfig::new()
                .with_base_lr(lr as f32)
                .with_amsbound(true)
                .init(),
            Self::Padam => PAdamConfig::new().init(),
            Self::Grams => GramsConfig::new().init(),
            Self::Lion => LionConfig::new().init(),
            Self::CLion => CautiousConfig::new()
                .with_normalization(CautiousNormalization::CountPlusOne)
                .init_lion(&LionConfig::new()),
            Self::CAdamw => {
                let rule = |decay: f32| CautiousConfig::new().with_weight_decay(decay);
                let adam = || AdamConfig::new().with_epsilon(1e-8).build();
                without_decay(rule(decay).init(adam()), rule(0.0).build(adam()), &clipping)
            }
            Self::Mulo => return self.init_learned(LoptWeights::mulo(), roles, clip),
            Self::Splo => return self.init_learned(LoptWeights::splo(), roles, clip),
            Self::MupAdamw => match roles {
                // The AdamW of `mup_lr_sweep`, where the rate was tuned.
                Some(roles) => mup_module_optimizer(
                    &MupGroups::adam(roles, MUP_BASE_WIDTH),
                    AdamWConfig::new().build(),
                    clipping.clone(),
                ),
                None => {
                    return Err(
                        "--optimizer mup-adamw scales each tensor's learning rate by its muP \
                                role, and this network declares none; try adamw"
                            .into(),
                    );
                }
            },
        };
        Ok(clipped(optimizer, &clipping))
    }
}

impl OptimizerChoice {
    /// μLO or SP-LO with meta-trained `weights` (`meta_train_lopt`'s file, or the shipped ones)
    /// for a model with muP `roles`, every tensor's gradient clipped to norm `clip` when given.
    /// μLO needs the roles; the other choices are refused by name.
    pub fn init_learned(
        self,
        weights: LoptWeights,
        roles: Option<&[MupTensorRole]>,
        clip: Option<f32>,
    ) -> Result<ModuleOptimizer, String> {
        let clipping = clip.map(GradientClippingConfig::Norm);
        match (self, roles) {
            (Self::Mulo, Some(roles)) => Ok(learned_module_optimizer(
                weights,
                Parametrization::Mup,
                roles,
                clipping,
            )),
            (Self::Mulo, None) => Err(
                "--optimizer mulo scales each tensor's step by its muP role, and this network \
                 declares none; try splo"
                    .into(),
            ),
            (Self::Splo, _) => Ok(learned_module_optimizer(
                weights,
                Parametrization::Standard,
                &[],
                clipping,
            )),
            _ => Err(format!(
                "learned-optimizer weights apply to --optimizer mulo and splo, not {}",
                self.name()
            )),
        }
    }
}

/// `optimizer` with its default group's gradients clipped as `clipping` says.
fn clipped(
    optimizer: ModuleOptimizer,
    clipping: &Option<GradientClippingConfig>,
) -> ModuleOptimizer {
    match clipping {
        Some(clip) => optimizer.with_grad_clipping(clip.init()),
        None => optimizer,
    }
}

/// `optimizer` with a group of its rule without decay (`undecayed`) for the parameters
/// [`NO_DECAY`] names; every group clipped as `clipping` says.
fn without_decay<O: Optimizer + 'static>(
    optimizer: ModuleOptimizer,
    undecayed: O,
    clipping: &Option<GradientClippingConfig>,
) -> ModuleOptimizer {
    let group = ParamGroup::from_regex(NO_DECAY).expect("a valid pattern");
    optimizer.with_group(group, undecayed, clipping.as_ref().map(|c| c.init()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::{Device, Tensor};

    /// One step of `choice` at `lr` on a layer whose gradients are all zero: what moves is
    /// the weight decay alone.
    fn step_with_zero_gradients(choice: OptimizerChoice, lr: f64) -> (Linear, Linear) {
        let device = Device::default().autodiff();
        let layer = LinearConfig::new(3, 2).init(&device);
        let before = layer.clone();
        let loss = layer.forward(Tensor::<2>::ones([1, 3], &device)).sum() * 0.0;
        let grads = GradientsParams::from_grads(loss.backward(), &layer);
        let mut optimizer = choice.init(lr, None, None).unwrap();
        (before, optimizer.step(lr, layer, grads))
    }

    #[test]
    fn the_decaying_rules_decay_weights_but_not_biases() {
        for choice in [
            OptimizerChoice::Adamw,
            OptimizerChoice::AdamwAmsgrad,
            OptimizerChoice::CAdamw,
        ] {
            assert!(choice.decays_weights());
            let (before, after) = step_with_zero_gradients(choice, 0.5);
            // Decoupled decay: w ← w·(1 − lr·λ) = w·(1 − 0.5·0.01).
            let expected = before.weight.val() * (1.0 - 0.5 * WEIGHT_DECAY);
            let diff = (after.weight.val() - expected)
                .abs()
                .max()
                .into_scalar::<f32>();
            assert!(diff < 1e-6, "{choice:?}: weight off by {diff}");
            let bias_moved = (after.bias.unwrap().val() - before.bias.unwrap().val())
                .abs()
                .max()
                .into_scalar::<f32>();
            assert_eq!(bias_moved, 0.0, "{choice:?} decayed the bias");
        }
        // Adam has no decay: nothing moves.
        let (before, after) = step_with_zero_gradients(OptimizerChoice::Adam, 0.5);
        let moved = (after.weight.val() - before.weight.val())
            .abs()
            .max()
            .into_scalar::<f32>();
        assert_eq!(moved, 0.0);
    }

    #[test]
    fn mulo_needs_roles_and_names_the_flag() {
        let Err(e) = OptimizerChoice::Mulo.init(1.0, None, None) else {
            panic!("μLO without roles was built");
        };
        assert!(e.contains("--optimizer mulo") && e.contains("splo"), "{e}");
        assert!(OptimizerChoice::Splo.init(1.0, None, Some(1.0)).is_ok());
        assert_eq!(OptimizerChoice::AdamwAmsgrad.name(), "adamw-amsgrad");
        assert_eq!(OptimizerChoice::Mulo.default_lr(), 1.0);
        let Err(e) = OptimizerChoice::MupAdamw.init(1.0 / 64.0, None, None) else {
            panic!("muP AdamW without roles was built");
        };
        assert!(
            e.contains("--optimizer mup-adamw") && e.contains("adamw"),
            "{e}"
        );
        assert_eq!(OptimizerChoice::MupAdamw.name(), "mup-adamw");
    }

    /// muP AdamW scales a hidden weight's rate by `64 / fan_in` and leaves an input weight's:
    /// two weights with the same gradient, the hidden one (fan-in 256) moves a quarter as far.
    #[test]
    fn mup_adamw_scales_hidden_weights_by_the_base_width() {
        use tempering_core::mup::MupRole;
        #[derive(burn::module::Module, Debug)]
        struct Two {
            input: Linear,
            hidden: Linear,
        }
        let device = burn::tensor::Device::default().autodiff();
        let two = Two {
            input: LinearConfig::new(256, 2).with_bias(false).init(&device),
            hidden: LinearConfig::new(256, 2).with_bias(false).init(&device),
        };
        let roles = [
            (two.input.weight.id, MupRole::Input),
            (two.hidden.weight.id, MupRole::Hidden),
        ]
        .map(|(id, role)| MupTensorRole {
            id,
            role,
            fan_in: 256,
        });
        let mut optimizer = OptimizerChoice::MupAdamw
            .init(1.0 / 64.0, Some(&roles), None)
            .unwrap();
        let x = burn::tensor::Tensor::<2>::ones([1, 256], &device);
        let loss = two.input.forward(x.clone()).sum() + two.hidden.forward(x).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &two);
        let before = |l: &Linear| l.weight.val().into_data().try_to_vec::<f32>().unwrap();
        let (input0, hidden0) = (before(&two.input), before(&two.hidden));
        let stepped = optimizer.step(1.0 / 64.0, two, grads);
        let moved = |l: &Linear, b: &[f32]| {
            let a = l.weight.val().into_data().try_to_vec::<f32>().unwrap();
            a.iter().zip(b).map(|(a, b)| (a - b).abs()).sum::<f32>()
        };
        let ratio = moved(&stepped.hidden, &hidden0) / moved(&stepped.input, &input0);
        assert!((ratio - 0.25).abs() < 0.01, "hidden ÷ input step {ratio}");
    }
}
