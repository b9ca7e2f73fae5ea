//! How many of a model's weight-matrix entries are non-zero, layer by layer: what the pruning
//! and compression examples measure on the model itself.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// Each weight matrix (parameter of rank ≥ 2) by module path: non-zero entries and entries.
pub fn layer_counts<M: Module>(model: &M) -> Vec<(String, usize, usize)> {
    #[derive(Default)]
    struct Counts {
        path: Vec<String>,
        layers: Vec<(String, usize, usize)>,
    }
    impl ModuleVisitor for Counts {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if D < 2 {
                return;
            }
            let values = param.val().into_data().convert::<f32>();
            let values = values.as_slice::<f32>().unwrap_or_default();
            let kept = values.iter().filter(|v| **v != 0.0).count();
            self.layers.push((self.path.join("."), kept, values.len()));
        }
    }
    let mut counts = Counts::default();
    model.visit(&mut counts);
    counts.layers
}

/// Non-zero entries and entries of all the weight matrices together.
pub fn total_counts<M: Module>(model: &M) -> (usize, usize) {
    layer_counts(model)
        .iter()
        .fold((0, 0), |(k, t), (_, kept, n)| (k + kept, t + n))
}
