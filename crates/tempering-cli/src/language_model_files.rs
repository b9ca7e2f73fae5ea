//! The language models that the model commands (`prune` with a calibrated method, `shrink`,
//! `compress`, `evaluate`) take: a character run that `train_char_lm` wrote (`model.bpk` and
//! its `run.json`), or a Hugging Face GPT-2 directory (`config.json`, `model.safetensors`,
//! `vocab.json` and `merges.txt`). Either loads as a `TransformerLm` with its tokenizer, and a
//! compressed model is written back in the form it came in.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use tempering_data::CharTokenizer;
use tempering_models::TransformerLm;
use tempering_models::transformer::hf_gpt2::{
    Gpt2Tokenizer, Gpt2Widening, HfGpt2Config, MAX_CONFIG_BYTES, check_export_dir, load_hf_gpt2,
    read_hf_gpt2_config, save_hf_gpt2, widen_to_gpt2,
};
use tempering_models::transformer::{SavedCharLm, TransformerLmConfig};
use tempering_prune::module_load::load_module;

use crate::run_directory::{
    RUN_CONFIG, check_run_outputs, encoded_text, load_run, print_written, text_tokens, write_run,
};

/// The logits one loss evaluation may hold: GPT-2's 1,024 positions × 50,257 tokens are 206 MB
/// per window in f32, so a batch of 16 would hold 3.3 GB.
const LOGIT_BYTES: usize = 256 << 20;

/// A language model on disk and its tokenizer.
pub(crate) enum LanguageModelFiles {
    /// `train_char_lm`'s run: a burnpack checkpoint, the `run.json` that builds it, one token
    /// per character.
    CharRun {
        checkpoint: PathBuf,
        config: PathBuf,
        saved: Box<SavedCharLm>,
        tokenizer: CharTokenizer,
    },
    /// A directory that Hugging Face `transformers` saved a GPT-2 into, with its byte-level BPE.
    Gpt2 {
        dir: PathBuf,
        config: Box<HfGpt2Config>,
        lm: Box<TransformerLmConfig>,
        tokenizer: Box<Gpt2Tokenizer>,
    },
}

/// Whether `config` is a Hugging Face `config.json` (it names a `model_type`), not a
/// `run.json`.
fn is_hugging_face_config(config: &Path) -> bool {
    let small = std::fs::metadata(config).is_ok_and(|m| m.is_file() && m.len() <= MAX_CONFIG_BYTES);
    small
        && std::fs::read(config)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .is_some_and(|json| json.get("model_type").is_some())
}

impl LanguageModelFiles {
    /// The model given on the command line: `model` a Hugging Face GPT-2 directory (no
    /// `--config`), or a checkpoint with its `--config` (`run.json`, or the `config.json` of a
    /// GPT-2 directory whose `model.safetensors` is `model`). Configs are checked before
    /// anything is built by their sizes.
    pub(crate) fn open(model: &Path, config: Option<&Path>) -> Result<Self, String> {
        let gpt2_dir = match config {
            None if model.is_dir() => model.to_path_buf(),
            None => {
                return Err(format!(
                    "{}: the model commands take a Hugging Face GPT-2 directory, or a \
                     checkpoint with its --config (run.json)",
                    model.display()
                ));
            }
            Some(_) if model.is_dir() => {
                return Err(format!(
                    "--config: not with the directory {} (its config.json is the config)",
                    model.display()
                ));
            }
            Some(config) if is_hugging_face_config(config) => {
                let dir = config.parent().unwrap_or(Path::new("."));
                let weights = dir.join("model.safetensors");
                let same = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
                if !same(model, &weights) {
                    return Err(format!(
                        "--config {}: a Hugging Face config; its checkpoint is {}, not {} (or \
                         pass the directory alone)",
                        config.display(),
                        weights.display(),
                        model.display()
                    ));
                }
                dir.to_path_buf()
            }
            Some(config) => {
                let saved = load_run(model, config)?;
                let tokenizer = CharTokenizer::from_chars(saved.alphabet.chars().collect());
                return Ok(Self::CharRun {
                    checkpoint: model.to_path_buf(),
                    config: config.to_path_buf(),
                    saved: Box::new(saved),
                    tokenizer,
                });
            }
        };
        Self::open_gpt2(&gpt2_dir)
    }

