//! A Hugging Face GPT-2 `config.json` (the fields of `transformers.GPT2Config` that decide the
//! architecture) and the [`TransformerLmConfig`] it corresponds to.

use serde::Deserialize;

use super::Gpt2Error;
use crate::activation::GeluApproximation;
use crate::transformer::host_layer_norm::NORM_EPSILON;
use crate::transformer::{Positions, TransformerLmConfig};

/// The architecture fields of a Hugging Face GPT-2 `config.json`, with `transformers`' defaults
/// for the optional ones (Radford et al. 2019, "Language Models are Unsupervised Multitask
/// Learners"; `transformers/models/gpt2/configuration_gpt2.py`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct HfGpt2Config {
    /// `"gpt2"`.
    pub model_type: String,
    /// Token ids.
    pub vocab_size: usize,
    /// Longest input (learned positions).
    pub n_positions: usize,
    /// Width of the residual stream.
    pub n_embd: usize,
    /// Blocks.
    pub n_layer: usize,
    /// Heads per block.
    pub n_head: usize,
    /// Feed-forward channels (`None`: 4 · `n_embd`).
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// `gelu_new` (GPT-2's tanh approximation), `gelu_pytorch_tanh` (the same) or `gelu`.
    #[serde(default = "default_activation")]
    pub activation_function: String,
    /// The layer norms' ε.
    #[serde(default = "default_epsilon")]
    pub layer_norm_epsilon: f64,
    /// Whether the output head is the token embedding.
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    /// Whether attention scores are divided by √d_head.
    #[serde(default = "default_true")]
    pub scale_attn_weights: bool,
    /// Whether block `i`'s scores are also divided by `i + 1`.
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    /// The whole file as read, every field kept, so that an exported checkpoint carries the
    /// same config.
    #[serde(skip)]
    pub json: serde_json::Value,
    /// The floating-point type `model.safetensors` stores its tensors in, which an export
    /// writes again (set by [`load_hf_gpt2`](super::load_hf_gpt2); `F32` for a config read
    /// alone).
    #[serde(skip)]
    pub stored_dtype: StoredDtype,
}

/// The tensor types a GPT-2 checkpoint is read from and written in; tempering computes in
/// `f32` whatever the file holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StoredDtype {
    /// 32-bit IEEE floats (what `save_pretrained` writes by default).
    #[default]
    F32,
    /// 16-bit IEEE floats.
    F16,
    /// bfloat16.
    Bf16,
}

impl StoredDtype {
    /// The safetensors type, or `None` for a type GPT-2 checkpoints are not read in.
    pub fn from_safetensors(dtype: safetensors::Dtype) -> Option<Self> {
        match dtype {
            safetensors::Dtype::F32 => Some(Self::F32),
            safetensors::Dtype::F16 => Some(Self::F16),
            safetensors::Dtype::BF16 => Some(Self::Bf16),
            _ => None,
        }
    }

    /// The safetensors type.
    pub fn safetensors(self) -> safetensors::Dtype {
        match self {
            Self::F32 => safetensors::Dtype::F32,
            Self::F16 => safetensors::Dtype::F16,
            Self::Bf16 => safetensors::Dtype::BF16,
        }
    }

    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::Bf16 => 2,
        }
    }

    /// Little-endian values of this type as `f32` (exact: both 16-bit types widen exactly).
    pub fn decode(self, bytes: &[u8]) -> Vec<f32> {
        match self {
            Self::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Self::F16 => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Self::Bf16 => bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        }
    }

    /// `values` in this type, little-endian (16-bit types round to nearest, ties to even).
    pub fn encode(self, values: &[f32]) -> Vec<u8> {
        match self {
            Self::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Self::F16 => values
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect(),
            Self::Bf16 => values
                .iter()
                .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
                .collect(),
        }
    }
}

fn default_activation() -> String {
    "gelu_new".into()
}

fn default_epsilon() -> f64 {
    1e-5
}

fn default_true() -> bool {
    true
}

impl HfGpt2Config {
    /// Parses `config.json`'s text (`file` names it in errors).
    pub fn from_json(text: &str, file: &str) -> Result<Self, Gpt2Error> {
        let error = |e: serde_json::Error| Gpt2Error::Config {
            file: file.into(),
            problem: e.to_string(),
        };
        let json: serde_json::Value = serde_json::from_str(text).map_err(error)?;
        let mut config: Self = serde_json::from_value(json.clone()).map_err(error)?;
        config.json = json;
        Ok(config)
    }

    /// This config with `channels` feed-forward channels per block: `n_inner` set, in the
    /// kept JSON too (`null` there when it is GPT-2's default of 4 · `n_embd`).
    pub fn with_feed_forward_width(&self, channels: usize) -> Self {
        let mut config = self.clone();
        let default = channels == 4 * self.n_embd && self.n_inner.is_none();
        config.n_inner = (!default).then_some(channels);
        if let Some(fields) = config.json.as_object_mut() {
            let value = match config.n_inner {
                Some(n) => serde_json::Value::from(n),
                None => serde_json::Value::Null,
            };
            fields.insert("n_inner".into(), value);
        }
        config
    }

    /// The `TransformerLm` this config describes, or why tempering's transformer cannot be it.
    pub fn lm_config(&self, file: &str) -> Result<TransformerLmConfig, Gpt2Error> {
        let unsupported = |problem: String| Gpt2Error::Config {
            file: file.into(),
            problem,
        };
        if self.model_type != "gpt2" {
            return Err(unsupported(format!(
                "model_type is {:?}, not \"gpt2\"",
                self.model_type
            )));
        }
        let gelu = match self.activation_function.as_str() {
            "gelu_new" | "gelu_pytorch_tanh" => GeluApproximation::Tanh,
            "gelu" => GeluApproximation::Exact,
            other => {
                return Err(unsupported(format!(
                    "activation_function {other:?} (supported: gelu_new, gelu_pytorch_tanh, gelu)"
                )));
            }
        };
        if self.layer_norm_epsilon != NORM_EPSILON {
            return Err(unsupported(format!(
                "layer_norm_epsilon {} (tempering's layer norms use {NORM_EPSILON})",
                self.layer_norm_epsilon
            )));
        }
        if !self.tie_word_embeddings {
            return Err(unsupported(
                "tie_word_embeddings is false (GPT-2 ties its head)".into(),
            ));
        }
        if !self.scale_attn_weights || self.scale_attn_by_inverse_layer_idx {
            return Err(unsupported(
                "attention scores scaled other than by 1/√d_head".into(),
            ));
        }
        let config = TransformerLmConfig::new(self.vocab_size)
            .with_context(self.n_positions)
            .with_d_model(self.n_embd)
            .with_n_layers(self.n_layer)
            .with_n_heads(self.n_head)
            .with_d_ff(self.n_inner)
            .with_tie_embeddings(true)
            .with_positions(Positions::Learned)
            .with_gelu(gelu);
        // Counted with checked arithmetic before `check`, which multiplies the sizes as given.
        if config.parameter_count().is_none() {
            return Err(unsupported(
                "its sizes describe more than 2^64 parameters".into(),
            ));
        }
        config.check().map_err(unsupported)?;
        Ok(config)
    }
}
