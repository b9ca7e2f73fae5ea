//! Blocks of unequal widths (after structured pruning) written as a GPT-2, whose config gives
//! every block the same number of heads and feed-forward channels: the narrower blocks are
//! widened by zero units, which change no output.

use burn::module::Module;
use tempering_core::compression::linear_units::{pad_input_units, pad_output_units};

use super::{Gpt2Error, HfGpt2Config};
use crate::transformer::TransformerLm;

/// What [`widen_to_gpt2`] added to fit the GPT-2 format.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Gpt2Widening {
    /// Heads per block in the written checkpoint (the source config's: GPT-2 derives the head
    /// width from `n_embd / n_head`, so the count cannot change).
    pub heads: usize,
    /// Feed-forward channels per block in the written checkpoint: the widest block's.
    pub channels: usize,
    /// Zero weights and biases added to the narrower blocks.
    pub zero_parameters: usize,
}

/// `model` (whose blocks may have lost heads and channels to structured pruning) as a GPT-2 of
/// `config`'s family: every block widened to `config`'s heads and to the widest block's
/// feed-forward channels by zero units, and the config's `n_inner` set to that width. The
/// widened model computes the same outputs: a zero head's values and output rows are zero, and
/// a zero channel's expansion column, bias and contraction row are zero.
///
/// An error names a block with more heads than the config, or another head width, which no
/// GPT-2 of this config can hold.
pub fn widen_to_gpt2(
    model: TransformerLm,
    config: &HfGpt2Config,
) -> Result<(TransformerLm, HfGpt2Config, Gpt2Widening), Gpt2Error> {
    let heads = config.n_head;
    let d_head = config.n_embd / heads.max(1);
    let mut channels = 0;
    for (i, block) in model.blocks.iter().enumerate() {
        let attention = &block.attention;
        if attention.n_heads > heads || attention.d_head != d_head {
            return Err(Gpt2Error::Config {
                file: "config.json".into(),
                problem: format!(
                    "block {i} has {} heads of width {}; a GPT-2 of this config has at most \
                     {heads} of width {d_head}",
                    attention.n_heads, attention.d_head
                ),
            });
        }
        channels = channels.max(block.feed_forward.expand.weight.dims()[1]);
    }
    let before = model.num_params();
    let mut model = model;
    for block in &mut model.blocks {
        let attention = &mut block.attention;
        for layer in [
            &mut attention.query,
            &mut attention.key,
            &mut attention.value,
        ] {
            *layer = pad_output_units(layer.clone(), heads * d_head);
        }
        attention.output = pad_input_units(attention.output.clone(), heads * d_head);
        attention.n_heads = heads;
        let feed_forward = &mut block.feed_forward;
        feed_forward.expand = pad_output_units(feed_forward.expand.clone(), channels);
        feed_forward.contract = pad_input_units(feed_forward.contract.clone(), channels);
    }
    let widening = Gpt2Widening {
        heads,
        channels,
        zero_parameters: model.num_params() - before,
    };
    Ok((model, config.with_feed_forward_width(channels), widening))
}
