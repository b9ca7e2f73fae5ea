//! Models built as a stack of blocks, which calibrated pruning visits one block at a time.
//!
//! SparseGPT and Wanda (and the methods built on them) compress a transformer block by block:
//! the calibration inputs are embedded once, then for each block every linear layer's inputs
//! are gathered by running the (still dense) block, the layers are pruned, and the pruned block
//! is run again to give the next block its inputs (IST-DASLab/sparsegpt `opt.py`
//! `opt_sequential`; locuslab/wanda `lib/prune.py` `prune_wanda`). Only one block's
//! activations are held at a time. [`SequentialBlocks`] is what a model offers that loop.

use burn::nn::Linear;
use burn::tensor::Tensor;

/// What a block calls with each linear layer's input rows `[tokens, d_in]`, and the layer's
/// name.
pub type LinearObserver<'a> = &'a mut dyn FnMut(&str, Tensor<2>);

/// The elementwise nonlinearity between the two linear layers of a feed-forward pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedForwardActivation {
    /// `max(z, 0)` (OPT's feed-forward, the one SparseLLM's official code treats).
    Relu,
    /// The exact GELU `z·Φ(z)` (Hendrycks & Gimpel 2016; GPT-2's and the project's transformers).
    Gelu,
}

impl FeedForwardActivation {
    /// The activation of `z`.
    pub fn apply(self, z: f64) -> f64 {
        match self {
            Self::Relu => z.max(0.0),
            Self::Gelu => z * standard_normal_cdf(z),
        }
    }

    /// Its derivative at `z` (ReLU's is taken as 0 at 0).
    pub fn derivative(self, z: f64) -> f64 {
        match self {
            Self::Relu => f64::from(u8::from(z > 0.0)),
            Self::Gelu => {
                let density = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
                standard_normal_cdf(z) + z * density
            }
        }
    }
}

/// `Φ(z) = (1 + erf(z/√2))/2`.
fn standard_normal_cdf(z: f64) -> f64 {
    0.5 * (1.0 + libm::erf(z / std::f64::consts::SQRT_2))
}

/// Two linear layers of a block with an elementwise activation between them and nothing else:
/// `contract(act(expand(x)))`, the feed-forward that SparseLLM prunes jointly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedForwardPair {
    /// The first layer's full name (as in [`SequentialBlocks::block_linears_mut`]).
    pub expand: String,
    /// The second layer's full name; its input is `activation` of the first one's output.
    pub contract: String,
    /// The nonlinearity between them.
    pub activation: FeedForwardActivation,
}

/// What kind of units a [`UnitLayer`] reads: structured pruning treats the two differently
/// (Týr-the-Pruner updates its attention-head choice in one pass and its channel choice in
/// several, and only exchanges sparsity between layers of the same kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitKind {
    /// Attention heads: each unit is `d_head` consecutive inputs of the attention's output
    /// projection.
    AttentionHeads,
    /// Feed-forward channels: each unit is one input of the feed-forward's second layer.
    FeedForwardChannels,
}

/// A linear layer whose inputs are a block's removable units, in groups of `unit_width`
/// consecutive inputs: removing unit `u` removes inputs `u·unit_width..(u+1)·unit_width` of
/// this layer and whatever produced them (the coupled rows elsewhere in the block), as the
/// model's [`ShrinkUnits`](super::ShrinkUnits) group `group` does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitLayer {
    /// The layer's full name (as in [`SequentialBlocks::block_linears_mut`]).
    pub layer: String,
    /// The [`ShrinkUnits`](super::ShrinkUnits) group these units are, by name.
    pub group: String,
    /// Inputs per unit (`d_head` for heads, 1 for channels).
    pub unit_width: usize,
    /// Heads or channels.
    pub kind: UnitKind,
}

/// A model whose hidden state passes through a stack of blocks of linear layers.
///
/// Layer names are module paths without the `.weight` suffix, e.g. `blocks.0.attention.query`
/// for a `Linear` field `query` of the field `attention` of block 0, so that a name plus
/// `.weight` is the name of the weight in a saved checkpoint.
pub trait SequentialBlocks {
    /// One calibration batch (token ids for a language model, images for a ViT).
    type Input;

    /// The number of blocks.
    fn block_count(&self) -> usize;

    /// The hidden state `[batch, tokens, width]` that enters block 0 for `input`.
    fn embed(&self, input: Self::Input) -> Tensor<3>;

    /// Runs block `block` on `x`, calling `observe(layer, inputs)` with every linear layer's
    /// input as rows `[batch·tokens, d_in]`, `layer` the layer's full name.
    ///
    /// # Panics
    /// If `block` is not below [`block_count`](Self::block_count).
    fn block_forward(&self, block: usize, x: Tensor<3>, observe: LinearObserver<'_>) -> Tensor<3>;

    /// The linear layers of block `block`, by full name, in the order the block applies them.
    ///
    /// # Panics
    /// If `block` is not below [`block_count`](Self::block_count).
    fn block_linears_mut(&mut self, block: usize) -> Vec<(String, &mut Linear)>;

    /// The feed-forward pairs of block `block` (none unless the model names them): methods
    /// that prune a pair jointly (SparseLLM) need to know which layers feed which.
    fn block_feed_forwards(&self, block: usize) -> Vec<FeedForwardPair> {
        let _ = block;
        Vec::new()
    }

    /// The layers of block `block` whose inputs are removable units (none unless the model
    /// names them): structured methods that choose units from calibration data (Týr-the-Pruner)
    /// score and refit these layers.
    fn block_unit_layers(&self, block: usize) -> Vec<UnitLayer> {
        let _ = block;
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::FeedForwardActivation;

    #[test]
    fn gelu_and_its_derivative_match_known_values() {
        // GELU(1) = Φ(1) = 0.841344746068543 (standard normal tables); GELU(−1) = −(1 − Φ(1)).
        let gelu = FeedForwardActivation::Gelu;
        assert!((gelu.apply(1.0) - 0.841_344_746_068_543).abs() < 1e-12);
        assert!((gelu.apply(-1.0) + 0.158_655_253_931_457).abs() < 1e-12);
        for z in [-3.0, -0.75, 0.0, 0.4, 2.5] {
            let h = 1e-6;
            let numeric = (gelu.apply(z + h) - gelu.apply(z - h)) / (2.0 * h);
            assert!((gelu.derivative(z) - numeric).abs() < 1e-8, "z = {z}");
        }
        let relu = FeedForwardActivation::Relu;
        assert_eq!((relu.apply(-2.0), relu.apply(3.0)), (0.0, 3.0));
        assert_eq!((relu.derivative(-2.0), relu.derivative(3.0)), (0.0, 1.0));
    }
}
