//! File hygiene of the log's WAL: closing leaves no WAL behind, and the WAL is
//! preallocated only once the log is busy.

mod common;

use std::path::{Path, PathBuf};

use common::one;
use futures::StreamExt;
use poolkeeper_eventlog::{EventLogConfig, EventStore, ExpectedVersion, SqliteEventStore};

/// `<db>-wal`.
fn wal_of(db: &Path) -> PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// The WAL's size in bytes; 0 when it does not exist.
fn wal_len(db: &Path) -> u64 {
    std::fs::metadata(wal_of(db)).map_or(0, |m| m.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_leaves_no_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let store = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap();
    let mut live = store.subscribe(1);
    for n in 0..200 {
        store
            .append(one("s", ExpectedVersion::Any, n))
            .await
            .unwrap();
    }
    // Readers of every kind have pooled connections open.
    assert_eq!(store.read_all(1, 1000).await.unwrap().len(), 200);
    assert!(store.verify().await.unwrap().is_intact());
    assert_eq!(live.next().await.unwrap().unwrap().position, 1);
    // A clone that outlives the close does not keep the WAL either.
    let clone = store.clone();
    store.close().await.unwrap();
    assert_eq!(wal_len(&path), 0, "the WAL is left after close()");
    drop((clone, live));
    assert_eq!(wal_len(&path), 0);

    let store = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap();
    assert_eq!(store.tail().await.unwrap(), 200);
    assert!(store.verify().await.unwrap().is_intact());
    // Dropping the last clone closes like close() does.
    drop(store);
    assert_eq!(wal_len(&path), 0, "the WAL is left after the last drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_log_is_small_until_it_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let store = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap();
    for n in 0..20 {
        store
            .append(one("s", ExpectedVersion::Any, n))
            .await
            .unwrap();
    }
    let db = std::fs::metadata(&path).unwrap().len();
    assert!(db < 256 << 10, "events.db is {db} bytes");
    assert!(
        wal_len(&path) < 1 << 20,
        "a quiet log's WAL is {} bytes",
        wal_len(&path)
    );

    // A busy log (500 WAL frames without a pause) is preallocated to 1.25 x
    // checkpoint_pages frames, a slice after each group.
    let preallocated = 32 + 5000 * (24 + 8192);
    let mut n = 20;
    while wal_len(&path) < preallocated && n < 5000 {
        store
            .append(one("s", ExpectedVersion::Any, n))
            .await
            .unwrap();
        n += 1;
    }
    assert!(
        wal_len(&path) >= preallocated,
        "not preallocated after {n} appends"
    );
    assert!(n > 200, "preallocated after only {n} appends");
    store.close().await.unwrap();
    assert_eq!(wal_len(&path), 0);
}
