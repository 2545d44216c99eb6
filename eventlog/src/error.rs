//! The crate's single error type, [`EventLogError`].
//!
//! Every variant says how a caller should react: retry after re-reading
//! ([`EventLogError::WrongExpectedVersion`]), fix the request
//! ([`EventLogError::InvalidInput`], [`EventLogError::PayloadTooLarge`]), upgrade
//! the binary ([`EventLogError::SchemaTooNew`]), step down as a writer
//! ([`EventLogError::Fenced`], [`EventLogError::ReadOnly`]), or treat the store as
//! unavailable ([`EventLogError::Storage`], [`EventLogError::Backend`],
//! [`EventLogError::Io`], [`EventLogError::Closed`]).

use std::sync::Arc;

use crate::types::{ExpectedVersion, Position, StreamId, StreamVersion};

/// Errors returned by the event log.
///
/// The type is `Clone` so one storage failure can be reported to every caller of
/// a group commit.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EventLogError {
    /// Optimistic concurrency conflict: the stream moved since the caller read it.
    /// Nothing was written. Re-read the stream, re-decide and retry.
    #[error("wrong expected version for stream {stream}: expected version was {expected}, found {}", DisplayVersion(*.actual))]
    WrongExpectedVersion {
        /// The stream whose version did not match.
        stream: StreamId,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The stream's actual version (`None`: the stream has no events).
        actual: Option<StreamVersion>,
    },

    /// The request is malformed (a caller bug). Nothing was written; do not retry as is.
    #[error("invalid input in {field}: {reason}")]
    InvalidInput {
        /// Which field was rejected, e.g. `streams[0].events[2].payload`.
        field: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A payload exceeds the configured maximum size. Nothing was written.
    #[error("payload too large: {size} bytes, the maximum is {max}")]
    PayloadTooLarge {
        /// The payload's size in bytes.
        size: usize,
        /// The configured maximum in bytes.
        max: usize,
    },

    /// The database was written by a newer version of this crate. Upgrade the
    /// binary; the file was not modified.
    #[error(
        "the event log schema version {found} is newer than the {supported} this build supports"
    )]
    SchemaTooNew {
        /// The schema version found in the file.
        found: u32,
        /// The newest schema version this build knows.
        supported: u32,
    },

    /// An upcaster failed to convert a stored payload. The stored row is intact;
    /// fix the upcaster.
    #[error("upcasting {event_type} v{from_version} at position {position} failed: {reason}")]
    Upcast {
        /// Position of the event that could not be upcast.
        position: Position,
        /// The event type.
        event_type: String,
        /// The schema version the failing upcaster starts from.
        from_version: u32,
        /// The upcaster's explanation.
        reason: String,
    },

    /// A stored row cannot be decoded (tampering or a foreign writer). Run
    /// [`verify`](crate::EventStore::verify) and investigate.
    #[error("corrupt row at position {position}: {reason}")]
    Corrupt {
        /// Position of the undecodable row.
        position: Position,
        /// What is wrong with it.
        reason: String,
    },

    /// The storage engine failed (I/O, disk full, locked database...). The
    /// operation did not take effect; retrying later may succeed.
    #[error("storage error: {0}")]
    Storage(#[source] Arc<rusqlite::Error>),

    /// A database backend other than SQLite (PostgreSQL) failed: connection,
    /// query or commit. The operation did not take effect, except that a
    /// failure while committing leaves the outcome unknown: read the command's
    /// outcome ([`command_outcome`](crate::EventStore::command_outcome)) before
    /// retrying, or retry with the same command id.
    #[error("database error: {0}")]
    Backend(#[source] Arc<dyn std::error::Error + Send + Sync>),

    /// Another writer took this organization's log over: its lease now has a
    /// newer epoch than `epoch`, the one this store appends under. Nothing of
    /// the refused append was written. The caller must step down: stop
    /// appending through this store, and if it acquires the lease again, open a
    /// new store and re-fold its write model from the log, which may have moved.
    #[error("organization {organization}: fenced, epoch {epoch} is no longer the writer's")]
    Fenced {
        /// The organization whose log refused the append.
        organization: String,
        /// The (stale) epoch this store holds.
        epoch: u64,
    },

    /// The store was opened without a writer lease: it reads, subscribes and
    /// verifies but refuses appends. Nothing was written; send the command to
    /// the organization's writer.
    #[error("organization {organization}: this log was opened read-only")]
    ReadOnly {
        /// The organization whose log refused the append.
        organization: String,
    },

    /// Writing an export or opening the database directory failed.
    #[error("i/o error: {0}")]
    Io(#[source] Arc<std::io::Error>),

    /// The store was closed (or its writer stopped); reopen it.
    #[error("the event log is closed")]
    Closed,
}

impl EventLogError {
    /// Shorthand for [`EventLogError::InvalidInput`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// True for [`EventLogError::WrongExpectedVersion`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::WrongExpectedVersion { .. })
    }
}

impl From<rusqlite::Error> for EventLogError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(Arc::new(e))
    }
}

impl From<std::io::Error> for EventLogError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(Arc::new(e))
    }
}

/// Displays an optional stream version, `None` as "no stream".
struct DisplayVersion(Option<StreamVersion>);

impl std::fmt::Display for DisplayVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(v) => write!(f, "{v}"),
            None => f.write_str("no stream"),
        }
    }
}
