//! `inspect CKPT`: every tensor with its type, shape, size and sparsity, and the totals.

use std::path::{Path, PathBuf};

use crate::checkpoint::{Checkpoint, Format};
use crate::element::count_zeros;
use crate::error::PruneError;
use crate::provenance::{ProvenanceRecord, records};

/// One tensor of [`Inspection`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TensorSummary {
    /// Name.
    pub name: String,
    /// The format's element type.
    pub dtype: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Elements.
    pub elements: u64,
    /// Bytes.
    pub bytes: u64,
    /// Zero elements (`None` for non-float tensors).
    pub zeros: Option<u64>,
}

/// What a checkpoint holds.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Inspection {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// Its size in bytes.
    pub file_bytes: u64,
    /// Every tensor, by name.
    pub tensors: Vec<TensorSummary>,
    /// Metadata entries.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Earlier tempering passes recorded in the metadata.
    pub provenance: Vec<ProvenanceRecord>,
}

impl Inspection {
    /// Total elements.
    pub fn elements(&self) -> u64 {
        self.tensors.iter().map(|t| t.elements).sum()
    }

    /// Total tensor bytes.
    pub fn bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.bytes).sum()
    }

    /// Zero elements over all float tensors, and their element count.
    pub fn float_zeros(&self) -> (u64, u64) {
        self.tensors
            .iter()
            .filter_map(|t| t.zeros.map(|z| (z, t.elements)))
            .fold((0, 0), |(z, n), (tz, tn)| (z + tz, n + tn))
    }
}

/// Reads and summarizes a checkpoint.
pub fn inspect(path: &Path) -> Result<Inspection, PruneError> {
    let checkpoint = Checkpoint::open(path)?;
    let tensors = checkpoint
        .entries()
        .iter()
        .enumerate()
        .map(|(i, e)| TensorSummary {
            name: e.name.clone(),
            dtype: e.dtype.clone(),
            shape: e.shape.clone(),
            elements: e.elements() as u64,
            bytes: e.byte_len as u64,
            zeros: e
                .element
                .is_float()
                .then(|| count_zeros(e.element, checkpoint.data(i))),
        })
        .collect();
    Ok(Inspection {
        path: path.to_path_buf(),
        format: checkpoint.format(),
        file_bytes: std::fs::metadata(path).map_or(0, |m| m.len()),
        tensors,
        metadata: checkpoint.metadata().clone(),
        provenance: records(checkpoint.metadata()).unwrap_or_default(),
    })
}
