//! [`ProjectionsConfig`]: the tuning of the live projections, their runner and their
//! rebuilds; `ProjectionsConfig::default()` is the production setting.

use std::time::Duration;

use crate::rebuild::BuildConfig;

/// Tuning of [`Projections`]; `ProjectionsConfig::default()` is the production setting.
#[derive(Clone, Debug)]
pub struct ProjectionsConfig {
    /// The most events the runner applies in one transaction.
    pub batch_max: usize,
    /// How long the runner gathers events before it applies and commits them, unless a
    /// reader waits for one of them or `batch_max` are gathered first. Longer gathers
    /// make fewer, larger transactions (a row changed by several events is written once);
    /// zero applies every chunk as it arrives.
    pub commit_every: Duration,
    /// Blocking threads the runner applies a batch on, the five projections dealt among
    /// them (1: one after another, 5: all at once).
    pub apply_threads: usize,
    /// Idle read connections kept per projection.
    pub read_connections: usize,
    /// Rows each live projection keeps cached between batches (0: reload every batch).
    pub cache_rows: usize,
    /// Events per page when rebuilding.
    pub rebuild_page: usize,
    /// Events applied between commits when rebuilding.
    pub rebuild_commit_events: usize,
    /// How often the runner asks the log for its tail (for lag).
    pub tail_poll: Duration,
    /// The longest wait between retries after a storage error.
    pub max_backoff: Duration,
    /// During an online rebuild, the live projection is paused for the swap once the
    /// rebuilt copy is at most this many events behind it.
    pub swap_within: u64,
    /// After the runner has applied nothing for this long, each projection's WAL is
    /// copied into its file and truncated to zero bytes (beside the runner, one projection
    /// at a time; never waiting for a reader). `None` keeps the WALs until `close`.
    pub idle_checkpoint: Option<Duration>,
    /// How often a projection served from memory (pool view, owner view, statistics)
    /// writes the rows changed since the last time to its file while events arrive; it
    /// also does when the runner is idle and at close. After a crash, it re-applies from
    /// the log what came after its last snapshot.
    pub snapshot_every: Duration,
}

impl Default for ProjectionsConfig {
    fn default() -> Self {
        Self {
            batch_max: 2_048,
            commit_every: Duration::from_millis(50),
            apply_threads: 1,
            read_connections: 4,
            cache_rows: 50_000,
            rebuild_page: 8_192,
            rebuild_commit_events: 4_000_000,
            tail_poll: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
            swap_within: 5_000,
            idle_checkpoint: Some(Duration::from_secs(5)),
            snapshot_every: Duration::from_secs(5),
        }
    }
}

impl ProjectionsConfig {
    pub(crate) fn build(&self) -> BuildConfig {
        BuildConfig {
            page_size: self.rebuild_page.max(1),
            commit_events: self.rebuild_commit_events.max(1),
        }
    }
}
