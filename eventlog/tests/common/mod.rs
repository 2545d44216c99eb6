//! Helpers shared by the integration tests.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use poolkeeper_eventlog::{AppendRequest, ExpectedVersion, NewEvent, StreamAppend, StreamId};
use uuid::Uuid;

/// The wall clock, truncated to microseconds like the log stores it.
pub fn now() -> DateTime<Utc> {
    let t: DateTime<Utc> = std::time::SystemTime::now().into();
    DateTime::from_timestamp_micros(t.timestamp_micros()).expect("in range")
}

/// A stream id that is known to be valid.
pub fn sid(s: &str) -> StreamId {
    StreamId::new(s).expect("valid stream id")
}

/// An event with a fresh v7 id.
pub fn event(event_type: &str, payload: &str) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload: payload.to_owned(),
    }
}

/// A one-stream request with a fresh command id.
pub fn request(stream: &str, expected: ExpectedVersion, events: Vec<NewEvent>) -> AppendRequest {
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
pub fn one(stream: &str, expected: ExpectedVersion, n: u64) -> AppendRequest {
    request(
        stream,
        expected,
        vec![event("test.happened", &format!("{{\"n\":{n}}}"))],
    )
}
