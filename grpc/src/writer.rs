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
use std::time::Instant;

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
use crate::telemetry::{self, metrics};
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
        let Restored {
            model,
            position,
            seen,
        } = restore(store.as_ref()).await?;
        let folded = FoldedLog::new(model, position);
        let (queue, receiver) = mpsc::channel(config.queue.max(1));
        let (stop, stopped) = watch::channel(false);
        let task = WriterTask {
            store,
            clock,
            config,
            folded: Arc::clone(&folded),
            seen,
            stale: None,
        };
        let handle = tokio::spawn(task.run(receiver, stopped));
        Ok((
            Self {
                queue,
                folded,
                stop: Arc::new(stop),
            },
            handle,
        ))
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
        Ok((
            Self {
                queue,
                folded,
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

struct WriterTask {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    config: WriterConfig,
    folded: Arc<FoldedLog>,
    /// The command ids the log may hold (owned by the task: only it appends).
    seen: SeenCommands,
    /// Why the write model cannot be vouched for, when it cannot: the log refused a
    /// decided command and folding it again failed too. Nothing is decided on it until a
    /// restore succeeds.
    stale: Option<Arc<EventLogError>>,
}

/// Where a submission's outcome is sent.
type Reply = oneshot::Sender<Result<Outcome, WriteError>>;

/// How a submission of a batch is answered once the batch is appended.
enum Answer {
    /// Already answered (refused, or a duplicate from the log).
    Given,
    /// Changed nothing; answered with the tail.
    Unchanged(Reply),
    /// Answered with the result of request `index` of the append.
    Appended {
        index: usize,
        duplicate: bool,
        reply: Reply,
    },
}

/// A command of the batch accepted by the domain: what its reply tells once appended.
struct Accepted {
    command_id: Uuid,
    event_types: Vec<String>,
    created: Vec<StreamRef>,
    streams: Vec<StreamRef>,
    /// The caller's span.
    span: tracing::Span,
}

/// A batch decided: the append requests, one per accepted command, and how each
/// submission is answered.
#[derive(Default)]
struct DecidedBatch {
    requests: Vec<AppendRequest>,
    accepted: Vec<Accepted>,
    answers: Vec<Answer>,
    /// The request index of each command id accepted in the batch.
    in_batch: HashMap<CommandId, usize>,
}

/// The append's result for each accepted command.
type AppendResults = Vec<Result<AppendOutcome, Arc<EventLogError>>>;

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

    /// Decides a batch, appends what was accepted in one go, and answers every caller.
    async fn process(&mut self, batch: Vec<Submission>) {
        metrics().batch_commands.observe(batch.len() as f64);
        if self.stale.is_some() {
            self.restore_model().await;
        }
        if let Some(error) = &self.stale {
            for submission in batch {
                let _ = submission
                    .reply
                    .send(Err(WriteError::Log(Arc::clone(error))));
            }
            return;
        }
        let known = self.look_up(&batch).await;
        let DecidedBatch {
            requests,
            accepted,
            answers,
            ..
        } = self.decide_batch(batch, known);
        // Each accepted command waits for the group's append: one span each, closed after.
        let appending: Vec<tracing::Span> = accepted
            .iter()
            .map(|accepted| telemetry::tracing::child(&accepted.span, "append"))
            .collect();
        let results = self.append(requests).await;
        drop(appending);
        self.record(&results, &accepted).await;
        let tail = self.folded.last_position.load(Ordering::Acquire);
        for answer in answers {
            answer.send(&results, &accepted, tail);
        }
    }

    /// The first outcome of each command retried after a crash or a lost reply, from the
    /// log. Only ids the filter may have seen are looked up; every other command is
    /// certainly new.
    async fn look_up(
        &self,
        batch: &[Submission],
    ) -> Vec<Result<Option<AppendOutcome>, EventLogError>> {
        futures::future::join_all(batch.iter().map(|submission| {
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
        .await
    }

    /// Decides every command of the batch at one instant, holding the model, folding the
    /// events of each accepted command in before deciding the next.
    fn decide_batch(
        &self,
        batch: Vec<Submission>,
        known: Vec<Result<Option<AppendOutcome>, EventLogError>>,
    ) -> DecidedBatch {
        let mut decided = DecidedBatch::default();
        let mut model = self
            .folded
            .model
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = self.decision_instant(&model);
        for (submission, known) in batch.into_iter().zip(known) {
            let span = telemetry::tracing::child(&submission.span, "decide");
            let _decide = span.enter();
            let answer = self.decide_one(&mut model, now, submission, known, &mut decided);
            decided.answers.push(answer);
        }
        decided
    }

    /// Decides one submission: answers it at once when it is refused or was seen in the
    /// log, or adds its append request to the batch.
    fn decide_one(
        &self,
        model: &mut WriteModel,
        now: DateTime<Utc>,
        submission: Submission,
        known: Result<Option<AppendOutcome>, EventLogError>,
        batch: &mut DecidedBatch,
    ) -> Answer {
        let Submission {
            command,
            correlation_id,
            reply,
            span,
        } = submission;
        match known {
            Ok(Some(outcome)) => {
                let outcome = self.duplicate_outcome(outcome);
                tokio::spawn(async move {
                    let _ = reply.send(outcome.await);
                });
                return Answer::Given;
            }
            Err(error) => return refuse(reply, WriteError::Log(Arc::new(error))),
            Ok(None) => {}
        }
        if let Some(&index) = batch.in_batch.get(&command.command_id) {
            return Answer::Appended {
                index,
                duplicate: true,
                reply,
            };
        }
        let events = match decide(model, &command, now) {
            Ok(events) => events,
            Err(error) => return refuse(reply, WriteError::Domain(error)),
        };
        if events.is_empty() {
            return Answer::Unchanged(reply);
        }
        let request = match append_request(model, correlation_id, &events) {
            Ok(request) => request,
            Err(error) => {
                tracing::error!(%error, "a decided command could not be encoded");
                return refuse(reply, WriteError::Internal(error.to_string()));
            }
        };
        if let Err(error) = request.validate(self.config.max_payload_bytes) {
            return refuse(reply, WriteError::Log(Arc::new(error)));
        }
        for event in &events {
            model.apply(event);
        }
        let index = batch.requests.len();
        batch.in_batch.insert(command.command_id, index);
        batch.requests.push(request);
        batch.accepted.push(Accepted {
            command_id: command.command_id.0,
            event_types: events
                .iter()
                .map(|e| e.body.event_type().to_owned())
                .collect(),
            created: created(&events),
            streams: events.iter().map(|e| e.body.stream()).collect(),
            span,
        });
        Answer::Appended {
            index,
            duplicate: false,
            reply,
        }
    }

    /// Appends the batch's requests in one group commit; a failed batch fails each.
    async fn append(&self, requests: Vec<AppendRequest>) -> AppendResults {
        if requests.is_empty() {
            return Vec::new();
        }
        let count = requests.len();
        let _timer = metrics().append_seconds.start_timer();
        match self.store.append_batch(requests).await {
            Ok(results) => results.into_iter().map(|r| r.map_err(Arc::new)).collect(),
            Err(error) => {
                if matches!(error, EventLogError::Fenced { .. }) {
                    self.folded.fenced.store(true, Ordering::Release);
                }
                let error = Arc::new(error);
                (0..count).map(|_| Err(Arc::clone(&error))).collect()
            }
        }
    }

    /// Takes note of what the log committed; when it refused a decided command, the model
    /// cannot be vouched for any more and is folded from the log again.
    async fn record(&mut self, results: &AppendResults, accepted: &[Accepted]) {
        let mut refused = false;
        for (result, accepted) in results.iter().zip(accepted) {
            match result {
                Ok(outcome) => {
                    self.seen.insert(accepted.command_id);
                    self.folded
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
            self.record_positions(results, accepted);
        }
    }

    /// Records, for point reads, the position each written stream's events reached.
    fn record_positions(&self, results: &AppendResults, accepted: &[Accepted]) {
        if accepted.is_empty() {
            return;
        }
        let mut model = self
            .folded
            .model
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (result, accepted) in results.iter().zip(accepted) {
            if let Ok(appended) = result {
                for stream in &accepted.streams {
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
                streams: stream_versions(&appended),
                event_types: recorded.into_iter().map(|e| e.event_type).collect(),
                created: created(&events),
                duplicate: true,
            })
        }
    }

    async fn restore_model(&mut self) {
        match restore(self.store.as_ref()).await {
            Ok(restored) => {
                self.stale = None;
                *self
                    .folded
                    .model
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = restored.model;
                self.folded
                    .last_position
                    .store(restored.position, Ordering::Release);
                self.seen = restored.seen;
            }
            Err(error) => {
                tracing::error!(%error, "could not restore the write model from the log; deciding nothing until it can");
                let error = match error {
                    RestoreError::Log(error) => error,
                    RestoreError::Codec(error) => EventLogError::Backend(Arc::new(error)),
                };
                self.stale = Some(Arc::new(error));
            }
        }
    }
}

/// Answers `reply` with `error` at once.
fn refuse(reply: Reply, error: WriteError) -> Answer {
    let _ = reply.send(Err(error));
    Answer::Given
}

/// Each stream an append wrote and its version after it.
fn stream_versions(appended: &AppendOutcome) -> Vec<(String, u64)> {
    appended
        .stream_versions
        .iter()
        .map(|(stream, version)| (stream.as_str().to_owned(), *version))
        .collect()
}

impl Answer {
    /// Sends the submission its outcome: its request's result, or the tail.
    fn send(self, results: &AppendResults, accepted: &[Accepted], tail: Position) {
        match self {
            Answer::Given => {}
            Answer::Unchanged(reply) => {
                let _ = reply.send(Ok(Outcome {
                    last_position: tail,
                    ..Outcome::default()
                }));
            }
            Answer::Appended {
                index,
                duplicate,
                reply,
            } => {
                let outcome = match &results[index] {
                    Ok(appended) => Ok(Outcome {
                        first_position: appended.first_position,
                        last_position: appended.last_position,
                        streams: stream_versions(appended),
                        event_types: accepted[index].event_types.clone(),
                        created: accepted[index].created.clone(),
                        duplicate: duplicate || appended.duplicate,
                    }),
                    Err(error) => Err(WriteError::Log(Arc::clone(error))),
                };
                let _ = reply.send(outcome);
            }
        }
    }
}
