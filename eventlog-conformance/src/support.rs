//! What the checks share: runtimes, the log a check works on, request
//! builders and the hash chain recomputed from recorded events.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use poolkeeper_eventlog::hash::{CanonicalEvent, GENESIS_HASH, chain_hash};
use poolkeeper_eventlog::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, Position, RecordedEvent, StreamAppend,
    StreamId, Subscription,
};
use tokio::runtime::Runtime;
use uuid::Uuid;

use crate::{LogOptions, LogUnderTest};

/// A generous bound, so that a bug fails a check instead of hanging it.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// A runtime for checks that do one thing at a time.
pub(crate) fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

/// A runtime with two workers, for checks where tasks race.
pub(crate) fn two_workers() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a multi-threaded runtime")
}

/// A log a check created, and the store open over it.
pub(crate) struct TestLog<'a, L: LogUnderTest> {
    logs: &'a L,
    log: L::Log,
    options: LogOptions,
    /// `None` only while the log is being reopened.
    store: Option<Arc<dyn EventStore>>,
}

impl<'a, L: LogUnderTest> TestLog<'a, L> {
    /// Creates a fresh log and opens it with `options`.
    pub(crate) async fn create(logs: &'a L, options: LogOptions) -> Self {
        let log = logs.create().await;
        let store = logs
            .open(&log, options.clone())
            .await
            .expect("opening a new log");
        Self {
            logs,
            log,
            options,
            store: Some(store),
        }
    }

    /// The store open over the log.
    pub(crate) fn store(&self) -> &Arc<dyn EventStore> {
        self.store.as_ref().expect("the log is open")
    }

    /// Closes the store with [`EventStore::close`] (or, with `close: false`,
    /// drops it) and opens the log again with `options`.
    pub(crate) async fn reopen_with(&mut self, options: LogOptions, close: bool) {
        let store = self.store.take().expect("the log is open");
        if close {
            store.close().await.expect("closing the store");
        }
        drop(store);
        self.options = options;
        let store = self
            .logs
            .open(&self.log, self.options.clone())
            .await
            .expect("reopening the log");
        self.store = Some(store);
    }

    /// Closes the store and opens the log again with the same options.
    pub(crate) async fn reopen(&mut self) {
        self.reopen_with(self.options.clone(), true).await;
    }

    /// Closes the store; the log goes when `self` is dropped.
    pub(crate) async fn close(self) {
        if let Some(store) = &self.store {
            store.close().await.expect("closing the store");
        }
    }
}

/// The wall clock, truncated to microseconds like the log stores it.
pub(crate) fn now() -> DateTime<Utc> {
    let t: DateTime<Utc> = std::time::SystemTime::now().into();
    DateTime::from_timestamp_micros(t.timestamp_micros()).expect("in range")
}

/// A stream id that is known to be valid.
pub(crate) fn sid(s: &str) -> StreamId {
    StreamId::new(s).expect("valid stream id")
}

/// An event with a fresh v7 id and schema version 1.
pub(crate) fn event(event_type: &str, payload: &str) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload: payload.to_owned(),
    }
}

/// A one-stream request with a fresh command id.
pub(crate) fn request(
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> AppendRequest {
    AppendRequest {
        command_id: Uuid::now_v7(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        actor: "user:test".to_owned(),
        recorded_at: now(),
        streams: vec![StreamAppend {
            stream_id: sid(stream),
            expected,
            events,
        }],
    }
}

/// A one-event request to `stream` with payload `{"n":n}`.
pub(crate) fn one(stream: &str, expected: ExpectedVersion, n: u64) -> AppendRequest {
    request(
        stream,
        expected,
        vec![event("test.happened", &format!("{{\"n\":{n}}}"))],
    )
}

/// `n` one-event appends to stream `s-{task}`, payloads `task * 1,000,000 + i`.
pub(crate) async fn append_many(store: &dyn EventStore, task: u64, n: u64) {
    for i in 0..n {
        store
            .append(one(
                &format!("s-{task}"),
                ExpectedVersion::Any,
                task * 1_000_000 + i,
            ))
            .await
            .expect("append");
    }
}

/// Collects the positions a subscription delivers until `last` has been seen.
pub(crate) async fn collect_until(sub: &mut Subscription, last: Position) -> Vec<Position> {
    let mut seen = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        while seen.last() != Some(&last) {
            let e = sub
                .next()
                .await
                .expect("subscription ended early")
                .expect("subscription failed");
            seen.push(e.position);
        }
    })
    .await
    .expect("subscriber did not reach the tail in time");
    seen
}

/// Checks every event's hash against the chain recomputed from its fields
/// (README "The hash chain"), starting from `previous`, and returns the last
/// hash. Only meaningful for events read without upcasting: the chain covers
/// the stored payload and schema version.
pub(crate) fn check_chain(previous: [u8; 32], events: &[RecordedEvent]) -> [u8; 32] {
    events.iter().fold(previous, |previous, e| {
        let recomputed = chain_hash(&previous, &CanonicalEvent::from(e));
        assert_eq!(
            hex(&e.hash),
            hex(&recomputed),
            "the hash at position {} is not the chain's",
            e.position
        );
        recomputed
    })
}

/// Recomputes the whole chain of a log read without upcasting.
pub(crate) fn check_whole_chain(events: &[RecordedEvent]) -> [u8; 32] {
    check_chain(GENESIS_HASH, events)
}

/// A hash as lowercase hex, for readable assertion messages.
pub(crate) fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}
