//! Tamper evidence: an attacker with write access to the file drops the
//! append-only triggers and edits, deletes or reorders rows; `verify` names
//! the first position where the hash chain breaks.

mod common;

use common::one;
use poolkeeper_eventlog::hash::{CanonicalEvent, chain_hash};
use poolkeeper_eventlog::{
    BreakReason, ChainBreak, EventLogConfig, EventStore, ExpectedVersion, SqliteEventStore,
};
use rusqlite::Connection;

/// A closed log of 20 one-event commands at `dir/log.db`, with its triggers dropped.
async fn log_with_20_events(dir: &tempfile::TempDir) -> (std::path::PathBuf, Connection) {
    let path = dir.path().join("log.db");
    let store = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap();
    for n in 1..=20 {
        store
            .append(one(&format!("s{}", n % 3), ExpectedVersion::Any, n))
            .await
            .unwrap();
    }
    assert!(store.verify().await.unwrap().is_intact());
    store.close().await.unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete;")
        .unwrap();
    (path, conn)
}

async fn first_break(path: &std::path::Path) -> ChainBreak {
    let store = SqliteEventStore::open(path, EventLogConfig::default()).unwrap();
    let report = store.verify().await.unwrap();
    report.first_break.expect("tampering went unnoticed")
}

#[tokio::test]
async fn one_changed_payload_byte_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (path, conn) = log_with_20_events(&dir).await;
    // {"n":7} -> {"n":8}: still valid JSON, one byte different.
    let changed = conn
        .execute(
            "UPDATE events SET payload = '{\"n\":8}' WHERE position = 7",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let b = first_break(&path).await;
    assert_eq!(b.position, 7);
    assert_eq!(b.reason, BreakReason::HashMismatch);
}

#[tokio::test]
async fn changed_metadata_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (path, conn) = log_with_20_events(&dir).await;
    conn.execute(
        "UPDATE events SET actor = 'user:mallory' WHERE position = 11",
        [],
    )
    .unwrap();
    assert_eq!(first_break(&path).await.position, 11);
}

#[tokio::test]
async fn a_deleted_row_is_named_as_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let (path, conn) = log_with_20_events(&dir).await;
    conn.execute("DELETE FROM events WHERE position = 12", [])
        .unwrap();
    let b = first_break(&path).await;
    assert_eq!(b.position, 12);
    assert_eq!(b.reason, BreakReason::Missing { next_stored: 13 });
}

#[tokio::test]
async fn swapped_rows_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (path, conn) = log_with_20_events(&dir).await;
    conn.execute_batch(
        "UPDATE events SET position = 1000005 WHERE position = 5;
         UPDATE events SET position = 5 WHERE position = 6;
         UPDATE events SET position = 6 WHERE position = 1000005;",
    )
    .unwrap();
    let b = first_break(&path).await;
    assert_eq!(b.position, 5);
    assert_eq!(b.reason, BreakReason::HashMismatch);
}

#[tokio::test]
async fn rehashing_the_edited_row_moves_the_break_to_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let (path, conn) = log_with_20_events(&dir).await;
    // The attacker edits row 9 and recomputes its own hash correctly...
    let store = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap();
    let events = store.read_all_stored(8, 2).await.unwrap();
    store.close().await.unwrap();
    let (prev, e) = (&events[0], &events[1]);
    let forged = "{\"n\":999}";
    let hash = chain_hash(
        &prev.hash,
        &CanonicalEvent {
            payload: forged,
            ..CanonicalEvent::from(e)
        },
    );
    conn.execute(
        "UPDATE events SET payload = ?1, hash = ?2 WHERE position = 9",
        rusqlite::params![forged, &hash[..]],
    )
    .unwrap();
    // ...but row 10 chains from the original hash of row 9.
    let b = first_break(&path).await;
    assert_eq!(b.position, 10);
    assert_eq!(b.reason, BreakReason::HashMismatch);
}

#[tokio::test]
async fn an_intact_log_reports_its_tail_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _conn) = log_with_20_events(&dir).await;
    let store = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap();
    let report = store.verify().await.unwrap();
    assert!(report.is_intact());
    assert_eq!((report.events_checked, report.tail), (20, 20));
    let last = store.read_all(20, 1).await.unwrap();
    assert_eq!(report.tail_hash, last[0].hash);
}
