//! The runner: follows the log live and applies each batch to every projection.
//!
//! It subscribes from the lowest checkpoint (catch-up, then live) and gathers events,
//! decoded once, for up to `commit_every`; then it applies them to the five projections,
//! one transaction each (of at most `batch_max` events), on `apply_threads` blocking
//! threads (by default one: the projections one after another, so a batch leaves the
//! other cores to the requests). It commits at once when `batch_max` events are gathered,
//! when a reader waits for a gathered or coming position ([`Shared::want`]: read-your-writes
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
//! A projection skips events at or before its checkpoint. A storage error is retried with
//! backoff; an event that cannot be decoded, or a hole in the positions, halts the
//! projection(s) before it and is reported in [`crate::Projections::status`]: the runner
//! never skips an event silently.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use poolkeeper_codec::{self as codec, LoggedEvent};
use poolkeeper_eventlog::{EventLogError, EventStore};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::projector::{ApplyError, WriteSide};
use crate::service::{Failure, Shared};

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

pub(crate) fn spawn(shared: Arc<Shared>, store: Arc<dyn EventStore>) -> RunnerHandle {
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(run(shared, store, stopped));
    RunnerHandle { stop, task }
}

/// What ended a chunk early.
enum Trouble {
    /// Permanent: halt every projection before this position.
    Halt(u64, String),
    /// Transient: resubscribe after a pause.
    Retry(String),
    /// The log closed.
    Closed,
}

