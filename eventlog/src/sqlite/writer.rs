//! The single writer thread and its group commit.
//!
//! One std thread owns the write connection. Appenders send jobs over a
//! bounded channel; the writer takes the first waiting job, folds every other
//! job already queued (up to `max_group_events`) into the same transaction,
//! commits once (one fsync), and only then replies to each job and broadcasts
//! the committed events to live subscribers. Inside the transaction each
//! request is checked (idempotency, expected versions) before any of its rows
//! is written, so a conflict fails only that request. A storage error fails
//! the whole group, which is rolled back and the chain state reloaded.

use std::sync::Arc;

use chrono::DateTime;
use rusqlite::Connection;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::rows::{self, INSERT_EVENT, sql_int};
use crate::error::EventLogError;
use crate::hash::{CanonicalEvent, chain_hash};
use crate::types::{
    AppendOutcome, AppendRequest, EventMetadata, Position, RecordedEvent, StreamVersion,
};

/// Events committed together, as broadcast to subscribers (stored, not upcast).
pub(crate) type CommittedBatch = Arc<[RecordedEvent]>;

/// Per-request results of one job.
pub(crate) type JobResults = Vec<Result<AppendOutcome, EventLogError>>;

/// Validated requests that must share one transaction, and where to reply.
pub(crate) struct Job {
    pub(crate) requests: Vec<AppendRequest>,
    pub(crate) reply: oneshot::Sender<JobResults>,
}

/// The writer's state: the connection and the head of the chain.
pub(crate) struct Writer {
    conn: Connection,
    tail: Position,
    last_hash: [u8; 32],
    committed: broadcast::Sender<CommittedBatch>,
    max_group_events: usize,
}

impl Writer {
    /// Wraps a migrated, configured write connection.
    pub(crate) fn new(
        conn: Connection,
        committed: broadcast::Sender<CommittedBatch>,
        max_group_events: usize,
    ) -> Result<Self, EventLogError> {
        let (tail, last_hash) = rows::tail(&conn)?;
        Ok(Self {
            conn,
            tail,
            last_hash,
            committed,
            max_group_events: max_group_events.max(1),
        })
    }

