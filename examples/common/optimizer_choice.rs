//! Choosing an optimizer from a command-line flag: Burn's Adam and Lion and every per-parameter
//! optimizer of tempering-optim, each with a default learning rate from its paper or official
//! code.

use burn::optim::{AdamConfig, LionConfig, ModuleOptimizer};
use tempering_optim::{
    AdaBoundConfig, AmsGradConfig, AmsGradConvention, CautiousConfig, CautiousNormalization,
    GramsConfig, PAdamConfig,
};

/// An optimizer the examples can train with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerChoice {
    /// Burn's Adam (the baseline).
    Adam,
    /// AMSGrad, PyTorch/Burn convention.
    Amsgrad,
    /// AMSGrad, optax convention.
    AmsgradOptax,
    /// AdamW + AMSGrad (decoupled weight decay 1e-2).
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
    /// Cautious AdamW (C-AdamW): Burn's Adam moments, decoupled decay 1e-2, cautious masking.
    CAdamw,
}

impl OptimizerChoice {
    /// The learning rate used when none is given: the official default (PAdam 0.1), or the
    /// paper's advice (Lion: 3-10× below AdamW's).
    pub fn default_lr(self) -> f64 {
        match self {
            Self::Padam => 0.1,
            Self::Lion | Self::CLion => 1e-4,
            _ => 1e-3,
        }
    }

    /// The optimizer for a whole module. AdaBound's bounds are set for `lr`.
    pub fn init(self, lr: f64) -> ModuleOptimizer {
        match self {
            Self::Adam => AdamConfig::new().init(),
            Self::Amsgrad => AmsGradConfig::new().init(),
            Self::AmsgradOptax => AmsGradConfig::new()
                .with_convention(AmsGradConvention::Optax)
                .init(),
            Self::AdamwAmsgrad => AmsGradConfig::new()
                .with_weight_decay(1e-2)
                .with_decoupled_weight_decay(true)
                .init(),
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
            Self::CAdamw => CautiousConfig::new()
                .with_weight_decay(1e-2)
                .init(AdamConfig::new().with_epsilon(1e-8).build()),
        }
    }
}
