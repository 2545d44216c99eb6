//! Behaviour of the SQLite store through the `EventStore` trait: appends,
//! reads, idempotency, bad input, upcasters, migrations and closing.

mod common;

use common::{event, one, request, sid};
use futures::StreamExt;
use poolkeeper_eventlog::{
    AppendRequest, EventLogConfig, EventLogError, EventStore, ExpectedVersion, SqliteEventStore,
    StreamAppend, StreamId, Upcasters,
};
use uuid::Uuid;

fn temp() -> SqliteEventStore {
    SqliteEventStore::open_temporary(EventLogConfig::default()).expect("open")
}

#[tokio::test]
async fn appends_get_gapless_positions_and_stream_versions() {
    let store = temp();
    assert_eq!(store.tail().await.unwrap(), 0);
    let a = store
        .append(one("a", ExpectedVersion::NoStream, 1))
        .await
        .unwrap();
    assert_eq!((a.first_position, a.last_position), (1, 1));
    assert_eq!(a.stream_versions, vec![(sid("a"), 1)]);
    assert!(!a.duplicate);
    let req = request(
        "b",
        ExpectedVersion::Any,
        vec![event("t.x", "1"), event("t.y", "[true]")],
    );
    let b = store.append(req).await.unwrap();
    assert_eq!((b.first_position, b.last_position), (2, 3));
    let c = store
        .append(one("a", ExpectedVersion::Exact(1), 2))
        .await
        .unwrap();
    assert_eq!(c.stream_versions, vec![(sid("a"), 2)]);
    assert_eq!(store.tail().await.unwrap(), 4);
    assert_eq!(store.stream_version(&sid("a")).await.unwrap(), Some(2));
    assert_eq!(store.stream_version(&sid("nope")).await.unwrap(), None);

    let all = store.read_all(0, 100).await.unwrap();
    let positions: Vec<u64> = all.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![1, 2, 3, 4]);
    assert_eq!(all[2].payload, "[true]");
    assert_eq!(all[2].stream_version, 2);
    assert_eq!(store.read_all(3, 1).await.unwrap()[0].position, 3);
    let a_events = store.read_stream(&sid("a"), 2, 10).await.unwrap();
    assert_eq!(a_events.len(), 1);
    assert_eq!(a_events[0].payload, "{\"n\":2}");
    let ys = store.read_by_type("t.y", 0, 10).await.unwrap();
    assert_eq!(ys.len(), 1);
    assert_eq!(ys[0].position, 3);
    assert!(store.read_by_type("t.y", 4, 10).await.unwrap().is_empty());
    let streamed: Vec<u64> = store
        .read_all_stream(2)
        .map(|e| e.unwrap().position)
        .collect()
        .await;
    assert_eq!(streamed, vec![2, 3, 4]);
    assert!(store.verify().await.unwrap().is_intact());
}

#[tokio::test]
async fn metadata_is_stored_with_every_event() {
    let store = temp();
    let mut req = request("m", ExpectedVersion::NoStream, vec![event("t", "{}")]);
    req.causation_id = Some(Uuid::now_v7());
    req.actor = "system:no_contact".into();
    let sent = req.clone();
    store.append(req).await.unwrap();
    let e = &store.read_all(1, 1).await.unwrap()[0];
    assert_eq!(e.event_id, sent.streams[0].events[0].event_id);
    assert_eq!(e.metadata.command_id, sent.command_id);
    assert_eq!(e.metadata.correlation_id, sent.correlation_id);
    assert_eq!(e.metadata.causation_id, sent.causation_id);
    assert_eq!(e.metadata.actor, "system:no_contact");
    assert_eq!(e.metadata.recorded_at, sent.recorded_at);
}

#[tokio::test]
async fn a_multi_stream_command_is_atomic() {
    let store = temp();
    store
        .append(one("x", ExpectedVersion::NoStream, 0))
        .await
        .unwrap();
    let mut req = one("y", ExpectedVersion::NoStream, 1);
    req.streams.push(StreamAppend {
        stream_id: sid("x"),
        expected: ExpectedVersion::NoStream, // wrong: x exists
        events: vec![event("t", "2")],
    });
    let err = store.append(req.clone()).await.unwrap_err();
    match &err {
        EventLogError::WrongExpectedVersion {
            stream,
            expected,
            actual,
        } => {
            assert_eq!(stream, &sid("x"));
            assert_eq!(*expected, ExpectedVersion::NoStream);
            assert_eq!(*actual, Some(1));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("expected version was no stream, found 1"),
        "{err}"
    );
    assert_eq!(store.tail().await.unwrap(), 1, "nothing of y was written");
    assert_eq!(store.command_outcome(req.command_id).await.unwrap(), None);

    req.streams[1].expected = ExpectedVersion::Exact(1);
    let ok = store.append(req).await.unwrap();
    assert_eq!(ok.stream_versions, vec![(sid("y"), 1), (sid("x"), 2)]);
    assert_eq!((ok.first_position, ok.last_position), (2, 3));
}

#[tokio::test]
async fn wrong_expected_version_message() {
    let store = temp();
    store
        .append(one("s", ExpectedVersion::Any, 0))
        .await
        .unwrap();
    let err = store
        .append(one("s", ExpectedVersion::Exact(3), 0))
        .await
        .unwrap_err();
    assert!(err.is_conflict());
    assert!(
        err.to_string().contains("expected version was 3, found 1"),
        "{err}"
    );
    let err = store
        .append(one("t", ExpectedVersion::Exact(2), 0))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("expected version was 2, found no stream"),
        "{err}"
    );
}

