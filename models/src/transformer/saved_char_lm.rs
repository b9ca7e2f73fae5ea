//! What a trained character model's `run.json` holds: the model's config, its factorized
//! layers if it was compressed, and the tokenizer's alphabet. `train_char_lm` writes it beside
//! `model.bpk`; the `tempering` command line reads it to rebuild the model it prunes, and
//! `tempering compress` writes it with the factorized layers.

use burn::config::Config;

use super::{FactorizedLayer, FactorizedLmConfig, TransformerLmConfig};

/// The contents of `run.json`: enough to rebuild the model and its tokenizer.
#[derive(Config, Debug)]
pub struct SavedCharLm {
    /// The model's architecture.
    pub model: TransformerLmConfig,
    /// The tokenizer's alphabet, in id order (character `i` is token `i`).
    pub alphabet: String,
    /// The corpus it was trained on.
    pub corpus: String,
    /// Optimizer steps taken.
    pub steps: usize,
    /// The layers stored as ALDS factors (`None`, or absent from the file, for a dense model).
    #[config(default = "None")]
    pub factorized: Option<Vec<FactorizedLayer>>,
}

impl SavedCharLm {
    /// Why this file cannot rebuild a model and its tokenizer, if it cannot: an invalid model
    /// config, or an alphabet that is not one distinct character per token.
    pub fn check(&self) -> Result<(), String> {
        self.factorized_config()
            .check()
            .map_err(|e| format!("the model config is invalid: {e}"))?;
        let mut chars: Vec<char> = self.alphabet.chars().collect();
        let count = chars.len();
        if count != self.model.vocab_size {
            return Err(format!(
                "the alphabet has {count} characters but the model {} tokens",
                self.model.vocab_size
            ));
        }
        chars.sort_unstable();
        chars.dedup();
        if chars.len() != count {
            return Err("the alphabet repeats a character".into());
        }
        Ok(())
    }

    /// The layers stored as ALDS factors (none for a dense model).
    pub fn factorized_layers(&self) -> &[FactorizedLayer] {
        self.factorized.as_deref().unwrap_or_default()
    }

    /// The config of the model with its factorized layers (see [`FactorizedLmConfig`]).
    pub fn factorized_config(&self) -> FactorizedLmConfig {
        FactorizedLmConfig::new(self.model.clone(), self.factorized_layers().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alphabet_must_fit_the_model() {
        let saved = |alphabet: &str| {
            SavedCharLm::new(
                TransformerLmConfig::new(3).with_d_model(8).with_n_heads(2),
                alphabet.into(),
                "test".into(),
                0,
            )
        };
        saved("abc").check().unwrap();
        assert!(saved("ab").check().unwrap_err().contains("2 characters"));
        assert!(saved("aba").check().unwrap_err().contains("repeats"));
        let mut bad = saved("abc");
        bad.model.n_heads = 3;
        assert!(bad.check().unwrap_err().contains("config is invalid"));
    }
}