    /// Serves jobs until every sender is gone, then returns (closing the connection).
    pub(crate) fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        let mut group: Vec<Job> = Vec::new();
        while let Some(first) = jobs.blocking_recv() {
            let mut events = job_events(&first);
            group.push(first);
            while events < self.max_group_events {
                match jobs.try_recv() {
                    Ok(job) => {
                        events += job_events(&job);
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            self.commit_group(&mut group);
        }
    }

    /// Appends every job of the group in one transaction, then replies.
    fn commit_group(&mut self, group: &mut Vec<Job>) {
        let publish = self.committed.receiver_count() > 0;
        let mut published: Vec<RecordedEvent> = Vec::new();
        // (reply, number of requests, results so far) per job.
        let mut replies: Vec<(oneshot::Sender<JobResults>, usize, JobResults)> =
            Vec::with_capacity(group.len());
        let mut fatal = self
            .conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .err()
            .map(EventLogError::from);
        for Job { requests, reply } in group.drain(..) {
            let n = requests.len();
            let mut results = Vec::with_capacity(n);
            if fatal.is_none() {
                for request in requests {
                    let sink = if publish { Some(&mut published) } else { None };
                    match self.apply(request, sink) {
                        Ok(result) => results.push(result),
                        Err(e) => {
                            fatal = Some(e);
                            break;
                        }
                    }
                }
            }
            replies.push((reply, n, results));
        }
        if fatal.is_none() {
            fatal = self
                .conn
                .prepare_cached("COMMIT")
                .and_then(|mut s| s.execute([]))
                .err()
                .map(EventLogError::from);
        }
        match fatal {
            None => {
                for (reply, _, results) in replies {
                    // The appender may have stopped waiting; its events are committed anyway.
                    let _ = reply.send(results);
                }
                if !published.is_empty() {
                    // No receiver left is fine: subscribers catch up from the store.
                    let _ = self.committed.send(published.into());
                }
            }
            Some(error) => {
                tracing::error!(%error, "group commit failed; rolling back");
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                for (reply, n, _) in replies {
                    let _ = reply.send(vec![Err(error.clone()); n]);
                }
                match rows::tail(&self.conn) {
                    Ok((tail, hash)) => {
                        self.tail = tail;
                        self.last_hash = hash;
                    }
                    Err(e) => tracing::error!(error = %e, "cannot reload the chain head"),
                }
            }
        }
    }

    /// Applies one request inside the open transaction. The outer error is a
    /// storage failure (fails the group); the inner one is this request's.
    fn apply(
        &mut self,
        request: AppendRequest,
        mut sink: Option<&mut Vec<RecordedEvent>>,
    ) -> Result<Result<AppendOutcome, EventLogError>, EventLogError> {
        // Idempotency: also sees commands written earlier in this transaction.
        if let Some(mut first) = rows::command_outcome(&self.conn, &request.command_id)? {
            first.duplicate = true;
            return Ok(Ok(first));
        }
        let mut current: Vec<Option<StreamVersion>> = Vec::with_capacity(request.streams.len());
        for s in &request.streams {
            let actual = rows::stream_version(&self.conn, s.stream_id.as_str())?;
            if !s.expected.matches(actual) {
                return Ok(Err(EventLogError::WrongExpectedVersion {
                    stream: s.stream_id.clone(),
                    expected: s.expected,
                    actual,
                }));
            }
            current.push(actual);
        }

        let first_position = self.tail + 1;
        let micros = request.recorded_at.timestamp_micros();
        // What reads will return: the time truncated to whole microseconds.
        let recorded_at = DateTime::from_timestamp_micros(micros).unwrap_or(request.recorded_at);
        let command_id = *request.command_id.as_bytes();
        let correlation_id = *request.correlation_id.as_bytes();
        let causation_id = request.causation_id.map(|c| *c.as_bytes());
        let mut stream_versions = Vec::with_capacity(request.streams.len());
        let mut insert = self.conn.prepare_cached(INSERT_EVENT)?;
        for (s, actual) in request.streams.into_iter().zip(current) {
            let mut version = actual.unwrap_or(0);
            for e in s.events {
                version += 1;
                let position = self.tail + 1;
                let hash = chain_hash(
                    &self.last_hash,
                    &CanonicalEvent {
                        position,
                        stream_id: s.stream_id.as_str(),
                        stream_version: version,
                        event_id: e.event_id,
                        event_type: &e.event_type,
                        schema_version: e.schema_version,
                        command_id: request.command_id,
                        correlation_id: request.correlation_id,
                        causation_id: request.causation_id,
                        actor: &request.actor,
                        recorded_at_micros: micros,
                        payload: &e.payload,
                    },
                );
                insert.execute(rusqlite::params![
                    sql_int(position),
                    s.stream_id.as_str(),
                    sql_int(version),
                    &e.event_id.as_bytes()[..],
                    e.event_type,
                    e.schema_version,
                    e.payload,
                    &command_id[..],
                    &correlation_id[..],
                    causation_id.as_ref().map(|c| &c[..]),
                    request.actor,
                    micros,
                    &hash[..],
                ])?;
                self.tail = position;
                self.last_hash = hash;
                if let Some(sink) = sink.as_deref_mut() {
                    sink.push(RecordedEvent {
                        position,
                        stream_id: s.stream_id.clone(),
                        stream_version: version,
                        event_id: e.event_id,
                        event_type: e.event_type,
                        schema_version: e.schema_version,
                        payload: e.payload,
                        metadata: EventMetadata {
                            command_id: request.command_id,
                            correlation_id: request.correlation_id,
                            causation_id: request.causation_id,
                            actor: request.actor.clone(),
                            recorded_at,
                        },
                        hash,
                    });
                }
            }
            stream_versions.push((s.stream_id, version));
        }
        drop(insert);
        self.conn
            .prepare_cached(
                "INSERT INTO commands (command_id, first_position, last_position) \
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(rusqlite::params![
                &command_id[..],
                sql_int(first_position),
                sql_int(self.tail)
            ])?;
        Ok(Ok(AppendOutcome {
            first_position,
            last_position: self.tail,
            stream_versions,
            duplicate: false,
        }))
    }
}

fn job_events(job: &Job) -> usize {
    job.requests.iter().map(AppendRequest::event_count).sum()
}
