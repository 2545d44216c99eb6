//! [`Projections`]: the five projection files of a directory, their readers, status,
//! `wait_for` and rebuilds.
//!
//! **Invariant:** one owner per directory. `Projections::open` and the offline rebuild
//! hold an exclusive lock on `<dir>/LOCK`; a second owner gets
//! [`ProjectionError::DirectoryInUse`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use poolkeeper_eventlog::{EventStore, Position};
use tokio::sync::{Notify, watch};

use crate::audit::AuditReader;
use crate::db;
use crate::dump::{self, TableDump};
use crate::error::ProjectionError;
use crate::history::{AsOf, HistoryReader};
use crate::name::ProjectionName;
use crate::owner_view::OwnerViewReader;
use crate::pool_view::PoolViewReader;
use crate::projector::WriteSide;
use crate::readpool::ReadPool;
use crate::rebuild::{self, Bound, BuildConfig, RebuildPhase, RebuildProgress};
use crate::runner::{self, RunnerHandle};
use crate::statistics::StatisticsReader;

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
pub(crate) struct Slot {
    pub name: ProjectionName,
    pub path: PathBuf,
    pub write: Arc<tokio::sync::Mutex<Option<WriteSide>>>,
    pub read: Arc<ReadPool>,
    pub checkpoint: watch::Sender<Checkpoint>,
    pub failure: Mutex<Option<Failure>>,
    pub rebuilding: Mutex<Option<RebuildProgress>>,
    pub rebuild_running: AtomicBool,
}

impl Slot {
    pub fn publish(&self, side: &WriteSide) {
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

    /// Records a failure without waking waiters (see [`Slot::set_failure`]).
    pub fn record_failure(&self, failure: Option<Failure>) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = failure;
    }

    fn set_progress(&self, progress: Option<RebuildProgress>) {
        *self.rebuilding.lock().unwrap_or_else(|e| e.into_inner()) = progress;
    }
}

/// The state shared by a [`Projections`] handle, its runner and its rebuilds.
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub config: ProjectionsConfig,
    pub slots: Vec<Slot>,
    /// The log's tail as last seen, and its instant.
    pub tail: Mutex<(Position, Option<DateTime<Utc>>)>,
    /// The highest position a reader waits for; the runner commits at once to reach it.
    pub wanted: AtomicU64,
    /// Wakes the runner when `wanted` rises.
    pub wanted_rose: Notify,
    _lock: File,
}

impl Shared {
    pub fn slot(&self, name: ProjectionName) -> &Slot {
        &self.slots[name.index()]
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

/// Takes the directory's exclusive lock.
fn lock_dir(dir: &Path) -> Result<File, ProjectionError> {
    std::fs::create_dir_all(dir)?;
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(ProjectionError::DirectoryInUse(dir.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(error)) => Err(error.into()),
    }
}

/// The serving file of a projection.
pub fn projection_path(dir: &Path, name: ProjectionName) -> PathBuf {
    dir.join(format!("{}.db", name.as_str()))
}

fn shadow_path(dir: &Path, name: ProjectionName) -> PathBuf {
    dir.join(format!("{}.rebuild.db", name.as_str()))
}

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

/// The projections of one directory. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Projections {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Projections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projections")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

impl Projections {
    /// Opens (creating if needed) the projections in `dir`, with the default settings.
    /// A file written by another schema version is replaced by an empty one, which the
    /// runner then fills from the log (or rebuild it first with [`Projections::rebuild_offline`]).
    pub fn open(dir: &Path) -> Result<Self, ProjectionError> {
        Self::open_with(dir, ProjectionsConfig::default())
    }

    /// Opens the projections in `dir` with `config`.
    pub fn open_with(dir: &Path, config: ProjectionsConfig) -> Result<Self, ProjectionError> {
        let lock = lock_dir(dir)?;
        let discard = crate::marker::must_discard(dir)?;
        if discard {
            tracing::warn!(dir = %dir.display(), "the machine went down while the projections were open: rebuilding them from the log");
        }
        let mut slots = Vec::new();
        for name in ProjectionName::ALL {
            let path = projection_path(dir, name);
            db::remove_database(&shadow_path(dir, name))?;
            if discard {
                db::remove_database(&path)?;
            }
            let side = match WriteSide::open_live(name, &path, config.cache_rows) {
                Err(ProjectionError::SchemaMismatch {
                    found, expected, ..
                }) => {
                    tracing::warn!(projection = %name, found, expected, "schema changed: starting the projection afresh");
                    db::remove_database(&path)?;
                    WriteSide::open_live(name, &path, config.cache_rows)?
                }
                other => other?,
            };
            let (checkpoint, _) = watch::channel(Checkpoint {
                position: side.checkpoint,
                at: side.checkpoint_at,
                halted: false,
            });
            slots.push(Slot {
                name,
                read: Arc::new(ReadPool::new(&path, config.read_connections)),
                path,
                write: Arc::new(tokio::sync::Mutex::new(Some(side))),
                checkpoint,
                failure: Mutex::new(None),
                rebuilding: Mutex::new(None),
                rebuild_running: AtomicBool::new(false),
            });
        }
        // Only now, with every file opened (and discarded ones removed), is the directory
        // marked open by this boot.
        crate::marker::mark_open(dir)?;
        Ok(Self {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                config,
                slots,
                tail: Mutex::new((0, None)),
                wanted: AtomicU64::new(0),
                wanted_rose: Notify::new(),
                _lock: lock,
            }),
        })
    }

