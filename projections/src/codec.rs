//! Between the log's opaque records and domain events.
//!
//! The writer's convention, which [`encode`] implements and [`decode`] relies on: one
//! append per command; `recorded_at` is the domain `Event::at` of every event in it; the
//! actor is `Actor`'s display form; the stream id is the body's [`StreamRef`]; event type,
//! schema version and payload come from the body ([`EventBody::to_payload`]).

use poolkeeper_domain::{Actor, CommandId, Event, EventBody, EventId, StreamRef};
use poolkeeper_eventlog::{
    AppendRequest, ExpectedVersion, NewEvent, Position, RecordedEvent, StreamAppend, StreamId,
    StreamVersion,
};

/// Why a recorded event is not a valid domain event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The type names no event this build knows (an upcaster is missing, or the log is newer).
    #[error("position {position}: unknown event type {event_type:?}")]
    UnknownType {
        /// Where.
        position: Position,
        /// The type column.
        event_type: String,
    },
    /// The schema version (after upcasting) is not the one this build reads.
    #[error(
        "position {position}: {event_type} has schema version {found}, this build reads {expected}"
    )]
    SchemaVersion {
        /// Where.
        position: Position,
        /// The type.
        event_type: String,
        /// The stored (upcast) version.
        found: u32,
        /// The version this build decodes.
        expected: u32,
    },
    /// The payload does not match the type's schema.
    #[error("position {position}: {event_type} payload does not match its schema: {message}")]
    Payload {
        /// Where.
        position: Position,
        /// The type.
        event_type: String,
        /// The decoder's message.
        message: String,
    },
    /// The actor column is not an `Actor`.
    #[error("position {position}: unreadable actor {actor:?}")]
    Actor {
        /// Where.
        position: Position,
        /// The actor column.
        actor: String,
    },
    /// The stream id is not the stream the body belongs to.
    #[error("position {position}: event on stream {stream} belongs to {expected}")]
    Stream {
        /// Where.
        position: Position,
        /// The stream column.
        stream: String,
        /// The body's stream.
        expected: String,
    },
    /// [`encode`] was given no events, or events of several commands.
    #[error("an append carries the events of exactly one command")]
    NotOneCommand,
}

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

/// One command's events as one append request, with `Any` expected versions and the
/// command id as correlation id (tests, benchmarks and simulations). The writer uses
/// [`encode_with`].
pub fn encode(events: &[Event]) -> Result<AppendRequest, CodecError> {
    let correlation_id = events.first().map_or(uuid::Uuid::nil(), |e| e.command_id.0);
    encode_with(events, correlation_id, |_| ExpectedVersion::Any)
}

/// One command's events as one append request: grouped by stream in order of first
/// appearance (a command's events never interleave streams, so this keeps the order in
/// which they were decided), each stream guarded by `expected(stream)`.
pub fn encode_with(
    events: &[Event],
    correlation_id: uuid::Uuid,
    mut expected: impl FnMut(StreamRef) -> ExpectedVersion,
) -> Result<AppendRequest, CodecError> {
    let first = events.first().ok_or(CodecError::NotOneCommand)?;
    if events.iter().any(|e| e.command_id != first.command_id) {
        return Err(CodecError::NotOneCommand);
    }
    let mut streams: Vec<(StreamRef, Vec<NewEvent>)> = Vec::new();
    for event in events {
        let stream = event.stream();
        let new_event = NewEvent {
            event_id: event.event_id.0,
            event_type: event.body.event_type().to_owned(),
            schema_version: event.body.schema_version(),
            payload: event.body.to_payload(),
        };
        match streams.iter_mut().find(|(s, _)| *s == stream) {
            Some((_, list)) => list.push(new_event),
            None => streams.push((stream, vec![new_event])),
        }
    }
    Ok(AppendRequest {
        command_id: first.command_id.0,
        correlation_id,
        causation_id: None,
        actor: first.actor.to_string(),
        recorded_at: first.at,
        streams: streams
            .into_iter()
            .map(|(stream, events)| StreamAppend {
                stream_id: StreamId::new(stream.to_string())
                    .unwrap_or_else(|_| unreachable!("stream ids of the domain are short")),
                expected: expected(stream),
                events,
            })
            .collect(),
    })
}
