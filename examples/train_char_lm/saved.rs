//! A trained character model on disk: `model.bpk` (burnpack weights) beside `run.json` (the
//! model's config and the tokenizer's alphabet, and its factorized layers when `tempering
//! compress` wrote it), and generation from it.

use std::error::Error;
use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Device;
use tempering_core::atomic_write::finish_atomically;
use tempering_data::CharTokenizer;
use tempering_models::transformer::{Projection, Sampling};
use tempering_models::{LinearLayer, TransformerLm};

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

/// A saved model: as trained, or with the layers `tempering compress` factorized.
pub enum SavedModel {
    /// Every layer dense.
    Dense(TransformerLm),
    /// Some block linear layers as ALDS factors.
    Factorized(TransformerLm<LinearLayer>),
}

/// `run.json` of the run in `dir`, checked, and its tokenizer.
fn read_run(dir: &Path) -> Result<(SavedCharLm, CharTokenizer), Box<dyn Error>> {
    let (run, _) = run_files(dir);
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
    Ok((saved, tokenizer))
}

/// Loads a dense run saved by [`save`], naming the file that is missing or broken; a
/// factorized run is refused by name.
pub fn load(
    dir: &Path,
    device: &Device,
) -> Result<(SavedCharLm, TransformerLm, CharTokenizer), Box<dyn Error>> {
    match load_any(dir, device)? {
        (saved, SavedModel::Dense(model), tokenizer) => Ok((saved, model, tokenizer)),
        (saved, SavedModel::Factorized(_), _) => Err(format!(
            "{}: {} layers are low-rank factors (written by `tempering compress`); this needs \
             the dense run",
            dir.display(),
            saved.factorized_layers().len()
        )
        .into()),
    }
}

/// Loads a run, dense or factorized, naming the file that is missing or broken.
pub fn load_any(
    dir: &Path,
    device: &Device,
) -> Result<(SavedCharLm, SavedModel, CharTokenizer), Box<dyn Error>> {
    let (_, weights) = run_files(dir);
    let (saved, tokenizer) = read_run(dir)?;
    let cannot = |e: burn::store::RecordError| format!("cannot load {}: {e}", weights.display());
    let model = if saved.factorized_layers().is_empty() {
        SavedModel::Dense(
            saved
                .model
                .init(device)
                .try_load_file(&weights)
                .map_err(cannot)?,
        )
    } else {
        SavedModel::Factorized(
            saved
                .factorized_config()
                .init(device)
                .try_load_file(&weights)
                .map_err(cannot)?,
        )
    };
    Ok((saved, model, tokenizer))
}

/// `count` characters sampled after `prompt` (which is kept at the start of the result).
pub fn generate_text<P: Projection>(
    model: &TransformerLm<P>,
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
