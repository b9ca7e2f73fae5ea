//! Where each tensor of a Hugging Face GPT-2 checkpoint goes in a `TransformerLm`: the names
//! `transformers`' `GPT2Model` gives its parameters (without the `transformer.` prefix that
//! `GPT2LMHeadModel` adds) and their shapes.

/// One tensor a GPT-2 checkpoint must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gpt2Tensor {
    /// Its name in the checkpoint, without the `transformer.` prefix.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
}

/// Every tensor of a GPT-2 of `layers` blocks of width `d`, feed-forward width `d_ff`,
/// `vocab` tokens and `positions` positions, in the order `GPT2Model` lists them.
pub fn gpt2_tensors(
    vocab: usize,
    positions: usize,
    d: usize,
    d_ff: usize,
    layers: usize,
) -> Vec<Gpt2Tensor> {
    let t = |name: String, shape: &[usize]| Gpt2Tensor {
        name,
        shape: shape.to_vec(),
    };
    let mut tensors = vec![
        t("wte.weight".into(), &[vocab, d]),
        t("wpe.weight".into(), &[positions, d]),
    ];
    for i in 0..layers {
        let h = |rest: &str| format!("h.{i}.{rest}");
        tensors.extend([
            t(h("ln_1.weight"), &[d]),
            t(h("ln_1.bias"), &[d]),
            t(h("attn.c_attn.weight"), &[d, 3 * d]),
            t(h("attn.c_attn.bias"), &[3 * d]),
            t(h("attn.c_proj.weight"), &[d, d]),
            t(h("attn.c_proj.bias"), &[d]),
            t(h("ln_2.weight"), &[d]),
            t(h("ln_2.bias"), &[d]),
            t(h("mlp.c_fc.weight"), &[d, d_ff]),
            t(h("mlp.c_fc.bias"), &[d_ff]),
            t(h("mlp.c_proj.weight"), &[d_ff, d]),
            t(h("mlp.c_proj.bias"), &[d]),
        ]);
    }
    tensors.extend([t("ln_f.weight".into(), &[d]), t("ln_f.bias".into(), &[d])]);
    tensors
}

/// Whether `name` (prefix removed) is a buffer older `transformers` versions saved beside the
/// weights (`h.{i}.attn.bias`, the causal mask, and `h.{i}.attn.masked_bias`): not a
/// parameter, and ignored.
pub fn is_saved_buffer(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("h.") else {
        return false;
    };
    let Some((layer, buffer)) = rest.split_once('.') else {
        return false;
    };
    layer.parse::<usize>().is_ok() && (buffer == "attn.bias" || buffer == "attn.masked_bias")
}
