//! Attention heads and feed-forward channels of [`TransformerLm`]: head `h` of a block is its
//! `d_head` columns (and biases) of the query, key and value projections and the same rows of
//! the output projection; channel `c` is column `c` (and bias) of `expand` and row `c` of
//! `contract`. Embeddings, norms and the residual width are untouched.

use burn::module::Module;
use tempering_core::compression::linear_units::{
    add_scores, input_unit_scores, keep_input_units, keep_output_units, output_unit_scores,
};
use tempering_core::compression::{
    CompressionError, ShrinkUnits, UnitGroup, UnitImportance, check_keep,
};

use crate::transformer::{BlockWidths, TransformerBlock, TransformerLm, TransformerLmConfig};

fn head_scores(block: &TransformerBlock, importance: UnitImportance) -> Vec<f64> {
    let a = &block.attention;
    let mut scores = input_unit_scores(&a.output, a.d_head, importance);
    for projection in [&a.query, &a.key, &a.value] {
        add_scores(
            &mut scores,
            output_unit_scores(projection, a.d_head, importance),
        );
    }
    scores
}

fn channel_scores(block: &TransformerBlock, importance: UnitImportance) -> Vec<f64> {
    let f = &block.feed_forward;
    let mut scores = output_unit_scores(&f.expand, 1, importance);
    add_scores(&mut scores, input_unit_scores(&f.contract, 1, importance));
    scores
}

impl ShrinkUnits for TransformerLm {
    type Config = TransformerLmConfig;

    fn unit_counts(&self) -> Vec<(String, usize)> {
        self.blocks
            .iter()
            .enumerate()
            .flat_map(|(b, block)| {
                let widths = block.widths();
                [
                    (format!("blocks.{b}.attention.heads"), widths.n_heads),
                    (format!("blocks.{b}.feed_forward.channels"), widths.d_ff),
                ]
            })
            .collect()
    }

    fn unit_groups(&self, importance: UnitImportance) -> Vec<UnitGroup> {
        // Heads, then channels, block by block: the order of `unit_counts`.
        let scores = self.blocks.iter().flat_map(|block| {
            [
                head_scores(block, importance),
                channel_scores(block, importance),
            ]
        });
        self.unit_counts()
            .into_iter()
            .zip(scores)
            .map(|((name, _), scores)| UnitGroup::from_sums(name, scores, importance))
            .collect()
    }

    fn shrink_units(
        self,
        config: &TransformerLmConfig,
        keep: &[Vec<usize>],
    ) -> Result<(Self, TransformerLmConfig), CompressionError> {
        check_keep(&self.unit_counts(), keep)?;
        let d_head = config.head_width();
        if self.blocks.iter().any(|b| b.attention.d_head != d_head) {
            return Err(CompressionError::BadConfig {
                field: "config",
                reason: format!("the config's head width {d_head} is not the model's"),
            });
        }
        let widths = keep
            .chunks_exact(2)
            .map(|pair| BlockWidths::new(pair[0].len(), pair[1].len()))
            .collect();
        let shrunk_config = config
            .clone()
            .with_d_head(Some(d_head))
            .with_block_widths(widths);
        let device = self.devices()[0].clone();
        let mut shrunk = shrunk_config.init(&device);
        shrunk.token_embedding = self.token_embedding;
        shrunk.position_embedding = self.position_embedding;
        shrunk.final_norm = self.final_norm;
        shrunk.head = self.head;
        for ((target, block), pair) in shrunk
            .blocks
            .iter_mut()
            .zip(self.blocks)
            .zip(keep.chunks_exact(2))
        {
            let (heads, channels) = (&pair[0], &pair[1]);
            let mut attention = block.attention;
            attention.query = keep_output_units(attention.query, heads, d_head);
            attention.key = keep_output_units(attention.key, heads, d_head);
            attention.value = keep_output_units(attention.value, heads, d_head);
            attention.output = keep_input_units(attention.output, heads, d_head);
            attention.n_heads = heads.len();
            let mut feed_forward = block.feed_forward;
            feed_forward.expand = keep_output_units(feed_forward.expand, channels, 1);
            feed_forward.contract = keep_input_units(feed_forward.contract, channels, 1);
            *target = TransformerBlock {
                attention_norm: block.attention_norm,
                attention,
                feed_forward_norm: block.feed_forward_norm,
                feed_forward,
            };
        }
        Ok((shrunk, shrunk_config))
    }
}
