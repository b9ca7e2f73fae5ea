//! A multilayer perceptron classifier for small images: flatten, then `Linear → ReLU → Dropout`
//! per hidden layer, then a linear head.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, Relu};
use burn::tensor::{Device, Tensor};

use crate::image_classifier::ImageClassifier;

/// Configuration of an [`MlpClassifier`].
#[derive(Config, Debug)]
pub struct MlpClassifierConfig {
    /// Input features (pixels per image: 784 for 28×28).
    #[config(default = 784)]
    pub input_size: usize,
    /// Widths of the hidden layers, input side first.
    #[config(default = "vec![512, 256]")]
    pub hidden_sizes: Vec<usize>,
    /// Number of classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// Dropout probability after each hidden activation.
    #[config(default = 0.1)]
    pub dropout: f64,
}

impl MlpClassifierConfig {
    /// Why this config cannot build a classifier, if it cannot: a zero size, or a dropout
    /// probability outside [0, 1).
    pub fn check(&self) -> Result<(), String> {
        if self.input_size == 0 || self.num_classes == 0 || self.hidden_sizes.contains(&0) {
            return Err("input_size, hidden_sizes and num_classes must be positive".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout {} is not in [0, 1)", self.dropout));
        }
        Ok(())
    }

    /// `[d_in, d_out]` of each linear layer: the hidden layers, input side first, then the head.
    pub fn layer_shapes(&self) -> Vec<[usize; 2]> {
        let mut widths = vec![self.input_size];
        widths.extend(&self.hidden_sizes);
        widths.push(self.num_classes);
        widths.windows(2).map(|w| [w[0], w[1]]).collect()
    }

    /// The module paths of the layers' weights, as [`layer_shapes`](Self::layer_shapes) orders
    /// them: `hidden.{l}.weight`, then `head.weight`.
    pub fn weight_names(&self) -> Vec<String> {
        weight_names(self.hidden_sizes.len())
    }

    /// The number of parameters the classifier would have (weights and biases), computed
    /// without building it; `None` when it overflows `usize`.
    pub fn parameter_count(&self) -> Option<usize> {
        self.layer_shapes()
            .iter()
            .try_fold(0usize, |total, &[d_in, d_out]| {
                total.checked_add(d_in.checked_add(1)?.checked_mul(d_out)?)
            })
    }

    /// Builds the classifier on `device` (Burn's default Kaiming-uniform initialization).
    ///
    /// # Panics
    /// If [`check`](Self::check) finds a problem; the message names it.
    pub fn init(&self, device: &Device) -> MlpClassifier {
        if let Err(problem) = self.check() {
            panic!("MlpClassifierConfig: {problem}");
        }
        let mut widths = vec![self.input_size];
        widths.extend(&self.hidden_sizes);
        let hidden = widths
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        MlpClassifier {
            hidden,
            head: LinearConfig::new(*widths.last().unwrap(), self.num_classes).init(device),
            activation: Relu::new(),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

/// The module paths of the weights of an MLP with `hidden` hidden layers: `hidden.{l}.weight`,
/// then `head.weight`.
pub(crate) fn weight_names(hidden: usize) -> Vec<String> {
    (0..hidden)
        .map(|l| format!("hidden.{l}.weight"))
        .chain(["head.weight".to_string()])
        .collect()
}

/// A multilayer perceptron classifier; see [`MlpClassifierConfig`].
#[derive(Module, Debug)]
pub struct MlpClassifier {
    /// Hidden layers, input side first.
    pub hidden: Vec<Linear>,
    /// The output layer.
    pub head: Linear,
    activation: Relu,
    dropout: Dropout,
}

impl MlpClassifier {
    /// Logits `[batch, classes]` for flat inputs `[batch, features]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = self.hidden.iter().fold(x, |x, layer| {
            self.dropout
                .forward(self.activation.forward(layer.forward(x)))
        });
        self.head.forward(x)
    }
}

impl ImageClassifier for MlpClassifier {
    fn logits(&self, images: Tensor<3>) -> Tensor<2> {
        let [batch, h, w] = images.dims();
        self.forward(images.reshape([batch, h * w]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_parameter_count() {
        let device = Device::default();
        let model = MlpClassifierConfig::new()
            .with_hidden_sizes(vec![32, 16])
            .init(&device);
        let logits = model.logits(Tensor::zeros([5, 28, 28], &device));
        assert_eq!(logits.dims(), [5, 10]);
        // (784·32 + 32) + (32·16 + 16) + (16·10 + 10), counted by hand.
        assert_eq!(model.num_params(), 25_120 + 528 + 170);
        assert_eq!(
            MlpClassifierConfig::new()
                .with_hidden_sizes(vec![32, 16])
                .parameter_count(),
            Some(model.num_params())
        );
    }

    #[test]
    #[should_panic(expected = "dropout")]
    fn rejects_bad_dropout() {
        MlpClassifierConfig::new()
            .with_dropout(1.0)
            .init(&Device::default());
    }
}
