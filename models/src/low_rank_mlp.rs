//! The [`MlpClassifier`](crate::MlpClassifier) with some layers factorized
//! ([`LowRankLinear`]): what low-rank compression of that model exports.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LinearConfig, Relu};
use burn::tensor::{Device, Tensor};

use crate::image_classifier::ImageClassifier;
use crate::low_rank_linear::{LinearLayer, LowRankLinearConfig};
use crate::mlp_classifier::MlpClassifierConfig;

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
        // Validates the sizes and the dropout.
        let _ = self.mlp.init(device);
        let layers = widths
            .windows(2)
            .zip(&self.ranks)
            .enumerate()
            .map(|(l, (w, rank))| match rank {
                None => LinearLayer::Dense(LinearConfig::new(w[0], w[1]).init(device)),
                Some(r) => LinearLayer::LowRank(
                    LowRankLinearConfig::new(w[0], w[1], *r)
                        .with_chunks(self.layer_chunks.as_ref().map_or(self.chunks, |c| c[l]))
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
