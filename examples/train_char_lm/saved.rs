//! A trained character model on disk: `model.bpk` (burnpack weights) beside `run.json` (the
//! model's config and the tokenizer's alphabet), and generation from it.

use std::error::Error;
use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Device;
use tempering_core::atomic_write::finish_atomically;
use tempering_data::CharTokenizer;
use tempering_models::TransformerLm;
use tempering_models::transformer::Sampling;

pub use tempering_models::transformer::SavedCharLm;

/// The two files of a saved run in `dir`.
pub fn run_files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("run.json"), dir.join("model.bpk"))
}

/// Writes `run.json` and `model.bpk` into `dir`, each atomically.
pub fn save(dir: &Path, saved: &SavedCharLm, model: &TransformerLm) -> Result<(), Box<dyn Error>> {
    let (run, weights) = run_files(dir);
    std::fs::create_dir_all(dir)?;
    crate::common::classifier_training::save_model(model, &weights)?;
    finish_atomically(&run, |tmp| saved.save(tmp))
        .map_err(|e| format!("cannot write {}: {e}", run.display()))?;
    Ok(())
}

/// Loads a run saved by [`save`], naming the file that is missing or broken.
pub fn load(
    dir: &Path,
    device: &Device,
) -> Result<(SavedCharLm, TransformerLm, CharTokenizer), Box<dyn Error>> {
    let (run, weights) = run_files(dir);
    let saved = SavedCharLm::load(&run).map_err(|e| {
        format!(
            "cannot read {} (train first, or pass --out): {e}",
            run.display()
        )
    })?;
    saved
        .check()
        .map_err(|e| format!("{}: {e}", run.display()))?;
    let tokenizer = CharTokenizer::from_chars(saved.alphabet.chars().collect());
    let model = saved
        .model
        .init(device)
        .try_load_file(&weights)
        .map_err(|e| format!("cannot load {}: {e}", weights.display()))?;
    Ok((saved, model, tokenizer))
}

/// `count` characters sampled after `prompt` (which is kept at the start of the result).
pub fn generate_text(
    model: &TransformerLm,
    tokenizer: &CharTokenizer,
    prompt: &str,
    count: usize,
    sampling: &Sampling,
    seed: u64,
) -> Result<String, Box<dyn Error>> {
    let ids = tokenizer
        .encode(prompt)
        .map_err(|e| format!("the prompt cannot be encoded: {e}"))?;
    let out = model.generate(&ids, count, sampling, seed)?;
    Ok(tokenizer.decode(&out))
}