async fn run(shared: Arc<Shared>, store: Arc<dyn EventStore>, mut stop: watch::Receiver<bool>) {
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
        let from = shared
            .slots
            .iter()
            .map(|slot| slot.checkpoint.borrow().position)
            .min()
            .unwrap_or(0)
            + 1;
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
                if !apply_gathered(&shared, &mut gathered, &mut stop).await {
                    break 'subscribe;
                }
                idle_due = idle_after.map(|after| Instant::now() + after);
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
            let mut trouble = None;
            for item in chunk {
                match item {
                    Ok(recorded) => match codec::decode_logged(&recorded) {
                        Ok(event) => gathered.push(event),
                        Err(error) => {
                            trouble = Some(Trouble::Halt(recorded.position, error.to_string()));
                            break;
                        }
                    },
                    Err(EventLogError::Closed) => {
                        trouble = Some(Trouble::Closed);
                        break;
                    }
                    Err(
                        error @ (EventLogError::Upcast { position, .. }
                        | EventLogError::Corrupt { position, .. }),
                    ) => {
                        trouble = Some(Trouble::Halt(position, error.to_string()));
                        break;
                    }
                    Err(error) => {
                        trouble = Some(Trouble::Retry(error.to_string()));
                        break;
                    }
                }
            }
            if let Some(last) = gathered.last() {
                shared.note_tail(last.position, Some(last.event.at));
                if due.is_none() {
                    due = Some(Instant::now() + shared.config.commit_every);
                }
            }
            if trouble.is_some() {
                // Everything before the trouble is applied before it is dealt with.
                due = None;
                if !apply_gathered(&shared, &mut gathered, &mut stop).await {
                    break 'subscribe;
                }
                idle_due = idle_after.map(|after| Instant::now() + after);
            }
            match trouble {
                None => backoff = Duration::from_millis(50),
                Some(Trouble::Closed) => break 'subscribe,
                Some(Trouble::Halt(position, reason)) => {
                    tracing::error!(position, %reason, "projections halted");
                    // Record every halt before waking any waiter, so whoever sees one
                    // sees them all.
                    let halted: Vec<_> = shared
                        .slots
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
                    let _ = stop.changed().await;
                    break 'subscribe;
                }
                Some(Trouble::Retry(reason)) => {
                    tracing::warn!(%reason, "event log read failed; resubscribing");
                    for slot in &shared.slots {
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
}

/// Waits for the idle checkpoint in progress; whether every WAL was truncated.
async fn join(task: &mut Option<JoinHandle<bool>>) -> bool {
    match task {
        Some(task) => task.await.unwrap_or(false),
        None => std::future::pending().await,
    }
}

/// Copies each projection's WAL into its file and truncates it, one projection at a time,
/// each under its writer lock if that is free (a projection being applied or swapped is
/// skipped). Whether every WAL was truncated; a reader still using one, a busy writer or
/// an error leaves it for the next idle period.
fn checkpoint_idle(shared: &Shared) -> bool {
    let mut clean = true;
    for slot in &shared.slots {
        let Ok(mut guard) = slot.write.try_lock() else {
            clean = false;
            continue;
        };
        let Some(side) = guard.as_mut() else {
            continue;
        };
        match side.checkpoint_idle() {
            Ok(true) => {}
            Ok(false) => clean = false,
            Err(error) => {
                tracing::debug!(projection = %slot.name, %error, "idle checkpoint failed; retrying later");
                clean = false;
            }
        }
    }
    clean
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

/// Applies the gathered events (emptying `gathered`) in transactions of at most
/// `batch_max` events. False when asked to stop before every projection succeeded.
async fn apply_gathered(
    shared: &Arc<Shared>,
    gathered: &mut Vec<LoggedEvent>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let size = shared.config.batch_max.max(1);
    let mut batch = std::mem::take(gathered);
    while !batch.is_empty() {
        let later = batch.split_off(batch.len().min(size));
        if !apply_everywhere(shared, std::mem::replace(&mut batch, later).into(), stop).await {
            return false;
        }
    }
    true
}

/// What applying a batch to one projection gave: its own result, or the panic it raised.
type Applied = Result<Result<(), ApplyError>, String>;

/// Applies `batch` to the projections `share`, one after another, on a blocking thread.
///
/// Each writer is locked only while its own batch is applied, and a writer that is busy
/// (an online rebuild swapping its file) is left for last, so it holds up none of the
/// others. A panic in one projection's fold rolls back that projection alone and is
/// reported for it.
fn apply_share(shared: &Shared, share: &[usize], batch: &[LoggedEvent]) -> Vec<(usize, Applied)> {
    let apply = |index: usize, mut guard: tokio::sync::MutexGuard<'_, Option<WriteSide>>| {
        let slot = &shared.slots[index];
        let Some(side) = guard.as_mut() else {
            return (index, Ok(Ok(())));
        };
        let applied = std::panic::catch_unwind(AssertUnwindSafe(|| side.apply_batch(batch)));
        let outcome = match applied {
            Ok(result) => Ok(result.map(|_| ())),
            Err(panic) => {
                side.rollback();
                Err(panic_message(panic.as_ref()))
            }
        };
        slot.publish(side);
        (index, outcome)
    };
    let mut outcomes = Vec::with_capacity(share.len());
    let mut busy = Vec::new();
    for &index in share {
        match shared.slots[index].write.try_lock() {
            Ok(guard) => outcomes.push(apply(index, guard)),
            Err(_) => busy.push(index),
        }
    }
    for index in busy {
        outcomes.push(apply(index, shared.slots[index].write.blocking_lock()));
    }
    outcomes
}

/// The text of a panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Applies a batch to every projection that is not halted, retrying storage errors.
/// False when asked to stop before every projection succeeded.
async fn apply_everywhere(
    shared: &Arc<Shared>,
    batch: Arc<[LoggedEvent]>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut backoff = Duration::from_millis(50);
    let mut pending: Vec<usize> = (0..shared.slots.len()).collect();
    loop {
        // The projections to apply, dealt round robin to at most `apply_threads` blocking
        // threads; each applies its share one by one (see `apply_share`).
        let threads = shared
            .config
            .apply_threads
            .clamp(1, shared.slots.len().max(1));
        let mut shares: Vec<Vec<usize>> = vec![Vec::new(); threads];
        let mut dealt = 0;
        for &index in &pending {
            if shared.slots[index]
                .failure()
                .is_some_and(|f| f.halted_at.is_some())
            {
                continue;
            }
            shares[dealt % threads].push(index);
            dealt += 1;
        }
        let mut tasks = Vec::new();
        for share in shares.into_iter().filter(|share| !share.is_empty()) {
            let batch = Arc::clone(&batch);
            let shared = Arc::clone(shared);
            let indexes = share.clone();
            let task = tokio::task::spawn_blocking(move || apply_share(&shared, &share, &batch));
            tasks.push((indexes, task));
        }
        let mut results = Vec::new();
        for (indexes, task) in tasks {
            match task.await {
                Ok(outcomes) => results.extend(outcomes),
                Err(join) => {
                    let message = join.to_string();
                    results.extend(
                        indexes
                            .into_iter()
                            .map(|index| (index, Err(message.clone()))),
                    );
                }
            }
        }
        let mut failed = Vec::new();
        for (index, outcome) in results {
            let slot = &shared.slots[index];
            match outcome {
                Ok(Ok(())) => {
                    if slot.failure().is_some() {
                        slot.set_failure(None);
                    }
                }
                Ok(Err(ApplyError::Gap { expected, found })) => {
                    slot.set_failure(Some(Failure {
                        message: format!(
                            "halted before position {expected}: the log skips to {found}"
                        ),
                        halted_at: Some(expected),
                    }));
                }
                Ok(Err(ApplyError::Storage(error))) => {
                    tracing::warn!(projection = %slot.name, %error, "applying a batch failed; retrying");
                    slot.set_failure(Some(Failure {
                        message: format!("storage: {error}"),
                        halted_at: None,
                    }));
                    failed.push(index);
                }
                Err(join) => {
                    slot.set_failure(Some(Failure {
                        message: format!("the apply task panicked: {join}"),
                        halted_at: None,
                    }));
                    failed.push(index);
                }
            }
        }
        if failed.is_empty() {
            return true;
        }
        pending = failed;
        if !pause(stop, &mut backoff, shared.config.max_backoff).await {
            return false;
        }
    }
}

/// Keeps the known tail (and its instant) fresh for lag reports.
async fn poll_tail(
    shared: Arc<Shared>,
    store: Arc<dyn EventStore>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if let Ok(tail) = store.tail().await {
            let known = shared.tail.lock().unwrap_or_else(|e| e.into_inner()).0;
            if tail > known {
                let at = match store.read_all(tail, 1).await {
                    Ok(events) => events.first().map(|e| e.metadata.recorded_at),
                    Err(_) => None,
                };
                shared.note_tail(tail, at);
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(shared.config.tail_poll) => {}
        }
    }
}

/// Sleeps until `due` (forever when there is none; the caller guards that case).
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}
