//! Encoding: one command's domain events as one append request of the log.

use poolkeeper_domain::{Event, StreamRef};
use poolkeeper_eventlog::{AppendRequest, ExpectedVersion, NewEvent, StreamAppend, StreamId};

use crate::CodecError;

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
