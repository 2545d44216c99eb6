//! SQL text and row decoding shared by the writer and the readers.

use chrono::DateTime;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row};
use uuid::Uuid;

use crate::error::EventLogError;
use crate::types::{
    AppendOutcome, EventMetadata, Position, RecordedEvent, StreamId, StreamVersion,
};

/// The columns of `events`, in the order [`decode_event`] expects.
pub(crate) const EVENT_COLUMNS: &str = "position, stream_id, stream_version, event_id, event_type, \
     schema_version, payload, command_id, correlation_id, causation_id, actor, recorded_at, hash";

/// Insert of one event row (13 parameters in [`EVENT_COLUMNS`] order).
pub(crate) const INSERT_EVENT: &str = "INSERT INTO events (position, stream_id, stream_version, \
     event_id, event_type, schema_version, payload, command_id, correlation_id, causation_id, \
     actor, recorded_at, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

/// Converts a position or version for SQLite (which stores signed 64-bit integers).
pub(crate) fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Converts a `max` argument for a LIMIT clause.
pub(crate) fn sql_limit(max: usize) -> i64 {
    i64::try_from(max).unwrap_or(i64::MAX)
}

/// Decodes an `events` row selected with [`EVENT_COLUMNS`] (stored, not upcast).
pub(crate) fn decode_event(row: &Row<'_>) -> Result<RecordedEvent, EventLogError> {
    let position = match row.get_ref(0)? {
        ValueRef::Integer(p) if p >= 1 => p as u64,
        _ => return Err(corrupt(0, "position is not a positive integer")),
    };
    let stream_id = StreamId::from_stored(text(row, 1, position)?.to_owned());
    let stream_version = unsigned(row, 2, position)?;
    let event_id = uuid(row, 3, position)?;
    let event_type = text(row, 4, position)?.to_owned();
    let schema_version = u32::try_from(unsigned(row, 5, position)?)
        .map_err(|_| corrupt(position, "schema_version out of range"))?;
    let payload = text(row, 6, position)?.to_owned();
    let command_id = uuid(row, 7, position)?;
    let correlation_id = uuid(row, 8, position)?;
    let causation_id = match row.get_ref(9)? {
        ValueRef::Null => None,
        _ => Some(uuid(row, 9, position)?),
    };
    let actor = text(row, 10, position)?.to_owned();
    let micros = integer(row, 11, position)?;
    let recorded_at = DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| corrupt(position, "recorded_at out of range"))?;
    let hash = match row.get_ref(12)? {
        ValueRef::Blob(b) => {
            <[u8; 32]>::try_from(b).map_err(|_| corrupt(position, "hash is not 32 bytes"))?
        }
        _ => return Err(corrupt(position, "hash is not a blob")),
    };
    Ok(RecordedEvent {
        position,
        stream_id,
        stream_version,
        event_id,
        event_type,
        schema_version,
        payload,
        metadata: EventMetadata {
            command_id,
            correlation_id,
            causation_id,
            actor,
            recorded_at,
        },
        hash,
    })
}

pub(crate) fn corrupt(position: Position, reason: &str) -> EventLogError {
    EventLogError::Corrupt {
        position,
        reason: reason.to_owned(),
    }
}

/// A TEXT column as `&str`.
pub(crate) fn text<'r>(
    row: &'r Row<'_>,
    i: usize,
    position: Position,
) -> Result<&'r str, EventLogError> {
    match row.get_ref(i)? {
        ValueRef::Text(b) => {
            std::str::from_utf8(b).map_err(|_| corrupt(position, "text column is not UTF-8"))
        }
        _ => Err(corrupt(position, "expected a text column")),
    }
}

/// An INTEGER column.
pub(crate) fn integer(row: &Row<'_>, i: usize, position: Position) -> Result<i64, EventLogError> {
    match row.get_ref(i)? {
        ValueRef::Integer(n) => Ok(n),
        _ => Err(corrupt(position, "expected an integer column")),
    }
}

/// A non-negative INTEGER column.
pub(crate) fn unsigned(row: &Row<'_>, i: usize, position: Position) -> Result<u64, EventLogError> {
    u64::try_from(integer(row, i, position)?)
        .map_err(|_| corrupt(position, "negative value in an unsigned column"))
}

/// A 16-byte BLOB uuid column.
pub(crate) fn uuid(row: &Row<'_>, i: usize, position: Position) -> Result<Uuid, EventLogError> {
    match row.get_ref(i)? {
        ValueRef::Blob(b) => {
            Uuid::from_slice(b).map_err(|_| corrupt(position, "uuid is not 16 bytes"))
        }
        _ => Err(corrupt(position, "expected a uuid blob")),
    }
}

/// The outcome of a stored command, rebuilt from its position range: streams
/// appear in request order because the writer appends them in that order.
pub(crate) fn outcome_of_range(
    conn: &Connection,
    (first, last): (Position, Position),
) -> Result<AppendOutcome, EventLogError> {
    let (first, last) = (sql_int(first), sql_int(last));
    let mut stmt = conn.prepare_cached(
        "SELECT stream_id, stream_version FROM events \
         WHERE position BETWEEN ?1 AND ?2 ORDER BY position",
    )?;
    let mut rows = stmt.query([first, last])?;
    let mut stream_versions: Vec<(StreamId, StreamVersion)> = Vec::new();
    while let Some(row) = rows.next()? {
        let stream = text(row, 0, first as u64)?;
        let version = unsigned(row, 1, first as u64)?;
        match stream_versions
            .iter_mut()
            .find(|(s, _)| s.as_str() == stream)
        {
            Some(entry) => entry.1 = entry.1.max(version),
            None => stream_versions.push((StreamId::from_stored(stream.to_owned()), version)),
        }
    }
    Ok(AppendOutcome {
        first_position: first as u64,
        last_position: last as u64,
        stream_versions,
        duplicate: false,
    })
}

/// The last stored position and its hash (0 and zeros when empty).
pub(crate) fn tail(conn: &Connection) -> Result<(Position, [u8; 32]), EventLogError> {
    let mut stmt =
        conn.prepare_cached("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1")?;
    let row: Option<(i64, Vec<u8>)> = stmt
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        None => Ok((0, crate::hash::GENESIS_HASH)),
        Some((p, h)) => {
            let position = p as u64;
            let hash = <[u8; 32]>::try_from(h.as_slice())
                .map_err(|_| corrupt(position, "hash is not 32 bytes"))?;
            Ok((position, hash))
        }
    }
}
