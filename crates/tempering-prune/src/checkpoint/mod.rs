//! Checkpoints read and written by tensor name, without the model's code: burnpack (`.bpk`,
//! burn-store's format) and safetensors.
//!
//! [`Checkpoint::open`] reads the whole file once and validates it (a truncated, corrupt or
//! foreign file is a [`PruneError`] naming the file, never a panic); tensor data are then views
//! into that buffer. [`Checkpoint::write_to`] writes a copy in the same format with some tensors
//! replaced and metadata added, atomically, refusing an existing output unless asked and the
//! input always.

mod burnpack_file;
mod lookahead;
mod publish;
mod safetensors_file;
mod windows;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::element::ElementType;
use crate::error::PruneError;

/// A checkpoint file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Format {
    /// burn-store's burnpack.
    Burnpack,
    /// Hugging Face safetensors.
    Safetensors,
}

impl Format {
    /// The format's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Burnpack => "burnpack",
            Self::Safetensors => "safetensors",
        }
    }

    /// Recognizes a file by its first bytes: burnpack starts with the magic `NRUB` ("BURN" as a
    /// little-endian `u32`), safetensors with a little-endian `u64` header length followed by
    /// the JSON header's `{`.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(b"NRUB") {
            Some(Self::Burnpack)
        } else if head.len() >= 9 && head[8] == b'{' {
            Some(Self::Safetensors)
        } else {
            None
        }
    }
}

/// One tensor's description.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorEntry {
    /// Full name (module path), e.g. `hidden.0.weight`.
    pub name: String,
    /// Element type.
    pub element: ElementType,
    /// The format's own name of the element type (`F32`, `I64`, `QFloat(..)`, …).
    pub dtype: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// burnpack's parameter id (kept on write); `None` for safetensors.
    pub param_id: Option<u64>,
    /// Size of the data in bytes.
    pub byte_len: usize,
}

impl TensorEntry {
    /// Number of elements.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// How a tensor's new bytes (the same length) are made from its original bytes when the output
/// is written.
#[derive(Clone)]
pub enum Transform {
    /// From the whole tensor: `f(original, buffer)` writes the new bytes into a recycled buffer
    /// (arriving with whatever it last held: `f` sets its length and every byte). Memory
    /// grows with the largest such tensors.
    Whole(WholeTransform),
    /// Element by element: `f(first, window, out)` writes into `out` (as long as `window`) the
    /// new bytes of `window`, whole elements starting at element `first`. The tensor is
    /// streamed through fixed windows of [`WINDOW_BYTES`], so memory stays a few windows
    /// whatever the tensor's size.
    Windowed(WindowTransform),
}

/// See [`Transform::Whole`].
pub type WholeTransform = std::sync::Arc<dyn Fn(&[u8], &mut Vec<u8>) + Send + Sync>;

/// See [`Transform::Windowed`].
pub type WindowTransform = std::sync::Arc<dyn Fn(u64, &[u8], &mut [u8]) + Send + Sync>;

/// The bytes of one window of a [`Transform::Windowed`] tensor: 8 MiB, burn-pack's write chunk,
/// a multiple of every element size.
pub const WINDOW_BYTES: usize = 8 << 20;

/// A checkpoint, memory-mapped.
pub struct Checkpoint {
    path: PathBuf,
    format: Format,
    entries: Vec<TensorEntry>,
    metadata: BTreeMap<String, String>,
    body: Body,
}

enum Body {
    Burnpack(burnpack_file::Body),
    Safetensors(safetensors_file::Body),
}

impl Checkpoint {
    /// Maps and validates a checkpoint.
    ///
    /// The file is memory-mapped, not copied (reading a 1 GiB file into a fresh buffer costs
    /// more in page faults than the whole pruning pass); it must not be truncated by another
    /// process while the checkpoint is open.
    pub fn open(path: &Path) -> Result<Self, PruneError> {
        let file = open_regular_file(path)?;
        let len = file.metadata().map_err(|e| PruneError::io(path, e))?.len();
        if len == 0 {
            return Self::from_shared(path, bytes::Bytes::new());
        }
        // SAFETY: the map is read-only and private to this process; the documented contract
        // above (no concurrent truncation) is the usual one of memory-mapped checkpoint
        // readers (safetensors, burn-store).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| PruneError::io(path, e))?;
        Self::from_shared(path, bytes::Bytes::from_owner(map))
    }

    /// Parses a checkpoint already in memory; `path` is only used in messages and reports.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self, PruneError> {
        Self::from_shared(path, bytes::Bytes::from(bytes))
    }

