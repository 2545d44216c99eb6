//! The state of an open directory's projections, shared by the [`Projections`] handle,
//! the runner and the rebuilds: each projection's writer, readers, checkpoint (a `watch`
//! that `wait_for` listens to), failure and rebuild progress; the log's tail as last seen;
//! the position readers wait for.
//!
//! [`Projections`]: crate::Projections

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use poolkeeper_eventlog::Position;
use tokio::sync::{Notify, watch};

use crate::config::ProjectionsConfig;
use crate::name::ProjectionName;
use crate::projector::{Memory, WriteSide};
use crate::readpool::ReadPool;
use crate::rebuild::RebuildProgress;

/// A projection's progress through the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub position: Position,
    pub at: Option<DateTime<Utc>>,
    /// The projection stopped at an event it cannot apply.
    pub halted: bool,
}

/// Why a projection is not applying events.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub message: String,
    /// Set when permanent: the position it cannot apply.
    pub halted_at: Option<Position>,
}

/// One projection: its files, writer, readers and state.
pub(crate) struct LiveProjection {
    pub name: ProjectionName,
    pub path: PathBuf,
    pub write: Arc<tokio::sync::Mutex<Option<WriteSide>>>,
    pub read: Arc<ReadPool>,
    pub checkpoint: watch::Sender<Checkpoint>,
    pub failure: Mutex<Option<Failure>>,
    pub rebuilding: Mutex<Option<RebuildProgress>>,
    pub rebuild_running: AtomicBool,
    /// A resident projection's rows in memory, which its readers answer from (the
    /// current writer's: replaced when a rebuilt file is swapped in).
    pub memory: std::sync::RwLock<Option<Memory>>,
}

impl LiveProjection {
    pub fn publish(&self, side: &WriteSide) {
        let memory = side.memory();
        let current = self.memory.read().unwrap_or_else(|e| e.into_inner());
        let same = match (current.as_ref(), memory.as_ref()) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        drop(current);
        if !same {
            *self.memory.write().unwrap_or_else(|e| e.into_inner()) = memory;
        }
        let halted = self.failure().is_some_and(|f| f.halted_at.is_some());
        self.checkpoint.send_replace(Checkpoint {
            position: side.checkpoint,
            at: side.checkpoint_at,
            halted,
        });
    }

    pub fn failure(&self) -> Option<Failure> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_failure(&self, failure: Option<Failure>) {
        let halted = failure.as_ref().is_some_and(|f| f.halted_at.is_some());
        self.record_failure(failure);
        self.checkpoint.send_modify(|c| c.halted = halted);
    }

    /// Records a failure without waking waiters (see [`LiveProjection::set_failure`]).
    pub fn record_failure(&self, failure: Option<Failure>) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = failure;
    }

    /// The rows its readers answer from, when it is resident.
    pub fn memory(&self) -> Option<Memory> {
        self.memory
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_progress(&self, progress: Option<RebuildProgress>) {
        *self.rebuilding.lock().unwrap_or_else(|e| e.into_inner()) = progress;
    }
}

/// The state shared by a [`Projections`] handle, its runner and its rebuilds.
pub(crate) struct OpenProjections {
    pub dir: PathBuf,
    pub config: ProjectionsConfig,
    pub live: Vec<LiveProjection>,
    /// The log's tail as last seen, and its instant.
    pub tail: Mutex<(Position, Option<DateTime<Utc>>)>,
    /// The highest position a reader waits for; the runner commits at once to reach it.
    pub wanted: AtomicU64,
    /// Wakes the runner when `wanted` rises.
    pub wanted_rose: Notify,
    pub(crate) _lock: File,
}

impl OpenProjections {
    pub fn live(&self, name: ProjectionName) -> &LiveProjection {
        &self.live[name.index()]
    }

    /// The lowest checkpoint of all projections: the runner resumes after it.
    pub fn lowest_checkpoint(&self) -> Position {
        self.live
            .iter()
            .map(|slot| slot.checkpoint.borrow().position)
            .min()
            .unwrap_or(0)
    }

    /// Asks the runner to commit through `position` without waiting for its gather.
    pub fn want(&self, position: Position) {
        if self.wanted.fetch_max(position, Ordering::AcqRel) < position {
            self.wanted_rose.notify_one();
        }
    }

    pub fn note_tail(&self, position: Position, at: Option<DateTime<Utc>>) {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        if position > tail.0 {
            *tail = (position, at);
        }
    }
}
