//! The decoder-only language model: embeddings, blocks, final norm, output head.

use burn::config::Config;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, Linear, LinearConfig,
};
use burn::tensor::{Device, Int, Tensor};

use super::block::{BlockSettings, BlockWidths, TransformerBlock};
use super::gpt_init;
use super::host_layer_norm::{NORM_EPSILON, apply_layer_norm, layer_norm};
use super::projection::Projection;
use crate::activation::GeluApproximation;

/// How a [`TransformerLm`] knows where each token is.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Positions {
    /// A learned vector per position, added to the token embedding (GPT-2, nanoGPT).
    Learned,
    /// Queries and keys rotated by position in every attention layer (rotary encoding, Su et
    /// al., "RoFormer", 2021); no position parameters.
    Rotary,
}

/// Configuration of a [`TransformerLm`]; the defaults are nanoGPT's small CPU scale (4 layers,
/// 4 heads, d 128, context 64, tied embeddings).
#[derive(Config, Debug)]
pub struct TransformerLmConfig {
    /// Number of token ids.
    pub vocab_size: usize,
    /// Longest input, in tokens (learned positions).
    #[config(default = 64)]
    pub context: usize,
    /// Width of the residual stream.
    #[config(default = 128)]
    pub d_model: usize,
    /// Number of blocks.
    #[config(default = 4)]
    pub n_layers: usize,
    /// Heads per block (unless `block_widths` says otherwise).
    #[config(default = 4)]
    pub n_heads: usize,
    /// Width of a head [default: `d_model / n_heads`].
    #[config(default = "None")]
    pub d_head: Option<usize>,
    /// Feed-forward channels per block (unless `block_widths` says otherwise) [default:
    /// `4 · d_model`].
    #[config(default = "None")]
    pub d_ff: Option<usize>,
    /// Dropout on embeddings, attention output and feed-forward output.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Share the token embedding with the output head (GPT-2, nanoGPT).
    #[config(default = true)]
    pub tie_embeddings: bool,
    /// Per-block widths, one entry per block; empty means every block has `n_heads` and
    /// `d_ff`. Structured pruning writes it.
    #[config(default = "Vec::new()")]
    pub block_widths: Vec<BlockWidths>,
    /// Standard deviation of the initial weights and embeddings (GPT-2's 0.02; the residual
    /// projections get it divided by √(2·n_layers), biases start at zero).
    #[config(default = 0.02)]
    pub init_std: f64,
    /// Learned position embeddings or rotary encoding.
    #[config(default = "Positions::Learned")]
    pub positions: Positions,
    /// The feed-forward's GELU: exact, or GPT-2's tanh approximation (a Hugging Face GPT-2
    /// checkpoint's `gelu_new`).
    #[config(default = "GeluApproximation::Exact")]
    pub gelu: GeluApproximation,
}

impl TransformerLmConfig {
    /// Width of a head.
    pub fn head_width(&self) -> usize {
        self.d_head.unwrap_or(self.d_model / self.n_heads.max(1))
    }

    /// The widths of every block.
    pub fn widths(&self) -> Vec<BlockWidths> {
        if self.block_widths.is_empty() {
            let d_ff = self.d_ff.unwrap_or(4 * self.d_model);
            (0..self.n_layers)
                .map(|_| BlockWidths::new(self.n_heads, d_ff))
                .collect()
        } else {
            self.block_widths.clone()
        }
    }

    /// The number of parameters the model would have, computed without building it (or its
    /// list of block widths); `None` when it overflows `usize`. A reader of an untrusted config
    /// compares this with what the checkpoint can hold before calling [`init`](Self::init).
    pub fn parameter_count(&self) -> Option<usize> {
        let d = self.d_model;
        let d_head = self.d_head.unwrap_or(d / self.n_heads.max(1));
        let norm = d.checked_mul(2)?;
        let block =
            |heads: usize, d_ff: usize| BlockWidths::new(heads, d_ff).parameter_count(d, d_head);
        let blocks = if self.block_widths.is_empty() {
            let d_ff = self.d_ff.unwrap_or(d.checked_mul(4)?);
            block(self.n_heads, d_ff)?.checked_mul(self.n_layers)?
        } else {
            self.block_widths.iter().try_fold(0usize, |total, w| {
                total.checked_add(block(w.n_heads, w.d_ff)?)
            })?
        };
        let embeddings = self.vocab_size.checked_mul(d)?;
        let positions = match self.positions {
            Positions::Learned => self.context.checked_mul(d)?,
            Positions::Rotary => 0,
        };
        let head = if self.tie_embeddings { 0 } else { embeddings };
        embeddings
            .checked_add(positions)?
            .checked_add(blocks)?
            .checked_add(norm)?
            .checked_add(head)
    }

