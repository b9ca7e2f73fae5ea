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
}
