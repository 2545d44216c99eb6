//! The command writer: the one task through which every command passes.
//!
//! It takes the commands waiting in its queue as one batch, decides each against the
//! in-memory [`WriteModel`] (folding the events of each accepted command in before deciding
//! the next, so caps and cooldowns stay exact under any concurrency), appends the whole
//! batch to the log in one group-committed transaction, and only then acknowledges each
//! caller. A command id seen before (in the log or earlier in the batch) gets the first
//! outcome back and appends nothing. A refused command appends nothing.
//!
//! Invariant: the model equals the fold of the log up to `last_position`, except while a
//! batch is between deciding and committing. If the log refuses an append the writer
//! cannot vouch for the model any more, so it folds the log again from the start.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use poolkeeper_domain::{
    Clock, Command, CommandId, DomainError, Event, EventBody, StreamRef, WriteModel, decide,
};
use poolkeeper_eventlog::{AppendOutcome, AppendRequest, EventLogError, EventStore, Position};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::codec::append_request;
use crate::seen::SeenCommands;
use poolkeeper_projections::codec::{self, CodecError};

/// What an accepted command did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The position of its first event (0 when it appended nothing).
    pub first_position: Position,
    /// The position of its last event; for a command that changed nothing, the log's tail
    /// when it was decided.
    pub last_position: Position,
    /// Each stream it wrote and that stream's version after it.
    pub streams: Vec<(String, u64)>,
    /// The types of its events, in order.
    pub event_types: Vec<String>,
    /// The customers, pools and users its events created, in order (the first outcome's,
    /// for a duplicate: a retried create names what the first one created).
    pub created: Vec<StreamRef>,
    /// The command id was seen before: this is the first outcome, nothing was appended.
    pub duplicate: bool,
}

impl Outcome {
    /// The version of `stream` after the command, if it wrote to it.
    pub fn version_of(&self, stream: &str) -> Option<u64> {
        self.streams
            .iter()
            .find(|(id, _)| id == stream)
            .map(|(_, version)| *version)
    }
}

/// Why a command was not accepted.
#[derive(Clone, Debug, thiserror::Error)]
pub enum WriteError {
    /// The domain refused it.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The log refused or failed the append.
    #[error("the log did not take the command: {0}")]
    Log(Arc<EventLogError>),
    /// The service is shutting down and takes no more commands.
    #[error("the service is shutting down")]
    ShuttingDown,
    /// A decided command could not be encoded (a broken invariant, never the caller's fault).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Tuning of the writer.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// The most commands decided and appended together.
    pub max_batch: usize,
    /// Commands that may wait in the queue.
    pub queue: usize,
    /// The largest event payload the log accepts, checked before anything is applied.
    pub max_payload_bytes: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            max_batch: 1_024,
            queue: 16_384,
            max_payload_bytes: 256 * 1024,
        }
    }
}

struct Submission {
    command: Command,
    correlation_id: Uuid,
    reply: oneshot::Sender<Result<Outcome, WriteError>>,
}

struct Shared {
    model: RwLock<WriteModel>,
    last_position: AtomicU64,
}

/// A handle on the writer task; cheap to clone.
#[derive(Clone)]
pub struct CommandWriter {
    queue: mpsc::Sender<Submission>,
    shared: Arc<Shared>,
    stop: Arc<watch::Sender<bool>>,
}

