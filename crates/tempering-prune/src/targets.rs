//! Which tensors a pass touches.
//!
//! By default: floating-point weights of rank ≥ 2 whose name does not mention an embedding.
//! Biases and normalization scales (rank 1) and embeddings (a table, not a linear map; pruning
//! its rows deletes tokens) stay untouched. `--include` replaces the default rule with a name
//! pattern (any float rank); `--exclude` then removes matches.

use regex::Regex;

use crate::checkpoint::{Checkpoint, TensorEntry};
use crate::error::PruneError;

/// Names that look like embedding tables.
const EMBEDDING: &str = r"(?i)embed|(^|\.)(wte|wpe)(\.|$)";

/// A tensor left out, and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Skipped {
    /// Its name.
    pub name: String,
    /// Why it is not pruned.
    pub reason: &'static str,
}

/// The compiled `pattern` of the option `field`, or an error naming both.
pub(crate) fn compile_pattern(
    field: &'static str,
    pattern: Option<&str>,
) -> Result<Option<Regex>, PruneError> {
    pattern
        .map(|p| Regex::new(p).map_err(|e| PruneError::bad(field, format!("{p:?}: {e}"))))
        .transpose()
}

/// The indices (into [`Checkpoint::entries`], ascending) of the tensors to prune, and the ones
/// skipped with their reason.
pub fn select(
    checkpoint: &Checkpoint,
    include: Option<&str>,
    exclude: Option<&str>,
) -> Result<(Vec<usize>, Vec<Skipped>), PruneError> {
    let include = compile_pattern("--include", include)?;
    let exclude = compile_pattern("--exclude", exclude)?;
    let embedding = Regex::new(EMBEDDING).expect("a valid pattern");
    let mut targets = Vec::new();
    let mut skipped = Vec::new();
    for (i, e) in checkpoint.entries().iter().enumerate() {
        match reason_to_skip(e, include.as_ref(), exclude.as_ref(), &embedding) {
            None => targets.push(i),
            Some(reason) => skipped.push(Skipped {
                name: e.name.clone(),
                reason,
            }),
        }
    }
    if targets.is_empty() {
        // Name each tensor with the reason it was left out: "w (empty)" says more than "w".
        let names: Vec<String> = skipped
            .iter()
            .take(8)
            .map(|s| format!("{} ({})", s.name, s.reason))
            .collect();
        let why = match &include {
            Some(p) => format!(
                "--include {:?} selects no floating-point tensor",
                p.as_str()
            ),
            None => "no floating-point tensor of rank ≥ 2 outside embeddings".to_string(),
        };
        return Err(PruneError::NoTargets {
            path: checkpoint.path().to_path_buf(),
            reason: format!(
                "{why} (after --exclude); {} tensors: {}",
                checkpoint.entries().len(),
                names.join(", ")
            ),
        });
    }
    Ok((targets, skipped))
}

fn reason_to_skip(
    e: &TensorEntry,
    include: Option<&Regex>,
    exclude: Option<&Regex>,
    embedding: &Regex,
) -> Option<&'static str> {
    if !e.element.is_float() {
        return Some("not a floating-point tensor");
    }
    match include {
        Some(p) if !p.is_match(&e.name) => return Some("not matched by --include"),
        Some(_) => {}
        None if e.shape.len() < 2 => return Some("rank < 2 (bias or norm)"),
        None if embedding.is_match(&e.name) => return Some("embedding"),
        None => {}
    }
    if exclude.is_some_and(|p| p.is_match(&e.name)) {
        return Some("matched by --exclude");
    }
    if e.elements() == 0 {
        return Some("empty");
    }
    None
}
