//! The log's tail, polled every `tail_poll` beside the runner, for the lag that
//! `Projections::status` reports.

use std::sync::Arc;

use poolkeeper_eventlog::EventStore;
use tokio::sync::watch;

use crate::live::OpenProjections;

/// Keeps the known tail (and its instant) fresh for lag reports.
pub(super) async fn poll_tail(
    shared: Arc<OpenProjections>,
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
