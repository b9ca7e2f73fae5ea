//! The error a model returns when a compression pass asks it for something it cannot do.

/// A compression request a model rejects; every variant names what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompressionError {
    /// A keep list does not fit a unit group.
    BadUnits {
        /// The group's name (`hidden.0`, `blocks.1.attention.heads`), or `(all)`.
        group: String,
        /// Why the list is rejected.
        reason: String,
    },
    /// A configuration value does not fit the model.
    BadConfig {
        /// The option or config field.
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
}

impl std::fmt::Display for CompressionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadUnits { group, reason } => write!(f, "unit group '{group}': {reason}"),
            Self::BadConfig { field, reason } => write!(f, "{field}: {reason}"),
        }
    }
}

impl std::error::Error for CompressionError {}