    /// A Hugging Face GPT-2 directory's config and tokenizer (the weights load with
    /// [`load`](Self::load)).
    fn open_gpt2(dir: &Path) -> Result<Self, String> {
        let (config, lm) = read_hf_gpt2_config(dir).map_err(|e| e.to_string())?;
        let tokenizer = Gpt2Tokenizer::from_dir(dir).map_err(|e| e.to_string())?;
        if tokenizer.vocab_size() > lm.vocab_size {
            return Err(format!(
                "{}: {} tokens, more than the model's {} (config.json's vocab_size)",
                dir.join("vocab.json").display(),
                tokenizer.vocab_size(),
                lm.vocab_size
            ));
        }
        Ok(Self::Gpt2 {
            dir: dir.to_path_buf(),
            config: Box::new(config),
            lm: Box::new(lm),
            tokenizer: Box::new(tokenizer),
        })
    }

    /// The config that builds the model.
    pub(crate) fn lm_config(&self) -> &TransformerLmConfig {
        match self {
            Self::CharRun { saved, .. } => &saved.model,
            Self::Gpt2 { lm, .. } => lm,
        }
    }

    /// Tokens in one window of the model's context.
    pub(crate) fn context(&self) -> usize {
        self.lm_config().context
    }

    /// Windows per forward pass when measuring a loss: at most `most`, and no more than keep
    /// their logits within 256 MiB (one window at the least).
    pub(crate) fn loss_batch(&self, most: usize) -> usize {
        let config = self.lm_config();
        let per_window = config
            .context
            .saturating_mul(config.vocab_size)
            .saturating_mul(4);
        (LOGIT_BYTES / per_window.max(1)).clamp(1, most.max(1))
    }

    /// What one token is, for reports: `char` or `token`.
    pub(crate) fn unit(&self) -> &'static str {
        match self {
            Self::CharRun { .. } => "char",
            Self::Gpt2 { .. } => "token",
        }
    }

    /// The tokens of the UTF-8 text file `path` (given with `flag`), naming the file in every
    /// error: at least `at_least` of them (one window of the model's context).
    pub(crate) fn tokens(
        &self,
        path: &Path,
        flag: &str,
        at_least: usize,
    ) -> Result<Vec<u32>, String> {
        let tokenizer = match self {
            Self::CharRun { tokenizer, .. } => {
                return text_tokens(path, flag, tokenizer, at_least);
            }
            Self::Gpt2 { tokenizer, .. } => tokenizer,
        };
        encoded_text(path, flag, (at_least, "tokens"), |text| {
            tokenizer.encode(text)
        })
    }

    /// The model on `device` (an autodiff device for the methods that train or take
    /// gradients).
    pub(crate) fn load(&self, device: &Device) -> Result<TransformerLm, String> {
        match self {
            Self::CharRun {
                checkpoint, saved, ..
            } => load_module(saved.model.init(device), checkpoint).map_err(|e| e.to_string()),
            Self::Gpt2 { dir, .. } => load_hf_gpt2(dir, device)
                .map(|(model, _)| model)
                .map_err(|e| e.to_string()),
        }
    }

    /// What every model command does before its own work: the `--validation` text's tokens
    /// (when given, one window of the context plus its target at the least), the output
    /// directory checked against the inputs, and the dense model loaded on the default device.
    pub(crate) fn prepare(
        &self,
        validation: Option<&Path>,
        (output, force): (Option<&Path>, bool),
    ) -> Result<(Option<Vec<u32>>, TransformerLm), String> {
        let context = self.context();
        let validation = validation
            .map(|path| self.tokens(path, "--validation", context + 1))
            .transpose()?;
        self.check_output(output, force)?;
        let model = self.load(&Device::default())?;
        Ok((validation, model))
    }

    /// Refuses an output directory (when given) that would replace an input, or, for a run,
    /// existing files without `force`; a GPT-2 directory is written whole into a new or empty
    /// one. Called before any work is done.
    pub(crate) fn check_output(&self, output: Option<&Path>, force: bool) -> Result<(), String> {
        match (self, output) {
            (_, None) => Ok(()),
            (
                Self::CharRun {
                    checkpoint, config, ..
                },
                Some(dir),
            ) => check_run_outputs(Some(dir), RUN_CONFIG, (checkpoint, config), force),
            (Self::Gpt2 { .. }, Some(dir)) => check_export_dir(dir).map_err(|e| format!("-o {e}")),
        }
    }

    /// Writes `model`, built by `config` (the input's, or a shrunk one), into `dir` in the
    /// input's form: a run directory (`model.bpk`, `run.json`) or a GPT-2 directory with the
    /// source's tokenizer files. A GPT-2 whose blocks lost units is widened back to one width
    /// by zero units ([`widen_to_gpt2`]); what was added is returned.
    pub(crate) fn write(
        &self,
        dir: &Path,
        model: &TransformerLm,
        config: &TransformerLmConfig,
        force: bool,
    ) -> Result<Option<Gpt2Widening>, String> {
        match self {
            Self::CharRun {
                checkpoint, saved, ..
            } => {
                let mut run = (**saved).clone();
                run.model = config.clone();
                write_run(dir, model, &run, checkpoint, force)?;
                Ok(None)
            }
            Self::Gpt2 {
                dir: source,
                config: hf,
                ..
            } => {
                let (wide, wide_config, widening) =
                    widen_to_gpt2(model.clone(), hf).map_err(|e| e.to_string())?;
                save_hf_gpt2(&wide, &wide_config, Some(source), dir)
                    .map_err(|e| format!("-o {}: {e}", dir.display()))?;
                Ok((widening.zero_parameters > 0).then_some(widening))
            }
        }
    }

    /// The last line of a report: what was written into `output`, or that nothing was.
    pub(crate) fn print_written(&self, output: Option<&Path>) {
        match (self, output) {
            (_, None) => println!("dry run: nothing written"),
            (Self::CharRun { .. }, Some(dir)) => print_written(Some(dir), RUN_CONFIG),
            (Self::Gpt2 { .. }, Some(dir)) => println!(
                "wrote the Hugging Face GPT-2 directory {} (config.json, model.safetensors, \
                 tokenizer files)",
                dir.display()
            ),
        }
    }
}

