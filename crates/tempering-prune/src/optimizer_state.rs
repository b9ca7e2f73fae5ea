//! The optimizer state saved beside a pruned checkpoint: burn-train's `optim-{epoch}.bpk`
//! (a `burn_optim::OptimizerRecord`), whose tensors are named `{param_id}.{field}` and carry
//! the parameter id of the weight they belong to.
//!
//! Resuming from the dense run's state would regrow pruned weights: Adam's and SGD's momentum
//! still point away from zero (Gupta et al. 2022 re-apply the mask after every step for the
//! same reason). [`mask_optimizer_checkpoint`] writes a copy whose state entries are zero
//! wherever the pruning zeroed a weight, found by comparing the original and pruned
//! checkpoints element by element.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::checkpoint::{Checkpoint, Transform, check_output};
use crate::error::PruneError;

/// One state tensor that was masked.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MaskedState {
    /// The state tensor's name (`{param_id}.{field}`).
    pub state: String,
    /// The weight it belongs to.
    pub weight: String,
    /// Entries set to zero (the weight's newly pruned elements).
    pub masked: u64,
}

/// What [`mask_optimizer_checkpoint`] did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct OptimizerMaskReport {
    /// The optimizer checkpoint read.
    pub input: PathBuf,
    /// The masked copy written.
    pub output: PathBuf,
    /// Every masked state tensor, by weight name.
    pub masked: Vec<MaskedState>,
    /// Pruned weights that have no state in the file (not trained by this optimizer, or a
    /// state of another shape); nothing can regrow them through it.
    pub pruned_without_state: Vec<String>,
}

/// Writes to `output` a copy of the optimizer checkpoint `optimizer` with the state of every
/// weight that `pruned` zeroed (relative to `original`) zeroed at the same elements.
///
/// Weights are matched to state by burnpack parameter id, or for a safetensors model by the
/// module path the optimizer record stores for each id. None of the three inputs is ever
/// overwritten; an existing `output` only with `overwrite`.
pub fn mask_optimizer_checkpoint(
    original: &Path,
    pruned: &Path,
    optimizer: &Path,
    output: &Path,
    overwrite: bool,
) -> Result<OptimizerMaskReport, PruneError> {
    for input in [original, pruned, optimizer] {
        check_output(input, output, overwrite)?;
    }
    let original = Arc::new(Checkpoint::open(original)?);
    let pruned = Arc::new(Checkpoint::open(pruned)?);
    let state = Checkpoint::open(optimizer)?;
    // The optimizer record's metadata maps each parameter id to its module path.
    let id_of_path: HashMap<&str, u64> = state
        .metadata()
        .iter()
        .filter_map(|(id, path)| Some((path.as_str(), id.parse().ok()?)))
        .collect();

    // Pruned weights by parameter id: (index in `pruned`, index in `original`, elements zeroed).
    let mut by_id: HashMap<u64, (usize, usize, u64)> = HashMap::new();
    let mut unmatched = Vec::new();
    for (p, entry) in pruned.entries().iter().enumerate() {
        let Some(size) = entry.element.float_size() else {
            continue;
        };
        let o = original
            .index_of(&entry.name)
            .ok_or_else(|| mismatch(&pruned, &entry.name, "is not in the original checkpoint"))?;
        if original.entries()[o].shape != entry.shape
            || original.entries()[o].element != entry.element
        {
            return Err(mismatch(
                &pruned,
                &entry.name,
                "has another shape or type than in the original",
            ));
        }
        let zeroed = newly_zero(original.data(o), pruned.data(p), size).count() as u64;
        if zeroed == 0 {
            continue;
        }
        match entry
            .param_id
            .or_else(|| id_of_path.get(entry.name.as_str()).copied())
        {
            Some(id) => {
                by_id.insert(id, (p, o, zeroed));
            }
            None => unmatched.push(entry.name.clone()),
        }
    }

    let mut replaced: HashMap<usize, Transform> = HashMap::new();
    let mut masked = Vec::new();
    let mut with_state = std::collections::HashSet::new();
    for (i, entry) in state.entries().iter().enumerate() {
        let (Some(id), Some(state_size)) = (entry.param_id, entry.element.float_size()) else {
            continue;
        };
        let Some(&(p, o, zeroed)) = by_id.get(&id) else {
            continue;
        };
        let weight = &pruned.entries()[p];
        if entry.elements() != weight.elements() {
            continue;
        }
        let weight_size = weight.element.float_size().expect("a float weight");
        let (original, pruned) = (original.clone(), pruned.clone());
        replaced.insert(
            i,
            Transform::Whole(Arc::new(move |bytes: &[u8], out: &mut Vec<u8>| {
                out.clear();
                out.extend_from_slice(bytes);
                for e in newly_zero(original.data(o), pruned.data(p), weight_size) {
                    out[e * state_size..(e + 1) * state_size].fill(0);
                }
            })),
        );
        with_state.insert(id);
        masked.push(MaskedState {
            state: entry.name.clone(),
            weight: weight.name.clone(),
            masked: zeroed,
        });
    }
    for (id, &(p, _, _)) in &by_id {
        if !with_state.contains(id) {
            unmatched.push(pruned.entries()[p].name.clone());
        }
    }
    unmatched.sort();
    masked.sort_by(|a, b| (&a.weight, &a.state).cmp(&(&b.weight, &b.state)));
    let added = std::collections::BTreeMap::from([(
        "tempering.masked_for".to_string(),
        pruned
            .path()
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
    )]);
    state.write_to(output, replaced, &added, overwrite)?;
    Ok(OptimizerMaskReport {
        input: optimizer.to_path_buf(),
        output: output.to_path_buf(),
        masked,
        pruned_without_state: unmatched,
    })
}

fn mismatch(pruned: &Checkpoint, name: &str, what: &str) -> PruneError {
    PruneError::bad(
        "PRUNED",
        format!(
            "{}: tensor '{name}' {what}; give the checkpoint it was pruned from",
            pruned.path().display()
        ),
    )
}

/// Whether a little-endian float element is ±0.
fn is_zero(element: &[u8]) -> bool {
    let (last, rest) = element.split_last().expect("elements have bytes");
    last & 0x7f == 0 && rest.iter().all(|&b| b == 0)
}

/// Indices of the elements that are non-zero in `before` and zero in `after`.
fn newly_zero<'a>(
    before: &'a [u8],
    after: &'a [u8],
    size: usize,
) -> impl Iterator<Item = usize> + 'a {
    before
        .chunks_exact(size)
        .zip(after.chunks_exact(size))
        .enumerate()
        .filter(|(_, (b, a))| !is_zero(b) && is_zero(a))
        .map(|(i, _)| i)
}