/// Why the write model could not be restored from the log.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The log could not be read.
    #[error(transparent)]
    Log(#[from] EventLogError),
    /// A stored event cannot be read by this build (an unknown type or schema version).
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// What folding the log gives the writer.
pub struct Restored {
    /// The write model.
    pub model: WriteModel,
    /// The log position it reflects.
    pub position: Position,
    /// The command ids in the log.
    pub seen: SeenCommands,
}

/// What `events` created: customers, pools and users, in order.
fn created(events: &[Event]) -> Vec<StreamRef> {
    events
        .iter()
        .filter(|event| {
            matches!(
                event.body,
                EventBody::CustomerCreated(_)
                    | EventBody::PoolCreated(_)
                    | EventBody::UserCreated(_)
            )
        })
        .map(|event| event.body.stream())
        .collect()
}

/// Folds the whole log into a fresh write model and collects its command ids.
pub async fn restore(store: &dyn EventStore) -> Result<Restored, RestoreError> {
    let mut model = WriteModel::new();
    let mut seen = SeenCommands::default();
    let mut position = 0;
    let mut last_command = None;
    let mut events = store.read_all_stream(1);
    while let Some(recorded) = events.next().await {
        let recorded = recorded?;
        let event = codec::decode(&recorded)?;
        if last_command != Some(event.command_id) {
            seen.insert(event.command_id.0);
            last_command = Some(event.command_id);
        }
        model.apply(&event);
        model.record_position(event.body.stream(), recorded.position);
        position = recorded.position;
    }
    Ok(Restored {
        model,
        position,
        seen,
    })
}

impl CommandWriter {
    /// Restores the write model from the log and starts the writer task.
    pub async fn start(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        config: WriterConfig,
    ) -> Result<(Self, tokio::task::JoinHandle<()>), RestoreError> {
        let restored = restore(store.as_ref()).await?;
        let shared = Arc::new(Shared {
            model: RwLock::new(restored.model),
            last_position: AtomicU64::new(restored.position),
        });
        let (queue, receiver) = mpsc::channel(config.queue.max(1));
        let (stop, stopped) = watch::channel(false);
        let task = WriterTask {
            store,
            clock,
            config,
            shared: Arc::clone(&shared),
            seen: restored.seen,
        };
        let handle = tokio::spawn(task.run(receiver, stopped));
        Ok((
            Self {
                queue,
                shared,
                stop: Arc::new(stop),
            },
            handle,
        ))
    }

    /// Submits a command and waits until it is durable (or refused).
    pub async fn submit(
        &self,
        command: Command,
        correlation_id: Option<Uuid>,
    ) -> Result<Outcome, WriteError> {
        let (reply, outcome) = oneshot::channel();
        let correlation_id = correlation_id.unwrap_or(command.command_id.0);
        self.queue
            .send(Submission {
                command,
                correlation_id,
                reply,
            })
            .await
            .map_err(|_| WriteError::ShuttingDown)?;
        outcome.await.map_err(|_| WriteError::ShuttingDown)?
    }

    /// Reads the write model (for permission checks and the scheduler). Hold it briefly:
    /// the writer waits for readers before deciding the next batch.
    pub fn model(&self) -> RwLockReadGuard<'_, WriteModel> {
        self.shared
            .model
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The last log position the write model reflects.
    pub fn last_position(&self) -> Position {
        self.shared.last_position.load(Ordering::Acquire)
    }

    /// Stops taking commands; the task finishes the queued ones, then ends.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }
}

struct WriterTask {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    config: WriterConfig,
    shared: Arc<Shared>,
    /// The command ids the log may hold (owned by the task: only it appends).
    seen: SeenCommands,
}

/// One submission's fate within a batch.
enum Entry {
    /// Already answered (refused, or a duplicate from the log).
    Done,
    /// Changed nothing; answer with the tail.
    Unchanged(oneshot::Sender<Result<Outcome, WriteError>>),
    /// Waits for request `index` of the append.
    Appending {
        index: usize,
        duplicate: bool,
        reply: oneshot::Sender<Result<Outcome, WriteError>>,
    },
}

impl WriterTask {
    async fn run(
        mut self,
        mut queue: mpsc::Receiver<Submission>,
        mut stopped: watch::Receiver<bool>,
    ) {
        loop {
            let stop_requested = async {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            let first = tokio::select! {
                biased;
                submission = queue.recv() => submission,
                () = stop_requested => {
                    queue.close();
                    queue.recv().await
                }
            };
            let Some(first) = first else { break };
            let mut batch = vec![first];
            while batch.len() < self.config.max_batch {
                match queue.try_recv() {
                    Ok(submission) => batch.push(submission),
                    Err(_) => break,
                }
            }
            self.process(batch).await;
        }
        tracing::info!("command writer drained and stopped");
    }

    async fn process(&mut self, batch: Vec<Submission>) {
        // Commands retried after a crash or a lost reply are answered from the log. Only ids
        // the filter may have seen are looked up; every other command is certainly new.
        let known = futures::future::join_all(batch.iter().map(|submission| {
            let id = submission.command.command_id.0;
            let maybe_seen = self.seen.may_contain(id);
            let store = &self.store;
            async move {
                if maybe_seen {
                    store.command_outcome(id).await
                } else {
                    Ok(None)
                }
            }
        }))
        .await;

        let mut requests: Vec<AppendRequest> = Vec::new();
        let mut entries: Vec<Entry> = Vec::with_capacity(batch.len());
        let mut event_types: Vec<Vec<String>> = Vec::new();
        let mut creations: Vec<Vec<StreamRef>> = Vec::new();
        let mut streams: Vec<Vec<StreamRef>> = Vec::new();
        let mut in_batch: HashMap<CommandId, usize> = HashMap::new();
        let mut request_commands: Vec<uuid::Uuid> = Vec::new();
        {
            let mut model = self
                .shared
                .model
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = self.decision_instant(&model);
            for (submission, known) in batch.into_iter().zip(known) {
                let Submission {
                    command,
                    correlation_id,
                    reply,
                } = submission;
                match known {
                    Ok(Some(outcome)) => {
                        let outcome = self.duplicate_outcome(outcome);
                        tokio::spawn(async move {
                            let _ = reply.send(outcome.await);
                        });
                        entries.push(Entry::Done);
                        continue;
                    }
                    Err(error) => {
                        let _ = reply.send(Err(WriteError::Log(Arc::new(error))));
                        entries.push(Entry::Done);
                        continue;
                    }
                    Ok(None) => {}
                }
                if let Some(&index) = in_batch.get(&command.command_id) {
                    entries.push(Entry::Appending {
                        index,
                        duplicate: true,
                        reply,
                    });
                    continue;
                }
                let events = match decide(&model, &command, now) {
                    Ok(events) => events,
                    Err(error) => {
                        let _ = reply.send(Err(WriteError::Domain(error)));
                        entries.push(Entry::Done);
                        continue;
                    }
                };
                if events.is_empty() {
                    entries.push(Entry::Unchanged(reply));
                    continue;
                }
                let request = match append_request(&model, correlation_id, &events) {
                    Ok(request) => request,
                    Err(error) => {
                        tracing::error!(%error, "a decided command could not be encoded");
                        let _ = reply.send(Err(WriteError::Internal(error.to_string())));
                        entries.push(Entry::Done);
                        continue;
                    }
                };
                if let Err(error) = request.validate(self.config.max_payload_bytes) {
                    let _ = reply.send(Err(WriteError::Log(Arc::new(error))));
                    entries.push(Entry::Done);
                    continue;
                }
                for event in &events {
                    model.apply(event);
                }
                event_types.push(
                    events
                        .iter()
                        .map(|e| e.body.event_type().to_owned())
                        .collect(),
                );
                creations.push(created(&events));
                streams.push(events.iter().map(|e| e.body.stream()).collect());
                in_batch.insert(command.command_id, requests.len());
                entries.push(Entry::Appending {
                    index: requests.len(),
                    duplicate: false,
                    reply,
                });
                request_commands.push(command.command_id.0);
                requests.push(request);
            }
        }

        let results: Vec<Result<AppendOutcome, Arc<EventLogError>>> = if requests.is_empty() {
            Vec::new()
        } else {
            match self.store.append_batch(requests).await {
                Ok(results) => results.into_iter().map(|r| r.map_err(Arc::new)).collect(),
                Err(error) => {
                    let error = Arc::new(error);
                    (0..event_types.len())
                        .map(|_| Err(Arc::clone(&error)))
                        .collect()
                }
            }
        };
        let mut refused = false;
        for (result, command) in results.iter().zip(&request_commands) {
            match result {
                Ok(outcome) => {
                    self.seen.insert(*command);
                    self.shared
                        .last_position
                        .fetch_max(outcome.last_position, Ordering::AcqRel);
                }
                Err(error) => {
                    tracing::error!(%error, "the log refused a decided command; restoring the write model");
                    refused = true;
                }
            }
        }
        if refused {
            self.restore_model().await;
        } else {
            self.record_positions(&results, &streams);
        }
        let tail = self.shared.last_position.load(Ordering::Acquire);
        for entry in entries {
            match entry {
                Entry::Done => {}
                Entry::Unchanged(reply) => {
                    let _ = reply.send(Ok(Outcome {
                        last_position: tail,
                        ..Outcome::default()
                    }));
                }
                Entry::Appending {
                    index,
                    duplicate,
                    reply,
                } => {
                    let outcome = match &results[index] {
                        Ok(appended) => Ok(Outcome {
                            first_position: appended.first_position,
                            last_position: appended.last_position,
                            streams: appended
                                .stream_versions
                                .iter()
                                .map(|(stream, version)| (stream.as_str().to_owned(), *version))
                                .collect(),
                            event_types: event_types[index].clone(),
                            created: creations[index].clone(),
                            duplicate: duplicate || appended.duplicate,
                        }),
                        Err(error) => Err(WriteError::Log(Arc::clone(error))),
                    };
                    let _ = reply.send(outcome);
                }
            }
        }
    }

    /// Records, for point reads, the position each written stream's events reached.
    fn record_positions(
        &self,
        results: &[Result<AppendOutcome, Arc<EventLogError>>],
        streams: &[Vec<StreamRef>],
    ) {
        if streams.is_empty() {
            return;
        }
        let mut model = self
            .shared
            .model
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (result, streams) in results.iter().zip(streams) {
            if let Ok(appended) = result {
                for stream in streams {
                    model.record_position(*stream, appended.last_position);
                }
            }
        }
    }

    /// The instant a batch is decided at: the clock, but never before the last event, so
    /// event times never decrease along the log.
    fn decision_instant(&self, model: &WriteModel) -> DateTime<Utc> {
        let now = self.clock.now();
        model.last_event_at.map_or(now, |last| last.max(now))
    }

    /// The outcome of a command already in the log, with its event types read back.
    fn duplicate_outcome(
        &self,
        appended: AppendOutcome,
    ) -> impl std::future::Future<Output = Result<Outcome, WriteError>> + Send + 'static {
        let store = Arc::clone(&self.store);
        async move {
            let count =
                (appended.last_position + 1).saturating_sub(appended.first_position) as usize;
            let recorded = store
                .read_all(appended.first_position, count)
                .await
                .map_err(|error| WriteError::Log(Arc::new(error)))?;
            let events = recorded
                .iter()
                .map(codec::decode)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| WriteError::Internal(error.to_string()))?;
            Ok(Outcome {
                first_position: appended.first_position,
                last_position: appended.last_position,
                streams: appended
                    .stream_versions
                    .iter()
                    .map(|(s, v)| (s.as_str().to_owned(), *v))
                    .collect(),
                event_types: recorded.into_iter().map(|e| e.event_type).collect(),
                created: created(&events),
                duplicate: true,
            })
        }
    }

    async fn restore_model(&mut self) {
        match restore(self.store.as_ref()).await {
            Ok(restored) => {
                *self
                    .shared
                    .model
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = restored.model;
                self.shared
                    .last_position
                    .store(restored.position, Ordering::Release);
                self.seen = restored.seen;
            }
            Err(error) => tracing::error!(%error, "could not restore the write model from the log"),
        }
    }
}
