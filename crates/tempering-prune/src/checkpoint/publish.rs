//! Moving a finished output into place: never over the input, never over an existing file
//! unless asked, never half-written.

use std::path::Path;

use tempering_core::atomic_write::temporary_sibling;

use crate::error::PruneError;

/// Whether two paths name the same file (same device and inode on Unix).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        #[cfg(unix)]
        (Ok(ma), Ok(mb)) => {
            use std::os::unix::fs::MetadataExt;
            ma.dev() == mb.dev() && ma.ino() == mb.ino()
        }
        #[cfg(not(unix))]
        (Ok(_), Ok(_)) => match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(ca), Ok(cb)) => ca == cb,
            _ => false,
        },
        _ => false,
    }
}

/// Refuses `dest` if it is the input, or exists and `overwrite` is off.
pub(crate) fn check_destination(
    input: &Path,
    dest: &Path,
    overwrite: bool,
) -> Result<(), PruneError> {
    if same_file(input, dest) {
        return Err(PruneError::OutputIsInput {
            path: dest.to_path_buf(),
        });
    }
    if !overwrite && dest.symlink_metadata().is_ok() {
        return Err(PruneError::OutputExists {
            path: dest.to_path_buf(),
        });
    }
    Ok(())
}

/// Lets `write` produce the file at a temporary sibling of `dest`, then moves it into place:
/// a rename when `overwrite`, otherwise a hard link that fails if `dest` appeared meanwhile.
/// The temporary file is removed on every path out.
pub(crate) fn publish(
    dest: &Path,
    overwrite: bool,
    write: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), PruneError> {
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| PruneError::io(parent, e))?;
    }
    let tmp = temporary_sibling(dest);
    let result = write(&tmp)
        .map_err(|reason| PruneError::io(dest, std::io::Error::other(reason)))
        .and_then(|()| {
            if overwrite {
                std::fs::rename(&tmp, dest).map_err(|e| PruneError::io(dest, e))
            } else {
                match std::fs::hard_link(&tmp, dest) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Err(PruneError::OutputExists {
                            path: dest.to_path_buf(),
                        })
                    }
                    // File systems without hard links: the existence check made before
                    // writing stands.
                    Err(_) => std::fs::rename(&tmp, dest).map_err(|e| PruneError::io(dest, e)),
                }
            }
        });
    let _ = std::fs::remove_file(&tmp);
    result
}
