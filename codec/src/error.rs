//! [`CodecError`]: why a record is not a valid domain event, or events are not one append.

use poolkeeper_eventlog::Position;

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
    /// [`crate::encode`] was given no events, or events of several commands.
    #[error("an append carries the events of exactly one command")]
    NotOneCommand,
}
