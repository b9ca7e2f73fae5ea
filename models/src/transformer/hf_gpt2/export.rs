//! Writing a [`TransformerLm`] back as a Hugging Face GPT-2 directory that `transformers` loads
//! with `from_pretrained`: `config.json`, `model.safetensors` with `GPT2LMHeadModel`'s names
//! (`c_attn` fused again), and the tokenizer files copied from the source directory.

use std::collections::HashMap;
use std::path::Path;

use burn::nn::{LayerNorm, Linear};
use burn::tensor::Tensor;
use safetensors::tensor::TensorView;

use super::{Gpt2Error, HfGpt2Config};
use crate::transformer::TransformerLm;

/// The files besides the weights and config that a GPT-2 directory may hold (tokenizer and
/// generation settings), copied as they are.
pub const COMPANION_FILES: [&str; 6] = [
    "tokenizer.json",
    "vocab.json",
    "merges.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
];

/// Writes `model` as a GPT-2 checkpoint of `config` (as [`load_hf_gpt2`](super::load_hf_gpt2)
/// returned it) into the new directory `dir`, with the [`COMPANION_FILES`] found in `source`.
///
/// The directory is written under a temporary name beside it and renamed into place once
/// complete, so an interrupted export leaves no half-written checkpoint. `dir` must not exist
/// or be empty; a model whose blocks no longer have the config's widths (after structured
/// pruning) is refused, since a GPT-2 config has one width for all blocks.
pub fn save_hf_gpt2(
    model: &TransformerLm,
    config: &HfGpt2Config,
    source: Option<&Path>,
    dir: &Path,
) -> Result<(), Gpt2Error> {
    let shown = dir.display().to_string();
    check_export_dir(dir)?;
    check_shape(model, config).map_err(|problem| Gpt2Error::Config {
        file: shown.clone(),
        problem,
    })?;
    let io = |file: String| move |source| Gpt2Error::Io { file, source };
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(io(parent.display().to_string()))?;
    let staging = tempfile::Builder::new()
        .prefix(".gpt2-export-")
        .tempdir_in(parent)
        .map_err(io(parent.display().to_string()))?;

    let dtype = config.stored_dtype;
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = gpt2_tensor_values(model)
        .into_iter()
        .map(|(name, shape, values)| (name, shape, dtype.encode(&values)))
        .collect();
    let views: HashMap<String, TensorView<'_>> = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            let view = TensorView::new(dtype.safetensors(), shape.clone(), bytes)
                .expect("the shape matches the bytes by construction");
            (format!("transformer.{name}"), view)
        })
        .collect();
    let weights = staging.path().join("model.safetensors");
    safetensors::serialize_to_file(views, None, &weights).map_err(|e| Gpt2Error::Checkpoint {
        file: weights.display().to_string(),
        problem: e.to_string(),
    })?;
    let config_text = serde_json::to_string_pretty(&config.json).expect("a JSON value prints");
    let config_path = staging.path().join("config.json");
    std::fs::write(&config_path, config_text + "\n")
        .map_err(io(config_path.display().to_string()))?;
    if let Some(source) = source {
        for name in COMPANION_FILES {
            let from = source.join(name);
            if from.is_file() {
                std::fs::copy(&from, staging.path().join(name))
                    .map_err(io(from.display().to_string()))?;
            }
        }
    }
    let staged = staging.keep();
    std::fs::rename(&staged, dir).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staged);
        Gpt2Error::Io {
            file: shown.clone(),
            source: e,
        }
    })
}

/// Refuses `dir` as the destination of [`save_hf_gpt2`] unless it is new or an empty
/// directory: what a caller checks before the work whose result it will export.
pub fn check_export_dir(dir: &Path) -> Result<(), Gpt2Error> {
    let refuse = |problem: &str| Gpt2Error::Config {
        file: dir.display().to_string(),
        problem: problem.into(),
    };
    if dir.exists() && !dir.is_dir() {
        return Err(refuse("exists and is not a directory"));
    }
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(refuse(
            "the output directory exists and is not empty; choose a new one",
        ));
    }
    Ok(())
}

