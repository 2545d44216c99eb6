//! The runner: follows the log live and applies each batch to every projection.
//!
//! It subscribes from the lowest checkpoint (catch-up, then live) and gathers events,
//! decoded once, for up to `commit_every`; then it applies them to the five projections,
//! one transaction each (of at most `batch_max` events), on `apply_threads` blocking
//! threads (by default one: the projections one after another, so a batch leaves the
//! other cores to the requests). It commits at once when `batch_max` events are gathered,
//! when a reader waits for a gathered or coming position ([`OpenProjections::want`]: read-your-writes
//! stays prompt), when it is stopped, and before it deals with a read error. Gathering
//! makes fewer, larger transactions: a row changed by several events is written once, and
//! each commit rewrites fewer pages per event.
//!
//! After `idle_checkpoint` (5 s) in which it applied nothing, it checkpoints and truncates
//! each projection's WAL on a blocking thread beside it ([`checkpoint_idle`]): one
//! projection at a time, each under its writer lock taken only if free, never waiting for
//! a reader. A batch that arrives meanwhile waits at most for the one projection being
//! checkpointed (the runner leaves a busy writer for last).
//!
//! A batch that purges a customer makes that checkpoint due at once: the resident
//! projections write their snapshots and every WAL is truncated, so the purged personal
//! fields leave the files (each opened with `secure_delete`) without waiting.
//!
//! When it stops, every resident projection writes its snapshot (see `projector.rs`), so
//! a stopped runner leaves every file as current as the memory.
//!
//! A projection skips events at or before its checkpoint. A storage error is retried with
//! backoff; an event that cannot be decoded, or a hole in the positions, halts the
//! projection(s) before it and is reported in [`crate::Projections::status`]: the runner
//! never skips an event silently.

mod apply;
mod idle;
mod tail;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use poolkeeper_codec::{self as codec, LoggedEvent};
use poolkeeper_domain::event::EventBody;
use poolkeeper_eventlog::{EventLogError, EventStore, RecordedEvent};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::live::{Failure, OpenProjections};

use apply::apply_gathered;
use idle::{checkpoint_idle, join};
use tail::poll_tail;

/// A running runner. Dropping it stops the runner as [`RunnerHandle::shutdown`] does, but
/// without waiting for it.
#[derive(Debug)]
pub struct RunnerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunnerHandle {
    /// Stops and waits: the batch in progress ends (committed or rolled back), then what
    /// was gathered is committed, in transactions of at most `batch_max` events. A storage
    /// error in that last commit is not retried: those events are applied at the next start.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Whether the runner stopped (the log was closed, or it was shut down).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

pub(crate) fn spawn(shared: Arc<OpenProjections>, store: Arc<dyn EventStore>) -> RunnerHandle {
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(run(shared, store, stopped));
    RunnerHandle { stop, task }
}

/// What ended a chunk early.
enum Interruption {
    /// Permanent: halt every projection before this position.
    Halt(u64, String),
    /// Transient: resubscribe after a pause.
    Retry(String),
    /// The log closed.
    Closed,
}

async fn run(
    shared: Arc<OpenProjections>,
    store: Arc<dyn EventStore>,
    mut stop: watch::Receiver<bool>,
) {
    let poller = tokio::spawn(poll_tail(
        Arc::clone(&shared),
        Arc::clone(&store),
        stop.clone(),
    ));
    let mut backoff = Duration::from_millis(50);
    let idle_after = shared.config.idle_checkpoint;
    // When the WALs are due for an idle checkpoint, and the one running.
    let mut idle_due = idle_after.map(|after| Instant::now() + after);
    let mut idle_task: Option<JoinHandle<bool>> = None;
    'subscribe: loop {
        let from = shared.lowest_checkpoint() + 1;
        let mut events = store
            .subscribe(from)
            .ready_chunks(shared.config.batch_max.max(1));
        // Events gathered for the next transaction, and when it is due.
        let mut gathered: Vec<LoggedEvent> = Vec::new();
        let mut due: Option<Instant> = None;
        loop {
            let wanted = shared.wanted.load(Ordering::Acquire);
            if gathered.first().is_some_and(|first| {
                gathered.len() >= shared.config.batch_max
                    || wanted >= first.position
                    || due.is_some_and(|due| Instant::now() >= due)
            }) {
                due = None;
                let purged = purges(&gathered);
                if !apply_gathered(&shared, &mut gathered, &mut stop).await {
                    break 'subscribe;
                }
                idle_due = next_idle(idle_after, purged);
                continue;
            }
            let chunk = tokio::select! {
                biased;
                _ = stop.changed() => None,
                () = shared.wanted_rose.notified() => continue,
                () = sleep_until(due), if due.is_some() => continue,
                () = sleep_until(idle_due), if idle_due.is_some() && idle_task.is_none() => {
                    idle_due = None;
                    let shared = Arc::clone(&shared);
                    idle_task = Some(tokio::task::spawn_blocking(move || checkpoint_idle(&shared)));
                    continue;
                }
                clean = join(&mut idle_task), if idle_task.is_some() => {
                    idle_task = None;
                    // A reader (or a batch) kept a WAL: try again after another idle period,
                    // unless a batch was applied meanwhile (which already set one).
                    if !clean && idle_due.is_none() {
                        idle_due = idle_after.map(|after| Instant::now() + after);
                    }
                    continue;
                }
                chunk = events.next() => chunk,
            };
            let Some(chunk) = chunk else {
                // Asked to stop, or the log closed: commit what was gathered first.
                // A failed apply gives up at once instead of retrying.
                stop.mark_changed();
                apply_gathered(&shared, &mut gathered, &mut stop).await;
                break 'subscribe;
            };
            let interruption = gather(chunk, &mut gathered);
            if let Some(last) = gathered.last() {
                shared.note_tail(last.position, Some(last.event.at));
                if due.is_none() {
                    due = Some(Instant::now() + shared.config.commit_every);
                }
            }
            if interruption.is_some() {
                // Everything before the interruption is applied before it is dealt with.
                due = None;
                let purged = purges(&gathered);
                if !apply_gathered(&shared, &mut gathered, &mut stop).await {
                    break 'subscribe;
                }
                idle_due = next_idle(idle_after, purged);
            }
            match interruption {
                None => backoff = Duration::from_millis(50),
                Some(Interruption::Closed) => break 'subscribe,
                Some(Interruption::Halt(position, reason)) => {
                    tracing::error!(position, %reason, "projections halted");
                    halt(&shared, position, &reason);
                    let _ = stop.changed().await;
                    break 'subscribe;
                }
                Some(Interruption::Retry(reason)) => {
                    tracing::warn!(%reason, "event log read failed; resubscribing");
                    for slot in &shared.live {
                        slot.set_failure(Some(Failure {
                            message: format!("reading the log: {reason}"),
                            halted_at: None,
                        }));
                    }
                    if !pause(&mut stop, &mut backoff, shared.config.max_backoff).await {
                        break 'subscribe;
                    }
                    continue 'subscribe;
                }
            }
        }
    }
    poller.abort();
    // Wait for it to drop its handle on the shared state (and so the directory lock).
    let _ = poller.await;
    if let Some(task) = idle_task {
        let _ = task.await;
    }
    // What the resident projections applied is in their files once the runner stops.
    let _ = tokio::task::spawn_blocking(move || snapshot_all(&shared)).await;
}

