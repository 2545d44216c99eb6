//! [`PostgresEventStore`]: one organization's log as an [`EventStore`].
//!
//! A store opened with a [`WriterLease`](crate::WriterLease) owns a writer task
//! (`crate::writer`) fed through a bounded channel; one opened without is
//! read-only. Reads go through the shared pool (`crate::reader`), subscriptions
//! through `crate::subscription`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use poolkeeper_eventlog::{
    AppendOutcome, AppendRequest, EventLogError, EventStore, EventStream, Position, RecordedEvent,
    StreamId, StreamVersion, Subscription, VerifyReport,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::reader::Reader;
use crate::subscription::{self, Wakeups};
use crate::writer::{Job, JobResults};
use crate::{PostgresLogs, WriterLease};

/// One organization's log in PostgreSQL. Cheap to clone; the writer stops when
/// [`close`](EventStore::close) is called or the last clone is dropped (after
/// committing the appends already accepted).
#[derive(Clone)]
pub struct PostgresEventStore {
    inner: Arc<Inner>,
}

struct Inner {
    logs: PostgresLogs,
    organization: Arc<str>,
    writer: Option<WriterLease>,
    reader: Reader,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    task: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
    /// Set by the writer task when it stops, or by `close` without a writer.
    closed_signal: watch::Sender<bool>,
}

impl std::fmt::Debug for PostgresEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresEventStore")
            .field("organization", &self.inner.organization)
            .field("writer", &self.inner.writer)
            .finish_non_exhaustive()
    }
}

impl PostgresEventStore {
    pub(crate) fn new(
        logs: PostgresLogs,
        organization: Arc<str>,
        writer: Option<WriterLease>,
    ) -> Self {
        let config = logs.config();
        let reader = Reader::new(
            logs.pool().clone(),
            Arc::clone(&organization),
            config.upcasters.clone(),
            config.page_size,
        );
        let (closed_signal, _) = watch::channel(false);
        let (jobs, task) = match &writer {
            Some(lease) => {
                let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
                let writer = crate::writer::Writer {
                    pool: logs.pool().clone(),
                    organization: Arc::clone(&organization),
                    epoch: lease.epoch,
                    hub: logs.hub(),
                    max_group_events: config.max_group_events.max(1),
                    closed: closed_signal.clone(),
                    known: None,
                };
                (Some(tx), Some(tokio::spawn(writer.run(rx))))
            }
            None => (None, None),
        };
        Self {
            inner: Arc::new(Inner {
                logs,
                organization,
                writer,
                reader,
                jobs: Mutex::new(jobs),
                task: Mutex::new(task),
                closed: AtomicBool::new(false),
                closed_signal,
            }),
        }
    }

    /// The organization whose log this is.
    pub fn organization(&self) -> &str {
        &self.inner.organization
    }

    /// The lease this store appends under, `None` when read-only.
    pub fn writer(&self) -> Option<&WriterLease> {
        self.inner.writer.as_ref()
    }

    fn check_open(&self) -> Result<(), EventLogError> {
        if self.inner.closed.load(Ordering::Acquire) {
            Err(EventLogError::Closed)
        } else {
            Ok(())
        }
    }

    /// Hands validated requests to the writer as one job and waits for the commit.
    async fn submit(&self, requests: Vec<AppendRequest>) -> Result<JobResults, EventLogError> {
        self.check_open()?;
        if self.inner.writer.is_none() {
            return Err(EventLogError::ReadOnly {
                organization: self.inner.organization.to_string(),
            });
        }
        let sender = lock(&self.inner.jobs)
            .clone()
            .ok_or(EventLogError::Closed)?;
        let (reply, response) = oneshot::channel();
        sender
            .send(Job { requests, reply })
            .await
            .map_err(|_| EventLogError::Closed)?;
        drop(sender);
        response.await.map_err(|_| EventLogError::Closed)?
    }
}

/// PostgreSQL's earliest `timestamptz`, 4714-11-24 00:00 BC, in Unix microseconds.
const EARLIEST_TIMESTAMP_MICROS: i64 = -210_866_803_200_000_000;

