//! The inputs of [`MlpClassifier`]'s layers on calibration data, for Wanda and ECoFLaP.

use burn::tensor::Tensor;
use tempering_core::compression::{InputNorms, LinearInputs};

use crate::MlpClassifier;

impl LinearInputs for MlpClassifier {
    /// Flat inputs `[batch, features]`.
    type Input = Tensor<2>;

    /// Records `hidden.{l}.weight` and `head.weight` (dropout is off: calibration is
    /// inference).
    fn record_linear_inputs(&self, input: Tensor<2>, norms: &mut InputNorms) {
        let mut x = input;
        for (l, layer) in self.hidden.iter().enumerate() {
            norms.record(&format!("hidden.{l}.weight"), x.clone());
            x = burn::tensor::activation::relu(layer.forward(x));
        }
        norms.record("head.weight", x);
    }
}
