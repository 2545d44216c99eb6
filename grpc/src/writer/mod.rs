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

mod task;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Instant;

use futures::StreamExt;
use poolkeeper_domain::{Clock, Command, DomainError, StreamRef, WriteModel};
use poolkeeper_eventlog::{EventLogError, EventStore, Position};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use task::WriterTask;

use crate::seen::SeenCommands;
use crate::telemetry::metrics;
use poolkeeper_codec::{self as codec, CodecError};

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

/// The `outcome` label of an answered command: `ok`, `duplicate`, the domain's refusal
/// code, or `log_error`, `shutting_down`, `internal`.
fn outcome_label(answer: &Result<Outcome, WriteError>) -> &'static str {
    match answer {
        Ok(outcome) if outcome.duplicate => "duplicate",
        Ok(_) => "ok",
        Err(WriteError::Domain(error)) => error.code(),
        Err(WriteError::Log(_)) => "log_error",
        Err(WriteError::ShuttingDown) => "shutting_down",
        Err(WriteError::Internal(_)) => "internal",
    }
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
    /// The caller's span (its RPC's), the parent of the command's `decide` and `append`.
    span: tracing::Span,
}

/// The log folded: the write model and the last log position it reflects, read by the
/// handles and written by the task.
struct FoldedLog {
    model: RwLock<WriteModel>,
    last_position: AtomicU64,
    /// The log refused an append because another node took its writer lease over.
    fenced: std::sync::atomic::AtomicBool,
}

impl FoldedLog {
    /// The log folded into `model` up to `position`.
    fn new(model: WriteModel, position: Position) -> Arc<Self> {
        Arc::new(Self {
            model: RwLock::new(model),
            last_position: AtomicU64::new(position),
            fenced: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

/// A handle on the writer task; cheap to clone.
#[derive(Clone)]
pub struct CommandWriter {
    queue: mpsc::Sender<Submission>,
    folded: Arc<FoldedLog>,
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
        let Restored {
            model,
            position,
            seen,
        } = restore(store.as_ref()).await?;
        let folded = FoldedLog::new(model, position);
        let (queue, receiver) = mpsc::channel(config.queue.max(1));
        let (stop, stopped) = watch::channel(false);
        let task = WriterTask::new(store, clock, config, Arc::clone(&folded), seen);
        let handle = tokio::spawn(task.run(receiver, stopped));
        Ok((Self::handle(queue, folded, stop), handle))
    }

    /// Restores the write model from the log of an organization another node writes, and
    /// keeps it following that log (for reads and permission checks): commands submitted
    /// to it are refused `Log(ReadOnly)`; the caller forwards them to the writer's node.
    pub async fn follow(
        store: Arc<dyn EventStore>,
    ) -> Result<(Self, tokio::task::JoinHandle<()>), RestoreError> {
        let Restored {
            model,
            position,
            seen: _,
        } = restore(store.as_ref()).await?;
        let folded = FoldedLog::new(model, position);
        // A closed queue: every submission is answered at once, before any decision.
        let (queue, _) = mpsc::channel(1);
        let (stop, stopped) = watch::channel(false);
        let handle = tokio::spawn(follow_log(store, Arc::clone(&folded), stopped));
        Ok((Self::handle(queue, folded, stop), handle))
    }

    /// A handle sending commands to `queue`, reading `folded`, stopped through `stop`.
    fn handle(
        queue: mpsc::Sender<Submission>,
        folded: Arc<FoldedLog>,
        stop: watch::Sender<bool>,
    ) -> Self {
        Self {
            queue,
            folded,
            stop: Arc::new(stop),
        }
    }

    /// Submits a command and waits until it is durable (or refused).
    pub async fn submit(
        &self,
        command: Command,
        correlation_id: Option<Uuid>,
    ) -> Result<Outcome, WriteError> {
        let started = Instant::now();
        let name = command.body.name();
        let (reply, outcome) = oneshot::channel();
        let correlation_id = correlation_id.unwrap_or(command.command_id.0);
        let span = tracing::Span::current();
        span.record("command_id", tracing::field::display(command.command_id.0));
        let answer = match self
            .queue
            .send(Submission {
                command,
                correlation_id,
                reply,
                span,
            })
            .await
        {
            Ok(()) => outcome.await.unwrap_or(Err(WriteError::ShuttingDown)),
            Err(_) => Err(WriteError::ShuttingDown),
        };
        metrics().command(name, outcome_label(&answer), started.elapsed());
        answer
    }

    /// Reads the write model (for permission checks and the scheduler). Hold it briefly:
    /// the writer waits for readers before deciding the next batch.
    pub fn model(&self) -> RwLockReadGuard<'_, WriteModel> {
        self.folded
            .model
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether another node took this log's writer lease over: the writer must step down
    /// (its partition be reopened) and takes no more commands meanwhile.
    pub fn fenced(&self) -> bool {
        self.folded.fenced.load(Ordering::Acquire)
    }

    /// The last log position the write model reflects.
    pub fn last_position(&self) -> Position {
        self.folded.last_position.load(Ordering::Acquire)
    }

    /// Stops taking commands; the task finishes the queued ones, then ends.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }
}

/// Applies what another node appends to `store` to `folded` until `stopped`.
async fn follow_log(
    store: Arc<dyn EventStore>,
    folded: Arc<FoldedLog>,
    mut stopped: watch::Receiver<bool>,
) {
    let from = folded.last_position.load(Ordering::Acquire) + 1;
    let mut events = store.subscribe(from);
    loop {
        let recorded = tokio::select! {
            next = events.next() => next,
            _ = stopped.wait_for(|stop| *stop) => return,
        };
        let Some(recorded) = recorded else { return };
        let applied = recorded
            .map_err(RestoreError::from)
            .and_then(|recorded| Ok((codec::decode(&recorded)?, recorded.position)));
        match applied {
            Ok((event, position)) => {
                let mut model = folded
                    .model
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                model.apply(&event);
                model.record_position(event.body.stream(), position);
                folded.last_position.store(position, Ordering::Release);
            }
            Err(error) => {
                tracing::error!(%error, "following the log stopped");
                return;
            }
        }
    }
}
