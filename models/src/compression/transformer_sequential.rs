//! [`TransformerLm`] and [`VitClassifier`] as stacks of [`TransformerBlock`]s for calibrated
//! pruning: block `b`'s layers are `blocks.{b}.attention.{query,key,value,output}` and
//! `blocks.{b}.feed_forward.{expand,contract}`, the names of their weights in a saved
//! checkpoint less `.weight`.

use burn::nn::Linear;
use burn::tensor::{Int, Tensor};
use tempering_core::compression::{
    FeedForwardActivation, FeedForwardPair, LinearObserver, SequentialBlocks, UnitKind, UnitLayer,
};

use crate::activation::GeluApproximation;
use crate::transformer::{TransformerBlock, TransformerLm};
use crate::vit::{VitClassifier, patchify};

fn observed_block(
    blocks: &[TransformerBlock],
    b: usize,
    x: Tensor<3>,
    observe: LinearObserver<'_>,
) -> Tensor<3> {
    let mut named = |layer: &str, rows: Tensor<2>| observe(&format!("blocks.{b}.{layer}"), rows);
    blocks[b].forward_observed(x, &mut named)
}

/// Block `b`'s feed-forward: `expand → GELU → contract` (dropout is the identity when pruning),
/// with the GELU the block computes.
fn feed_forward_pair(blocks: &[TransformerBlock], b: usize) -> Vec<FeedForwardPair> {
    assert!(b < blocks.len(), "block {b} of {}", blocks.len());
    vec![FeedForwardPair {
        expand: format!("blocks.{b}.feed_forward.expand"),
        contract: format!("blocks.{b}.feed_forward.contract"),
        activation: match blocks[b].feed_forward.gelu() {
            GeluApproximation::Exact => FeedForwardActivation::Gelu,
            GeluApproximation::Tanh => FeedForwardActivation::GeluTanh,
        },
    }]
}

/// Block `b`'s unit layers: the attention output reads the heads (`d_head` inputs each), the
/// feed-forward's contract layer reads the channels; the groups are the ones
/// [`ShrinkUnits`](tempering_core::compression::ShrinkUnits) names.
fn unit_layers(blocks: &[TransformerBlock], b: usize) -> Vec<UnitLayer> {
    assert!(b < blocks.len(), "block {b} of {}", blocks.len());
    vec![
        UnitLayer {
            layer: format!("blocks.{b}.attention.output"),
            group: format!("blocks.{b}.attention.heads"),
            unit_width: blocks[b].attention.d_head,
            kind: UnitKind::AttentionHeads,
        },
        UnitLayer {
            layer: format!("blocks.{b}.feed_forward.contract"),
            group: format!("blocks.{b}.feed_forward.channels"),
            unit_width: 1,
            kind: UnitKind::FeedForwardChannels,
        },
    ]
}

fn named_linears(blocks: &mut [TransformerBlock], b: usize) -> Vec<(String, &mut Linear)> {
    blocks[b]
        .linears_mut()
        .into_iter()
        .map(|(layer, linear)| (format!("blocks.{b}.{layer}"), linear))
        .collect()
}

impl SequentialBlocks for TransformerLm {
    type Input = Tensor<2, Int>;

    fn block_count(&self) -> usize {
        self.blocks.len()
    }

    fn embed(&self, input: Tensor<2, Int>) -> Tensor<3> {
        TransformerLm::embed(self, input)
    }

    fn block_forward(&self, block: usize, x: Tensor<3>, observe: LinearObserver<'_>) -> Tensor<3> {
        observed_block(&self.blocks, block, x, observe)
    }

    fn block_linears_mut(&mut self, block: usize) -> Vec<(String, &mut Linear)> {
        named_linears(&mut self.blocks, block)
    }

    fn block_feed_forwards(&self, block: usize) -> Vec<FeedForwardPair> {
        feed_forward_pair(&self.blocks, block)
    }

    fn block_unit_layers(&self, block: usize) -> Vec<UnitLayer> {
        unit_layers(&self.blocks, block)
    }
}

impl SequentialBlocks for VitClassifier {
    /// Images `[batch, size, size]`.
    type Input = Tensor<3>;

    fn block_count(&self) -> usize {
        self.blocks.len()
    }

    fn embed(&self, input: Tensor<3>) -> Tensor<3> {
        self.embed_patches(patchify(input, self.patch_size()))
    }

