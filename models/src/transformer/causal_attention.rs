//! Causal multi-head self-attention whose head count and head width are free of `d_model`.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, RotaryEncoding, RotaryEncodingConfig};
use burn::tensor::{Device, Tensor};
use tempering_core::compression::LinearObserver;

use super::gpt_init;
use super::host_attention::attention_by_position;
use super::projection::Projection;
pub use super::scaled_dot_product::scaled_dot_product_attention;
use super::token_linear::token_linear;

/// Configuration of a [`CausalSelfAttention`].
#[derive(Config, Debug)]
pub struct CausalSelfAttentionConfig {
    /// Width of the residual stream.
    pub d_model: usize,
    /// Number of heads.
    pub n_heads: usize,
    /// Width of each head's queries, keys and values.
    pub d_head: usize,
    /// Dropout on the output projection.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Standard deviation of the query, key and value weights (biases start at zero).
    #[config(default = 0.02)]
    pub init_std: f64,
    /// Standard deviation of the output projection's weights (GPT-2 divides by √(2·layers)).
    #[config(default = 0.02)]
    pub output_init_std: f64,
    /// Whether position `t` sees only `0..=t` (a decoder); off, every position sees all (an
    /// encoder, as in a ViT).
    #[config(default = true)]
    pub causal: bool,
    /// Rotate queries and keys by position (rotary encoding, Su et al., "RoFormer", 2021, with
    /// Burn's `RotaryEncoding`) for inputs of up to this many tokens; `None` leaves positions to
    /// the caller (learned position embeddings).
    #[config(default = "None")]
    pub rotary_context: Option<usize>,
}

impl CausalSelfAttentionConfig {
    /// Builds the layer on `device`.
    ///
    /// # Panics
    /// If a width or the head count is zero.
    pub fn init(&self, device: &Device) -> CausalSelfAttention {
        assert!(
            self.d_model > 0 && self.n_heads > 0 && self.d_head > 0,
            "CausalSelfAttentionConfig: d_model, n_heads and d_head must be positive"
        );
        assert!(
            self.rotary_context.is_none() || self.d_head.is_multiple_of(2),
            "CausalSelfAttentionConfig: rotary positions need an even d_head, not {}",
            self.d_head
        );
        let inner = self.n_heads * self.d_head;
        let projection = || gpt_init::linear(self.d_model, inner, self.init_std, device);
        CausalSelfAttention {
            query: projection(),
            key: projection(),
            value: projection(),
            output: gpt_init::linear(inner, self.d_model, self.output_init_std, device),
            dropout: DropoutConfig::new(self.dropout).init(),
            n_heads: self.n_heads,
            d_head: self.d_head,
            causal: self.causal,
            rotary: self
                .rotary_context
                .map(|context| RotaryEncodingConfig::new(context, self.d_head).init(device)),
        }
    }
}

/// Causal self-attention: head `h` reads columns `h·d_head .. (h+1)·d_head` of the query, key
/// and value projections and writes rows of the same range of the output projection's input.
///
/// The projections are Burn's dense `Linear`s; a compressed model holds another
/// [`Projection`] (ALDS factors, [`LinearLayer`](crate::LinearLayer)).
#[derive(Module, Debug)]
pub struct CausalSelfAttention<P = Linear> {
    /// `[d_model, n_heads·d_head]`.
    pub query: P,
    /// `[d_model, n_heads·d_head]`.
    pub key: P,
    /// `[d_model, n_heads·d_head]`.
    pub value: P,
    /// `[n_heads·d_head, d_model]`.
    pub output: P,
    dropout: Dropout,
    /// Number of heads.
    pub n_heads: usize,
    /// Width of one head.
    pub d_head: usize,
    /// Whether the mask is causal (see [`CausalSelfAttentionConfig::causal`]).
    pub causal: bool,
    /// The rotary encoding of queries and keys, if positions are rotary.
    pub rotary: Option<RotaryEncoding>,
}

impl<P: Projection> CausalSelfAttention<P> {
    /// `[batch, time, d_model]` → `[batch, time, d_model]`; position `t` attends to `0..=t`
    /// (to every position when not causal).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.forward_observed(x, None)
    }

    /// [`forward`](Self::forward), showing `observe` each projection's input as rows
    /// `[batch·time, d_in]` under the projection's field name (`query`, `key`, `value`,
    /// `output`), as calibrated pruning gathers them.
    pub fn forward_observed(
        &self,
        x: Tensor<3>,
        mut observe: Option<LinearObserver<'_>>,
    ) -> Tensor<3> {
        let [batch, time, d_model] = x.dims();
        if let Some(observe) = observe.as_mut() {
            let rows = x.clone().reshape([batch * time, d_model]);
            for name in ["query", "key", "value"] {
                observe(name, rows.clone());
            }
        }
        let inner = self.n_heads * self.d_head;
        let by_position = |y: Tensor<3>| y.reshape([batch, time, self.n_heads, self.d_head]);
        let mut query = by_position(token_linear(&self.query, x.clone()));
        let mut key = by_position(token_linear(&self.key, x.clone()));
        if let Some(rotary) = &self.rotary {
            query = rotary.forward(query.swap_dims(1, 2)).swap_dims(1, 2);
            key = rotary.forward(key.swap_dims(1, 2)).swap_dims(1, 2);
        }
        let value = by_position(token_linear(&self.value, x));
        let context = attention_by_position(query, key, value, self.causal);
        let context = context.reshape([batch, time, inner]);
        if let Some(observe) = observe {
            observe("output", context.clone().reshape([batch * time, inner]));
        }
        self.dropout.forward(token_linear(&self.output, context))
    }
    /// The same attention with each projection replaced by `f(field name, projection)`
    /// (`query`, `key`, `value`, `output`).
    pub fn map_projections<Q>(self, mut f: impl FnMut(&str, P) -> Q) -> CausalSelfAttention<Q> {
        CausalSelfAttention {
            query: f("query", self.query),
            key: f("key", self.key),
            value: f("value", self.value),
            output: f("output", self.output),
            dropout: self.dropout,
            n_heads: self.n_heads,
            d_head: self.d_head,
            causal: self.causal,
            rotary: self.rotary,
        }
    }
}