    fn from_shared(path: &Path, bytes: bytes::Bytes) -> Result<Self, PruneError> {
        let format = Format::sniff(&bytes).ok_or_else(|| PruneError::UnknownFormat {
            path: path.to_path_buf(),
            head: bytes
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        })?;
        let corrupt = |reason: String| PruneError::Corrupt {
            path: path.to_path_buf(),
            format: format.name(),
            reason,
        };
        let (entries, metadata, body) = match format {
            Format::Burnpack => {
                let (entries, metadata, body) = burnpack_file::read(bytes).map_err(corrupt)?;
                (entries, metadata, Body::Burnpack(body))
            }
            Format::Safetensors => {
                let (entries, metadata, body) = safetensors_file::read(bytes).map_err(corrupt)?;
                (entries, metadata, Body::Safetensors(body))
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            format,
            entries,
            metadata,
            body,
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Every tensor, sorted by name.
    pub fn entries(&self) -> &[TensorEntry] {
        &self.entries
    }

    /// The index of a tensor by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.entries
            .binary_search_by(|e| e.name.as_str().cmp(name))
            .ok()
    }

    /// Key/value metadata stored with the tensors.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Typed scalars stored beside the tensors (burnpack only), rendered as text.
    pub fn scalars(&self) -> BTreeMap<String, String> {
        match &self.body {
            Body::Burnpack(b) => b.scalars_text(),
            Body::Safetensors(_) => BTreeMap::new(),
        }
    }

    /// The raw little-endian bytes of tensor `index`.
    pub fn data(&self, index: usize) -> &[u8] {
        match &self.body {
            Body::Burnpack(b) => b.data(index),
            Body::Safetensors(b) => b.data(index),
        }
    }

    /// Writes this checkpoint to `dest` in the same format, with the tensors in `replaced`
    /// (index → how to make its new bytes) transformed and `added` merged into the metadata.
    ///
    /// The file is written beside `dest` and moved into place only when complete. An existing
    /// `dest` is an error unless `overwrite`; `dest` being the input file always is.
    pub fn write_to(
        &self,
        dest: &Path,
        replaced: HashMap<usize, Transform>,
        added: &BTreeMap<String, String>,
        overwrite: bool,
    ) -> Result<(), PruneError> {
        publish::check_destination(&self.path, dest, overwrite)?;
        let mut metadata = self.metadata.clone();
        metadata.extend(added.iter().map(|(k, v)| (k.clone(), v.clone())));
        publish::publish(dest, overwrite, |tmp| match &self.body {
            Body::Burnpack(b) => b.write(&self.entries, replaced, &metadata, tmp),
            Body::Safetensors(b) => b.write(&self.entries, &replaced, &metadata, tmp),
        })
    }
}

impl Checkpoint {
    /// A burnpack checkpoint rewritten in memory with the tensors in `replaced` transformed
    /// (for records that never touch the disk, such as an optimizer's state).
    pub fn burnpack_bytes(
        &self,
        replaced: HashMap<usize, Transform>,
    ) -> Result<Vec<u8>, PruneError> {
        match &self.body {
            Body::Burnpack(b) => {
                b.to_bytes(&self.entries, replaced, &self.metadata)
                    .map_err(|reason| PruneError::Corrupt {
                        path: self.path.clone(),
                        format: self.format.name(),
                        reason,
                    })
            }
            Body::Safetensors(_) => Err(PruneError::bad(
                "format",
                format!("{} is safetensors, not burnpack", self.path.display()),
            )),
        }
    }
}

/// Refuses `dest` before any work is done: it is `input`, or exists and `overwrite` is off.
pub fn check_output(input: &Path, dest: &Path, overwrite: bool) -> Result<(), PruneError> {
    publish::check_destination(input, dest, overwrite)
}

/// Opens `path` for reading if it is a regular file. Opened without blocking, so a FIFO or a
/// device given by mistake is refused instead of waiting forever for a writer; the check is
/// made on the opened file, so swapping the path afterwards changes nothing.
fn open_regular_file(path: &Path) -> Result<std::fs::File, PruneError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| PruneError::io(path, e))?;
    let kind = file
        .metadata()
        .map_err(|e| PruneError::io(path, e))?
        .file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else {
            "not a regular file (a pipe, socket or device)"
        };
        return Err(PruneError::io(
            path,
            std::io::Error::other(format!("{what}; give a checkpoint file")),
        ));
    }
    Ok(file)
}

/// The element count of a shape, or an error if it overflows (a corrupt header).
fn checked_elements(name: &str, shape: &[usize]) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("tensor '{name}': shape {shape:?} overflows"))
}
