//! Atomic file output: write to a temporary file beside the destination, then rename.
//!
//! A crash or an error mid-write leaves the destination untouched (the old file, or none), never
//! a half-written file. Every tool that writes user-facing output (checkpoints, CSVs, plots)
//! goes through here.

use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A temporary path in the same directory as `dest` (so the final rename stays on one file
/// system), keeping `dest`'s extension so format-sniffing writers still work:
/// `.NAME.PID.RANDOM.tmp.EXT`. The random part (64 bits from the standard library's randomly
/// keyed hasher) makes the name unguessable, so nobody can plant a symlink there in advance;
/// create it with `create_new` (`O_EXCL`), which never follows one.
pub fn temporary_sibling(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    let ext = dest
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    let random = hasher.finish();
    dest.with_file_name(format!(
        ".{name}.{}.{random:016x}.tmp{ext}",
        std::process::id()
    ))
}

/// Temporary files being written now, so an interrupted process can remove them.
static IN_FLIGHT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A temporary file registered as in flight; dropping the guard removes the file (if it is
/// still there) and unregisters it.
#[derive(Debug)]
pub struct TemporaryGuard {
    path: PathBuf,
}

impl TemporaryGuard {
    /// Registers `path` (not yet created) as a temporary file in flight.
    pub fn new(path: PathBuf) -> Self {
        IN_FLIGHT
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(path.clone());
        Self { path }
    }

    /// The temporary path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TemporaryGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let mut in_flight = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = in_flight.iter().position(|p| p == &self.path) {
            in_flight.swap_remove(i);
        }
    }
}

/// Removes every temporary file in flight and returns how many were there: what a SIGINT or
/// SIGTERM handler calls before the process exits, so no partial output stays behind.
pub fn remove_temporaries_in_flight() -> usize {
    let in_flight = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
    in_flight
        .iter()
        .filter(|p| std::fs::remove_file(p).is_ok())
        .count()
}

/// Removes the temporaries of `dest` that a killed process left (SIGKILL cannot be caught):
/// siblings named as [`temporary_sibling`] names them whose process no longer runs. Only on
/// Linux, where `/proc` tells; elsewhere nothing is removed. Returns how many were removed.
pub fn sweep_stale_temporaries(dest: &Path) -> usize {
    if !Path::new("/proc/self").exists() {
        return 0;
    }
    let Some(name) = dest.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return 0;
    };
    let dir = match dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => parent.to_path_buf(),
        None => PathBuf::from("."),
    };
    let Ok(listing) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let prefix = format!(".{name}.");
    let mut removed = 0;
    for entry in listing.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix) else {
            continue;
        };
        let mut parts = rest.splitn(3, '.');
        let (Some(pid), Some(random), Some(tail)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let ours = pid.parse::<u32>().is_ok()
            && random.len() == 16
            && random.bytes().all(|b| b.is_ascii_hexdigit())
            && tail.starts_with("tmp");
        let alive = Path::new("/proc").join(pid).exists();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if ours && !alive && is_file && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Writes `dest` atomically through `write`, which gets a buffered writer.
///
/// The parent directory is created if missing. On error the temporary file is removed and
/// `dest` is left as it was.
pub fn write_atomically<F>(dest: &Path, write: F) -> io::Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> io::Result<()>,
{
    finish_atomically(dest, |tmp| {
        let file = File::options().write(true).create_new(true).open(tmp)?;
        let mut out = BufWriter::new(file);
        write(&mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()
    })
}

/// Lets `produce` create the file at a temporary path (for writers that want a path, such as an
/// image encoder), then renames it over `dest`. On error the temporary file is removed.
pub fn finish_atomically<F>(dest: &Path, produce: F) -> io::Result<()>
where
    F: FnOnce(&Path) -> io::Result<()>,
{
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = TemporaryGuard::new(temporary_sibling(dest));
    // On success the rename moved the file away, and the guard's removal finds nothing.
    produce(tmp.path()).and_then(|()| std::fs::rename(tmp.path(), dest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn writes_and_replaces() {
        let dir = std::env::temp_dir().join(format!("tempering-core-aw-{}", std::process::id()));
        let dest = dir.join("sub/out.csv");
        write_atomically(&dest, |w| w.write_all(b"a,b\n")).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"a,b\n");
        write_atomically(&dest, |w| w.write_all(b"c\n")).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"c\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failure_keeps_the_old_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("tempering-core-af-{}", std::process::id()));
        let dest = dir.join("keep.txt");
        write_atomically(&dest, |w| w.write_all(b"old")).unwrap();
        let err = write_atomically(&dest, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk on fire"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temporary_keeps_extension_and_directory() {
        let tmp = temporary_sibling(Path::new("/a/b/curves.png"));
        assert_eq!(tmp.parent(), Some(Path::new("/a/b")));
        assert_eq!(tmp.extension().unwrap(), "png");
        let again = temporary_sibling(Path::new("/a/b/curves.png"));
        assert_ne!(tmp, again, "two temporaries of one output share a name");
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_swept() {
        let dir = std::env::temp_dir().join(format!("tempering-core-sw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("model.bpk");
        // No process has pid 4294967295 (above Linux's pid_max); ours is alive.
        let dead = dir.join(".model.bpk.4294967295.0123456789abcdef.tmp.bpk");
        let live = temporary_sibling(&dest);
        let user = dir.join(".model.bpk.notes");
        for p in [&dead, &live, &user] {
            std::fs::write(p, b"x").unwrap();
        }
        let removed = sweep_stale_temporaries(&dest);
        if Path::new("/proc/self").exists() {
            assert_eq!(removed, 1);
            assert!(!dead.exists());
        }
        assert!(live.exists() && user.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
