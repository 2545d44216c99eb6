//! Between domain events and the log's records: one command's events become one atomic
//! [`AppendRequest`], grouped by stream with the expected version of each stream taken
//! from the write model; stored records become domain events again.

use chrono::{DateTime, Utc};
use poolkeeper_domain::event::DecodeError;
use poolkeeper_domain::{Actor, CommandId, Event, StreamRef, WriteModel};
use poolkeeper_eventlog::{
    AppendRequest, ExpectedVersion, NewEvent, RecordedEvent, StreamAppend, StreamId,
};
use uuid::Uuid;

/// The version of a stream's target in the write model (0 when it does not exist yet).
pub fn stream_version(model: &WriteModel, stream: StreamRef) -> u64 {
    match stream {
        StreamRef::Customer(id) => model.customers.get(&id).map_or(0, |c| c.version),
        StreamRef::Pool(id) => model.pools.get(&id).map_or(0, |p| p.version),
        StreamRef::User(id) => model.users.get(&id).map_or(0, |u| u.version),
        StreamRef::Organization => model.settings.version,
    }
}

/// The log's id of a domain stream.
pub fn stream_id(stream: StreamRef) -> StreamId {
    StreamId::new(stream.to_string())
        .unwrap_or_else(|_| unreachable!("domain stream ids are never empty"))
}

/// One command's events as an append request. `model` must be the write model *before*
/// the events are applied: it supplies each stream's expected version, so a write that
/// races this one is refused by the log instead of silently interleaving.
///
/// A command's events never interleave streams (each stream's events are consecutive),
/// so grouping them by stream keeps the order in which they were decided.
pub fn append_request(
    model: &WriteModel,
    command_id: CommandId,
    correlation_id: Uuid,
    actor: Actor,
    at: DateTime<Utc>,
    events: &[Event],
) -> AppendRequest {
    let mut streams: Vec<(StreamRef, StreamAppend)> = Vec::new();
    for event in events {
        let stream = event.stream();
        let new_event = NewEvent {
            event_id: event.event_id.0,
            event_type: event.body.event_type().to_owned(),
            schema_version: event.body.schema_version(),
            payload: event.body.to_payload(),
        };
        match streams.last_mut() {
            Some((last, append)) if *last == stream => append.events.push(new_event),
            _ => {
                debug_assert!(
                    streams.iter().all(|(seen, _)| *seen != stream),
                    "a command's events interleave streams"
                );
                let expected = match stream_version(model, stream) {
                    0 => ExpectedVersion::NoStream,
                    version => ExpectedVersion::Exact(version),
                };
                streams.push((
                    stream,
                    StreamAppend {
                        stream_id: stream_id(stream),
                        expected,
                        events: vec![new_event],
                    },
                ));
            }
        }
    }
    AppendRequest {
        command_id: command_id.0,
        correlation_id,
        causation_id: None,
        actor: actor.to_string(),
        recorded_at: at,
        streams: streams.into_iter().map(|(_, append)| append).collect(),
    }
}

/// A stored record as a domain event.
pub fn decode(recorded: &RecordedEvent) -> Result<Event, DecodeError> {
    Event::from_stored(
        recorded.event_id,
        recorded.metadata.command_id,
        &recorded.metadata.actor,
        recorded.metadata.recorded_at,
        &recorded.event_type,
        &recorded.payload,
    )
}
