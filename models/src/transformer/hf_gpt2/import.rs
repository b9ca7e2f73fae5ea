//! Loading a Hugging Face GPT-2 directory into a [`TransformerLm`].

use std::collections::HashMap;
use std::path::Path;

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::SafeTensors;

use super::names::{gpt2_tensors, is_saved_buffer};
use super::{Gpt2Error, HfGpt2Config, StoredDtype};
use crate::transformer::{TransformerLm, TransformerLmConfig};

/// `config.json` larger than this is refused before parsing (GPT-2's is under 1 KiB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The prefix `GPT2LMHeadModel` puts before `GPT2Model`'s names.
const PREFIX: &str = "transformer.";

/// The `config.json` of the GPT-2 directory `dir` and the [`TransformerLmConfig`] it
/// describes, or why tempering's transformer cannot be it; a file larger than a config can be
/// is refused before it is read. No weight is read.
pub fn read_hf_gpt2_config(dir: &Path) -> Result<(HfGpt2Config, TransformerLmConfig), Gpt2Error> {
    let config_path = dir.join("config.json");
    let file = config_path.display().to_string();
    let io = |source| Gpt2Error::Io {
        file: file.clone(),
        source,
    };
    let size = std::fs::metadata(&config_path).map_err(io)?.len();
    if size > MAX_CONFIG_BYTES {
        return Err(Gpt2Error::Config {
            file,
            problem: format!("{size} bytes, more than a config holds ({MAX_CONFIG_BYTES})"),
        });
    }
    let text = std::fs::read_to_string(&config_path).map_err(io)?;
    let config = HfGpt2Config::from_json(&text, &file)?;
    let lm_config = config.lm_config(&file)?;
    Ok((config, lm_config))
}

/// Loads the GPT-2 that `transformers` saved in `dir` (`config.json` and `model.safetensors`):
/// the model, with the head tied to the token embedding, and its config.
///
/// Every tensor is checked before anything is built: a missing, unexpected, misshapen or
/// non-float tensor, or one of another type than the rest, is an error naming it (the first one in the checkpoint's order), and so is
/// a config tempering's transformer cannot follow (another activation, untied head, other
/// layer-norm ε).
pub fn load_hf_gpt2(
    dir: &Path,
    device: &Device,
) -> Result<(TransformerLm, HfGpt2Config), Gpt2Error> {
    let (config, lm_config) = read_hf_gpt2_config(dir)?;
    let config_file = dir.join("config.json").display().to_string();
    let io = |file: &str| {
        let file = file.to_string();
        move |source| Gpt2Error::Io { file, source }
    };

    let weights_path = dir.join("model.safetensors");
    let file = weights_path.display().to_string();
    // Before any size from the config is used: a hostile config cannot make the shapes below
    // overflow, nor describe more parameters than the checkpoint's bytes hold.
    let stored_bytes = std::fs::metadata(&weights_path).map_err(io(&file))?.len();
    match lm_config.parameter_count() {
        Some(count) if (count as u64).saturating_mul(2) <= stored_bytes => {}
        count => {
            return Err(Gpt2Error::Config {
                file: config_file,
                problem: format!(
                    "it describes {} parameters, more than {file} ({stored_bytes} bytes) holds \
                     at 2 bytes each",
                    count.map_or_else(|| "more than 2^64".into(), |n| n.to_string())
                ),
            });
        }
    }
    let bytes = std::fs::read(&weights_path).map_err(io(&file))?;
    let checkpoint = SafeTensors::deserialize(&bytes).map_err(|e| Gpt2Error::Checkpoint {
        file: file.clone(),
        problem: e.to_string(),
    })?;
    let d = config.n_embd;
    let d_ff = config.n_inner.unwrap_or(4 * d);
    let expected = gpt2_tensors(
        config.vocab_size,
        config.n_positions,
        d,
        d_ff,
        config.n_layer,
    );
    let (mut values, stored_dtype) = read_tensors(&checkpoint, &expected, &file)?;
    let config = HfGpt2Config {
        stored_dtype,
        ..config
    };
    let mut take = |name: &str| -> Tensor<1> {
        let data = values
            .remove(name)
            .expect("every expected tensor was checked");
        let n = data.len();
        Tensor::from_data(TensorData::new(data, [n]), device)
    };

    let mut lm = lm_config.init(device);
    lm.token_embedding.weight = param(take("wte.weight").reshape([config.vocab_size, d]));
    if let Some(positions) = lm.position_embedding.as_mut() {
        positions.weight = param(take("wpe.weight").reshape([config.n_positions, d]));
    }
    for (i, block) in lm.blocks.iter_mut().enumerate() {
        let mut h = |rest: &str| take(&format!("h.{i}.{rest}"));
        set_norm(&mut block.attention_norm, h("ln_1.weight"), h("ln_1.bias"));
        let fused_weight = h("attn.c_attn.weight").reshape([d, 3 * d]);
        let fused_bias = h("attn.c_attn.bias");
        let attention = &mut block.attention;
        for (k, layer) in [
            &mut attention.query,
            &mut attention.key,
            &mut attention.value,
        ]
        .into_iter()
        .enumerate()
        {
            let weight = fused_weight.clone().slice([0..d, k * d..(k + 1) * d]);
            let bias = fused_bias.clone().slice(k * d..(k + 1) * d);
            set_linear(layer, weight, bias);
        }
        set_linear(
            &mut attention.output,
            h("attn.c_proj.weight").reshape([d, d]),
            h("attn.c_proj.bias"),
        );
        set_norm(
            &mut block.feed_forward_norm,
            h("ln_2.weight"),
            h("ln_2.bias"),
        );
        set_linear(
            &mut block.feed_forward.expand,
            h("mlp.c_fc.weight").reshape([d, d_ff]),
            h("mlp.c_fc.bias"),
        );
        set_linear(
            &mut block.feed_forward.contract,
            h("mlp.c_proj.weight").reshape([d_ff, d]),
            h("mlp.c_proj.bias"),
        );
    }
    set_norm(&mut lm.final_norm, take("ln_f.weight"), take("ln_f.bias"));
    Ok((lm, config))
}

