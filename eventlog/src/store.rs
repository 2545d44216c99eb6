//! The backend-neutral [`EventStore`] trait and the stream types it returns.
//!
//! Callers code against this trait; [`SqliteEventStore`](crate::SqliteEventStore)
//! is one implementation and a PostgreSQL backend could be another.

use std::pin::Pin;
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures::Stream;
use uuid::Uuid;

use crate::error::EventLogError;
use crate::types::{
    AppendOutcome, AppendRequest, Position, RecordedEvent, StreamId, StreamVersion, VerifyReport,
};

/// A boxed stream of events, owned (`'static`) and `Send`.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<RecordedEvent, EventLogError>> + Send>>;

/// The append-only event log.
///
/// Positions passed to reads are inclusive lower bounds; positions start at 1,
/// so 0 and 1 both mean "from the beginning". Every read returns upcast events.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends one command's events atomically, checking each stream's expected
    /// version. Acknowledged only after a durable commit. Bad input and version
    /// conflicts are typed errors that write nothing. A command id that was
    /// already appended returns the first outcome with `duplicate = true`.
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, EventLogError>;

    /// Appends several commands in ONE transaction (one fsync); each gets its own
    /// result, and a conflict or invalid request fails only that request.
    /// Duplicate command ids (already stored, or earlier in the same batch)
    /// return the first outcome with `duplicate = true`. The outer error means
    /// the whole batch failed (storage error, closed store).
    async fn append_batch(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Result<AppendOutcome, EventLogError>>, EventLogError>;

    /// The outcome of a stored command (`duplicate = false`), or `None`.
    async fn command_outcome(
        &self,
        command_id: Uuid,
    ) -> Result<Option<AppendOutcome>, EventLogError>;

    /// Up to `max` events of `stream` with version `>= from_version`, in order.
    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: StreamVersion,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError>;

    /// Up to `max` events with position `>= from_position`, in order.
    async fn read_all(
        &self,
        from_position: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError>;

    /// Up to `max` events of type `event_type` with position `>= from_position`, in order.
    async fn read_by_type(
        &self,
        event_type: &str,
        from_position: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError>;

    /// The last committed position, 0 when the log is empty.
    async fn tail(&self) -> Result<Position, EventLogError>;

    /// The version of a stream's last event, `None` when it has none.
    async fn stream_version(
        &self,
        stream: &StreamId,
    ) -> Result<Option<StreamVersion>, EventLogError>;

    /// Every event from `from_position` up to the tail at the time each page is
    /// read, paged under the hood. Ends at the tail; use [`subscribe`](Self::subscribe)
    /// to keep following.
    fn read_all_stream(&self, from_position: Position) -> EventStream;

    /// Events from `from_position` (catch-up from the store), then live as they
    /// commit, with no gap and no duplicate at the switch. A slow subscriber
    /// never blocks appends. The stream ends after yielding an error, or when the
    /// store closes (after delivering everything committed).
    fn subscribe(&self, from_position: Position) -> Subscription;

    /// Up to `max` events from `from_position` exactly as stored: no upcasting, so an
    /// export of them verifies with the hash chain's independent script.
    async fn read_all_stored(
        &self,
        from_position: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError>;

    /// Re-walks the hash chain and reports the first position where it breaks.
    async fn verify(&self) -> Result<VerifyReport, EventLogError>;

    /// Stops accepting appends, commits what was already accepted and releases
    /// the log, so that it can be opened again (by this process or another).
    /// Afterwards appends and reads fail with
    /// [`Closed`](EventLogError::Closed); subscriptions, also those opened after
    /// closing, deliver everything committed, then end. Idempotent. Dropping the last handle of a store
    /// must release the log too; `close` is how a caller waits for it.
    async fn close(&self) -> Result<(), EventLogError>;
}

/// A live subscription: a stream of events, catch-up then live. See
/// [`EventStore::subscribe`].
pub struct Subscription {
    inner: EventStream,
}

impl Subscription {
    /// Wraps a backend's stream.
    pub fn new(inner: EventStream) -> Self {
        Self { inner }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Stream for Subscription {
    type Item = Result<RecordedEvent, EventLogError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
