//! A hook for the service's metrics: how long each durable commit took.
//!
//! The log knows nothing of metrics; the service registers one observer at start and
//! each backend reports every group commit to it (SQLite: the `COMMIT` statement, i.e.
//! the WAL write and its fsync; PostgreSQL: the group's whole transaction). Without an
//! observer a report costs one atomic load.

use std::sync::OnceLock;
use std::time::Duration;

/// Receives the backend's name (`sqlite`, `postgres`) and the commit's duration.
pub type CommitObserver = fn(&'static str, Duration);

static OBSERVER: OnceLock<CommitObserver> = OnceLock::new();

/// Registers the process's observer; a second registration is ignored.
pub fn observe_commits(observer: CommitObserver) {
    let _ = OBSERVER.set(observer);
}

/// Reports one commit of `backend` to the observer, if any.
pub fn commit_took(backend: &'static str, took: Duration) {
    if let Some(observer) = OBSERVER.get() {
        observer(backend, took);
    }
}
