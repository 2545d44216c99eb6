//! The crate's error type, [`ProjectionError`]: each variant says how a caller reacts.

use std::sync::Arc;

use poolkeeper_codec::CodecError;
use poolkeeper_eventlog::{EventLogError, Position};

use crate::name::ProjectionName;

/// Errors of the read side.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProjectionError {
    /// The projection has not reached the wanted position within the timeout: retry later,
    /// or answer from the older state and say so.
    #[error("projection {projection} is at position {at}, {wanted} was wanted")]
    Lagging {
        /// The slowest projection.
        projection: ProjectionName,
        /// Its checkpoint.
        at: Position,
        /// The position the caller waited for.
        wanted: Position,
    },
    /// The projection stopped at an event it cannot apply (unknown type, corrupt payload,
    /// a gap in positions). It keeps serving the state before that event; an operator must
    /// fix the log or the code (e.g. add an upcaster) and restart.
    #[error("projection {projection} halted before position {position}: {reason}")]
    Halted {
        /// The halted projection.
        projection: ProjectionName,
        /// The position it could not apply.
        position: Position,
        /// Why.
        reason: String,
    },
    /// A stored event could not be decoded into a domain event.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The event log failed.
    #[error("event log: {0}")]
    EventLog(#[from] EventLogError),
    /// SQLite failed (I/O, disk full, a corrupt projection file): retrying later may succeed;
    /// a corrupt projection can be rebuilt from the log.
    #[error("projection storage: {0}")]
    Storage(#[source] Arc<rusqlite::Error>),
    /// A file operation failed (creating the directory, renaming a rebuilt file).
    #[error("projection files: {0}")]
    Io(#[source] Arc<std::io::Error>),
    /// Another process (or another `Projections`) holds the projection directory.
    #[error("the projection directory {0} is in use by another owner")]
    DirectoryInUse(String),
    /// A projection file was written by another schema version; rebuild it.
    #[error("{projection} has schema version {found}, this build needs {expected}: rebuild it")]
    SchemaMismatch {
        /// The projection.
        projection: ProjectionName,
        /// The version in the file.
        found: i64,
        /// The version this build writes.
        expected: i64,
    },
    /// A query argument is invalid (a cursor from another query, a zero limit).
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// The argument.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A rebuild of this projection is already running.
    #[error("a rebuild of {0} is already running")]
    RebuildRunning(ProjectionName),
    /// The projections were shut down, or a background task stopped.
    #[error("the projections are closed")]
    Closed,
}

impl ProjectionError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}

impl From<rusqlite::Error> for ProjectionError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Storage(Arc::new(error))
    }
}

impl From<std::io::Error> for ProjectionError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(Arc::new(error))
    }
}
