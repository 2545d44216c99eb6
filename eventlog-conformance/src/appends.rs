//! Appends: positions and stream versions, metadata, times, multi-stream
//! atomicity, version conflicts and bad input.

use futures::StreamExt;
use poolkeeper_eventlog::{AppendRequest, EventLogError, ExpectedVersion, StreamAppend, StreamId};
use uuid::Uuid;

use crate::support::{TestLog, current_thread, event, one, request, sid};
use crate::{LogOptions, LogUnderTest};

/// Appends get gapless positions from 1 and stream versions from 1, and every
/// read finds them.
pub fn appends_get_gapless_positions_and_stream_versions<L: LogUnderTest>(logs: &L) {
    current_thread().block_on(async {
        let log = TestLog::create(logs, LogOptions::default()).await;
        let store = log.store();
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
        log.close().await;
    });
}

/// Every event carries its id and its command's metadata.
pub fn metadata_is_stored_with_every_event<L: LogUnderTest>(logs: &L) {
    current_thread().block_on(async {
        let log = TestLog::create(logs, LogOptions::default()).await;
        let store = log.store();
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
        log.close().await;
    });
}

/// `recorded_at` keeps microseconds; finer digits are truncated.
pub fn recorded_at_is_stored_with_microsecond_precision<L: LogUnderTest>(logs: &L) {
    current_thread().block_on(async {
        let log = TestLog::create(logs, LogOptions::default()).await;
        let store = log.store();
        let mut req: AppendRequest = one("t", ExpectedVersion::Any, 0);
        req.recorded_at = chrono::DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        store.append(req).await.unwrap();
        let e = &store.read_all(1, 1).await.unwrap()[0];
        assert_eq!(
            e.metadata.recorded_at.timestamp_micros(),
            1_700_000_000_123_456
        );
        log.close().await;
    });
}

/// A command over two streams with one wrong expected version writes
/// nothing; with both right, it writes both, in request order.
pub fn a_multi_stream_command_is_atomic<L: LogUnderTest>(logs: &L) {
    current_thread().block_on(async {
        let log = TestLog::create(logs, LogOptions::default()).await;
        let store = log.store();
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
        log.close().await;
    });
}

/// A conflict says "expected version was X, found Y".
pub fn a_wrong_expected_version_says_what_was_expected_and_found<L: LogUnderTest>(logs: &L) {
    current_thread().block_on(async {
        let log = TestLog::create(logs, LogOptions::default()).await;
        let store = log.store();
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
        log.close().await;
    });
}

/// Every kind of malformed request fails with a typed error naming the field
/// (or the size), alone or in a batch, and writes nothing.
pub fn bad_input_is_typed_and_writes_nothing<L: LogUnderTest>(logs: &L) {
    current_thread().block_on(async {
        let options = LogOptions {
            max_payload_bytes: 64,
            ..LogOptions::default()
        };
        let log = TestLog::create(logs, options).await;
        let store = log.store();
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
        log.close().await;
    });
}