/// The log's own checks, plus PostgreSQL's: `timestamptz` starts in 4714 BC and
/// `text` cannot hold a NUL character; either would fail the whole group commit
/// rather than this request.
fn validate(request: &AppendRequest, max_payload_bytes: usize) -> Result<(), EventLogError> {
    request.validate(max_payload_bytes)?;
    let nul = |field: &str| EventLogError::invalid(field, "must not contain a NUL character");
    if request.recorded_at.timestamp_micros() < EARLIEST_TIMESTAMP_MICROS {
        return Err(EventLogError::invalid(
            "recorded_at",
            "is before 4714 BC, the earliest PostgreSQL timestamp",
        ));
    }
    if request.actor.contains('\0') {
        return Err(nul("actor"));
    }
    for (i, s) in request.streams.iter().enumerate() {
        if s.stream_id.as_str().contains('\0') {
            return Err(nul(&format!("streams[{i}].stream_id")));
        }
        for (j, e) in s.events.iter().enumerate() {
            if e.event_type.contains('\0') || e.payload.contains('\0') {
                return Err(nul(&format!("streams[{i}].events[{j}]")));
            }
        }
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    /// Refuses further appends and reads; returns the writer task to await.
    fn shut_down(&self) -> Option<JoinHandle<()>> {
        self.closed.store(true, Ordering::Release);
        lock(&self.jobs).take();
        let task = lock(&self.task).take();
        if self.writer.is_none() {
            self.closed_signal.send_replace(true);
        }
        task
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The writer task commits what it accepted, then stops on its own.
        self.shut_down();
    }
}

#[async_trait]
impl EventStore for PostgresEventStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, EventLogError> {
        validate(&request, self.inner.logs.config().max_payload_bytes)?;
        let mut results = self.submit(vec![request]).await?;
        results.pop().unwrap_or(Err(EventLogError::Closed))
    }

    async fn append_batch(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Result<AppendOutcome, EventLogError>>, EventLogError> {
        let max = self.inner.logs.config().max_payload_bytes;
        let checked: Vec<_> = requests
            .into_iter()
            .map(|r| (validate(&r, max), r))
            .collect();
        let valid: Vec<AppendRequest> = checked
            .iter()
            .filter(|(v, _)| v.is_ok())
            .map(|(_, r)| r.clone())
            .collect();
        let mut committed = if valid.is_empty() {
            self.check_open()?;
            Vec::new().into_iter()
        } else {
            self.submit(valid).await?.into_iter()
        };
        Ok(checked
            .into_iter()
            .map(|(v, _)| match v {
                Ok(()) => committed.next().unwrap_or(Err(EventLogError::Closed)),
                Err(e) => Err(e),
            })
            .collect())
    }

    async fn command_outcome(
        &self,
        command_id: Uuid,
    ) -> Result<Option<AppendOutcome>, EventLogError> {
        self.check_open()?;
        self.inner.reader.command_outcome(command_id).await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: StreamVersion,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.check_open()?;
        self.inner
            .reader
            .read_stream(stream, from_version, max)
            .await
    }

    async fn read_all(
        &self,
        from_position: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.check_open()?;
        self.inner.reader.read_all(from_position, max, true).await
    }

    async fn read_by_type(
        &self,
        event_type: &str,
        from_position: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.check_open()?;
        self.inner
            .reader
            .read_by_type(event_type, from_position, max)
            .await
    }

    async fn tail(&self) -> Result<Position, EventLogError> {
        self.check_open()?;
        self.inner.reader.tail().await
    }

    async fn stream_version(
        &self,
        stream: &StreamId,
    ) -> Result<Option<StreamVersion>, EventLogError> {
        self.check_open()?;
        self.inner.reader.stream_version(stream).await
    }

    fn read_all_stream(&self, from_position: Position) -> EventStream {
        if self.check_open().is_err() {
            return Box::pin(futures::stream::once(async { Err(EventLogError::Closed) }));
        }
        subscription::paged(self.inner.reader.clone(), from_position)
    }

    fn subscribe(&self, from_position: Position) -> Subscription {
        let hub = self.inner.logs.hub();
        let wakeups = Wakeups {
            heads: hub.watch(&self.inner.organization),
            _hub: hub,
            closed: self.inner.closed_signal.subscribe(),
            poll_interval: self.inner.logs.config().poll_interval,
        };
        subscription::subscribe(self.inner.reader.clone(), wakeups, from_position)
    }

    async fn read_all_stored(
        &self,
        from_position: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.check_open()?;
        self.inner.reader.read_all(from_position, max, false).await
    }

    async fn verify(&self) -> Result<VerifyReport, EventLogError> {
        self.check_open()?;
        self.inner.reader.verify().await
    }

    async fn close(&self) -> Result<(), EventLogError> {
        if let Some(task) = self.inner.shut_down() {
            task.await.map_err(|_| EventLogError::Closed)?;
        }
        Ok(())
    }
}