#[tokio::test]
async fn idempotency_by_command_id() {
    let store = temp();
    let req = request(
        "i",
        ExpectedVersion::NoStream,
        vec![event("t", "1"), event("t", "2")],
    );
    let first = store.append(req.clone()).await.unwrap();
    // The retry would conflict (NoStream) if it were not recognised as a duplicate.
    let again = store.append(req.clone()).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.first_position, first.first_position);
    assert_eq!(again.last_position, first.last_position);
    assert_eq!(again.stream_versions, first.stream_versions);
    assert_eq!(store.tail().await.unwrap(), 2);
    let stored = store
        .command_outcome(req.command_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, first);
    assert_eq!(store.command_outcome(Uuid::now_v7()).await.unwrap(), None);
}

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
async fn duplicates_and_conflicts_inside_one_batch() {
    let store = temp();
    let a = one("a", ExpectedVersion::NoStream, 1);
    let conflict = one("a", ExpectedVersion::NoStream, 2);
    let mut invalid = one("b", ExpectedVersion::Any, 3);
    invalid.streams[0].events[0].payload = "{not json".into();
    let b = one("b", ExpectedVersion::Any, 4);
    let results = store
        .append_batch(vec![a.clone(), conflict, a.clone(), invalid, b.clone(), b])
        .await
        .unwrap();
    assert_eq!(results.len(), 6);
    let first = results[0].as_ref().unwrap();
    assert!(!first.duplicate);
    assert!(results[1].as_ref().unwrap_err().is_conflict());
    let dup = results[2].as_ref().unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.first_position, first.first_position);
    assert!(matches!(
        results[3],
        Err(EventLogError::InvalidInput { ref field, .. }) if field == "streams[0].events[0].payload"
    ));
    let b_first = results[4].as_ref().unwrap();
    assert_eq!(b_first.first_position, 2);
    assert!(results[5].as_ref().unwrap().duplicate);
    assert_eq!(store.tail().await.unwrap(), 2);
    // Stored duplicates are recognised by a later batch too.
    let again = store.append_batch(vec![a]).await.unwrap();
    assert!(again[0].as_ref().unwrap().duplicate);
    assert_eq!(store.tail().await.unwrap(), 2);
}

#[tokio::test]
async fn bad_input_is_typed_and_writes_nothing() {
    let config = EventLogConfig {
        max_payload_bytes: 64,
        ..EventLogConfig::default()
    };
    let store = SqliteEventStore::open_temporary(config).unwrap();
    assert!(matches!(
        StreamId::new(""),
        Err(EventLogError::InvalidInput { .. })
    ));
    assert!(StreamId::new("x".repeat(257)).is_err());
    assert!(StreamId::new("x".repeat(256)).is_ok());

    let base = one("s", ExpectedVersion::Any, 0);
    let field_of = |e: EventLogError| match e {
        EventLogError::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    };
    let mut r = base.clone();
    r.streams.clear();
    assert_eq!(field_of(store.append(r).await.unwrap_err()), "streams");
    let mut r = base.clone();
    r.streams[0].events.clear();
    assert_eq!(
        field_of(store.append(r).await.unwrap_err()),
        "streams[0].events"
    );
    let mut r = base.clone();
    r.streams.push(r.streams[0].clone());
    assert_eq!(
        field_of(store.append(r).await.unwrap_err()),
        "streams[1].stream_id"
    );
    let mut r = base.clone();
    r.streams[0].events[0].event_type.clear();
    assert_eq!(
        field_of(store.append(r).await.unwrap_err()),
        "streams[0].events[0].event_type"
    );
    let mut r = base.clone();
    r.streams[0].events[0].schema_version = 0;
    assert_eq!(
        field_of(store.append(r).await.unwrap_err()),
        "streams[0].events[0].schema_version"
    );
    let mut r = base.clone();
    r.streams[0].events[0].payload = "nope".into();
    assert_eq!(
        field_of(store.append(r).await.unwrap_err()),
        "streams[0].events[0].payload"
    );
    let mut r = base.clone();
    r.streams[0].events[0].payload = format!("\"{}\"", "x".repeat(63));
    assert!(matches!(
        store.append(r).await,
        Err(EventLogError::PayloadTooLarge { size: 65, max: 64 })
    ));
    // A bad event after a good one in the same request: nothing at all is written.
    let mut r = base.clone();
    r.streams[0].events.push(event("t", "{"));
    assert!(store.append(r.clone()).await.is_err());
    assert!(store.append_batch(vec![r]).await.unwrap()[0].is_err());
    assert_eq!(store.tail().await.unwrap(), 0);
    assert_eq!(store.command_outcome(base.command_id).await.unwrap(), None);
}

