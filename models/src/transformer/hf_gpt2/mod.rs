//! Hugging Face GPT-2 checkpoints as [`TransformerLm`](super::TransformerLm)s: a directory that
//! `transformers` wrote with `save_pretrained` (`config.json`, `model.safetensors`) loads into
//! tempering's transformer by name mapping ([`load_hf_gpt2`]), and a model (pruned, say) is
//! written back in the same form ([`save_hf_gpt2`]).
//!
//! GPT-2 (Radford et al. 2019) is the transformer tempering builds with learned positions,
//! pre-norm blocks, a tied head and GELU's tanh approximation (`gelu_new`). Two of its layouts
//! differ from tempering's names: the query, key and value projections are one fused `c_attn`
//! (`[d, 3d]`, split here into three `[d, d]`), and its `Conv1D` layers store weights
//! `[in, out]`, as Burn's `Linear` does, so no weight is transposed.
//!
//! ```no_run
//! use burn::tensor::{Device, Int, Tensor, TensorData};
//! use tempering_models::transformer::hf_gpt2::{Gpt2Tokenizer, load_hf_gpt2, save_hf_gpt2};
//!
//! let dir = std::path::Path::new("gpt2");
//! let (model, config) = load_hf_gpt2(dir, &Device::default())?;
//! let tokenizer = Gpt2Tokenizer::from_dir(dir)?;
//! let ids = tokenizer.encode("To be, or not to be").unwrap();
//! let n = ids.len();
//! let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, n]), &Device::default());
//! let logits = model.forward(tokens); // [1, n, vocab]
//! save_hf_gpt2(&model, &config, Some(dir), "gpt2-copy".as_ref())?; // a new directory
//! # let _ = logits;
//! # Ok::<(), tempering_models::transformer::hf_gpt2::Gpt2Error>(())
//! ```

mod config;
mod export;
mod import;
mod names;
mod tokenizer;
mod uniform_widths;

pub use config::{HfGpt2Config, StoredDtype};
pub use export::{COMPANION_FILES, check_export_dir, save_hf_gpt2};
pub use import::{MAX_CONFIG_BYTES, load_hf_gpt2, read_hf_gpt2_config};
pub use tokenizer::{END_OF_TEXT, Gpt2Tokenizer, MAX_TOKENIZER_FILE_BYTES};
pub use uniform_widths::{Gpt2Widening, widen_to_gpt2};

/// Why a Hugging Face GPT-2 directory cannot be loaded; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum Gpt2Error {
    /// A file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// `config.json` is unreadable or describes a model tempering's transformer is not.
    #[error("{file}: {problem}")]
    Config {
        /// The file.
        file: String,
        /// What is wrong.
        problem: String,
    },
    /// `model.safetensors` is not a readable safetensors file.
    #[error("{file}: not a readable safetensors file: {problem}")]
    Checkpoint {
        /// The file.
        file: String,
        /// What the reader said.
        problem: String,
    },
    /// A tensor is missing, unexpected, of the wrong shape or of the wrong type.
    #[error("{file}: tensor {name}: {problem}")]
    Tensor {
        /// The file.
        file: String,
        /// The tensor's name in the file (or the name expected there).
        name: String,
        /// What is wrong.
        problem: String,
    },
}
