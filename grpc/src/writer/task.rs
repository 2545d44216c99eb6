//! The writer task: decides each batch against the write model, appends it to the log in
//! one group commit, answers every caller, and restores the model when the log refused.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use poolkeeper_domain::{Clock, CommandId, Event, EventBody, StreamRef, WriteModel, decide};
use poolkeeper_eventlog::{AppendOutcome, AppendRequest, EventLogError, EventStore, Position};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use super::{FoldedLog, Outcome, RestoreError, Submission, WriteError, WriterConfig, restore};
use crate::codec::append_request;
use crate::seen::SeenCommands;
use crate::telemetry::{self, metrics};
use poolkeeper_codec as codec;

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

pub(super) struct WriterTask {
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
    /// A task deciding on `folded`, whose log holds the command ids `seen`.
    pub(super) fn new(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        config: WriterConfig,
        folded: Arc<FoldedLog>,
        seen: SeenCommands,
    ) -> Self {
        Self {
            store,
            clock,
            config,
            folded,
            seen,
            stale: None,
        }
    }

    pub(super) async fn run(
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