#[tokio::test]
async fn upcasters_chain_on_read_and_never_rewrite_rows() {
    let upcasters = Upcasters::new()
        .with("customer.claimed", 1, |mut v| {
            let name = v["name"].take();
            Ok(serde_json::json!({ "customer": { "name": name } }))
        })
        .with("customer.claimed", 2, |mut v| {
            v["source"] = "legacy".into();
            Ok(v)
        })
        .with("customer.broken", 1, |_| Err("cannot convert".to_string()));
    let config = EventLogConfig {
        upcasters,
        ..EventLogConfig::default()
    };
    let store = SqliteEventStore::open_temporary(config).unwrap();
    let mut v1 = event("customer.claimed", r#"{"name":"Ada"}"#);
    let mut v2 = event("customer.claimed", r#"{"customer":{"name":"Bob"}}"#);
    v2.schema_version = 2;
    let mut v3 = event(
        "customer.claimed",
        r#"{ "customer": {"name":"Cy"}, "source":"web" }"#,
    );
    v3.schema_version = 3;
    v1.schema_version = 1;
    store
        .append(request("c", ExpectedVersion::Any, vec![v1, v2, v3]))
        .await
        .unwrap();
    let events = store.read_stream(&sid("c"), 1, 10).await.unwrap();
    let versions: Vec<u32> = events.iter().map(|e| e.schema_version).collect();
    assert_eq!(versions, vec![3, 3, 3]);
    let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    assert_eq!(
        json(&events[0].payload),
        serde_json::json!({"customer": {"name": "Ada"}, "source": "legacy"})
    );
    assert_eq!(
        json(&events[1].payload),
        serde_json::json!({"customer": {"name": "Bob"}, "source": "legacy"})
    );
    // No upcaster applies: the stored text comes back byte for byte.
    assert_eq!(
        events[2].payload,
        r#"{ "customer": {"name":"Cy"}, "source":"web" }"#
    );
    // Other read paths upcast too.
    assert_eq!(store.read_all(1, 1).await.unwrap()[0].schema_version, 3);
    assert_eq!(
        store.read_by_type("customer.claimed", 0, 1).await.unwrap()[0].schema_version,
        3
    );
    let mut sub = store.subscribe(1);
    assert_eq!(sub.next().await.unwrap().unwrap().schema_version, 3);
    // Stored rows are untouched and the chain still verifies.
    let stored = store.read_all_stored(1, 10).await.unwrap();
    assert_eq!(stored[0].schema_version, 1);
    assert_eq!(stored[0].payload, r#"{"name":"Ada"}"#);
    assert!(store.verify().await.unwrap().is_intact());

    // Live delivery upcasts too.
    let mut live = store.subscribe(4);
    let mut v1 = event("customer.claimed", r#"{"name":"Dee"}"#);
    v1.schema_version = 1;
    store
        .append(request("c", ExpectedVersion::Any, vec![v1]))
        .await
        .unwrap();
    let e = live.next().await.unwrap().unwrap();
    assert_eq!((e.position, e.schema_version), (4, 3));

    // A failing upcaster: reads fail with a typed error naming the position,
    // and a subscription yields the error, then ends.
    store
        .append(request(
            "d",
            ExpectedVersion::Any,
            vec![event("customer.broken", "{}")],
        ))
        .await
        .unwrap();
    assert!(matches!(
        live.next().await,
        Some(Err(EventLogError::Upcast { position: 5, .. }))
    ));
    assert!(live.next().await.is_none());
    assert!(matches!(
        store.read_all(5, 1).await,
        Err(EventLogError::Upcast {
            position: 5,
            from_version: 1,
            ..
        })
    ));
}

#[tokio::test]
async fn reopening_keeps_everything_and_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    {
        let store = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap();
        store
            .append(one("r", ExpectedVersion::NoStream, 1))
            .await
            .unwrap();
        store.close().await.unwrap();
        assert!(matches!(
            store.append(one("r", ExpectedVersion::Any, 2)).await,
            Err(EventLogError::Closed)
        ));
        assert!(matches!(store.tail().await, Err(EventLogError::Closed)));
        store.close().await.unwrap();
    }
    let store = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap();
    let out = store
        .append(one("r", ExpectedVersion::Exact(1), 2))
        .await
        .unwrap();
    assert_eq!(out.first_position, 2);
    let report = store.verify().await.unwrap();
    assert!(report.is_intact());
    assert_eq!((report.events_checked, report.tail), (2, 2));
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

#[tokio::test]
async fn recorded_at_is_stored_with_microsecond_precision() {
    let store = temp();
    let mut req: AppendRequest = one("t", ExpectedVersion::Any, 0);
    req.recorded_at = chrono::DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
    store.append(req).await.unwrap();
    let e = &store.read_all(1, 1).await.unwrap()[0];
    assert_eq!(
        e.metadata.recorded_at.timestamp_micros(),
        1_700_000_000_123_456
    );
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
