//! One pre-norm transformer block: `x + attention(norm(x))`, then `x + feed_forward(norm(x))`.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Tensor};

use super::causal_attention::{CausalSelfAttention, CausalSelfAttentionConfig};
use super::feed_forward::{FeedForward, FeedForwardConfig};

/// The widths of one block: what structured pruning changes.
#[derive(Config, Debug, PartialEq)]
pub struct BlockWidths {
    /// Attention heads.
    pub n_heads: usize,
    /// Feed-forward hidden channels.
    pub d_ff: usize,
}

/// A pre-norm block (GPT-2 layout).
#[derive(Module, Debug)]
pub struct TransformerBlock {
    /// Norm before attention.
    pub attention_norm: LayerNorm,
    /// Causal self-attention.
    pub attention: CausalSelfAttention,
    /// Norm before the feed-forward.
    pub feed_forward_norm: LayerNorm,
    /// Feed-forward.
    pub feed_forward: FeedForward,
}

impl TransformerBlock {
    /// A block of the given widths.
    pub(crate) fn new(
        d_model: usize,
        d_head: usize,
        widths: &BlockWidths,
        dropout: f64,
        (init_std, output_init_std): (f64, f64),
        causal: bool,
        device: &Device,
    ) -> Self {
        Self {
            attention_norm: LayerNormConfig::new(d_model).init(device),
            attention: CausalSelfAttentionConfig::new(d_model, widths.n_heads, d_head)
                .with_dropout(dropout)
                .with_init_std(init_std)
                .with_output_init_std(output_init_std)
                .with_causal(causal)
                .init(device),
            feed_forward_norm: LayerNormConfig::new(d_model).init(device),
            feed_forward: FeedForwardConfig::new(d_model, widths.d_ff)
                .with_dropout(dropout)
                .with_init_std(init_std)
                .with_output_init_std(output_init_std)
                .init(device),
        }
    }

    /// `[batch, time, d_model]` → `[batch, time, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = x.clone() + self.attention.forward(self.attention_norm.forward(x));
        x.clone() + self.feed_forward.forward(self.feed_forward_norm.forward(x))
    }

    /// The block's widths.
    pub fn widths(&self) -> BlockWidths {
        BlockWidths::new(
            self.attention.n_heads,
            self.feed_forward.expand.weight.dims()[1],
        )
    }
}
