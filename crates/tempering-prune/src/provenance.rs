//! The record a pruned checkpoint carries of what was done to it, in its metadata under
//! [`PROVENANCE_KEY`] as a JSON array (one entry per pass, oldest first), so `verify` can
//! check the file against it and a later pass appends rather than replaces.

use std::collections::BTreeMap;

/// Metadata key of the provenance records.
pub const PROVENANCE_KEY: &str = "tempering.provenance";

/// One pass over a checkpoint.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProvenanceRecord {
    /// `tempering <version>`.
    pub tool: String,
    /// `prune`.
    pub operation: String,
    /// The method, as the command line spells it (`global-magnitude`, `nm`, …).
    pub method: String,
    /// The requested sparsity over the targeted tensors.
    pub sparsity: f64,
    /// Global MP's minimum threshold, percent of all targeted weights.
    pub min_keep_percent: Option<f64>,
    /// N and M of an N:M pass.
    pub n_of_m: Option<(usize, usize)>,
    /// Seed of a random pass.
    pub seed: Option<u64>,
    /// `--include` pattern.
    pub include: Option<String>,
    /// `--exclude` pattern.
    pub exclude: Option<String>,
    /// The input file's name.
    pub input: String,
    /// The input file's size in bytes.
    pub input_bytes: u64,
    /// When, in seconds since the Unix epoch.
    pub unix_time: u64,
    /// Zero elements of every pruned tensor after the pass.
    pub zeros: BTreeMap<String, u64>,
    /// The grouping axis of every tensor of an N:M pass.
    pub n_of_m_axes: BTreeMap<String, usize>,
}

/// The records in a checkpoint's metadata (empty if none), or a message if the entry is not
/// a JSON array of records.
pub fn records(metadata: &BTreeMap<String, String>) -> Result<Vec<ProvenanceRecord>, String> {
    match metadata.get(PROVENANCE_KEY) {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| format!("metadata '{PROVENANCE_KEY}' is not a list of records: {e}")),
    }
}

/// The metadata value with `record` appended to the existing records.
pub(crate) fn appended(
    metadata: &BTreeMap<String, String>,
    record: ProvenanceRecord,
) -> Result<String, String> {
    let mut all = records(metadata)?;
    all.push(record);
    serde_json::to_string(&all).map_err(|e| e.to_string())
}