/// Whether `events` purge a customer: its personal fields must leave the files (the
/// resident projections' snapshots and every WAL) at once, not after an idle period.
fn purges(events: &[LoggedEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e.event.body, EventBody::CustomerPurged(_)))
}

/// When the next idle checkpoint is due after a batch: at once after a purge.
fn next_idle(idle_after: Option<Duration>, purged: bool) -> Option<Instant> {
    if purged {
        return Some(Instant::now());
    }
    idle_after.map(|after| Instant::now() + after)
}

/// Writes every resident projection's snapshot (the others have nothing pending).
fn snapshot_all(shared: &OpenProjections) {
    for slot in &shared.live {
        if let Some(side) = slot.write.blocking_lock().as_mut() {
            side.snapshot();
        }
    }
}

/// Decodes a chunk of the subscription into `gathered`, up to the first item that ends it
/// early (what ended it is returned; everything before it is gathered).
fn gather(
    chunk: Vec<Result<RecordedEvent, EventLogError>>,
    gathered: &mut Vec<LoggedEvent>,
) -> Option<Interruption> {
    for item in chunk {
        match item {
            Ok(recorded) => match codec::decode_logged(&recorded) {
                Ok(event) => gathered.push(event),
                Err(error) => {
                    return Some(Interruption::Halt(recorded.position, error.to_string()));
                }
            },
            Err(EventLogError::Closed) => return Some(Interruption::Closed),
            Err(
                error @ (EventLogError::Upcast { position, .. }
                | EventLogError::Corrupt { position, .. }),
            ) => return Some(Interruption::Halt(position, error.to_string())),
            Err(error) => return Some(Interruption::Retry(error.to_string())),
        }
    }
    None
}

/// Halts every projection that has not applied `position`. Every halt is recorded before
/// any waiter is woken, so whoever sees one sees them all.
fn halt(shared: &OpenProjections, position: u64, reason: &str) {
    let halted: Vec<_> = shared
        .live
        .iter()
        .filter(|slot| slot.checkpoint.borrow().position < position)
        .collect();
    for slot in &halted {
        slot.record_failure(Some(Failure {
            message: format!("halted before position {position}: {reason}"),
            halted_at: Some(position),
        }));
    }
    for slot in &halted {
        slot.checkpoint.send_modify(|c| c.halted = true);
    }
}

/// Sleeps for `backoff` (doubling it up to `max`); false when asked to stop meanwhile.
async fn pause(stop: &mut watch::Receiver<bool>, backoff: &mut Duration, max: Duration) -> bool {
    let wait = *backoff;
    *backoff = (*backoff * 2).min(max);
    tokio::select! {
        _ = stop.changed() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

/// Sleeps until `due` (forever when there is none; the caller guards that case).
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}
