//! Applying gathered events to every projection: in transactions of at most `batch_max`
//! events, the projections dealt among `apply_threads` blocking threads, storage errors
//! retried with backoff, a gap or a panic reported for the projection it struck.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use poolkeeper_codec::LoggedEvent;
use tokio::sync::watch;

use super::pause;
use crate::live::{Failure, OpenProjections};
use crate::projector::{ApplyError, WriteSide};

/// Applies the gathered events (emptying `gathered`) in transactions of at most
/// `batch_max` events. False when asked to stop before every projection succeeded.
pub(super) async fn apply_gathered(
    shared: &Arc<OpenProjections>,
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
fn apply_share(
    shared: &OpenProjections,
    share: &[usize],
    batch: &[LoggedEvent],
) -> Vec<(usize, Applied)> {
    let apply = |index: usize, mut guard: tokio::sync::MutexGuard<'_, Option<WriteSide>>| {
        let slot = &shared.live[index];
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
        match shared.live[index].write.try_lock() {
            Ok(guard) => outcomes.push(apply(index, guard)),
            Err(_) => busy.push(index),
        }
    }
    for index in busy {
        outcomes.push(apply(index, shared.live[index].write.blocking_lock()));
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
    shared: &Arc<OpenProjections>,
    batch: Arc<[LoggedEvent]>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut backoff = Duration::from_millis(50);
    let mut pending: Vec<usize> = (0..shared.live.len()).collect();
    loop {
        // The projections to apply, dealt round robin to at most `apply_threads` blocking
        // threads; each applies its share one by one (see `apply_share`).
        let threads = shared
            .config
            .apply_threads
            .clamp(1, shared.live.len().max(1));
        let mut shares: Vec<Vec<usize>> = vec![Vec::new(); threads];
        let mut dealt = 0;
        for &index in &pending {
            if shared.live[index]
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
            let slot = &shared.live[index];
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