    /// Why this config cannot build a model, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.vocab_size == 0 || self.context == 0 || self.d_model == 0 || self.n_layers == 0 {
            return Err("vocab_size, context, d_model and n_layers must be positive".into());
        }
        if self.d_head.is_none()
            && (self.n_heads == 0 || !self.d_model.is_multiple_of(self.n_heads))
        {
            return Err(format!(
                "d_model {} is not a multiple of n_heads {} (or set d_head)",
                self.d_model, self.n_heads
            ));
        }
        if self.head_width() == 0 {
            return Err("d_head must be positive".into());
        }
        if !self.block_widths.is_empty() && self.block_widths.len() != self.n_layers {
            return Err(format!(
                "block_widths has {} entries for {} layers",
                self.block_widths.len(),
                self.n_layers
            ));
        }
        if let Some(w) = self.widths().iter().find(|w| w.n_heads == 0 || w.d_ff == 0) {
            return Err(format!("a block has zero width: {w:?}"));
        }
        if !(self.init_std.is_finite() && self.init_std > 0.0) {
            return Err(format!("init_std must be positive, got {}", self.init_std));
        }
        if self.positions == Positions::Rotary && !self.head_width().is_multiple_of(2) {
            return Err(format!(
                "rotary positions need an even head width, not {}",
                self.head_width()
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout {} is not in [0, 1)", self.dropout));
        }
        Ok(())
    }

    /// Builds the model on `device`.
    ///
    /// # Panics
    /// If [`check`](Self::check) finds a problem; the message names it.
    pub fn init(&self, device: &Device) -> TransformerLm {
        if let Err(problem) = self.check() {
            panic!("TransformerLmConfig: {problem}");
        }
        let settings = BlockSettings {
            d_model: self.d_model,
            d_head: self.head_width(),
            dropout: self.dropout,
            init_std: self.init_std,
            output_init_std: gpt_init::residual_std(self.init_std, self.n_layers),
            causal: true,
            rotary_context: (self.positions == Positions::Rotary).then_some(self.context),
            gelu: self.gelu,
        };
        TransformerLm {
            token_embedding: EmbeddingConfig::new(self.vocab_size, self.d_model)
                .with_initializer(gpt_init::normal(self.init_std))
                .init(device),
            position_embedding: (self.positions == Positions::Learned).then(|| {
                EmbeddingConfig::new(self.context, self.d_model)
                    .with_initializer(gpt_init::normal(self.init_std))
                    .init(device)
            }),
            dropout: DropoutConfig::new(self.dropout).init(),
            blocks: self
                .widths()
                .iter()
                .map(|w| TransformerBlock::new(&settings, w, device))
                .collect(),
            final_norm: layer_norm(self.d_model, device),
            head: (!self.tie_embeddings).then(|| {
                LinearConfig::new(self.d_model, self.vocab_size)
                    .with_bias(false)
                    .with_initializer(gpt_init::normal(self.init_std))
                    .init(device)
            }),
            context: self.context,
        }
    }
}

/// A decoder-only transformer language model; see [`TransformerLmConfig`]. The blocks' linear
/// layers are of type `P`: Burn's dense `Linear` as trained, [`LinearLayer`](crate::LinearLayer)
/// once compressed into ALDS factors (see [`Projection`]).
#[derive(Module, Debug)]
pub struct TransformerLm<P = Linear> {
    /// `[vocab, d_model]`; also the output head when tied.
    pub token_embedding: Embedding,
    /// `[context, d_model]`, with learned positions (`None` with rotary ones).
    pub position_embedding: Option<Embedding>,
    dropout: Dropout,
    /// The blocks, input side first.
    pub blocks: Vec<TransformerBlock<P>>,
    /// Norm after the last block.
    pub final_norm: LayerNorm,
    /// Untied output head `[d_model, vocab]`; `None` when tied to the token embedding.
    pub head: Option<Linear>,
    context: usize,
}

