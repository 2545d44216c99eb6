//! The log's data types: identifiers, append requests and outcomes, recorded
//! events and their metadata, and the input validation rules.
//!
//! The log stores opaque typed events: an event type string, a schema version
//! and a JSON payload. It knows nothing about the domain.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::EventLogError;

/// Global position of an event: 1-based, gapless, total and stable order.
pub type Position = u64;

/// Version of a stream: its first event has version 1.
pub type StreamVersion = u64;

/// The maximum length of a stream id in bytes.
pub const MAX_STREAM_ID_BYTES: usize = 256;

/// Identifier of a stream: non-empty, at most [`MAX_STREAM_ID_BYTES`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(String);

impl StreamId {
    /// Validates and wraps a stream id.
    pub fn new(id: impl Into<String>) -> Result<Self, EventLogError> {
        let id = id.into();
        if id.is_empty() {
            return Err(EventLogError::invalid("stream_id", "must not be empty"));
        }
        if id.len() > MAX_STREAM_ID_BYTES {
            return Err(EventLogError::invalid(
                "stream_id",
                format!(
                    "is {} bytes, the maximum is {MAX_STREAM_ID_BYTES}",
                    id.len()
                ),
            ));
        }
        Ok(Self(id))
    }

    /// Wraps a string read back from storage, where it was validated on append.
    pub(crate) fn from_stored(id: String) -> Self {
        Self(id)
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Unwraps the id.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for StreamId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StreamId {
    type Error = EventLogError;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        Self::new(id)
    }
}

impl TryFrom<&str> for StreamId {
    type Error = EventLogError;
    fn try_from(id: &str) -> Result<Self, Self::Error> {
        Self::new(id)
    }
}

impl From<StreamId> for String {
    fn from(id: StreamId) -> Self {
        id.0
    }
}

/// The version a caller expects a stream to be at before its append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check: append whatever the stream's version.
    Any,
    /// The stream must have no events yet.
    NoStream,
    /// The stream's last event must have exactly this version. `Exact(0)` is the
    /// same as [`ExpectedVersion::NoStream`].
    Exact(StreamVersion),
}

impl ExpectedVersion {
    /// Whether a stream currently at `actual` (`None`: no events) satisfies this expectation.
    pub fn matches(self, actual: Option<StreamVersion>) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream | Self::Exact(0) => actual.is_none(),
            Self::Exact(v) => actual == Some(v),
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::NoStream | Self::Exact(0) => f.write_str("no stream"),
            Self::Exact(v) => write!(f, "{v}"),
        }
    }
}

/// An event as a caller appends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Unique id chosen by the caller (UUID v7).
    pub event_id: Uuid,
    /// Event type, e.g. `customer.claimed`; non-empty.
    pub event_type: String,
    /// Version of the payload's schema, at least 1.
    pub schema_version: u32,
    /// JSON text; must be valid JSON and at most the configured size.
    pub payload: String,
}

/// Events to append to one stream, guarded by an expected version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamAppend {
    /// The target stream.
    pub stream_id: StreamId,
    /// The version the stream must be at (checked atomically with the write).
    pub expected: ExpectedVersion,
    /// At least one event, appended in order.
    pub events: Vec<NewEvent>,
}

/// One command's worth of events: may touch several streams, all appended atomically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendRequest {
    /// Idempotency key: a second append with the same id writes nothing and
    /// returns the first append's outcome.
    pub command_id: Uuid,
    /// Correlation id of the business flow.
    pub correlation_id: Uuid,
    /// The event or command that caused this one, if any.
    pub causation_id: Option<Uuid>,
    /// Who did it, opaque to the log, e.g. `user:<uuid>` or `system:no_contact`.
    pub actor: String,
    /// When it happened, from the caller's clock. Stored with microsecond
    /// precision (finer digits are truncated).
    pub recorded_at: DateTime<Utc>,
    /// At least one stream, each with at least one event; no stream twice.
    pub streams: Vec<StreamAppend>,
}

impl AppendRequest {
    /// Number of events in the request.
    pub fn event_count(&self) -> usize {
        self.streams.iter().map(|s| s.events.len()).sum()
    }

