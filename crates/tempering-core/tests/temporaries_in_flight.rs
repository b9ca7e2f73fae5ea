//! What a SIGINT handler relies on: every temporary file in flight can be removed at once, and
//! a finished or failed write unregisters its own. In its own test binary, since removing
//! every temporary in flight would disturb other tests' writes in the same process.

use tempering_core::atomic_write::{
    TemporaryGuard, remove_temporaries_in_flight, temporary_sibling,
};

#[test]
fn in_flight_temporaries_are_removed_on_request_and_on_drop() {
    let dir = tempfile_dir();
    let guard = TemporaryGuard::new(temporary_sibling(&dir.join("a.bin")));
    std::fs::write(guard.path(), b"partial").unwrap();
    assert_eq!(remove_temporaries_in_flight(), 1);
    assert!(!guard.path().exists());
    std::fs::write(guard.path(), b"again").unwrap();
    let path = guard.path().to_path_buf();
    drop(guard);
    assert!(!path.exists());
    assert_eq!(
        remove_temporaries_in_flight(),
        0,
        "the guard unregistered itself"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tempering-core-if-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
