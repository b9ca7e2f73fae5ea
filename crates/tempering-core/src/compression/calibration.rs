//! What a model's linear layers receive on calibration data.

use std::collections::BTreeMap;

use burn::tensor::Tensor;

/// Per linear layer (by its weight's module path, `hidden.0.weight`), the sum of squares of
/// each input feature over the calibration inputs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InputNorms {
    squares: BTreeMap<String, Vec<f64>>,
}

impl InputNorms {
    /// No inputs seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the rows of `inputs` `[rows, d_in]`, the inputs of the layer whose weight is named
    /// `weight`.
    ///
    /// # Panics
    /// If the layer was seen before with another width (a model bug, not bad data).
    pub fn record(&mut self, weight: &str, inputs: Tensor<2>) {
        let [_, d_in] = inputs.dims();
        let squares: Vec<f64> = (inputs.clone() * inputs)
            .sum_dim(0)
            .into_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .expect("f64 after convert");
        let sums = self
            .squares
            .entry(weight.to_string())
            .or_insert_with(|| vec![0.0; d_in]);
        assert_eq!(sums.len(), d_in, "'{weight}' inputs changed width");
        sums.iter_mut().zip(squares).for_each(|(s, x)| *s += x);
    }

    /// `‖X_i‖₂` of each input feature of the layer `weight`.
    pub fn norms(&self, weight: &str) -> Option<Vec<f64>> {
        self.squares
            .get(weight)
            .map(|s| s.iter().map(|x| x.sqrt()).collect())
    }

    /// The layers seen, by weight name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.squares.keys().map(String::as_str)
    }

    /// The same norms with `prefix` before every name, for a model held in a field of a
    /// bigger module (`model.` for `FashionClassifier { model }`).
    pub fn prefixed(self, prefix: &str) -> Self {
        Self {
            squares: self
                .squares
                .into_iter()
                .map(|(k, v)| (format!("{prefix}{k}"), v))
                .collect(),
        }
    }
}

/// A model that can report what each of its linear layers receives.
pub trait LinearInputs {
    /// The model's input (a batch).
    type Input;

    /// Runs `input` through the model and records every linear layer's input in `norms`,
    /// under the layer weight's module path.
    fn record_linear_inputs(&self, input: Self::Input, norms: &mut InputNorms);
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn norms_add_up_over_batches() {
        // Worked by hand: feature 0 sees 3 and 4 (norm 5), feature 1 sees 0 and 0.
        let device = Device::default();
        let mut norms = InputNorms::new();
        for row in [[3.0f32, 0.0], [4.0, 0.0]] {
            let x = Tensor::from_data(TensorData::new(row.to_vec(), [1, 2]), &device);
            norms.record("layer.weight", x);
        }
        assert_eq!(norms.norms("layer.weight"), Some(vec![5.0, 0.0]));
        assert_eq!(norms.norms("other.weight"), None);
        let prefixed = norms.prefixed("model.");
        assert_eq!(
            prefixed.names().collect::<Vec<_>>(),
            vec!["model.layer.weight"]
        );
    }
}