    /// Checks the request's shape and payloads without touching storage.
    ///
    /// Rejects zero streams, a stream appearing twice, zero events in a stream,
    /// an empty event type, schema version 0, a payload larger than
    /// `max_payload_bytes` and a payload that is not JSON.
    pub fn validate(&self, max_payload_bytes: usize) -> Result<(), EventLogError> {
        if self.streams.is_empty() {
            return Err(EventLogError::invalid(
                "streams",
                "a request must append to at least one stream",
            ));
        }
        for (i, s) in self.streams.iter().enumerate() {
            if self.streams[..i].iter().any(|o| o.stream_id == s.stream_id) {
                return Err(EventLogError::invalid(
                    format!("streams[{i}].stream_id"),
                    format!("stream {} appears twice in one request", s.stream_id),
                ));
            }
            if s.events.is_empty() {
                return Err(EventLogError::invalid(
                    format!("streams[{i}].events"),
                    "a stream append needs at least one event",
                ));
            }
            for (j, e) in s.events.iter().enumerate() {
                if e.event_type.is_empty() {
                    return Err(EventLogError::invalid(
                        format!("streams[{i}].events[{j}].event_type"),
                        "must not be empty",
                    ));
                }
                if e.schema_version == 0 {
                    return Err(EventLogError::invalid(
                        format!("streams[{i}].events[{j}].schema_version"),
                        "must be at least 1",
                    ));
                }
                if e.payload.len() > max_payload_bytes {
                    return Err(EventLogError::PayloadTooLarge {
                        size: e.payload.len(),
                        max: max_payload_bytes,
                    });
                }
                if let Err(err) = serde_json::from_str::<serde::de::IgnoredAny>(&e.payload) {
                    return Err(EventLogError::invalid(
                        format!("streams[{i}].events[{j}].payload"),
                        format!("not valid JSON: {err}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The result of an append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendOutcome {
    /// Position of the first event written.
    pub first_position: Position,
    /// Position of the last event written.
    pub last_position: Position,
    /// New version of each stream, in request order.
    pub stream_versions: Vec<(StreamId, StreamVersion)>,
    /// True when the command id had already been appended: this is the first
    /// append's outcome and nothing was written.
    pub duplicate: bool,
}

/// Metadata stored with every event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// The command that produced the event (the idempotency key).
    pub command_id: Uuid,
    /// Correlation id of the business flow.
    pub correlation_id: Uuid,
    /// What caused the command, if known.
    pub causation_id: Option<Uuid>,
    /// Who did it.
    pub actor: String,
    /// When, from the appender's clock, with microsecond precision.
    pub recorded_at: DateTime<Utc>,
}

/// An event as read back from the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Global position.
    pub position: Position,
    /// The stream it belongs to.
    pub stream_id: StreamId,
    /// Its version within the stream.
    pub stream_version: StreamVersion,
    /// The caller-chosen event id.
    pub event_id: Uuid,
    /// The event type.
    pub event_type: String,
    /// Schema version after upcasting (the stored one when no upcaster applies).
    pub schema_version: u32,
    /// JSON text after upcasting; the stored text verbatim when no upcaster applies.
    pub payload: String,
    /// Command, correlation, causation, actor and time.
    pub metadata: EventMetadata,
    /// The chained SHA-256 stored with the row (over the stored, not upcast, fields).
    #[serde(with = "hex_hash")]
    pub hash: [u8; 32],
}

/// Result of [`verify`](crate::EventStore::verify).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Rows whose hash was checked (up to and including the first break).
    pub events_checked: u64,
    /// The last stored position (0 when empty).
    pub tail: Position,
    /// The hash of the last event when the whole chain verified; anchor it
    /// elsewhere to detect truncation or a wholesale rewrite.
    #[serde(with = "hex_hash")]
    pub tail_hash: [u8; 32],
    /// The first position where the chain breaks, `None` if it is intact.
    pub first_break: Option<ChainBreak>,
}

impl VerifyReport {
    /// True when no break was found.
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Where and why the hash chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    /// The first position that fails verification.
    pub position: Position,
    /// Why it fails.
    pub reason: BreakReason,
}

/// Why a position fails verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BreakReason {
    /// The row's fields do not hash to the stored hash (a changed byte, a reordered row).
    HashMismatch,
    /// The position is missing: the next stored row has a later position (a deleted row).
    Missing {
        /// The next position actually stored.
        next_stored: Position,
    },
    /// A column holds a value no appender could have written (e.g. a 15-byte uuid).
    Malformed(String),
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HashMismatch => f.write_str("stored hash does not match the row's contents"),
            Self::Missing { next_stored } => {
                write!(
                    f,
                    "position missing, the next stored position is {next_stored}"
                )
            }
            Self::Malformed(why) => write!(f, "malformed row: {why}"),
        }
    }
}

/// Serde helper writing 32-byte hashes as lowercase hex.
mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(D::Error::custom)?;
        Ok(out)
    }
}
