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
    /// The exact GELU `z·Φ(z)` (Hendrycks & Gimpel 2016; the project's transformers).
    Gelu,
    /// GELU's tanh approximation `z/2·(1 + tanh(√(2/π)·(z + 0.044715·z³)))`, the one GPT-2
    /// was trained with (Hugging Face's `gelu_new`).
    GeluTanh,
}

/// `√(2/π)`, the tanh approximation's scale.
const TANH_SCALE: f64 = 0.797_884_560_802_865_4;
/// The tanh approximation's cubic coefficient.
const TANH_CUBIC: f64 = 0.044_715;

/// `φ(z)`, the standard normal density.
fn standard_normal_density(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

impl FeedForwardActivation {
    /// The activation of `z`.
    pub fn apply(self, z: f64) -> f64 {
        match self {
            Self::Relu => z.max(0.0),
            Self::Gelu => z * standard_normal_cdf(z),
            Self::GeluTanh => 0.5 * z * (1.0 + (TANH_SCALE * (z + TANH_CUBIC * z * z * z)).tanh()),
        }
    }

    /// Its derivative at `z` (ReLU's is taken as 0 at 0).
    pub fn derivative(self, z: f64) -> f64 {
        match self {
            Self::Relu => f64::from(u8::from(z > 0.0)),
            Self::Gelu => standard_normal_cdf(z) + z * standard_normal_density(z),
            Self::GeluTanh => {
                let (t, du) = Self::tanh_parts(z);
                0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * du
            }
        }
    }

    /// Its second derivative at `z` (ReLU's is 0 away from 0).
    pub fn second_derivative(self, z: f64) -> f64 {
        match self {
            Self::Relu => 0.0,
            Self::Gelu => standard_normal_density(z) * (2.0 - z * z),
            Self::GeluTanh => {
                // g = z/2·(1 + t), t = tanh u: g'' = s·(u' − z·t·u'² + z·u''/2), s = 1 − t².
                let (t, du) = Self::tanh_parts(z);
                let ddu = 6.0 * TANH_SCALE * TANH_CUBIC * z;
                (1.0 - t * t) * (du - z * t * du * du + 0.5 * z * ddu)
            }
        }
    }

    /// `tanh u` and `u'` for the tanh approximation's `u = √(2/π)·(z + 0.044715·z³)`.
    fn tanh_parts(z: f64) -> (f64, f64) {
        let u = TANH_SCALE * (z + TANH_CUBIC * z * z * z);
        (u.tanh(), TANH_SCALE * (1.0 + 3.0 * TANH_CUBIC * z * z))
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

    /// Both GELUs' first and second derivatives agree with central differences of the function
    /// and of the first derivative; the tanh form stays within 1e-3 of the exact one (the two
    /// differ by about 1e-4 near |z| = 2) and is not equal to it.
    #[test]
    fn derivatives_match_differences_for_both_gelus() {
        let h = 1e-5;
        for activation in [FeedForwardActivation::Gelu, FeedForwardActivation::GeluTanh] {
            for z in [-4.0, -2.0, -0.75, 0.0, 0.4, 1.3, 3.0] {
                let slope = (activation.apply(z + h) - activation.apply(z - h)) / (2.0 * h);
                assert!(
                    (activation.derivative(z) - slope).abs() < 1e-8,
                    "{activation:?} {z}"
                );
                let bend =
                    (activation.derivative(z + h) - activation.derivative(z - h)) / (2.0 * h);
                assert!(
                    (activation.second_derivative(z) - bend).abs() < 1e-6,
                    "{activation:?} {z}: {} vs {bend}",
                    activation.second_derivative(z)
                );
            }
        }
        let (exact, tanh) = (FeedForwardActivation::Gelu, FeedForwardActivation::GeluTanh);
        let gap = (-40..=40)
            .map(|k| f64::from(k) / 10.0)
            .map(|z| (exact.apply(z) - tanh.apply(z)).abs())
            .fold(0.0, f64::max);
        assert!(gap > 5e-5 && gap < 1e-3, "largest gap {gap}");
    }
}
