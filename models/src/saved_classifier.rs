//! The config written beside an image classifier's checkpoint (`model.json` beside
//! `model.bpk`): which of the project's classifiers it is, its dense architecture, and the
//! layers stored as ALDS factors (Liebenwein et al., "Compressing neural networks: towards
//! determining the optimal layer-wise decomposition", NeurIPS 2021) once `tempering compress`
//! has factorized it. The quickstart, `train_vit` and `local_learning` write it; the
//! command-line tool reads it to rebuild the model a checkpoint belongs to.
//!
//! ```
//! use tempering_models::MlpClassifierConfig;
//! use tempering_models::saved_classifier::{ClassifierArchitecture, SavedClassifier};
//! let saved = SavedClassifier::dense(ClassifierArchitecture::Mlp(
//!     MlpClassifierConfig::new().with_hidden_sizes(vec![64]),
//! ));
//! saved.check().unwrap();
//! // 784·64 + 64 + 64·10 + 10, counted without building the model.
//! assert_eq!(saved.parameter_count(), Some(50_890));
//! ```

use burn::config::Config;

use crate::local::{FactorizedResNetConfig, LocalResNetConfig};
use crate::low_rank_mlp::LowRankMlpClassifierConfig;
use crate::mlp_classifier::MlpClassifierConfig;
use crate::transformer::FactorizedLayer;
use crate::vit::VitClassifierConfig;
use crate::vit_factorized::FactorizedVitConfig;

/// Which classifier a checkpoint holds, with its dense config.
#[derive(Config, Debug)]
pub enum ClassifierArchitecture {
    /// An [`MlpClassifier`](crate::MlpClassifier) (the quickstart's model).
    Mlp(MlpClassifierConfig),
    /// A [`VitClassifier`](crate::VitClassifier) (`train_vit`'s model).
    Vit(VitClassifierConfig),
    /// A [`LocalResNet`](crate::local::LocalResNet) with its auxiliary networks
    /// (`local_learning`'s CNN).
    LocalResNet(LocalResNetConfig),
}

impl ClassifierArchitecture {
    /// The architecture's name in messages: `mlp`, `vit`, `local-resnet`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Mlp(_) => "mlp",
            Self::Vit(_) => "vit",
            Self::LocalResNet(_) => "local-resnet",
        }
    }

    /// Why the dense config cannot build a model, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Self::Mlp(config) => config.check(),
            Self::Vit(config) => config.check(),
            Self::LocalResNet(config) => config.check(),
        }
    }

    /// The dense model's parameters, computed without building it; `None` on overflow or an
    /// invalid config.
    pub fn parameter_count(&self) -> Option<usize> {
        match self {
            Self::Mlp(config) => config.parameter_count(),
            Self::Vit(config) => config.parameter_count(),
            Self::LocalResNet(config) => config.parameter_count(),
        }
    }
}

/// The contents of `model.json`; see the [module docs](self).
#[derive(Config, Debug)]
pub struct SavedClassifier {
    /// The classifier and its dense config.
    pub classifier: ClassifierArchitecture,
    /// The layers stored as ALDS factors, by their weights' module paths in the dense model
    /// (absent for a dense checkpoint). When present, even empty, the checkpoint holds the
    /// factorized form of the model: [`LowRankMlpClassifierConfig::from_factorized`],
    /// [`FactorizedVitConfig`] or [`FactorizedResNetConfig`] rebuilds it.
    #[config(default = "None")]
    pub factorized: Option<Vec<FactorizedLayer>>,
}

impl SavedClassifier {
    /// The config of a dense checkpoint of `classifier`.
    pub fn dense(classifier: ClassifierArchitecture) -> Self {
        Self::new(classifier)
    }

    /// The factorized layers (none for a dense checkpoint).
    pub fn factorized_layers(&self) -> &[FactorizedLayer] {
        self.factorized.as_deref().unwrap_or_default()
    }

    /// Why this config cannot build a model, if it cannot: the dense config's problem, or a
    /// factorized entry that names no layer of the model, names one twice, or has a zero rank
    /// or chunk count.
    pub fn check(&self) -> Result<(), String> {
        self.classifier.check()?;
        let Some(layers) = &self.factorized else {
            return Ok(());
        };
        match &self.classifier {
            ClassifierArchitecture::Mlp(config) => {
                LowRankMlpClassifierConfig::from_factorized(config.clone(), layers).map(|_| ())
            }
            ClassifierArchitecture::Vit(config) => {
                FactorizedVitConfig::new(config.clone(), layers.clone()).check()
            }
            ClassifierArchitecture::LocalResNet(config) => {
                FactorizedResNetConfig::new(config.clone(), layers.clone()).check()
            }
        }
    }

