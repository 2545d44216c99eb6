//! The JSON-lines export: one line per stored event with every stored field
//! and the hash, in position order.
//!
//! The payload is exported as a JSON *string* holding the stored text (never
//! upcast), so an auditor recovers the exact bytes that were hashed. README.md
//! documents the line format and includes a stdlib-only Python verifier.

use std::io::Write;

use chrono::SecondsFormat;
use serde::Serialize;

use crate::error::EventLogError;
use crate::types::{Position, RecordedEvent};

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    /// Lines written.
    pub events: u64,
    /// Position of the last event written (0 when empty).
    pub tail: Position,
    /// Stored hash of the last event written (zeros when empty).
    pub tail_hash: [u8; 32],
}

/// One export line; field order is the canonical hash order plus the hash.
#[derive(Serialize)]
struct ExportLine<'a> {
    position: Position,
    stream_id: &'a str,
    stream_version: u64,
    event_id: String,
    event_type: &'a str,
    schema_version: u32,
    command_id: String,
    correlation_id: String,
    causation_id: Option<String>,
    actor: &'a str,
    recorded_at_micros: i64,
    /// Informative RFC 3339 rendering of `recorded_at_micros` (not hashed).
    recorded_at: String,
    payload: &'a str,
    hash: String,
    /// Informative (not hashed): whether the payload's personal fields are `sealed` as
    /// stored or were `opened` for this export; absent when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    personal_data: Option<&'a str>,
}

/// Writes one stored (not upcast) event as a JSON line.
pub fn write_export_line<W: Write>(out: &mut W, e: &RecordedEvent) -> Result<(), EventLogError> {
    write_export_line_marked(out, e, None)
}

/// Writes one event as a JSON line that says whether its personal fields are `sealed`
/// or `opened` (`personal_data`, informative and not hashed).
pub fn write_export_line_marked<W: Write>(
    out: &mut W,
    e: &RecordedEvent,
    personal_data: Option<&str>,
) -> Result<(), EventLogError> {
    let line = ExportLine {
        personal_data,
        position: e.position,
        stream_id: e.stream_id.as_str(),
        stream_version: e.stream_version,
        event_id: e.event_id.hyphenated().to_string(),
        event_type: &e.event_type,
        schema_version: e.schema_version,
        command_id: e.metadata.command_id.hyphenated().to_string(),
        correlation_id: e.metadata.correlation_id.hyphenated().to_string(),
        causation_id: e.metadata.causation_id.map(|c| c.hyphenated().to_string()),
        actor: &e.metadata.actor,
        recorded_at_micros: e.metadata.recorded_at.timestamp_micros(),
        recorded_at: e
            .metadata
            .recorded_at
            .to_rfc3339_opts(SecondsFormat::Micros, true),
        payload: &e.payload,
        hash: hex::encode(e.hash),
    };
    serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}
