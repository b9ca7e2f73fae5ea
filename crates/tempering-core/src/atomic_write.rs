//! Atomic file output: write to a temporary file beside the destination, then rename.
//!
//! A crash or an error mid-write leaves the destination untouched (the old file, or none), never
//! a half-written file. Every tool that writes user-facing output (checkpoints, CSVs, plots)
//! goes through here.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

/// A temporary path in the same directory as `dest` (so the final rename stays on one file
/// system), keeping `dest`'s extension so format-sniffing writers still work.
pub fn temporary_sibling(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    let ext = dest
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.{}.tmp{ext}", std::process::id()))
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
        let mut out = BufWriter::new(File::create(tmp)?);
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
    let tmp = temporary_sibling(dest);
    let result = produce(&tmp).and_then(|()| std::fs::rename(&tmp, dest));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
    }
}
