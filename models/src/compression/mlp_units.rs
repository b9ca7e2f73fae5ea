//! Hidden neurons of [`MlpClassifier`]: neuron `j` of hidden layer `l` is column `j` and bias
//! `j` of `hidden[l]` and row `j` of the next layer (`hidden[l + 1]` or `head`).

use burn::module::Module;
use tempering_core::compression::linear_units::{
    add_scores, input_unit_scores, keep_input_units, keep_output_units, output_unit_scores,
};
use tempering_core::compression::{
    CompressionError, ShrinkUnits, UnitGroup, UnitImportance, check_keep,
};

use crate::{MlpClassifier, MlpClassifierConfig};

impl ShrinkUnits for MlpClassifier {
    type Config = MlpClassifierConfig;

    fn unit_counts(&self) -> Vec<(String, usize)> {
        self.hidden
            .iter()
            .enumerate()
            .map(|(l, layer)| (format!("hidden.{l}"), layer.weight.dims()[1]))
            .collect()
    }

    fn unit_groups(&self, importance: UnitImportance) -> Vec<UnitGroup> {
        self.unit_counts()
            .into_iter()
            .enumerate()
            .map(|(l, (name, _))| {
                let next = self.hidden.get(l + 1).unwrap_or(&self.head);
                let mut scores = output_unit_scores(&self.hidden[l], 1, importance);
                add_scores(&mut scores, input_unit_scores(next, 1, importance));
                UnitGroup::from_sums(name, scores, importance)
            })
            .collect()
    }

    fn shrink_units(
        self,
        config: &MlpClassifierConfig,
        keep: &[Vec<usize>],
    ) -> Result<(Self, MlpClassifierConfig), CompressionError> {
        check_keep(&self.unit_counts(), keep)?;
        let device = self.devices()[0].clone();
        let shrunk_config = config
            .clone()
            .with_hidden_sizes(keep.iter().map(Vec::len).collect());
        let mut shrunk = shrunk_config.init(&device);
        let mut layers: Vec<_> = self.hidden.into_iter().chain([self.head]).collect();
        for (l, kept) in keep.iter().enumerate() {
            layers[l] = keep_output_units(layers[l].clone(), kept, 1);
            layers[l + 1] = keep_input_units(layers[l + 1].clone(), kept, 1);
        }
        shrunk.head = layers.pop().expect("the head is the last layer");
        shrunk.hidden = layers;
        Ok((shrunk, shrunk_config))
    }
}
