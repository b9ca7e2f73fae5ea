//! A decoder-only transformer language model (GPT-2 / nanoGPT layout: token and learned position
//! embeddings, pre-norm blocks of causal self-attention and a GELU feed-forward, a final norm,
//! an optionally tied output head), after Vaswani et al., "Attention Is All You Need" (2017)
//! and Radford et al., "Language Models are Unsupervised Multitask Learners" (2019).
//!
//! Heads and feed-forward widths may differ per block and the head width is independent of
//! `d_model`, so a structurally pruned model (fewer heads, fewer channels) is still this model,
//! with a config that says its widths. Burn's `MultiHeadAttention` fixes
//! `n_heads · d_head = d_model`, which is why the attention here is our own (on Burn's fused
//! `attention` op).

#[cfg(feature = "flex")]
mod attention_kernel;
pub mod block;
pub mod causal_attention;
pub mod factorized_blocks;
pub mod factorized_lm;
pub mod feed_forward;
pub mod gpt_init;
mod held_out_loss;
pub mod hf_gpt2;
pub mod host_attention;
pub mod host_layer_norm;
pub mod host_linear;
pub mod language_model;
#[cfg(feature = "flex")]
mod layer_norm_kernel;
#[cfg(feature = "flex")]
mod linear_kernel;
pub mod projection;
pub mod sampling;
mod saved_char_lm;
mod scaled_dot_product;
pub mod token_linear;

pub use block::{BlockWidths, TransformerBlock};
pub use causal_attention::{CausalSelfAttention, CausalSelfAttentionConfig};
pub use factorized_blocks::FactorizedLayer;
pub use factorized_lm::FactorizedLmConfig;
pub use feed_forward::{FeedForward, FeedForwardConfig};
pub use language_model::{Positions, TransformerLm, TransformerLmConfig};
pub use projection::Projection;
pub use sampling::Sampling;
pub use saved_char_lm::SavedCharLm;
