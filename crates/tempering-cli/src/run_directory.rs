//! A character language model's run directory, as `train_char_lm` writes it and the model
//! commands read and write it: `model.bpk` beside the `run.json` that builds it (or a
//! classifier's `model.json`), each config checked against its checkpoint before anything is
//! built by its sizes, and the text files those models read, one token per character.

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use tempering_core::atomic_write::finish_atomically;
use tempering_data::CharTokenizer;
use tempering_models::transformer::SavedCharLm;
use tempering_prune::checkpoint::check_output;
use tempering_prune::module_load::save_module;

/// The UTF-8 text file `path` (given with `flag`), or an error naming it.
pub(crate) fn read_text(path: &Path, flag: &str) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{flag} {}: not UTF-8 text (byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// The tokens `encode` gives the UTF-8 text file `path` (given with `flag`), naming the file
/// in every error: the file must not be empty, and must give at least `at_least` tokens (one
/// window of the model's context), counted as `unit`s in the message.
pub(crate) fn encoded_text(
    path: &Path,
    flag: &str,
    (at_least, unit): (usize, &str),
    encode: impl FnOnce(&str) -> Result<Vec<u32>, String>,
) -> Result<Vec<u32>, String> {
    let text = read_text(path, flag)?;
    if text.is_empty() {
        return Err(format!("{flag} {}: the file is empty", path.display()));
    }
    let tokens = encode(&text).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
    if tokens.len() < at_least {
        return Err(format!(
            "{flag} {}: {} {unit}; one window of the model's context needs {at_least}",
            path.display(),
            tokens.len()
        ));
    }
    Ok(tokens)
}

/// The tokens of the UTF-8 text file `path` (given with `flag`) for a character model: every
/// character must be in the model's alphabet, and there must be at least `at_least` of them.
pub(crate) fn text_tokens(
    path: &Path,
    flag: &str,
    tokenizer: &CharTokenizer,
    at_least: usize,
) -> Result<Vec<u32>, String> {
    encoded_text(path, flag, (at_least, "characters"), |text| {
        tokenizer.encode(text).map_err(|e| {
            format!(
                "{e}; the model knows only the {} characters of its alphabet",
                tokenizer.vocab_size()
            )
        })
    })
}

/// The config file of a character language model's run directory.
pub(crate) const RUN_CONFIG: &str = "run.json";

/// The two files of an output run directory `dir`: `model.bpk` and its config `config_file`
/// (`run.json` for a language model, `model.json` for a classifier).
pub(crate) fn outputs(dir: &Path, config_file: &str) -> (PathBuf, PathBuf) {
    (dir.join("model.bpk"), dir.join(config_file))
}

/// Refuses a run directory `dir` (when given) whose files (`model.bpk`, `config_file`) would
/// replace `checkpoint` or `config`, or existing files without `force`, before any work is
/// done.
pub(crate) fn check_run_outputs(
    dir: Option<&Path>,
    config_file: &str,
    (checkpoint, config): (&Path, &Path),
    force: bool,
) -> Result<(), String> {
    let Some(dir) = dir else {
        return Ok(());
    };
    let (model_path, run_path) = outputs(dir, config_file);
    for dest in [&model_path, &run_path] {
        for input in [checkpoint, config] {
            check_output(input, dest, force).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Writes the run directory `dir`: `model` as `model.bpk` (never over `checkpoint`) and
/// `saved` as `run.json`, each atomically.
pub(crate) fn write_run<M: Module>(
    dir: &Path,
    model: &M,
    saved: &SavedCharLm,
    checkpoint: &Path,
    force: bool,
) -> Result<(), String> {
    write_run_files(dir, model, (RUN_CONFIG, saved), checkpoint, force)
}

/// Writes an output run directory `dir`: `model` as `model.bpk` (never over `checkpoint`) and
/// `config` as `config_file`, each atomically.
pub(crate) fn write_run_files<M: Module, C: Config>(
    dir: &Path,
    model: &M,
    (config_file, config): (&str, &C),
    checkpoint: &Path,
    force: bool,
) -> Result<(), String> {
    let (model_path, config_path) = outputs(dir, config_file);
    save_module(model, checkpoint, &model_path, force).map_err(|e| e.to_string())?;
    finish_atomically(&config_path, |tmp| config.save(tmp))
        .map_err(|e| format!("cannot write {}: {e}", config_path.display()))
}

/// The last line of a report: the run directory written (`model.bpk` and `config_file`), or
/// that nothing was.
pub(crate) fn print_written(output: Option<&Path>, config_file: &str) {
    match output {
        Some(dir) => {
            let (model, config) = outputs(dir, config_file);
            println!("wrote {} and {}", model.display(), config.display())
        }
        None => println!("dry run: nothing written"),
    }
}

/// Refuses a config (`--config config`) that describes a `what` of `count` parameters (`None`:
/// more than `usize` holds) which `checkpoint` cannot hold at two bytes per parameter at the
/// least: what a reader of an untrusted config checks before building anything by its sizes.
pub(crate) fn check_fits(
    count: Option<usize>,
    what: &str,
    (checkpoint, config): (&Path, &Path),
) -> Result<(), String> {
    let checkpoint_bytes = std::fs::metadata(checkpoint)
        .map_err(|e| format!("{}: {e}", checkpoint.display()))?
        .len();
    match count {
        Some(n) if (n as u64).saturating_mul(2) <= checkpoint_bytes => Ok(()),
        count => Err(format!(
            "--config {}: it describes a {what} of {} parameters, more than {} ({} bytes) can \
             hold",
            config.display(),
            count.map_or_else(|| "more than 2^64".into(), |n| n.to_string()),
            checkpoint.display(),
            checkpoint_bytes
        )),
    }
}

/// The run's config (`run.json`) of a dense model, checked against the checkpoint's size and
/// for its own consistency before anything is built from it.
pub(crate) fn load_run(checkpoint: &Path, config: &Path) -> Result<SavedCharLm, String> {
    let saved =
        SavedCharLm::load(config).map_err(|e| format!("--config {}: {e}", config.display()))?;
    if !saved.factorized_layers().is_empty() {
        return Err(format!(
            "--config {}: {} of the model's layers are low-rank factors (written by `tempering \
             compress`); this command takes the dense run it was compressed from",
            config.display(),
            saved.factorized_layers().len()
        ));
    }
    // Before the config is checked or built (both allocate by its sizes).
    check_fits(saved.model.parameter_count(), "model", (checkpoint, config))?;
    saved
        .check()
        .map_err(|e| format!("--config {}: {e}", config.display()))?;
    Ok(saved)
}
