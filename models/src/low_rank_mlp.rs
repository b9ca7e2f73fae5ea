//! The [`MlpClassifier`](crate::MlpClassifier) with some layers factorized
//! ([`LowRankLinear`]): what low-rank compression of that model exports.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LinearConfig, Relu};
use burn::tensor::{Device, Tensor};

use crate::image_classifier::ImageClassifier;
use crate::low_rank_linear::{LinearLayer, LowRankLinearConfig};
use crate::mlp_classifier::MlpClassifierConfig;
use crate::transformer::FactorizedLayer;
use crate::transformer::factorized_blocks::{check_entries, factor_weights};

/// Configuration of a [`LowRankMlpClassifier`]: the dense model's config and, per layer
/// (hidden layers, then the head), its rank or `None` for a dense layer.
#[derive(Config, Debug)]
pub struct LowRankMlpClassifierConfig {
    /// The dense model's sizes and dropout.
    pub mlp: MlpClassifierConfig,
    /// One entry per layer: the rank of its factors, or `None` (dense).
    pub ranks: Vec<Option<usize>>,
    /// Input chunks of each factorized layer.
    #[config(default = 3)]
    pub chunks: usize,
    /// Input chunks per layer (hidden layers, then the head), where they differ (ALDS's search
    /// chooses them per layer); overrides `chunks`.
    #[config(default = "None")]
    pub layer_chunks: Option<Vec<usize>>,
}

impl LowRankMlpClassifierConfig {
    /// The config whose factorized layers are `layers`, named by their weights' module paths
    /// in the dense model (`hidden.{l}.weight`, `head.weight`; see
    /// [`MlpClassifierConfig::weight_names`]); every other layer stays dense. An error names an
    /// invalid dense config, an entry that names no layer or names one twice, or a zero rank or
    /// chunk count.
    pub fn from_factorized(
        mlp: MlpClassifierConfig,
        layers: &[FactorizedLayer],
    ) -> Result<Self, String> {
        mlp.check()?;
        let names = mlp.weight_names();
        check_entries(layers, |layer| match names.contains(&layer.name) {
            true => Ok(()),
            false => Err(format!(
                "`{}` is not a layer's weight ({})",
                layer.name,
                names.join(", ")
            )),
        })?;
        let found = |name: &String| layers.iter().find(|l| l.name == *name);
        let ranks = names.iter().map(|n| found(n).map(|l| l.rank)).collect();
        let chunks: Vec<usize> = names
            .iter()
            .map(|n| found(n).map_or(1, |l| l.chunks))
            .collect();
        Ok(Self::new(mlp, ranks).with_layer_chunks(Some(chunks)))
    }

    /// Input chunks of layer `l`.
    fn chunks_of(&self, l: usize) -> usize {
        self.layer_chunks
            .as_ref()
            .and_then(|c| c.get(l).copied())
            .unwrap_or(self.chunks)
    }

    /// The factorized layers, named by their weights' module paths in the dense model
    /// (`hidden.{l}.weight`, `head.weight`): the form the other factorized configs list.
    pub fn factorized_layers(&self) -> Vec<FactorizedLayer> {
        self.mlp
            .weight_names()
            .into_iter()
            .zip(&self.ranks)
            .enumerate()
            .filter_map(|(l, (name, rank))| {
                rank.map(|rank| FactorizedLayer::new(name, rank, self.chunks_of(l)))
            })
            .collect()
    }

    /// The number of parameters the model would have, computed without building it; `None`
    /// when it overflows `usize` or there is not one rank per layer.
    pub fn parameter_count(&self) -> Option<usize> {
        let shapes = self.mlp.layer_shapes();
        if self.ranks.len() != shapes.len() {
            return None;
        }
        shapes.iter().zip(&self.ranks).enumerate().try_fold(
            0usize,
            |total, (l, (&[d_in, d_out], rank))| {
                let weights = match rank {
                    None => d_in.checked_mul(d_out)?,
                    Some(r) => factor_weights([d_in, d_out], 1, *r, self.chunks_of(l))?,
                };
                total.checked_add(weights)?.checked_add(d_out)
            },
        )
    }

    /// Builds the model on `device`.
    ///
    /// # Panics
    /// If `ranks` does not have one entry per layer, or the dense config is invalid.
    pub fn init(&self, device: &Device) -> LowRankMlpClassifier {
        let mut widths = vec![self.mlp.input_size];
        widths.extend(&self.mlp.hidden_sizes);
        widths.push(self.mlp.num_classes);
        assert_eq!(
            self.ranks.len(),
            widths.len() - 1,
            "LowRankMlpClassifierConfig: one rank (or None) per layer"
        );
        if let Some(chunks) = &self.layer_chunks {
            assert_eq!(
                chunks.len(),
                self.ranks.len(),
                "LowRankMlpClassifierConfig: one chunk count per layer"
            );
        }
        if let Err(problem) = self.mlp.check() {
            panic!("LowRankMlpClassifierConfig: {problem}");
        }
        let layers = widths
            .windows(2)
            .zip(&self.ranks)
            .enumerate()
            .map(|(l, (w, rank))| match rank {
                None => LinearLayer::Dense(LinearConfig::new(w[0], w[1]).init(device)),
                Some(r) => LinearLayer::LowRank(
                    LowRankLinearConfig::new(w[0], w[1], *r)
                        .with_chunks(self.chunks_of(l))
                        .init(device),
                ),
            })
            .collect();
        LowRankMlpClassifier {
            layers,
            activation: Relu::new(),
            dropout: DropoutConfig::new(self.mlp.dropout).init(),
        }
    }
}

/// An MLP classifier whose layers may be factorized; see [`LowRankMlpClassifierConfig`].
#[derive(Module, Debug)]
pub struct LowRankMlpClassifier {
    /// Hidden layers, then the head.
    pub layers: Vec<LinearLayer>,
    activation: Relu,
    dropout: Dropout,
}

impl LowRankMlpClassifier {
    /// Logits `[batch, classes]` for flat inputs `[batch, features]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let (head, hidden) = self.layers.split_last().expect("at least the head");
        let x = hidden.iter().fold(x, |x, layer| {
            self.dropout
                .forward(self.activation.forward(layer.forward(x)))
        });
        head.forward(x)
    }
}

impl ImageClassifier for LowRankMlpClassifier {
    fn logits(&self, images: Tensor<3>) -> Tensor<2> {
        let [batch, h, w] = images.dims();
        self.forward(images.reshape([batch, h * w]))
    }
}
