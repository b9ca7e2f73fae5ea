//! Filters of [`MultitaskCnn`]: filter `c` of layer `l` is output channel `c` of `layers[l].conv`,
//! channel `c` of its batch norm, and input channel `c` of the next convolution (or, after the
//! last one, row `c` of every head). A filter is scored by its own weights (filter pruning as
//! Li et al., "Pruning Filters for Efficient ConvNets", ICLR 2017, and PAGCP's L1 strategy score
//! it).

use tempering_core::compression::conv_units::{
    conv_output_scores, keep_conv_inputs, keep_conv_outputs, keep_norm_channels,
};
use tempering_core::compression::linear_units::keep_input_units;
use tempering_core::compression::{
    CompressionError, ShrinkUnits, UnitGroup, UnitImportance, check_keep,
};

use crate::multitask_cnn::{MultitaskCnn, MultitaskCnnConfig};

impl ShrinkUnits for MultitaskCnn {
    type Config = MultitaskCnnConfig;

    /// `layers.{l}`: the filters of each convolution.
    fn unit_counts(&self) -> Vec<(String, usize)> {
        self.layers
            .iter()
            .enumerate()
            .map(|(l, layer)| (format!("layers.{l}"), layer.conv.weight.dims()[0]))
            .collect()
    }

    fn unit_groups(&self, importance: UnitImportance) -> Vec<UnitGroup> {
        self.layers
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                let sums = conv_output_scores(&layer.conv, importance);
                UnitGroup::from_sums(format!("layers.{l}"), sums, importance)
            })
            .collect()
    }

    fn shrink_units(
        self,
        config: &MultitaskCnnConfig,
        keep: &[Vec<usize>],
    ) -> Result<(Self, MultitaskCnnConfig), CompressionError> {
        check_keep(&self.unit_counts(), keep)?;
        let shrunk_config = config
            .clone()
            .with_widths(keep.iter().map(Vec::len).collect());
        let mut layers = self.layers;
        let mut heads = self.heads;
        for (l, kept) in keep.iter().enumerate() {
            let layer = &mut layers[l];
            layer.conv = keep_conv_outputs(layer.conv.clone(), kept);
            layer.norm = keep_norm_channels(layer.norm.clone(), kept);
            match layers.get_mut(l + 1) {
                Some(next) => next.conv = keep_conv_inputs(next.conv.clone(), kept),
                None => {
                    heads = heads
                        .into_iter()
                        .map(|head| keep_input_units(head, kept, 1))
                        .collect()
                }
            }
        }
        let shrunk = MultitaskCnn { layers, heads };
        Ok((shrunk, shrunk_config))
    }
}
