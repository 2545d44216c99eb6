//! Between domain events and the log's records, for the writer: one command's events
//! become one atomic append request whose streams are guarded by the versions the write
//! model had before the command. Decoding is [`poolkeeper_codec::decode`].

use poolkeeper_codec::{self as codec, CodecError};
use poolkeeper_domain::{Event, StreamRef, WriteModel};
use poolkeeper_eventlog::{AppendRequest, ExpectedVersion};
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

/// One command's (non-empty) events as an append request. `model` must be the write
/// model *before* the events are applied: each stream's expected version comes from it,
/// so a write that raced this one is refused by the log instead of interleaving.
pub fn append_request(
    model: &WriteModel,
    correlation_id: Uuid,
    events: &[Event],
) -> Result<AppendRequest, CodecError> {
    codec::encode_with(events, correlation_id, |stream| {
        match stream_version(model, stream) {
            0 => ExpectedVersion::NoStream,
            version => ExpectedVersion::Exact(version),
        }
    })
}