    fn block_forward(&self, block: usize, x: Tensor<3>, observe: LinearObserver<'_>) -> Tensor<3> {
        observed_block(&self.blocks, block, x, observe)
    }

    fn block_linears_mut(&mut self, block: usize) -> Vec<(String, &mut Linear)> {
        named_linears(&mut self.blocks, block)
    }

    fn block_feed_forwards(&self, block: usize) -> Vec<FeedForwardPair> {
        feed_forward_pair(&self.blocks, block)
    }

    fn block_unit_layers(&self, block: usize) -> Vec<UnitLayer> {
        unit_layers(&self.blocks, block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transformer::TransformerLmConfig;
    use crate::vit::VitClassifierConfig;
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::{Device, Distribution, Tolerance};

    /// Running the blocks one by one through the seam is the model's own forward pass, and
    /// every linear layer is observed once per block with its own input width, under the name
    /// its weight has in the module.
    #[test]
    fn blocks_one_by_one_equal_the_forward_pass() {
        let device = Device::default();
        let mut model = TransformerLmConfig::new(11)
            .with_context(8)
            .with_d_model(16)
            .with_n_layers(2)
            .with_n_heads(2)
            .with_d_ff(Some(24))
            .init(&device);
        let tokens = Tensor::<2>::random([3, 8], Distribution::Uniform(0.0, 11.0), &device).int();
        let mut x = SequentialBlocks::embed(&model, tokens.clone());
        let mut seen = Vec::new();
        for b in 0..model.block_count() {
            x = model.block_forward(b, x, &mut |name, rows| {
                seen.push((name.to_string(), rows.dims()));
            });
        }
        model
            .logits(x)
            .into_data()
            .assert_approx_eq::<f32>(&model.forward(tokens).into_data(), Tolerance::default());
        assert_eq!(seen.len(), 12);
        assert_eq!(seen[3], ("blocks.0.attention.output".into(), [24, 16]));
        assert_eq!(seen[5], ("blocks.0.feed_forward.contract".into(), [24, 24]));
        let observed: Vec<String> = seen.into_iter().map(|(name, _)| name).collect();
        let linear_names: Vec<String> = (0..2)
            .flat_map(|b| {
                let names: Vec<String> = model
                    .block_linears_mut(b)
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect();
                names
            })
            .collect();
        assert_eq!(observed, linear_names);
        // The feed-forward pair names two of the block's layers, expand before contract.
        let pair = &model.block_feed_forwards(1)[0];
        let at = |name: &str| linear_names.iter().position(|n| n == name);
        assert!(at(&pair.expand).unwrap() + 1 == at(&pair.contract).unwrap());
        assert_eq!(pair.activation, FeedForwardActivation::Gelu);
        // The names are the module paths of the weights, less `.weight`.
        let mut paths = WeightPaths(Vec::new(), Vec::new());
        model.visit(&mut paths);
        let paths = paths.0;
        assert!(paths.contains(&"blocks.1.feed_forward.expand.weight".to_string()));
        assert!(
            linear_names
                .iter()
                .all(|n| paths.contains(&format!("{n}.weight")))
        );
    }

    /// Every float parameter's module path, as a checkpoint names it.
    struct WeightPaths(Vec<String>, Vec<String>);

    impl ModuleVisitor for WeightPaths {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.1.push(name.to_string());
        }

        fn exit_module(&mut self, _: &str, _: &str) {
            self.1.pop();
        }

        fn visit_float<const D: usize>(&mut self, _: &Param<Tensor<D>>) {
            self.0.push(self.1.join("."));
        }
    }

    #[test]
    fn the_vit_embeds_patches_for_its_blocks() {
        let device = Device::default();
        let model = VitClassifierConfig::new()
            .with_image_size(8)
            .with_patch_size(4)
            .with_d_model(16)
            .with_n_layers(1)
            .with_n_heads(2)
            .init(&device);
        let images = Tensor::<3>::random([2, 8, 8], Distribution::Default, &device);
        let x = SequentialBlocks::embed(&model, images.clone());
        let mut layers = 0;
        let x = model.block_forward(0, x, &mut |_, _| layers += 1);
        model
            .classify_tokens(x)
            .into_data()
            .assert_approx_eq::<f32>(&model.forward(images).into_data(), Tolerance::default());
        assert_eq!(layers, 6);
    }
}
