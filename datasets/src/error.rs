//! The one error type of tempering-data: every variant names the file (or source) and the problem.

use std::path::PathBuf;

/// Everything that can go wrong while loading or preparing data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file's first four bytes are not the IDX magic number that was expected.
    #[error("{path}: wrong magic number 0x{found:08x}, expected 0x{expected:08x} ({what})")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number an IDX file of this kind starts with.
        expected: u32,
        /// The magic number found.
        found: u32,
        /// What kind of file was expected.
        what: &'static str,
    },
    /// The file ends before the data its header announces.
    #[error(
        "{path}: truncated, the header announces {expected} bytes but only {actual} are present"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header announces (header included).
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// A gzip stream that is corrupt or ends early.
    #[error("{path}: corrupt or truncated gzip stream: {source}")]
    Decompress {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// The file is longer than its header announces.
    #[error("{path}: {extra} unexpected bytes after the {expected} bytes the header announces")]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Bytes the header announces (header included).
        expected: usize,
        /// Bytes beyond that.
        extra: usize,
    },
    /// A header field has a value this loader cannot use.
    #[error("{path}: {problem}")]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// An image file and its label file disagree on the number of items.
    #[error("{images} holds {image_count} images but {labels} holds {label_count} labels")]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// Images in it.
        image_count: usize,
        /// The label file.
        labels: PathBuf,
        /// Labels in it.
        label_count: usize,
    },
    /// A label is outside the classes of the data set.
    #[error("{path}: label {label} at index {index} is not a class (0..{classes})")]
    BadLabel {
        /// The label file.
        path: PathBuf,
        /// Position of the label.
        index: usize,
        /// The label found.
        label: u8,
        /// Number of classes.
        classes: usize,
    },
    /// A data directory the user named does not hold the files that were looked for.
    #[error("{dir} ({origin}) has no {file}[.gz]")]
    MissingFile {
        /// The directory searched.
        dir: PathBuf,
        /// Where the directory came from (an explicit path, an environment variable).
        origin: String,
        /// The file that is missing.
        file: &'static str,
    },
    /// A character that the tokenizer's vocabulary does not contain.
    #[error("character {ch:?} at byte {position} is not in the vocabulary")]
    UnknownChar {
        /// The character.
        ch: char,
        /// Byte offset of it in the text.
        position: usize,
    },
    /// A configuration value that cannot be used.
    #[error("invalid {field}: {problem}")]
    InvalidConfig {
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// Result with [`DataError`].
pub type Result<T> = std::result::Result<T, DataError>;