/// Why `model` cannot be written as a GPT-2 of `config`, if it cannot.
fn check_shape(model: &TransformerLm, config: &HfGpt2Config) -> Result<(), String> {
    let d = config.n_embd;
    let d_ff = config.n_inner.unwrap_or(4 * d);
    let [vocab, width] = model.token_embedding.weight.dims();
    if (vocab, width) != (config.vocab_size, d) || model.blocks.len() != config.n_layer {
        return Err(format!(
            "the model ({} blocks, {vocab} tokens of width {width}) is not the config's \
             ({} blocks, {} tokens of width {d})",
            model.blocks.len(),
            config.n_layer,
            config.vocab_size
        ));
    }
    for (i, block) in model.blocks.iter().enumerate() {
        let heads = block.attention.n_heads;
        let channels = block.feed_forward.expand.weight.dims()[1];
        if heads != config.n_head || channels != d_ff {
            return Err(format!(
                "block {i} has {heads} heads and {channels} feed-forward channels, the config \
                 {} and {d_ff}: a GPT-2 config gives every block the same widths",
                config.n_head
            ));
        }
    }
    if model.position_embedding.is_none() || model.head.is_some() {
        return Err("GPT-2 has learned positions and a tied head".into());
    }
    Ok(())
}

/// A tensor's GPT-2 name (without the prefix), shape and values.
type NamedValues = (String, Vec<usize>, Vec<f32>);

/// Every tensor of `model` under its GPT-2 name.
fn gpt2_tensor_values(model: &TransformerLm) -> Vec<NamedValues> {
    fn entry<const D: usize>(name: String, tensor: Tensor<D>) -> NamedValues {
        let shape = tensor.dims().to_vec();
        let values = tensor
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 after conversion");
        (name, shape, values)
    }
    fn norm(out: &mut Vec<NamedValues>, name: &str, n: &LayerNorm) {
        out.push(entry(format!("{name}.weight"), n.gamma.val()));
        let beta = n
            .beta
            .as_ref()
            .map_or_else(|| n.gamma.val().zeros_like(), |b| b.val());
        out.push(entry(format!("{name}.bias"), beta));
    }
    fn bias(l: &Linear) -> Tensor<1> {
        let [_, d_out] = l.weight.dims();
        l.bias
            .as_ref()
            .map_or_else(|| Tensor::zeros([d_out], &l.weight.device()), |b| b.val())
    }
    fn linear(out: &mut Vec<NamedValues>, name: &str, l: &Linear) {
        out.push(entry(format!("{name}.weight"), l.weight.val()));
        out.push(entry(format!("{name}.bias"), bias(l)));
    }
    let mut out = vec![entry(
        "wte.weight".into(),
        model.token_embedding.weight.val(),
    )];
    if let Some(positions) = &model.position_embedding {
        out.push(entry("wpe.weight".into(), positions.weight.val()));
    }
    for (i, block) in model.blocks.iter().enumerate() {
        let a = &block.attention;
        norm(&mut out, &format!("h.{i}.ln_1"), &block.attention_norm);
        let fused = Tensor::cat(
            vec![
                a.query.weight.val(),
                a.key.weight.val(),
                a.value.weight.val(),
            ],
            1,
        );
        out.push(entry(format!("h.{i}.attn.c_attn.weight"), fused));
        let fused_bias = Tensor::cat(vec![bias(&a.query), bias(&a.key), bias(&a.value)], 0);
        out.push(entry(format!("h.{i}.attn.c_attn.bias"), fused_bias));
        linear(&mut out, &format!("h.{i}.attn.c_proj"), &a.output);
        norm(&mut out, &format!("h.{i}.ln_2"), &block.feed_forward_norm);
        linear(
            &mut out,
            &format!("h.{i}.mlp.c_fc"),
            &block.feed_forward.expand,
        );
        linear(
            &mut out,
            &format!("h.{i}.mlp.c_proj"),
            &block.feed_forward.contract,
        );
    }
    norm(&mut out, "ln_f", &model.final_norm);
    out
}