impl<P: Projection> TransformerLm<P> {
    /// Next-token logits `[batch, time, vocab]` for token ids `[batch, time]`.
    ///
    /// # Panics
    /// If `time` exceeds the context the model was built for.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let x = self
            .blocks
            .iter()
            .fold(self.embed(tokens), |x, block| block.forward(x));
        self.logits(x)
    }

    /// The hidden state `[batch, time, d_model]` entering the first block: token embeddings,
    /// plus learned positions when the model has them, then dropout.
    ///
    /// # Panics
    /// If `time` exceeds the context the model was built for.
    pub fn embed(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [_, time] = tokens.dims();
        assert!(
            time <= self.context,
            "TransformerLm: {time} tokens exceed the context of {}",
            self.context
        );
        let device = tokens.device();
        let x = self.token_embedding.forward(tokens);
        let x = match &self.position_embedding {
            Some(table) => {
                let positions =
                    Tensor::<1, Int>::arange(0..time as i64, &device).reshape([1, time]);
                x + table.forward(positions)
            }
            None => x,
        };
        self.dropout.forward(x)
    }

    /// Next-token logits `[batch, time, vocab]` from the last block's output: the final norm
    /// and the output head.
    pub fn logits(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, time, _] = x.dims();
        let x = apply_layer_norm(&self.final_norm, x, NORM_EPSILON);
        match &self.head {
            Some(head) => head.forward(x),
            None => {
                let [_, _, d_model] = x.dims();
                let table = self.token_embedding.weight.val();
                let vocab = table.dims()[0];
                x.reshape([batch * time, d_model])
                    .matmul(table.transpose())
                    .reshape([batch, time, vocab])
            }
        }
    }

    /// Mean next-token cross-entropy (nats) of `targets` `[batch, time]` given `tokens`.
    pub fn loss(&self, tokens: Tensor<2, Int>, targets: Tensor<2, Int>) -> Tensor<1> {
        let logits = self.forward(tokens);
        let [batch, time, vocab] = logits.dims();
        CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(
                logits.reshape([batch * time, vocab]),
                targets.reshape([batch * time]),
            )
    }

    /// The longest input the model takes, in tokens.
    pub fn context(&self) -> usize {
        self.context
    }

    /// The widths of every block.
    pub fn widths(&self) -> Vec<BlockWidths> {
        self.blocks.iter().map(TransformerBlock::widths).collect()
    }

    /// The same model with each block linear layer replaced by `f(path, layer)`, the path
    /// being the layer's module path (`blocks.0.attention.query`); embeddings, norms and the
    /// output head are kept.
    pub fn map_projections<Q>(self, mut f: impl FnMut(&str, P) -> Q) -> TransformerLm<Q> {
        TransformerLm {
            token_embedding: self.token_embedding,
            position_embedding: self.position_embedding,
            dropout: self.dropout,
            blocks: TransformerBlock::map_all(self.blocks, &mut f),
            final_norm: self.final_norm,
            head: self.head,
            context: self.context,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData, Tolerance};

    fn small(tie: bool) -> TransformerLmConfig {
        TransformerLmConfig::new(11)
            .with_context(8)
            .with_d_model(16)
            .with_n_layers(2)
            .with_n_heads(2)
            .with_tie_embeddings(tie)
    }

    fn tokens(ids: &[i64], device: &Device) -> Tensor<2, Int> {
        Tensor::<1, Int>::from_data(TensorData::from(ids), device).reshape([1, ids.len()])
    }

    #[test]
    fn shapes_tied_and_untied() {
        let device = Device::default();
        for tie in [true, false] {
            let model = small(tie).init(&device);
            let input = Tensor::<2, Int>::zeros([3, 5], &device);
            assert_eq!(model.forward(input).dims(), [3, 5, 11]);
            assert_eq!(model.head.is_some(), !tie);
        }
    }

    #[test]
    fn a_token_never_sees_later_tokens() {
        let device = Device::default();
        let model = small(false).init(&device);
        let a = model.forward(tokens(&[1, 2, 3, 4, 5, 6], &device));
        let b = model.forward(tokens(&[1, 2, 3, 9, 10, 0], &device));
        // Positions 0..3 share their prefix, so their logits agree; position 3 differs.
        a.clone()
            .slice([0..1, 0..3])
            .into_data()
            .assert_approx_eq::<f32>(
                &b.clone().slice([0..1, 0..3]).into_data(),
                Tolerance::absolute(1e-5),
            );
        let later = (a.slice([0..1, 3..4]) - b.slice([0..1, 3..4]))
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(later > 1e-4, "position 3 should depend on its own token");
    }

    /// Rotary positions: no position table, still causal, and order-aware (attention alone
    /// is blind to the order of what it attends to, so swapping two earlier tokens changes the
    /// last output only through the rotation). Large weights make the effect plain.
    #[test]
    fn rotary_positions_are_causal_and_order_aware() {
        let device = Device::default();
        let model = small(true)
            .with_positions(Positions::Rotary)
            .with_init_std(0.5)
            .init(&device);
        assert!(model.position_embedding.is_none());
        assert!(model.blocks.iter().all(|b| b.attention.rotary.is_some()));
        let a = model.forward(tokens(&[1, 2, 3, 4, 5, 6], &device));
        let b = model.forward(tokens(&[1, 2, 3, 4, 5, 7], &device));
        a.clone()
            .slice([0..1, 0..5])
            .into_data()
            .assert_approx_eq::<f32>(
                &b.slice([0..1, 0..5]).into_data(),
                Tolerance::absolute(1e-5),
            );
        let swapped = model.forward(tokens(&[2, 1, 3, 4, 5, 6], &device));
        let change = (a.slice([0..1, 5..6]) - swapped.slice([0..1, 5..6]))
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(
            change > 1e-3,
            "the order of earlier tokens was ignored: {change}"
        );
        let odd = small(true)
            .with_d_head(Some(3))
            .with_positions(Positions::Rotary);
        assert!(odd.check().unwrap_err().contains("even head width"));
    }

    #[test]
    fn per_block_widths_and_free_head_width() {
        let device = Device::default();
        let config = small(true)
            .with_d_head(Some(3))
            .with_block_widths(vec![BlockWidths::new(1, 5), BlockWidths::new(3, 7)]);
        let model = config.init(&device);
        assert_eq!(model.widths(), config.widths());
        assert_eq!(model.blocks[1].attention.query.weight.dims(), [16, 9]);
        let x = Tensor::<2, Int>::ones([2, 8], &device);
        assert_eq!(model.forward(x).dims(), [2, 8, 11]);
    }

    /// The count computed from the config is the built model's, for default, per-block,
    /// untied and rotary configs; an absurd config overflows to `None` without allocating.
    #[test]
    fn parameter_count_matches_the_built_model() {
        let device = Device::default();
        for config in [
            small(true),
            small(false).with_positions(Positions::Rotary),
            small(true)
                .with_d_head(Some(3))
                .with_block_widths(vec![BlockWidths::new(1, 5), BlockWidths::new(3, 7)]),
        ] {
            assert_eq!(
                config.parameter_count(),
                Some(config.init(&device).num_params()),
                "{config:?}"
            );
        }
        let absurd = small(true)
            .with_n_layers(usize::MAX / 2)
            .with_d_model(1 << 20);
        assert_eq!(absurd.parameter_count(), None);
    }

    #[test]
    fn bad_configs_are_named() {
        assert!(
            small(true)
                .with_n_heads(3)
                .check()
                .unwrap_err()
                .contains("n_heads")
        );
        let widths = small(true).with_block_widths(vec![BlockWidths::new(1, 1)]);
        assert!(widths.check().unwrap_err().contains("block_widths"));
        let zero = small(true).with_block_widths(vec![BlockWidths::new(0, 4); 2]);
        assert!(zero.check().unwrap_err().contains("zero width"));
    }

    #[test]
    #[should_panic(expected = "exceed the context")]
    fn longer_than_the_context_panics() {
        let device = Device::default();
        small(true)
            .init(&device)
            .forward(Tensor::<2, Int>::zeros([1, 9], &device));
    }

    #[test]
    fn gradients_reach_every_block() {
        let device = Device::default().autodiff();
        let model = small(true).init(&device);
        let x = Tensor::<2>::random([2, 8], Distribution::Uniform(0.0, 10.0), &device).int();
        let loss = model.loss(x.clone(), x);
        let grads = loss.backward();
        for block in &model.blocks {
            let g = block
                .attention
                .query
                .weight
                .grad(&grads)
                .expect("query gradient");
            assert!(g.abs().sum().into_scalar::<f32>() > 0.0);
        }
    }
}