    /// Closes every projection cleanly: commits, checkpoints and fsyncs each file and marks
    /// the directory closed, so a later restart of the machine keeps the files. Stop the
    /// runner first; afterwards the projections still answer reads but apply nothing.
    pub async fn close(&self) -> Result<(), ProjectionError> {
        for slot in &self.shared.slots {
            let side = slot.write.lock().await.take();
            if let Some(side) = side {
                tokio::task::spawn_blocking(move || side.close())
                    .await
                    .map_err(|_| ProjectionError::Closed)??;
            }
        }
        let dir = self.shared.dir.clone();
        tokio::task::spawn_blocking(move || crate::marker::mark_closed(&dir))
            .await
            .map_err(|_| ProjectionError::Closed)??;
        Ok(())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Starts following the log: catch-up from the lowest checkpoint, then live, in
    /// batches of at most `batch_max` events (one transaction per batch per projection).
    pub fn spawn_runner(&self, store: Arc<dyn EventStore>) -> RunnerHandle {
        runner::spawn(Arc::clone(&self.shared), store)
    }

    /// Waits until every projection has applied `position` (read-your-writes).
    pub async fn wait_for(
        &self,
        position: Position,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        self.wait_for_each(&ProjectionName::ALL, position, timeout)
            .await
    }

    /// Waits until `name` has applied `position`.
    pub async fn wait_for_projection(
        &self,
        name: ProjectionName,
        position: Position,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        self.wait_for_each(&[name], position, timeout).await
    }

    async fn wait_for_each(
        &self,
        names: &[ProjectionName],
        position: Position,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        let deadline = tokio::time::Instant::now() + timeout;
        for &name in names {
            let slot = self.shared.slot(name);
            let mut receiver = slot.checkpoint.subscribe();
            if receiver.borrow().position < position {
                self.shared.want(position);
            }
            let waited = tokio::time::timeout_at(
                deadline,
                receiver.wait_for(|c| c.position >= position || c.halted),
            )
            .await;
            let reached = match waited {
                Ok(Ok(checkpoint)) => *checkpoint,
                Ok(Err(_)) => return Err(ProjectionError::Closed),
                Err(_) => {
                    let (projection, at) = names
                        .iter()
                        .map(|n| (*n, self.shared.slot(*n).checkpoint.borrow().position))
                        .min_by_key(|(_, at)| *at)
                        .unwrap_or((name, 0));
                    return Err(ProjectionError::Lagging {
                        projection,
                        at,
                        wanted: position,
                    });
                }
            };
            if reached.position < position {
                let failure = slot.failure();
                return Err(ProjectionError::Halted {
                    projection: name,
                    position: failure
                        .as_ref()
                        .and_then(|f| f.halted_at)
                        .unwrap_or(reached.position + 1),
                    reason: failure.map(|f| f.message).unwrap_or_default(),
                });
            }
        }
        Ok(())
    }

    /// Every projection's checkpoint, lag, rebuild and error, in [`ProjectionName::ALL`] order.
    pub fn status(&self) -> Vec<ProjectionStatus> {
        let (tail, tail_at) = *self.shared.tail.lock().unwrap_or_else(|e| e.into_inner());
        self.shared
            .slots
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

    /// The pool view's reader.
    pub fn pool_view(&self) -> PoolViewReader {
        PoolViewReader {
            pool: Arc::clone(&self.shared.slot(ProjectionName::PoolView).read),
        }
    }

    /// The owner view's reader.
    pub fn owner_view(&self) -> OwnerViewReader {
        OwnerViewReader {
            pool: Arc::clone(&self.shared.slot(ProjectionName::OwnerView).read),
        }
    }

    /// The abandon audit's reader.
    pub fn audit(&self) -> AuditReader {
        AuditReader {
            pool: Arc::clone(&self.shared.slot(ProjectionName::AbandonAudit).read),
        }
    }

    /// The ownership history's reader.
    pub fn history(&self) -> HistoryReader {
        HistoryReader {
            pool: Arc::clone(&self.shared.slot(ProjectionName::OwnershipHistory).read),
        }
    }

    /// The statistics' reader.
    pub fn statistics(&self) -> StatisticsReader {
        StatisticsReader {
            pool: Arc::clone(&self.shared.slot(ProjectionName::Statistics).read),
        }
    }

    /// Every row of a projection in a canonical order (tables by name, rows by all
    /// columns), for comparing two builds.
    pub async fn dump(&self, name: ProjectionName) -> Result<Vec<TableDump>, ProjectionError> {
        self.shared.slot(name).read.run(dump::dump_connection).await
    }

    /// Rebuilds `name` while the live one keeps serving: builds a shadow copy from the
    /// log, indexes it, follows the tail, then pauses the live projection for the last few
    /// events and swaps the files atomically. Returns at once; the receiver reports
    /// progress until [`RebuildPhase::Done`] or [`RebuildPhase::Failed`].
    pub async fn rebuild_online(
        &self,
        name: ProjectionName,
        store: Arc<dyn EventStore>,
    ) -> Result<watch::Receiver<RebuildProgress>, ProjectionError> {
        let slot = self.shared.slot(name);
        if slot.rebuild_running.swap(true, Ordering::AcqRel) {
            return Err(ProjectionError::RebuildRunning(name));
        }
        let (sender, receiver) = watch::channel(RebuildProgress::new(vec![name]));
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            let result = online(&shared, name, &store, &sender).await;
            let slot = shared.slot(name);
            slot.rebuild_running.store(false, Ordering::Release);
            if let Err(error) = result {
                tracing::error!(projection = %name, %error, "online rebuild failed");
                let _ = db::remove_database(&shadow_path(&shared.dir, name));
                let mut progress = sender.borrow().clone();
                progress.phase = RebuildPhase::Failed(error.to_string());
                slot.set_progress(Some(progress.clone()));
                sender.send_replace(progress);
            }
        });
        Ok(receiver)
    }

