//! Moving a finished output into place: never over the input, never over an existing file
//! unless asked, never half-written.

use std::path::Path;

use tempering_core::atomic_write::{TemporaryGuard, sweep_stale_temporaries, temporary_sibling};

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
/// The temporary file is removed on every path out (and by the CLI's signal handler while in
/// flight); temporaries that a killed run of the same output left are swept first. Directories
/// created for `dest` are removed again when the write fails.
pub(crate) fn publish(
    dest: &Path,
    overwrite: bool,
    write: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), PruneError> {
    let created = create_parents(dest)?;
    sweep_stale_temporaries(dest);
    let tmp = TemporaryGuard::new(temporary_sibling(dest));
    let result = write(tmp.path())
        .map_err(|reason| PruneError::io(dest, std::io::Error::other(reason)))
        .and_then(|()| move_into_place(tmp.path(), dest, overwrite));
    drop(tmp);
    if result.is_err() {
        // Deepest first; `remove_dir` leaves a directory that something else filled.
        for dir in created.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
    result
}

/// Creates the missing parent directories of `dest`, returning those it created, outermost
/// first.
fn create_parents(dest: &Path) -> Result<Vec<std::path::PathBuf>, PruneError> {
    let mut missing = Vec::new();
    let mut dir = dest.parent().filter(|p| !p.as_os_str().is_empty());
    while let Some(d) = dir {
        if d.symlink_metadata().is_ok() {
            break;
        }
        missing.push(d.to_path_buf());
        dir = d.parent().filter(|p| !p.as_os_str().is_empty());
    }
    missing.reverse();
    let mut made = Vec::with_capacity(missing.len());
    for d in missing {
        match std::fs::create_dir(&d) {
            Ok(()) => made.push(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                for m in made.iter().rev() {
                    let _ = std::fs::remove_dir(m);
                }
                return Err(PruneError::io(&d, e));
            }
        }
    }
    Ok(made)
}

/// Moves the finished temporary file to `dest`.
fn move_into_place(tmp: &Path, dest: &Path, overwrite: bool) -> Result<(), PruneError> {
    if overwrite {
        return std::fs::rename(tmp, dest).map_err(|e| PruneError::io(dest, e));
    }
    match std::fs::hard_link(tmp, dest) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(PruneError::OutputExists {
            path: dest.to_path_buf(),
        }),
        // File systems without hard links: the existence check made before writing stands.
        Err(_) => std::fs::rename(tmp, dest).map_err(|e| PruneError::io(dest, e)),
    }
}
