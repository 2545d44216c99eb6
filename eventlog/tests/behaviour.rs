//! What only the SQLite store does: its lazy indexes, migrations and schema
//! checks, the file's triggers and layout, the WAL, and reading rows as
//! stored. What every backend must do is checked by the conformance suite
//! (`tests/conformance.rs`).

mod common;

use common::{event, one, request, sid};
use poolkeeper_eventlog::{
    EventLogConfig, EventLogError, EventStore, ExpectedVersion, SqliteEventStore, Upcasters,
};
use uuid::Uuid;

/// Commands reach the `commands` index lazily, in chunks; before, during and
/// after that, and across a reopen, a retry is still recognised.
#[tokio::test]
async fn commands_are_indexed_lazily_and_never_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let config = EventLogConfig {
        index_after: 8,
        ..EventLogConfig::default()
    };
    let indexed = |path: &std::path::Path| -> (i64, i64) {
        let conn = rusqlite::Connection::open(path).unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM commands", [], |r| r.get(0))
            .unwrap();
        let below: i64 = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'indexed_below'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (rows, below)
    };
    let store = SqliteEventStore::open(&path, config.clone()).unwrap();
    let mut sent = Vec::new();
    for n in 0..200u64 {
        // Random (v4) ids spread over every chunk of the index.
        let mut req = one(&format!("s{}", n % 7), ExpectedVersion::Any, n);
        req.command_id = Uuid::new_v4();
        let outcome = store.append(req.clone()).await.unwrap();
        sent.push((req, outcome));
    }
    let (rows, below) = indexed(&path);
    assert!(rows >= 150, "only {rows} commands indexed");
    assert!(below > 150, "indexed below {below}");
    // Stream reads join the indexed part and the recent part.
    let streams_read = |store: SqliteEventStore| async move {
        for k in 0..7u64 {
            let stream = sid(&format!("s{k}"));
            let expected: Vec<String> = (0..200u64)
                .filter(|n| n % 7 == k)
                .map(|n| format!("{{\"n\":{n}}}"))
                .collect();
            let version = store.stream_version(&stream).await.unwrap();
            assert_eq!(version, Some(expected.len() as u64));
            let read = store.read_stream(&stream, 1, 1000).await.unwrap();
            let payloads: Vec<String> = read.iter().map(|e| e.payload.clone()).collect();
            assert_eq!(payloads, expected, "stream s{k}");
            let versions: Vec<u64> = read.iter().map(|e| e.stream_version).collect();
            assert_eq!(versions, (1..=expected.len() as u64).collect::<Vec<_>>());
            let tail = store.read_stream(&stream, 20, 3).await.unwrap();
            let tail: Vec<u64> = tail.iter().map(|e| e.stream_version).collect();
            assert_eq!(tail, [20, 21, 22]);
        }
        store
    };
    let store = streams_read(store).await;
    for (req, first) in &sent {
        let again = store.append(req.clone()).await.unwrap();
        assert!(again.duplicate);
        assert_eq!(again.first_position, first.first_position);
        assert_eq!(
            store
                .command_outcome(req.command_id)
                .await
                .unwrap()
                .as_ref(),
            Some(first)
        );
    }
    assert_eq!(store.tail().await.unwrap(), 200);
    // Leak the store as a crash would: the commands not yet indexed are found
    // again from the events on reopen.
    std::mem::forget(store);
    let store = SqliteEventStore::open(&path, config).unwrap();
    for (req, first) in &sent {
        let again = store.append(req.clone()).await.unwrap();
        assert!(again.duplicate, "{} forgotten", req.command_id);
        assert_eq!(again.first_position, first.first_position);
    }
    assert_eq!(store.tail().await.unwrap(), 200);
    let store = streams_read(store).await;
    store.close().await.unwrap();
}

