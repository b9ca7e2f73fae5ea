//! One pre-norm transformer block: `x + attention(norm(x))`, then `x + feed_forward(norm(x))`.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{Device, Tensor};
use tempering_core::compression::LinearObserver;

use super::causal_attention::{CausalSelfAttention, CausalSelfAttentionConfig};
use super::feed_forward::{FeedForward, FeedForwardConfig};
use super::host_layer_norm::{NORM_EPSILON, apply_layer_norm, layer_norm};
use super::projection::Projection;
use crate::activation::GeluApproximation;

/// The widths of one block: what structured pruning changes.
#[derive(Config, Debug, PartialEq)]
pub struct BlockWidths {
    /// Attention heads.
    pub n_heads: usize,
    /// Feed-forward hidden channels.
    pub d_ff: usize,
}

impl BlockWidths {
    /// The parameters of a block of these widths in a residual stream of `d_model` with heads
    /// of `d_head`, computed without building it: q, k, v and the output projection (weights
    /// and biases), the feed-forward's two layers, two layer norms. `None` on overflow.
    pub fn parameter_count(&self, d_model: usize, d_head: usize) -> Option<usize> {
        let (d, d_ff) = (d_model, self.d_ff);
        let inner = self.n_heads.checked_mul(d_head)?;
        let attention = 3usize
            .checked_mul(d.checked_mul(inner)?.checked_add(inner)?)?
            .checked_add(inner.checked_mul(d)?.checked_add(d)?)?;
        let feed_forward = d
            .checked_mul(d_ff)?
            .checked_add(d_ff)?
            .checked_add(d_ff.checked_mul(d)?.checked_add(d)?)?;
        attention
            .checked_add(feed_forward)?
            .checked_add(d.checked_mul(4)?)
    }
}

/// A pre-norm block (GPT-2 layout), its linear layers of type `P` (see [`Projection`]).
#[derive(Module, Debug)]
pub struct TransformerBlock<P = Linear> {
    /// Norm before attention.
    pub attention_norm: LayerNorm,
    /// Causal self-attention.
    pub attention: CausalSelfAttention<P>,
    /// Norm before the feed-forward.
    pub feed_forward_norm: LayerNorm,
    /// Feed-forward.
    pub feed_forward: FeedForward<P>,
}

/// A regex matching the module path of every block linear layer's weight in a
/// [`TransformerLm`](super::TransformerLm) (`blocks.0.attention.query.weight`): the weights the
/// calibrated and low-rank passes compress.
pub const BLOCK_LINEAR_WEIGHTS: &str =
    r"^blocks\.[0-9]+\.(attention|feed_forward)\.[a-z_]+\.weight$";

/// The paths of a block's linear layers within the block, in the order it applies them.
pub const BLOCK_LINEARS: [&str; 6] = [
    "attention.query",
    "attention.key",
    "attention.value",
    "attention.output",
    "feed_forward.expand",
    "feed_forward.contract",
];

/// What a model decides for all of its blocks alike.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockSettings {
    pub d_model: usize,
    pub d_head: usize,
    pub dropout: f64,
    /// Standard deviation of the input-side weights.
    pub init_std: f64,
    /// Standard deviation of the projections into the residual stream.
    pub output_init_std: f64,
    /// Causal mask (a decoder) or none (an encoder).
    pub causal: bool,
    /// Rotary positions for inputs of up to this many tokens.
    pub rotary_context: Option<usize>,
    /// The feed-forward's GELU.
    pub gelu: GeluApproximation,
}

impl TransformerBlock {
    /// A block of the given widths.
    pub(crate) fn new(s: &BlockSettings, widths: &BlockWidths, device: &Device) -> Self {
        Self {
            attention_norm: layer_norm(s.d_model, device),
            attention: CausalSelfAttentionConfig::new(s.d_model, widths.n_heads, s.d_head)
                .with_dropout(s.dropout)
                .with_init_std(s.init_std)
                .with_output_init_std(s.output_init_std)
                .with_causal(s.causal)
                .with_rotary_context(s.rotary_context)
                .init(device),
            feed_forward_norm: layer_norm(s.d_model, device),
            feed_forward: FeedForwardConfig::new(s.d_model, widths.d_ff)
                .with_dropout(s.dropout)
                .with_init_std(s.init_std)
                .with_output_init_std(s.output_init_std)
                .with_gelu(s.gelu)
                .init(device),
        }
    }
}

