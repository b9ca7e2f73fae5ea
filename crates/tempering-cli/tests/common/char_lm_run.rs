//! A character language model's run directory (`model.bpk` of a small fresh model beside the
//! `run.json` that rebuilds it, as `train_char_lm` saves one) and a text in its alphabet, for
//! the CLI tests that take `--config`.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Device;
use tempering_core::split_mix::SplitMix64;
use tempering_models::TransformerLmConfig;
use tempering_models::transformer::SavedCharLm;

/// The test model's alphabet.
pub const ALPHABET: &str = "\n abcdefgh";

/// The test model: 2 blocks of width 16, `d_ff` feed-forward channels.
pub fn config(d_ff: usize) -> TransformerLmConfig {
    TransformerLmConfig::new(ALPHABET.chars().count())
        .with_context(8)
        .with_d_model(16)
        .with_n_layers(2)
        .with_n_heads(2)
        .with_d_ff(Some(d_ff))
        .with_init_std(0.3)
}

/// A run directory: `model.bpk` of a fresh model and its `run.json`; plus a text file in the
/// model's alphabet.
pub fn run_dir(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let model = config(32).init(&Device::default());
    model.save_file(run.join("model.bpk")).unwrap();
    SavedCharLm::new(config(32), ALPHABET.into(), "test".into(), 0)
        .save(run.join("run.json"))
        .unwrap();
    let mut rng = SplitMix64::new(3);
    let chars: Vec<char> = ALPHABET.chars().collect();
    let corpus: String = (0..2_000).map(|_| chars[rng.below(chars.len())]).collect();
    let text_file = dir.join("text.txt");
    std::fs::write(&text_file, corpus).unwrap();
    (run.join("model.bpk"), run.join("run.json"), text_file)
}
