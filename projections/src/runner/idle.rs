//! The idle checkpoint: after the runner has applied nothing for `idle_checkpoint`, each
//! projection's WAL is copied into its file and truncated, beside the runner, one
//! projection at a time, never waiting for a reader or a busy writer.

use tokio::task::JoinHandle;

use crate::live::OpenProjections;

/// Waits for the idle checkpoint in progress; whether every WAL was truncated.
pub(super) async fn join(task: &mut Option<JoinHandle<bool>>) -> bool {
    match task {
        Some(task) => task.await.unwrap_or(false),
        None => std::future::pending().await,
    }
}

/// Copies each projection's WAL into its file and truncates it, one projection at a time,
/// each under its writer lock if that is free (a projection being applied or swapped is
/// skipped). Whether every WAL was truncated; a reader still using one, a busy writer or
/// an error leaves it for the next idle period.
pub(super) fn checkpoint_idle(shared: &OpenProjections) -> bool {
    let mut clean = true;
    for slot in &shared.live {
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
