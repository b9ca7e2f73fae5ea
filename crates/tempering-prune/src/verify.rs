//! `verify ORIGINAL PRUNED`: the pruned checkpoint differs from the original only where its
//! provenance says it does.
//!
//! Checked: the same tensor names, element types, shapes and parameter ids; every tensor the
//! last record does not list is byte-identical; a listed tensor differs only by elements set to
//! zero, and has as many zeros as recorded; an N:M pass left no group with more than N
//! non-zeros; every metadata entry and scalar of the original is kept.

use std::path::{Path, PathBuf};

use crate::checkpoint::Checkpoint;
use crate::element::for_each_magnitude_key;
use crate::error::PruneError;
use crate::n_of_m::Groups;
use crate::provenance::{PROVENANCE_KEY, ProvenanceRecord, records};

/// The outcome of [`verify`]: passed when `problems` is empty.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct VerifyReport {
    /// The original checkpoint.
    pub original: PathBuf,
    /// The pruned checkpoint.
    pub pruned: PathBuf,
    /// Tensors compared.
    pub tensors: usize,
    /// Tensors byte-identical to the original.
    pub identical: usize,
    /// Tensors that differ only by zeroed elements, as recorded.
    pub pruned_tensors: usize,
    /// The record checked against, if the file has one.
    pub record: Option<ProvenanceRecord>,
    /// Everything that does not hold, one line each.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Compares `pruned` against `original` (see the module docs). Unreadable files are errors;
/// anything that does not hold is listed in [`VerifyReport::problems`].
pub fn verify(original: &Path, pruned: &Path) -> Result<VerifyReport, PruneError> {
    let a = Checkpoint::open(original)?;
    let b = Checkpoint::open(pruned)?;
    let mut problems = Vec::new();
    if a.format() != b.format() {
        problems.push(format!(
            "format changed from {} to {}",
            a.format().name(),
            b.format().name()
        ));
    }
    let record = match records(b.metadata()) {
        Ok(all) => {
            let before = records(a.metadata()).map_or(0, |r| r.len());
            if all.len() <= before {
                problems.push(format!(
                    "no new '{PROVENANCE_KEY}' record: not written by `tempering prune`"
                ));
            }
            all.into_iter().last()
        }
        Err(e) => {
            problems.push(e);
            None
        }
    };
    for (k, v) in a.metadata() {
        if k == PROVENANCE_KEY {
            continue;
        }
        match b.metadata().get(k) {
            None => problems.push(format!("metadata '{k}' was dropped")),
            Some(w) if w != v => problems.push(format!("metadata '{k}' changed")),
            Some(_) => {}
        }
    }
    if a.scalars() != b.scalars() {
        problems.push("burnpack scalars changed".to_string());
    }
    for e in b.entries() {
        if a.index_of(&e.name).is_none() {
            problems.push(format!("tensor '{}' is new", e.name));
        }
    }
    let (mut identical, mut pruned_tensors) = (0, 0);
    for (i, e) in a.entries().iter().enumerate() {
        let Some(j) = b.index_of(&e.name) else {
            problems.push(format!("tensor '{}' is missing", e.name));
            continue;
        };
        let f = &b.entries()[j];
        if (f.element, &f.dtype, &f.shape, f.param_id)
            != (e.element, &e.dtype, &e.shape, e.param_id)
        {
            problems.push(format!(
                "tensor '{}' changed its type, shape or parameter id ({} {:?} → {} {:?})",
                e.name, e.dtype, e.shape, f.dtype, f.shape
            ));
            continue;
        }
        let (old, new) = (a.data(i), b.data(j));
        let recorded = record.as_ref().and_then(|r| r.zeros.get(&e.name));
        if old == new {
            identical += 1;
            if let Some(&z) = recorded {
                check_zeros(&mut problems, &e.name, e.element, new, z);
            }
            continue;
        }
        let Some(&recorded) = recorded else {
            problems.push(format!(
                "tensor '{}' differs but no record lists it as pruned",
                e.name
            ));
            continue;
        };
        let Some(size) = e.element.float_size() else {
            problems.push(format!("non-float tensor '{}' differs", e.name));
            continue;
        };
        if let Some(k) = old
            .chunks_exact(size)
            .zip(new.chunks_exact(size))
            .position(|(x, y)| x != y && y.iter().any(|&byte| byte != 0))
        {
            problems.push(format!(
                "tensor '{}': element {k} changed to a non-zero value",
                e.name
            ));
            continue;
        }
        pruned_tensors += 1;
        check_zeros(&mut problems, &e.name, e.element, new, recorded);
    }
    if let Some(r) = &record
        && let Some((n, m)) = r.n_of_m
    {
        for (name, &axis) in &r.n_of_m_axes {
            let Some(j) = b.index_of(name) else {
                problems.push(format!(
                    "the record lists an N:M axis for '{name}', which the file does not hold"
                ));
                continue;
            };
            let e = &b.entries()[j];
            if !e.element.is_float() {
                problems.push(format!(
                    "the record lists an N:M axis for '{name}', a {} tensor that pruning never \
                     touches",
                    e.dtype
                ));
                continue;
            }
            match Groups::new(name, &e.shape, axis, n, m) {
                Err(err) => problems.push(err.to_string()),
                Ok(groups) => {
                    // A float tensor's byte length was checked against its shape by the
                    // reader, so this many elements are really in the file.
                    let mut keys = Vec::with_capacity(e.elements());
                    for_each_magnitude_key(e.element, b.data(j), |_, k| keys.push(k));
                    if let Some(group) = groups.first_violation(&keys) {
                        problems.push(format!(
                            "tensor '{name}': the group at elements {group:?} has more than \
                             {n} non-zeros of {m}"
                        ));
                    }
                }
            }
        }
    }
    Ok(VerifyReport {
        original: original.to_path_buf(),
        pruned: pruned.to_path_buf(),
        tensors: a.entries().len(),
        identical,
        pruned_tensors,
        record,
        problems,
    })
}

fn check_zeros(
    problems: &mut Vec<String>,
    name: &str,
    element: crate::element::ElementType,
    data: &[u8],
    recorded: u64,
) {
    let zeros = crate::element::count_zeros(element, data);
    if zeros != recorded {
        problems.push(format!(
            "tensor '{name}' has {zeros} zeros, the record says {recorded}"
        ));
    }
}