/// A new parameter holding `tensor`.
fn param<const D: usize>(tensor: Tensor<D>) -> Param<Tensor<D>> {
    Param::from_tensor(tensor)
}

fn set_linear(layer: &mut Linear, weight: Tensor<2>, bias: Tensor<1>) {
    layer.weight = param(weight);
    layer.bias = Some(param(bias));
}

fn set_norm(norm: &mut LayerNorm, gamma: Tensor<1>, beta: Tensor<1>) {
    norm.gamma = param(gamma);
    norm.beta = Some(param(beta));
}

/// Every expected tensor's values, by its name without the prefix; an error for the
/// first tensor of the checkpoint that is unexpected, misshapen, not F32, F16 or BF16, or of
/// another type than the tensors before it, or the first
/// expected one it lacks.
fn read_tensors(
    checkpoint: &SafeTensors<'_>,
    expected: &[super::names::Gpt2Tensor],
    file: &str,
) -> Result<(HashMap<String, Vec<f32>>, StoredDtype), Gpt2Error> {
    let error = |name: &str, problem: String| Gpt2Error::Tensor {
        file: file.into(),
        name: name.into(),
        problem,
    };
    let shapes: HashMap<&str, &[usize]> = expected
        .iter()
        .map(|t| (t.name.as_str(), t.shape.as_slice()))
        .collect();
    let mut names: Vec<String> = checkpoint.names().into_iter().map(str::to_string).collect();
    names.sort();
    let mut values = HashMap::new();
    let mut dtype: Option<StoredDtype> = None;
    for stored in &names {
        let name = stored.strip_prefix(PREFIX).unwrap_or(stored);
        if is_saved_buffer(name) {
            continue;
        }
        let view = checkpoint
            .tensor(stored)
            .map_err(|e| error(stored, e.to_string()))?;
        if name == "lm_head.weight" || stored == "lm_head.weight" {
            // The tied head, where a checkpoint stores it: it must be the embedding's shape.
            let want = [shapes["wte.weight"][0], shapes["wte.weight"][1]];
            if view.shape() != want {
                return Err(error(
                    stored,
                    format!(
                        "shape {:?}, expected {want:?} (the tied head)",
                        view.shape()
                    ),
                ));
            }
            continue;
        }
        let Some(&shape) = shapes.get(name) else {
            return Err(error(
                stored,
                "not a parameter of GPT-2 as config.json describes it (a renamed tensor, or \
                 another architecture)"
                    .into(),
            ));
        };
        if view.shape() != shape {
            return Err(error(
                stored,
                format!("shape {:?}, expected {shape:?}", view.shape()),
            ));
        }
        let Some(this) = StoredDtype::from_safetensors(view.dtype()) else {
            return Err(error(
                stored,
                format!(
                    "type {:?}; GPT-2 checkpoints are read in F32, F16 or BF16",
                    view.dtype()
                ),
            ));
        };
        match dtype {
            Some(first) if first != this => {
                return Err(error(
                    stored,
                    format!(
                        "type {:?}, the tensors before it {:?}: one type for the whole \
                         checkpoint",
                        this.safetensors(),
                        first.safetensors()
                    ),
                ));
            }
            _ => dtype = Some(this),
        }
        let data = this.decode(view.data());
        if values.insert(name.to_string(), data).is_some() {
            return Err(error(
                stored,
                "stored twice (with and without the prefix)".into(),
            ));
        }
    }
    if let Some(missing) = expected.iter().find(|t| !values.contains_key(&t.name)) {
        return Err(error(&missing.name, "missing from the checkpoint".into()));
    }
    Ok((values, dtype.unwrap_or_default()))
}
