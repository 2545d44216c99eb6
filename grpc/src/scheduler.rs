//! The reclaim scheduler: asks the domain what is due (reclaims and reminders) and submits
//! each as a system command through the same writer as every other command, so a manual
//! command and an automatic reclaim can never both win.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use poolkeeper_domain::schedule::{self, DueAction};
use poolkeeper_domain::{Clock, DomainError};
use tokio::sync::{Notify, watch};

use crate::telemetry::metrics;
use crate::writer::{CommandWriter, WriteError};

/// What one run of the scheduler did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedulerRun {
    /// Scheduled actions accepted (reclaims, extensions and reminders).
    pub actions_run: u32,
    /// The log position after them.
    pub position: u64,
}

/// Runs due reclaims and reminders.
#[derive(Clone)]
pub struct Scheduler {
    writer: CommandWriter,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    /// Held by a run, so the background loop and a manual run never interleave.
    running: Arc<tokio::sync::Mutex<()>>,
    /// Actions accepted since the scheduler started, by any run.
    accepted: Arc<AtomicU64>,
    /// The most actions submitted in one round.
    pub round_size: usize,
}

impl Scheduler {
    /// A scheduler submitting through `writer`, telling time by `clock`.
    pub fn new(writer: CommandWriter, clock: Arc<dyn Clock>) -> Self {
        Self {
            writer,
            clock,
            wake: Arc::new(Notify::new()),
            running: Arc::new(tokio::sync::Mutex::new(())),
            accepted: Arc::new(AtomicU64::new(0)),
            round_size: 2_000,
        }
    }

    /// Wakes the background loop (after the manual clock moved).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Actions accepted since the scheduler started, by the background loop and by
    /// [`Self::run_due`] alike.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Acquire)
    }

    /// How many actions are due now (at most `limit`), for the metrics.
    pub fn due_count(&self, limit: usize) -> usize {
        let model = self.writer.model();
        schedule::due(&model, self.clock.now(), limit).len()
    }

    /// Submits everything due now, round after round, until nothing more is due or a
    /// round makes no progress.
    pub async fn run_due(&self) -> SchedulerRun {
        let _running = self.running.lock().await;
        let mut run = SchedulerRun {
            actions_run: 0,
            position: self.writer.last_position(),
        };
        loop {
            let now = self.clock.now();
            let due = {
                let model = self.writer.model();
                schedule::due(&model, now, self.round_size)
            };
            if due.is_empty() {
                break;
            }
            let kinds: Vec<&'static str> = due.iter().map(DueAction::kind).collect();
            let outcomes = futures::future::join_all(
                due.into_iter()
                    .map(|action| self.writer.submit(action.into_command(), None)),
            )
            .await;
            let mut accepted = 0;
            for (outcome, kind) in outcomes.into_iter().zip(kinds) {
                match outcome {
                    Ok(outcome) => {
                        accepted += 1;
                        if !outcome.duplicate {
                            metrics().scheduler_actions.with_label_values(&[kind]).inc();
                        }
                        run.position = run.position.max(outcome.last_position);
                    }
                    Err(WriteError::Domain(DomainError::NotDue { .. })) => {}
                    Err(WriteError::ShuttingDown) => return run,
                    Err(error) => tracing::warn!(%error, "a scheduled action was refused"),
                }
            }
            run.actions_run += accepted;
            self.accepted
                .fetch_add(u64::from(accepted), Ordering::AcqRel);
            if accepted == 0 {
                break;
            }
        }
        run
    }

    /// The background loop: runs what is due, then sleeps until the next due instant (at
    /// most `max_sleep`), or until woken, or until `stop` turns true.
    pub async fn run(self, max_sleep: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            let run = self.run_due().await;
            if run.actions_run > 0 {
                tracing::info!(
                    actions = run.actions_run,
                    position = run.position,
                    "scheduled reclaims and reminders ran"
                );
            }
            let sleep = {
                let model = self.writer.model();
                schedule::next_due_at(&model)
                    .and_then(|at| (at - self.clock.now()).to_std().ok())
                    .map_or(max_sleep, |until| until.min(max_sleep))
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = self.wake.notified() => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }
}