/// A log written before the lazy indexes (schema 1: every command in
/// `commands`, streams indexed on `events`) is migrated with everything indexed.
#[tokio::test]
async fn a_schema_1_log_is_migrated_with_everything_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let store = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap();
    let first = one("m", ExpectedVersion::Any, 1);
    let first_outcome = store.append(first.clone()).await.unwrap();
    store
        .append(one("m", ExpectedVersion::Any, 2))
        .await
        .unwrap();
    store.close().await.unwrap();
    drop(store);
    {
        // Back to what schema 1 stored: every command in `commands`, the
        // stream index on `events`, no `stream_events` and no `meta`.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "INSERT OR IGNORE INTO commands (command_id, first_position, last_position) \
               SELECT command_id, min(position), max(position) FROM events GROUP BY command_id; \
             DROP TABLE stream_events; DROP TABLE meta; \
             CREATE UNIQUE INDEX events_by_stream ON events (stream_id, stream_version); \
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap();
    let again = store.append(first).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.first_position, first_outcome.first_position);
    assert_eq!(store.stream_version(&sid("m")).await.unwrap(), Some(2));
    store
        .append(one("m", ExpectedVersion::Exact(2), 3))
        .await
        .unwrap();
    let payloads: Vec<String> = store
        .read_stream(&sid("m"), 1, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.payload)
        .collect();
    assert_eq!(payloads, [r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#]);
    store.close().await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let below: i64 = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'indexed_below'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(below, 3);
}

#[tokio::test]
async fn a_newer_schema_is_refused_without_touching_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    drop(SqliteEventStore::open(&path, EventLogConfig::default()).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let v: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, poolkeeper_eventlog::sqlite::schema::SCHEMA_VERSION);
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap_err();
    assert!(
        matches!(
            err,
            EventLogError::SchemaTooNew {
                found: 99,
                supported: poolkeeper_eventlog::sqlite::schema::SCHEMA_VERSION
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("99"));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, 99);
}

#[tokio::test]
async fn the_events_table_is_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let store = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap();
    store
        .append(one("a", ExpectedVersion::Any, 1))
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let update = conn.execute("UPDATE events SET payload = '2' WHERE position = 1", []);
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = conn.execute("DELETE FROM events", []);
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    let page_size: u32 = conn
        .pragma_query_value(None, "page_size", |r| r.get(0))
        .unwrap();
    assert_eq!(page_size, 8192);
    let strict: String = conn
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'events'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(strict.contains("STRICT"));
}

/// `read_all_stored` returns rows as stored, whatever upcasters are registered.
#[tokio::test]
async fn read_all_stored_skips_the_upcasters() {
    let upcasters = Upcasters::new().with("customer.claimed", 1, |mut v| {
        v["source"] = "legacy".into();
        Ok(v)
    });
    let config = EventLogConfig {
        upcasters,
        ..EventLogConfig::default()
    };
    let store = SqliteEventStore::open_temporary(config).unwrap();
    store
        .append(request(
            "c",
            ExpectedVersion::Any,
            vec![event("customer.claimed", r#"{"name":"Ada"}"#)],
        ))
        .await
        .unwrap();
    assert_eq!(store.read_all(1, 1).await.unwrap()[0].schema_version, 2);
    let stored = store.read_all_stored(1, 10).await.unwrap();
    assert_eq!(stored[0].schema_version, 1);
    assert_eq!(stored[0].payload, r#"{"name":"Ada"}"#);
    assert!(store.verify().await.unwrap().is_intact());
}

#[tokio::test]
async fn the_wal_is_preallocated_once_busy_and_a_live_one_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let wal = dir.path().join("log.db-wal");
    let config = EventLogConfig {
        checkpoint_pages: 100,
        ..EventLogConfig::default()
    };
    let store = SqliteEventStore::open(&path, config.clone()).unwrap();
    // 125 frames of 8 KiB pages plus headers, once the WAL held 100 / 8 frames.
    let frame = 24 + 8192;
    let expected = 32 + 125 * frame;
    let len = || std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert!(len() < 12 * frame, "preallocated before any append");
    for n in 0..300 {
        store
            .append(one("w", ExpectedVersion::Any, n))
            .await
            .unwrap();
    }
    // Preallocated, and checkpoints restarted the WAL instead of growing it past the limit.
    assert!(len() >= expected, "not preallocated: {} bytes", len());
    assert!(len() <= expected + 8 * frame);
    // A connection that stays open (here: a leaked store, as after a crash of
    // its owner) keeps the WAL with its committed frames: reopening keeps them.
    std::mem::forget(store);
    let store = SqliteEventStore::open(&path, config).unwrap();
    assert_eq!(store.tail().await.unwrap(), 300);
    assert!(store.verify().await.unwrap().is_intact());
}
