//! The one error type of checkpoint pruning: every variant names the file, tensor or field.

use std::path::PathBuf;

/// What went wrong while reading, pruning, writing or verifying a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is neither burnpack nor safetensors.
    #[error("{path}: not a burnpack (.bpk) or safetensors checkpoint (its first bytes are {head})")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// Its first bytes, in hex.
        head: String,
    },
    /// The file has the right signature but its contents are damaged or truncated.
    #[error("{path}: corrupt {format} checkpoint: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// `burnpack` or `safetensors`.
        format: &'static str,
        /// What the reader found.
        reason: String,
    },
    /// The output exists and `force` was not given.
    #[error("{path} already exists; pass --force to replace it")]
    OutputExists {
        /// The output path.
        path: PathBuf,
    },
    /// The output path is the input file.
    #[error("{path} is the input checkpoint; write the result to a new file")]
    OutputIsInput {
        /// The path.
        path: PathBuf,
    },
    /// A configuration value is out of range.
    #[error("{field}: {reason}")]
    BadConfig {
        /// The option (as the command line spells it).
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// No tensor is selected for pruning.
    #[error("no tensor to prune in {path}: {reason}")]
    NoTargets {
        /// The checkpoint.
        path: PathBuf,
        /// Why, with the names that were seen.
        reason: String,
    },
    /// A weight is NaN, so it has no magnitude to rank.
    #[error("tensor '{tensor}' holds NaN at element {index}; refusing to rank its magnitudes")]
    NotANumber {
        /// The tensor.
        tensor: String,
        /// The first NaN's flat index.
        index: usize,
    },
    /// A value is infinite, or too large for the `f32` arithmetic of the pass.
    #[error("tensor '{tensor}' holds {value} at element {index}; {reason}")]
    NotFinite {
        /// The tensor.
        tensor: String,
        /// The first such element's flat index.
        index: usize,
        /// The value as stored (`inf`, `1e300`).
        value: String,
        /// Why the pass cannot use it.
        reason: &'static str,
    },
    /// The numerical routine did not reach an answer for a tensor.
    #[error("tensor '{tensor}': {reason}")]
    Numerical {
        /// The tensor.
        tensor: String,
        /// What failed.
        reason: String,
    },
    /// A checkpoint does not hold the parameters of the model its config describes.
    #[error("{path} does not match the model's config: {reason}")]
    Mismatch {
        /// The checkpoint.
        path: std::path::PathBuf,
        /// What differs, naming the tensor.
        reason: String,
    },
    /// A tensor cannot be split into N:M groups.
    #[error("tensor '{tensor}': {reason}")]
    BadShape {
        /// The tensor.
        tensor: String,
        /// What does not fit.
        reason: String,
    },
    /// A structured-pruning request does not fit the model's unit groups.
    #[error("unit group '{group}': {reason}")]
    BadUnits {
        /// The group (`hidden.0`, `blocks.1.attention.heads`, …).
        group: String,
        /// What does not fit.
        reason: String,
    },
}

impl From<tempering_core::compression::CompressionError> for PruneError {
    fn from(error: tempering_core::compression::CompressionError) -> Self {
        use tempering_core::compression::CompressionError;
        match error {
            CompressionError::BadUnits { group, reason } => Self::BadUnits { group, reason },
            CompressionError::BadConfig { field, reason } => Self::BadConfig { field, reason },
        }
    }
}

impl PruneError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn bad(field: &'static str, reason: impl Into<String>) -> Self {
        Self::BadConfig {
            field,
            reason: reason.into(),
        }
    }
}
