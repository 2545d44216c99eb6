//! [`ProjectionStatus`]: each projection's checkpoint, lag, rebuild and error, as
//! [`Projections::status`] reports them.

use chrono::{DateTime, Utc};
use poolkeeper_eventlog::Position;

use crate::handle::Projections;
use crate::name::ProjectionName;
use crate::rebuild::RebuildProgress;

/// One projection's state, as [`Projections::status`] reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectionStatus {
    /// The projection.
    pub name: ProjectionName,
    /// The last applied position.
    pub checkpoint: Position,
    /// The instant of the event at the checkpoint.
    pub checkpoint_at: Option<DateTime<Utc>>,
    /// The log's tail as last seen by the runner.
    pub tail: Position,
    /// Events not applied yet.
    pub lag_positions: u64,
    /// Seconds between the event at the checkpoint and the tail event (0 when caught up).
    pub lag_seconds: f64,
    /// A rebuild in progress (or just finished or failed).
    pub rebuilding: Option<RebuildProgress>,
    /// Why the projection is not applying events, if it is not.
    pub error: Option<String>,
    /// The projection stopped at an event it cannot apply (see `error`).
    pub halted: bool,
}

impl Projections {
    /// Every projection's checkpoint, lag, rebuild and error, in [`ProjectionName::ALL`] order.
    pub fn status(&self) -> Vec<ProjectionStatus> {
        let (tail, tail_at) = *self.shared.tail.lock().unwrap_or_else(|e| e.into_inner());
        self.shared
            .live
            .iter()
            .map(|slot| {
                let checkpoint = *slot.checkpoint.borrow();
                let tail = tail.max(checkpoint.position);
                let lag_positions = tail - checkpoint.position;
                let lag_seconds = match (lag_positions, tail_at, checkpoint.at) {
                    (0, _, _) => 0.0,
                    (_, Some(tail_at), Some(at)) => {
                        ((tail_at - at).num_microseconds().unwrap_or(0) as f64 / 1e6).max(0.0)
                    }
                    _ => 0.0,
                };
                let failure = slot.failure();
                ProjectionStatus {
                    name: slot.name,
                    checkpoint: checkpoint.position,
                    checkpoint_at: checkpoint.at,
                    tail,
                    lag_positions,
                    lag_seconds,
                    rebuilding: slot
                        .rebuilding
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone(),
                    error: failure.as_ref().map(|f| f.message.clone()),
                    halted: failure.is_some_and(|f| f.halted_at.is_some()),
                }
            })
            .collect()
    }
}