    /// The number of parameters of the model this config rebuilds (with its factors, when
    /// factorized), computed without building it; `None` when it overflows `usize` or the
    /// config is invalid. A reader of an untrusted file compares this with what the checkpoint
    /// can hold before building anything.
    pub fn parameter_count(&self) -> Option<usize> {
        let Some(layers) = &self.factorized else {
            return self.classifier.parameter_count();
        };
        match &self.classifier {
            ClassifierArchitecture::Mlp(config) => {
                // The dense count first: it bounds the sizes the conversion lists.
                config.parameter_count()?;
                LowRankMlpClassifierConfig::from_factorized(config.clone(), layers)
                    .ok()?
                    .parameter_count()
            }
            ClassifierArchitecture::Vit(config) => {
                FactorizedVitConfig::new(config.clone(), layers.clone()).parameter_count()
            }
            ClassifierArchitecture::LocalResNet(config) => {
                FactorizedResNetConfig::new(config.clone(), layers.clone()).parameter_count()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::AuxiliaryKind;
    use burn::module::Module;
    use burn::tensor::Device;

    fn layer(name: &str, rank: usize, chunks: usize) -> FactorizedLayer {
        FactorizedLayer::new(name.into(), rank, chunks)
    }

    #[test]
    fn the_file_round_trips_with_every_architecture() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        for saved in [
            SavedClassifier::dense(ClassifierArchitecture::Mlp(MlpClassifierConfig::new())),
            SavedClassifier::dense(ClassifierArchitecture::Vit(VitClassifierConfig::new()))
                .with_factorized(Some(vec![layer("blocks.0.attention.query.weight", 4, 2)])),
            SavedClassifier::dense(ClassifierArchitecture::LocalResNet(
                LocalResNetConfig::new().with_auxiliary(AuxiliaryKind::Dgl),
            )),
        ] {
            saved.save(&path).unwrap();
            let back = SavedClassifier::load(&path).unwrap();
            assert_eq!(back.to_string(), saved.to_string());
            back.check().unwrap();
        }
    }

    #[test]
    fn counts_match_the_built_factorized_models() {
        let device = Device::default();
        let mlp = MlpClassifierConfig::new().with_hidden_sizes(vec![24, 12]);
        let layers = [layer("hidden.0.weight", 5, 3), layer("head.weight", 2, 1)];
        let config = LowRankMlpClassifierConfig::from_factorized(mlp.clone(), &layers).unwrap();
        let saved = SavedClassifier::dense(ClassifierArchitecture::Mlp(mlp))
            .with_factorized(Some(layers.to_vec()));
        assert_eq!(
            saved.parameter_count(),
            Some(config.init(&device).num_params())
        );
        assert_eq!(config.factorized_layers(), layers.to_vec());

        let vit = VitClassifierConfig::new()
            .with_d_model(16)
            .with_n_layers(2)
            .with_n_heads(2);
        let layers = vec![
            layer("blocks.1.feed_forward.expand.weight", 3, 4),
            layer("blocks.0.attention.output.weight", 40, 3),
        ];
        let saved = SavedClassifier::dense(ClassifierArchitecture::Vit(vit.clone()))
            .with_factorized(Some(layers.clone()));
        let built = FactorizedVitConfig::new(vit, layers).init(&device);
        assert_eq!(saved.parameter_count(), Some(built.num_params()));

        let cnn = LocalResNetConfig::new()
            .with_widths(vec![4, 4, 8])
            .with_stages(3);
        let layers = vec![
            layer("layers.2.Block.first.conv.weight", 3, 2),
            layer("layers.0.Stem.conv.weight", 2, 1),
            layer("layers.2.Block.shortcut.conv.weight", 9, 4),
        ];
        let saved = SavedClassifier::dense(ClassifierArchitecture::LocalResNet(cnn.clone()))
            .with_factorized(Some(layers.clone()));
        let built = FactorizedResNetConfig::new(cnn, layers).init(&device);
        assert_eq!(saved.parameter_count(), Some(built.num_params()));
    }

    #[test]
    fn hostile_sizes_overflow_to_none_without_building() {
        let huge = usize::MAX / 2;
        let configs = [
            ClassifierArchitecture::Mlp(MlpClassifierConfig::new().with_hidden_sizes(vec![huge])),
            ClassifierArchitecture::Vit(VitClassifierConfig::new().with_d_model(huge)),
            ClassifierArchitecture::Vit(
                VitClassifierConfig::new()
                    .with_image_size(1 << 40)
                    .with_patch_size(1),
            ),
            ClassifierArchitecture::LocalResNet(
                LocalResNetConfig::new()
                    .with_widths(vec![1 << 40, 1 << 41])
                    .with_stages(2),
            ),
        ];
        for config in configs {
            assert_eq!(config.parameter_count(), None, "{}", config.name());
        }
        // A factorized entry for a layer the model lacks counts as no model at all.
        let saved = SavedClassifier::dense(ClassifierArchitecture::Mlp(MlpClassifierConfig::new()))
            .with_factorized(Some(vec![layer("hidden.9.weight", 2, 1)]));
        assert_eq!(saved.parameter_count(), None);
        let e = saved.check().unwrap_err();
        assert!(
            e.contains("`hidden.9.weight` is not a layer's weight"),
            "{e}"
        );
    }
}
