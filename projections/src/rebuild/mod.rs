//! Rebuilds: a projection built afresh from the log, in three modes that share one bulk
//! pipeline and one progress report.
//!
//! - `pipeline.rs`: the bulk pipeline. It reads the log in large pages, decodes each event
//!   once, and hands the same `Arc<[LoggedEvent]>` batches to one thread per projection;
//!   each applies them with the same fold as live application into a fresh file written
//!   without journal or fsync, commits every [`BuildConfig::commit_events`] events, and
//!   creates its query indexes at the end. The file is fsynced before it is renamed into
//!   place.
//! - `offline.rs`: [`Projections::rebuild_offline`], for a directory nobody has open.
//! - `online.rs`: [`Projections::rebuild_online`], while the live projection serves.
//! - `as_of.rs`: [`Projections::rebuild_as_of`], time travel into a separate file.
//!
//! This module keeps what they share: the phases and progress they report, and where a
//! build stops.
//!
//! [`Projections::rebuild_offline`]: crate::Projections::rebuild_offline
//! [`Projections::rebuild_online`]: crate::Projections::rebuild_online
//! [`Projections::rebuild_as_of`]: crate::Projections::rebuild_as_of

mod as_of;
mod offline;
mod online;
mod pipeline;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use poolkeeper_eventlog::Position;

use crate::name::ProjectionName;

/// Where a rebuild stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RebuildPhase {
    /// Reading the log into the fresh file.
    Loading,
    /// Creating the query indexes.
    Indexing,
    /// (Online) following the live tail before the swap.
    CatchingUp,
    /// (Online) pausing the live projection, applying the last events and swapping files.
    Swapping,
    /// Finished; the rebuilt file is in place.
    Done,
    /// Failed; the live projection is untouched.
    Failed(String),
}

/// A rebuild's progress, for a progress bar or an admin RPC.
#[derive(Clone, Debug, PartialEq)]
pub struct RebuildProgress {
    /// The projections being rebuilt.
    pub projections: Vec<ProjectionName>,
    /// The phase.
    pub phase: RebuildPhase,
    /// Events read and handed to the projections.
    pub events_done: u64,
    /// Events to read (the log's tail, or the bound, when the rebuild started; grows with
    /// the tail during an online rebuild).
    pub events_total: u64,
    /// Events per second so far.
    pub events_per_second: f64,
    /// Estimated time to finish loading.
    pub eta: Option<Duration>,
    /// Time since the rebuild started.
    pub elapsed: Duration,
}

impl RebuildProgress {
    pub(crate) fn new(projections: Vec<ProjectionName>) -> Self {
        Self {
            projections,
            phase: RebuildPhase::Loading,
            events_done: 0,
            events_total: 0,
            events_per_second: 0.0,
            eta: None,
            elapsed: Duration::ZERO,
        }
    }

    pub(crate) fn update(&mut self, started: Instant, done: u64, total: u64) {
        self.events_done = done;
        self.events_total = total.max(done);
        self.elapsed = started.elapsed();
        let seconds = self.elapsed.as_secs_f64();
        self.events_per_second = if seconds > 0.0 {
            done as f64 / seconds
        } else {
            0.0
        };
        self.eta = (self.events_per_second > 0.0).then(|| {
            Duration::from_secs_f64((self.events_total - done) as f64 / self.events_per_second)
        });
    }
}

/// Where a build stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bound {
    /// At the log's tail (a page shorter than a full page).
    Tail,
    /// After this position.
    Position(Position),
    /// After the last event at or before this instant.
    Instant(DateTime<Utc>),
}

/// Tuning of the bulk pipeline.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BuildConfig {
    /// Events per `read_all` page.
    pub page_size: usize,
    /// Events applied between two commits.
    pub commit_events: usize,
}