/// Held-out loss before and after a compression, in nats per token (a character for a
/// character model) and as perplexity.
#[derive(serde::Serialize)]
pub(crate) struct ValidationLoss {
    /// `char` or `token`.
    pub unit: &'static str,
    /// The dense model's mean cross-entropy.
    pub dense_nats: f64,
    /// The compressed model's.
    pub compressed_nats: f64,
    /// `exp(dense_nats)`.
    pub dense_perplexity: f64,
    /// `exp(compressed_nats)`.
    pub compressed_perplexity: f64,
}

impl ValidationLoss {
    /// Both losses when both were measured.
    pub(crate) fn new(
        unit: &'static str,
        dense: Option<f64>,
        compressed: Option<f64>,
    ) -> Option<Self> {
        Some(Self {
            unit,
            dense_nats: dense?,
            compressed_nats: compressed?,
            dense_perplexity: dense?.exp(),
            compressed_perplexity: compressed?.exp(),
        })
    }

    /// The report's line: `validation: D nats/char dense → C nats/char pruned (perplexity …)`.
    pub(crate) fn print(&self, compressed: &str) {
        println!(
            "validation: {:.4} nats/{unit} dense → {:.4} nats/{unit} {compressed} (perplexity \
             {:.2} → {:.2})",
            self.dense_nats,
            self.compressed_nats,
            self.dense_perplexity,
            self.compressed_perplexity,
            unit = self.unit,
        );
    }
}

/// A report's note on the zero units a GPT-2 export added, if it added any.
pub(crate) fn print_widening(widening: Option<&Gpt2Widening>) {
    if let Some(w) = widening {
        println!(
            "GPT-2's config gives every block the same widths: the checkpoint has {} heads and \
             {} feed-forward channels per block, the narrower blocks filled with {} zero \
             parameters that change no output",
            w.heads, w.channels, w.zero_parameters
        );
    }
}