    /// Rebuilds `names` in `dir` from position 1 into fresh files, then renames each into
    /// place. Nothing may have the directory open (its lock is taken). Each event is read
    /// and decoded once for all the projections. Returns each projection's checkpoint.
    pub async fn rebuild_offline(
        dir: &Path,
        names: &[ProjectionName],
        store: Arc<dyn EventStore>,
        mut progress: impl FnMut(&RebuildProgress) + Send,
    ) -> Result<Vec<(ProjectionName, Position)>, ProjectionError> {
        Self::rebuild_offline_with(
            dir,
            names,
            store,
            &ProjectionsConfig::default(),
            &mut progress,
        )
        .await
    }

    /// [`Projections::rebuild_offline`] with explicit settings.
    pub async fn rebuild_offline_with(
        dir: &Path,
        names: &[ProjectionName],
        store: Arc<dyn EventStore>,
        config: &ProjectionsConfig,
        progress: &mut (dyn FnMut(&RebuildProgress) + Send),
    ) -> Result<Vec<(ProjectionName, Position)>, ProjectionError> {
        let _lock = lock_dir(dir)?;
        let targets: Vec<(ProjectionName, PathBuf)> = names
            .iter()
            .map(|name| (*name, shadow_path(dir, *name)))
            .collect();
        let built = build_files(&store, &targets, Bound::Tail, config, progress).await?;
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<_, ProjectionError> {
            for (name, _) in &built {
                let live = projection_path(&dir, *name);
                db::remove_companions(&live)?;
                std::fs::rename(shadow_path(&dir, *name), &live)?;
            }
            File::open(&dir)?.sync_all()?;
            Ok(built)
        })
        .await
        .map_err(|_| ProjectionError::Closed)?
    }

    /// Builds `name` as of an instant or a position into `out_path` (time travel for
    /// auditors), without touching the live projections. Open it with [`Snapshot::open`].
    pub async fn rebuild_as_of(
        name: ProjectionName,
        as_of: AsOf,
        store: Arc<dyn EventStore>,
        out_path: &Path,
        mut progress: impl FnMut(&RebuildProgress) + Send,
    ) -> Result<Position, ProjectionError> {
        let building = {
            let mut path = out_path.as_os_str().to_owned();
            path.push(".building");
            PathBuf::from(path)
        };
        let bound = match as_of {
            AsOf::Instant(at) => Bound::Instant(at),
            AsOf::Position(position) => Bound::Position(position),
        };
        let config = ProjectionsConfig::default();
        let built = build_files(
            &store,
            &[(name, building.clone())],
            bound,
            &config,
            &mut progress,
        )
        .await?;
        let out = out_path.to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<(), ProjectionError> {
            db::remove_database(&out)?;
            std::fs::rename(&building, &out)?;
            if let Some(dir) = out.parent() {
                File::open(dir)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(|_| ProjectionError::Closed)??;
        Ok(built.first().map_or(0, |(_, position)| *position))
    }
}

/// Builds fresh files for `targets` up to `bound`; returns each checkpoint.
async fn build_files(
    store: &Arc<dyn EventStore>,
    targets: &[(ProjectionName, PathBuf)],
    bound: Bound,
    config: &ProjectionsConfig,
    progress: &mut (dyn FnMut(&RebuildProgress) + Send),
) -> Result<Vec<(ProjectionName, Position)>, ProjectionError> {
    let names: Vec<ProjectionName> = targets.iter().map(|(name, _)| *name).collect();
    let targets = targets.to_vec();
    let sides = tokio::task::spawn_blocking(move || {
        targets
            .iter()
            .map(|(name, path)| WriteSide::create_bulk(*name, path))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|_| ProjectionError::Closed)??;
    let started = Instant::now();
    let mut report = RebuildProgress::new(names);
    let mut on_page = |done: u64, total: u64| {
        report.update(started, done, total);
        progress(&report);
    };
    let sides =
        rebuild::bulk_apply(store, sides, bound, config.build(), true, &mut on_page).await?;
    report.phase = RebuildPhase::Indexing;
    progress(&report);
    let mut finishing = Vec::new();
    for side in sides {
        let name = side.name();
        finishing.push((
            name,
            tokio::task::spawn_blocking(move || side.finish_bulk()),
        ));
    }
    let mut built = Vec::new();
    for (name, task) in finishing {
        built.push((name, task.await.map_err(|_| ProjectionError::Closed)??));
    }
    report.phase = RebuildPhase::Done;
    report.elapsed = started.elapsed();
    progress(&report);
    Ok(built)
}

/// The online rebuild of one projection.
async fn online(
    shared: &Arc<Shared>,
    name: ProjectionName,
    store: &Arc<dyn EventStore>,
    sender: &watch::Sender<RebuildProgress>,
) -> Result<(), ProjectionError> {
    let slot = shared.slot(name);
    let shadow = shadow_path(&shared.dir, name);
    let config = shared.config.build();
    let started = Instant::now();
    let report = |phase: Option<RebuildPhase>, done: Option<(u64, u64)>| {
        let mut progress = sender.borrow().clone();
        if let Some(phase) = phase {
            progress.phase = phase;
        }
        if let Some((done, total)) = done {
            progress.update(started, done, total);
        } else {
            progress.elapsed = started.elapsed();
        }
        // The status shows a phase no later than the receiver sees it.
        slot.set_progress(Some(progress.clone()));
        sender.send_replace(progress);
    };
    report(Some(RebuildPhase::Loading), None);
    let path = shadow.clone();
    let side = tokio::task::spawn_blocking(move || WriteSide::create_bulk(name, &path))
        .await
        .map_err(|_| ProjectionError::Closed)??;
    let mut done = 0u64;
    let mut on_page = |d: u64, total: u64| report(None, Some((d, total)));
    let mut sides =
        rebuild::bulk_apply(store, vec![side], Bound::Tail, config, true, &mut on_page).await?;
    done += sides.first().map_or(0, |s| s.checkpoint);

    report(Some(RebuildPhase::CatchingUp), None);
    for _ in 0..20 {
        let live = slot.checkpoint.borrow().position;
        let ours = sides.first().map_or(0, |s| s.checkpoint);
        if ours + shared.config.swap_within >= live {
            break;
        }
        let base = done;
        let mut on_page = |d: u64, total: u64| report(None, Some((base + d, base + total)));
        sides = rebuild::bulk_apply(store, sides, Bound::Tail, config, false, &mut on_page).await?;
        done = sides.first().map_or(0, |s| s.checkpoint);
    }

    report(Some(RebuildPhase::Swapping), None);
    let mut live = Arc::clone(&slot.write).lock_owned().await;
    let live_checkpoint = live.as_ref().map_or(0, |s| s.checkpoint);
    let ours = sides.first().map_or(0, |s| s.checkpoint);
    if ours < live_checkpoint {
        let mut quiet = |_: u64, _: u64| {};
        sides = rebuild::bulk_apply(
            store,
            sides,
            Bound::Position(live_checkpoint),
            config,
            false,
            &mut quiet,
        )
        .await?;
    }
    let side = sides.pop().ok_or(ProjectionError::Closed)?;
    if side.checkpoint < live_checkpoint {
        return Err(ProjectionError::Halted {
            projection: name,
            position: side.checkpoint + 1,
            reason: "the log ended before the live checkpoint".into(),
        });
    }
    let shared_for_swap = Arc::clone(shared);
    let swapped = tokio::task::spawn_blocking(move || -> Result<(), ProjectionError> {
        let slot = shared_for_swap.slot(name);
        side.finish_bulk()?;
        slot.read.exclusive(|| -> Result<(), ProjectionError> {
            if let Some(old) = live.take() {
                old.close()?;
            }
            db::remove_companions(&slot.path)?;
            std::fs::rename(&shadow, &slot.path)?;
            File::open(&shared_for_swap.dir)?.sync_all()?;
            let side = WriteSide::open_live(name, &slot.path, shared_for_swap.config.cache_rows)?;
            slot.set_failure(None);
            slot.publish(&side);
            *live = Some(side);
            Ok(())
        })
    })
    .await
    .map_err(|_| ProjectionError::Closed)?;
    if let Err(error) = swapped {
        // The live file may be closed: reopen whatever is in place.
        let mut live = slot.write.lock().await;
        if live.is_none() {
            *live = Some(WriteSide::open_live(
                name,
                &slot.path,
                shared.config.cache_rows,
            )?);
        }
        return Err(error);
    }
    slot.rebuild_running.store(false, Ordering::Release);
    report(Some(RebuildPhase::Done), None);
    Ok(())
}

/// A projection file opened read-only, e.g. one built by [`Projections::rebuild_as_of`].
#[derive(Clone)]
pub struct Snapshot {
    name: ProjectionName,
    pool: Arc<ReadPool>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    /// Opens a projection file read-only and checks which projection it holds.
    pub fn open(path: &Path) -> Result<Self, ProjectionError> {
        let conn = db::open_reader(path)?;
        let name = db::meta_text(&conn, "projection")?
            .and_then(|name| ProjectionName::parse(&name))
            .ok_or_else(|| ProjectionError::invalid("path", "not a projection file"))?;
        Ok(Self {
            name,
            pool: Arc::new(ReadPool::new(path, 2)),
        })
    }

    /// The projection the file holds.
    pub fn name(&self) -> ProjectionName {
        self.name
    }

    /// The last position applied to the file.
    pub async fn checkpoint(&self) -> Result<Position, ProjectionError> {
        self.pool
            .run(|conn| Ok(db::meta_int(conn, "checkpoint")?.unwrap_or(0) as Position))
            .await
    }

    /// Every row, canonically ordered.
    pub async fn dump(&self) -> Result<Vec<TableDump>, ProjectionError> {
        self.pool.run(dump::dump_connection).await
    }

    fn expect(&self, name: ProjectionName) -> Result<Arc<ReadPool>, ProjectionError> {
        if self.name == name {
            Ok(Arc::clone(&self.pool))
        } else {
            Err(ProjectionError::invalid(
                "projection",
                format!("the snapshot holds {}, not {name}", self.name),
            ))
        }
    }

    /// The reader, when the file holds `pool_view`.
    pub fn pool_view(&self) -> Result<PoolViewReader, ProjectionError> {
        Ok(PoolViewReader {
            pool: self.expect(ProjectionName::PoolView)?,
        })
    }

    /// The reader, when the file holds `owner_view`.
    pub fn owner_view(&self) -> Result<OwnerViewReader, ProjectionError> {
        Ok(OwnerViewReader {
            pool: self.expect(ProjectionName::OwnerView)?,
        })
    }

    /// The reader, when the file holds `abandon_audit`.
    pub fn audit(&self) -> Result<AuditReader, ProjectionError> {
        Ok(AuditReader {
            pool: self.expect(ProjectionName::AbandonAudit)?,
        })
    }

    /// The reader, when the file holds `ownership_history`.
    pub fn history(&self) -> Result<HistoryReader, ProjectionError> {
        Ok(HistoryReader {
            pool: self.expect(ProjectionName::OwnershipHistory)?,
        })
    }

    /// The reader, when the file holds `statistics`.
    pub fn statistics(&self) -> Result<StatisticsReader, ProjectionError> {
        Ok(StatisticsReader {
            pool: self.expect(ProjectionName::Statistics)?,
        })
    }
}
