//! Rows to the log's types and back: the event columns, decoding a row into a
//! [`RecordedEvent`], the integer conversions and the error mapping.

use std::sync::Arc;

use poolkeeper_eventlog::{EventLogError, EventMetadata, Position, RecordedEvent, StreamId};
use tokio_postgres::Row;

/// The columns every event read selects, in [`decode_event`]'s order.
pub(crate) const EVENT_COLUMNS: &str = "position, stream_id, stream_version, event_id, \
     event_type, schema_version, payload, command_id, correlation_id, causation_id, actor, \
     recorded_at, hash";

/// Wraps a driver or pool error as [`EventLogError::Backend`].
pub(crate) fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> EventLogError {
    EventLogError::Backend(Arc::new(e))
}

/// A position or version as a SQL `bigint` (saturating: larger values match nothing).
pub(crate) fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A read's `max` as a SQL `LIMIT`.
pub(crate) fn sql_limit(max: usize) -> i64 {
    i64::try_from(max).unwrap_or(i64::MAX)
}

/// A stored `bigint` as a position or version; negative values are corrupt.
pub(crate) fn unsigned(n: i64, position: Position) -> Result<u64, EventLogError> {
    u64::try_from(n).map_err(|_| corrupt(position, "negative position or version"))
}

/// [`EventLogError::Corrupt`] at `position`.
pub(crate) fn corrupt(position: Position, reason: &str) -> EventLogError {
    EventLogError::Corrupt {
        position,
        reason: reason.to_owned(),
    }
}

/// Decodes a row of [`EVENT_COLUMNS`], exactly as stored (no upcasting).
pub(crate) fn decode_event(row: &Row) -> Result<RecordedEvent, EventLogError> {
    let position = unsigned(row.try_get(0).map_err(backend)?, 0)?;
    let stream_id: String = row.try_get(1).map_err(backend)?;
    let stream_id = StreamId::new(stream_id).map_err(|_| corrupt(position, "bad stream id"))?;
    let schema_version = u32::try_from(row.try_get::<_, i64>(5).map_err(backend)?)
        .map_err(|_| corrupt(position, "schema_version out of range"))?;
    let hash: &[u8] = row.try_get(12).map_err(backend)?;
    let hash = <[u8; 32]>::try_from(hash).map_err(|_| corrupt(position, "hash is not 32 bytes"))?;
    Ok(RecordedEvent {
        position,
        stream_id,
        stream_version: unsigned(row.try_get(2).map_err(backend)?, position)?,
        event_id: row.try_get(3).map_err(backend)?,
        event_type: row.try_get(4).map_err(backend)?,
        schema_version,
        payload: row.try_get(6).map_err(backend)?,
        metadata: EventMetadata {
            command_id: row.try_get(7).map_err(backend)?,
            correlation_id: row.try_get(8).map_err(backend)?,
            causation_id: row.try_get(9).map_err(backend)?,
            actor: row.try_get(10).map_err(backend)?,
            recorded_at: row.try_get(11).map_err(backend)?,
        },
        hash,
    })
}
