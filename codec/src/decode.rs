//! Decoding: a record of the log back into a domain event.
//!
//! A record is valid when its type is one this build knows at the schema version it
//! decodes (the log upcasts older payloads on read, see [`crate::upcasters`]), its payload
//! matches the type's schema, its actor column is an [`Actor`] and its stream id is the
//! stream its body belongs to ([`EventBody::stream`]).

use poolkeeper_domain::{Actor, CommandId, Event, EventBody, EventId, StreamRef};
use poolkeeper_eventlog::{Position, RecordedEvent, StreamVersion};

use crate::CodecError;

/// A domain event with its place in the log.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedEvent {
    /// The global position.
    pub position: Position,
    /// The version of its stream after it (for customers: the customer's version).
    pub stream_version: StreamVersion,
    /// The event.
    pub event: Event,
}

/// Decodes a recorded event into a domain event.
pub fn decode(recorded: &RecordedEvent) -> Result<Event, CodecError> {
    let position = recorded.position;
    let event_type = recorded.event_type.as_str();
    let expected =
        EventBody::schema_version_of(event_type).ok_or_else(|| CodecError::UnknownType {
            position,
            event_type: event_type.to_owned(),
        })?;
    if recorded.schema_version != expected {
        return Err(CodecError::SchemaVersion {
            position,
            event_type: event_type.to_owned(),
            found: recorded.schema_version,
            expected,
        });
    }
    let body =
        EventBody::decode(event_type, &recorded.payload).map_err(|error| CodecError::Payload {
            position,
            event_type: event_type.to_owned(),
            message: error.to_string(),
        })?;
    let actor = Actor::parse(&recorded.metadata.actor).ok_or_else(|| CodecError::Actor {
        position,
        actor: recorded.metadata.actor.clone(),
    })?;
    if !stream_matches(recorded.stream_id.as_str(), body.stream()) {
        return Err(CodecError::Stream {
            position,
            stream: recorded.stream_id.to_string(),
            expected: body.stream().to_string(),
        });
    }
    Ok(Event {
        event_id: EventId::from_uuid(recorded.event_id),
        command_id: CommandId::from_uuid(recorded.metadata.command_id),
        at: recorded.metadata.recorded_at,
        actor,
        body,
    })
}

/// Decodes a recorded event and keeps its position and stream version.
pub fn decode_logged(recorded: &RecordedEvent) -> Result<LoggedEvent, CodecError> {
    Ok(LoggedEvent {
        position: recorded.position,
        stream_version: recorded.stream_version,
        event: decode(recorded)?,
    })
}

/// Compares a stream id with a stream without formatting it.
fn stream_matches(stream_id: &str, stream: StreamRef) -> bool {
    let (prefix, id) = match stream {
        StreamRef::Organization => return stream_id == "organization",
        StreamRef::Customer(id) => ("customer-", id.0),
        StreamRef::Pool(id) => ("pool-", id.0),
        StreamRef::User(id) => ("user-", id.0),
    };
    stream_id
        .strip_prefix(prefix)
        .and_then(|rest| uuid::Uuid::try_parse(rest).ok())
        == Some(id)
}