impl<P: Projection> TransformerBlock<P> {
    /// `[batch, time, d_model]` → `[batch, time, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let attention_in = apply_layer_norm(&self.attention_norm, x.clone(), NORM_EPSILON);
        let x = x + self.attention.forward(attention_in);
        let feed_forward_in = apply_layer_norm(&self.feed_forward_norm, x.clone(), NORM_EPSILON);
        x + self.feed_forward.forward(feed_forward_in)
    }

    /// [`forward`](Self::forward), showing `observe` every linear layer's input as rows
    /// `[batch·time, d_in]` under its path in the block (`attention.query`, …,
    /// `feed_forward.contract`).
    pub fn forward_observed(&self, x: Tensor<3>, observe: LinearObserver<'_>) -> Tensor<3> {
        let attention_in = apply_layer_norm(&self.attention_norm, x.clone(), NORM_EPSILON);
        let mut attention_observer =
            |name: &str, rows: Tensor<2>| observe(&format!("attention.{name}"), rows);
        let x = x + self
            .attention
            .forward_observed(attention_in, Some(&mut attention_observer));
        let feed_forward_in = apply_layer_norm(&self.feed_forward_norm, x.clone(), NORM_EPSILON);
        let mut feed_forward_observer =
            |name: &str, rows: Tensor<2>| observe(&format!("feed_forward.{name}"), rows);
        x + self
            .feed_forward
            .forward_observed(feed_forward_in, Some(&mut feed_forward_observer))
    }

    /// The block's linear layers by their path in the block ([`BLOCK_LINEARS`]).
    pub fn linears_mut(&mut self) -> Vec<(&'static str, &mut P)> {
        let a = &mut self.attention;
        let f = &mut self.feed_forward;
        let layers = [
            &mut a.query,
            &mut a.key,
            &mut a.value,
            &mut a.output,
            &mut f.expand,
            &mut f.contract,
        ];
        BLOCK_LINEARS.into_iter().zip(layers).collect()
    }

    /// The block's linear layers by their path in the block ([`BLOCK_LINEARS`]).
    pub fn linears(&self) -> Vec<(&'static str, &P)> {
        let (a, f) = (&self.attention, &self.feed_forward);
        let layers = [
            &a.query,
            &a.key,
            &a.value,
            &a.output,
            &f.expand,
            &f.contract,
        ];
        BLOCK_LINEARS.into_iter().zip(layers).collect()
    }

    /// The block's widths.
    pub fn widths(&self) -> BlockWidths {
        BlockWidths::new(self.attention.n_heads, self.feed_forward.expand.d_output())
    }

    /// Blocks `blocks` (a model's, in order) with each linear layer replaced by `f(module path,
    /// layer)`, the path `blocks.{b}.{path in the block}` (`blocks.0.attention.query`).
    pub fn map_all<Q>(
        blocks: Vec<Self>,
        mut f: impl FnMut(&str, P) -> Q,
    ) -> Vec<TransformerBlock<Q>> {
        blocks
            .into_iter()
            .enumerate()
            .map(|(b, block)| {
                block.map_projections(|name, layer| f(&format!("blocks.{b}.{name}"), layer))
            })
            .collect()
    }

    /// The same block with each linear layer replaced by `f(path in the block, layer)` (paths
    /// as in [`BLOCK_LINEARS`]).
    pub fn map_projections<Q>(self, mut f: impl FnMut(&str, P) -> Q) -> TransformerBlock<Q> {
        TransformerBlock {
            attention_norm: self.attention_norm,
            attention: self
                .attention
                .map_projections(|name, p| f(&format!("attention.{name}"), p)),
            feed_forward_norm: self.feed_forward_norm,
            feed_forward: self
                .feed_forward
                .map_projections(|name, p| f(&format!("feed_forward.{name}"), p)),
        }
    }
}
