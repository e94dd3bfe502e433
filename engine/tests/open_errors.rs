//! Opening a store fails with an error a caller can match: the variant says
//! what to do (wait for the lock, fix a flag), the message names the path or
//! the field.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use eventstore_engine::{
    DurableStorage, EventStore, Limits, LimitsError, OpenError, StorageError, storage::DATA_FILE,
};

/// A fresh directory under the system temp dir, removed at the end.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "eventstore-engine-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_second_store_on_the_same_directory_is_locked_with_the_path() {
    let dir = TempDir::new("locked");
    let first = DurableStorage::open(&dir.0).expect("first open");
    let error = DurableStorage::open(&dir.0).expect_err("the file is held by the first store");
    assert_eq!(
        error,
        StorageError::Locked {
            path: dir.0.join(DATA_FILE)
        }
    );
    assert!(error.to_string().contains("already open"), "{error}");
    drop(first);
    // Released once the first store's writer thread has ended, just after
    // the drop: a caller retries on `Locked` (as the container harness does).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match DurableStorage::open(&dir.0) {
            Ok(_) => break,
            Err(StorageError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("open after the first store is gone: {e}"),
        }
    }
}

#[test]
fn a_locked_durable_store_is_an_open_error_of_storage() {
    let dir = TempDir::new("open-error");
    let _first = EventStore::durable(&dir.0, Limits::default()).expect("first");
    let error = EventStore::durable(&dir.0, Limits::default()).expect_err("locked");
    assert!(
        matches!(error, OpenError::Storage(StorageError::Locked { .. })),
        "{error:?}"
    );
}

#[test]
fn inconsistent_limits_are_an_open_error_naming_the_field() {
    let limits = Limits {
        max_page_size: 0,
        ..Limits::default()
    };
    let error = EventStore::in_memory_with_limits(limits).expect_err("zero page size");
    assert_eq!(
        error,
        OpenError::Limits(LimitsError::Zero {
            field: "max_page_size"
        })
    );
    assert_eq!(error.to_string(), "max_page_size must be at least 1, got 0");
}

#[test]
fn a_data_directory_that_is_a_file_is_an_io_error_with_the_path() {
    let dir = TempDir::new("not-a-dir");
    std::fs::write(&dir.0, b"a file").unwrap();
    let error = DurableStorage::open(&dir.0).expect_err("not a directory");
    match &error {
        StorageError::Io { path, action, .. } => {
            assert_eq!(path, &dir.0);
            assert_eq!(*action, "create the data directory");
        }
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(error.to_string().contains(&dir.0.display().to_string()));
}

/// Issue 14 item 9: a zero-length data file (a store that lost its content)
/// is refused with a message naming the file and the recovery, instead of
/// opening silently as an empty store; the file is left as it was.
#[test]
fn a_zero_length_data_file_is_refused_with_the_recovery() {
    let dir = TempDir::new("empty-file");
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = dir.0.join(DATA_FILE);
    std::fs::write(&path, b"").unwrap();
    let error = DurableStorage::open(&dir.0).expect_err("an empty data file is refused");
    assert_eq!(error, StorageError::EmptyFile { path: path.clone() });
    let text = error.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("0 bytes"), "{text}");
    assert!(text.contains("restore the file from a backup"), "{text}");
    assert!(text.contains("delete the file"), "{text}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "left untouched");

    // A fresh directory (no file yet) still opens as a new store.
    let fresh = TempDir::new("fresh");
    DurableStorage::open(&fresh.0).expect("a new store opens");
}
