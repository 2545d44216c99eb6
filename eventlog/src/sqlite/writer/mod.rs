//! The single writer and its group commit.
//!
//! One [`Writer`] owns the write connection, behind a mutex. Its std thread
//! serves the queue; an appender that arrives alone while the writer is idle
//! commits its own job under the same mutex (see `SqliteEventStore::submit`).
//! Appenders send jobs over a bounded channel; the writer takes the first
//! waiting job, opens a transaction, applies every other job already queued
//! (and, after a group of several jobs, those arriving for up to
//! [`GATHER_WAIT`]), up to `max_group_events`, commits once (one sync), and
//! only then replies to each job and broadcasts the committed events to live
//! subscribers. Inside the transaction each request is checked (idempotency,
//! expected versions) before any of its rows is written, so a conflict fails
//! only that request. A storage error fails the whole group, which is rolled
//! back and the chain state reloaded. After the commit, the group's command and
//! stream index entries join the in-memory part of the lazy indexes
//! (`super::index`).

mod apply;
mod upkeep;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{broadcast, mpsc, oneshot};
use uuid::Uuid;

use super::idle::{self, IdleCheckpointer, Maintenance};
use super::index::{self, Cycle, Range, RecentIndex};
use super::rows;
use crate::config::EventLogConfig;
use crate::error::EventLogError;
use crate::types::{AppendOutcome, AppendRequest, Position, RecordedEvent, StreamVersion};
use upkeep::{Preallocation, record_wal_pages};

/// A committed group, as broadcast to subscribers.
#[derive(Debug)]
pub(crate) struct Committed {
    /// First position committed.
    pub(crate) first: Position,
    /// Last position committed.
    pub(crate) last: Position,
    /// The events (stored, not upcast), or empty when nobody subscribed as the
    /// group started: a subscriber that registered meanwhile reads them from
    /// the store.
    pub(crate) events: Vec<RecordedEvent>,
}

/// What the writer broadcasts after each commit.
pub(crate) type CommittedBatch = Arc<Committed>;

/// Per-request results of one job.
pub(crate) type JobResults = Vec<Result<AppendOutcome, EventLogError>>;

/// Validated requests that must share one transaction, and where to reply.
pub(crate) struct Job {
    pub(crate) requests: Vec<AppendRequest>,
    pub(crate) reply: oneshot::Sender<JobResults>,
}

/// Counters of the writer's work, for operators and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed (one fsync each).
    pub groups: u64,
    /// Requests that wrote events.
    pub commands: u64,
    /// Events written.
    pub events: u64,
    /// Microseconds the writer spent in group commits (busy, not waiting for work).
    pub busy_micros: u64,
    /// Times the idle checkpoint truncated the WAL.
    pub wal_truncations: u64,
}

/// Shared, lock-free [`WriterStats`].
#[derive(Debug, Default)]
pub(crate) struct StatCounters {
    groups: AtomicU64,
    commands: AtomicU64,
    events: AtomicU64,
    busy_micros: AtomicU64,
    wal_truncations: AtomicU64,
}

impl StatCounters {
    pub(crate) fn snapshot(&self) -> WriterStats {
        WriterStats {
            groups: self.groups.load(Ordering::Relaxed),
            commands: self.commands.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            busy_micros: self.busy_micros.load(Ordering::Relaxed),
            wal_truncations: self.wal_truncations.load(Ordering::Relaxed),
        }
    }
}

/// The writer's state: the connection and the head of the chain.
pub(crate) struct Writer {
    conn: Connection,
    tail: Position,
    last_hash: [u8; 32],
    committed: broadcast::Sender<CommittedBatch>,
    max_group_events: usize,
    stats: Arc<StatCounters>,
    /// Cache of current stream versions (cleared when full or after a rollback).
    versions: HashMap<String, StreamVersion>,
    /// Checkpoint once the WAL holds this many pages.
    checkpoint_pages: i32,
    /// Committed entries not yet in the index tables (shared with readers).
    recent: Arc<RecentIndex>,
    /// Commands written by the open group (moved to `recent` on commit).
    pending_commands: HashMap<Uuid, Range>,
    /// (stream, version, position) written by the open group.
    pending_streams: Vec<(String, StreamVersion, Position)>,
    /// Start an indexing cycle once this many entries are recent.
    index_after: usize,
    /// The indexing cycle in progress.
    cycle: Option<Cycle>,
    /// Jobs in the previous group: roughly how many appenders are active.
    previous_jobs: usize,
    /// Preallocation of the WAL once the log is busy (`None`: disabled).
    preallocation: Option<Preallocation>,
    /// Shared with the idle checkpoint: activity, and the checkpoint lock.
    maintenance: Arc<Maintenance>,
}

/// Streams whose version the writer remembers; the cache is cleared when full.
const VERSION_CACHE_ENTRIES: usize = 100_000;

impl Writer {
    /// Wraps a migrated, configured write connection to the log at `path`.
    pub(crate) fn new(
        conn: Connection,
        path: &Path,
        config: &EventLogConfig,
        committed: broadcast::Sender<CommittedBatch>,
        stats: Arc<StatCounters>,
        recent: Arc<RecentIndex>,
        maintenance: Arc<Maintenance>,
    ) -> Result<Self, EventLogError> {
        let (tail, last_hash) = rows::tail(&conn)?;
        index::recover(&conn, &recent)?;
        let checkpoint_pages = config.checkpoint_pages.max(1);
        let preallocation = if config.preallocate_wal {
            Some(Preallocation::new(&conn, path, checkpoint_pages)?)
        } else {
            None
        };
        // Replaces SQLite's automatic checkpoint at commit (which would run
        // before the group is acknowledged) by one after the replies.
        conn.wal_hook(Some(record_wal_pages));
        Ok(Self {
            conn,
            tail,
            last_hash,
            committed,
            max_group_events: config.max_group_events.max(1),
            stats,
            versions: HashMap::new(),
            checkpoint_pages: i32::try_from(checkpoint_pages).unwrap_or(i32::MAX),
            recent,
            pending_commands: HashMap::new(),
            pending_streams: Vec::new(),
            index_after: config.index_after.max(1),
            cycle: None,
            previous_jobs: 0,
            preallocation,
            maintenance,
        })
    }

    /// Serves jobs until every sender is gone, then stops the idle
    /// checkpoint, checkpoints, truncates the WAL and closes the connection.
    /// The writer is shared with appenders that commit on their own thread
    /// when it is idle (see [`Writer::serve_group`]), and with the idle
    /// checkpoint (see `super::idle`).
    pub(crate) fn run(
        shared: Arc<Mutex<Option<Writer>>>,
        mut jobs: mpsc::Receiver<Job>,
        idle: Option<IdleCheckpointer>,
    ) {
        while let Some(first) = next_job(&mut jobs) {
            let mut guard = shared.lock().unwrap_or_else(|e| e.into_inner());
            let Some(writer) = guard.as_mut() else {
                break;
            };
            writer.serve_group(first, Some(&mut jobs));
        }
        // First, so that its connection is closed before the writer's.
        if let Some(idle) = idle {
            idle.stop();
        }
        let writer = shared.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = writer {
            writer.close();
        }
    }

    /// Copies the whole WAL into the database file, truncates the WAL to zero
    /// bytes and closes the connection. When it is the last connection to the
    /// file (the store closed its readers first), SQLite also deletes the
    /// `-wal` and `-shm` files. A read still running delays the truncation
    /// (up to the busy timeout); a WAL that could not be truncated is only
    /// larger, never inconsistent.
    fn close(self) {
        let Self {
            conn, maintenance, ..
        } = self;
        let serial = idle::lock(&maintenance.checkpointing);
        match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(0) => {}
            Ok(_) => tracing::warn!("a reader kept the WAL from being truncated at close"),
            Err(error) => tracing::warn!(%error, "checkpointing the WAL at close failed"),
        }
        drop(serial);
        if let Err((_, error)) = conn.close() {
            tracing::warn!(%error, "closing the event log's write connection failed");
        }
    }

    /// Whether the last group held a single job: appends arrive one at a time.
    pub(crate) fn is_lone(&self) -> bool {
        self.previous_jobs <= 1
    }

    /// Commits one group that starts with `first`: with the queue (`jobs`),
    /// every job waiting there is folded in; without it (an appender
    /// committing on its own thread) the group is `first` alone. Then indexes
    /// and checkpoints if due, all before the lock is released.
    pub(crate) fn serve_group(&mut self, first: Job, jobs: Option<&mut mpsc::Receiver<Job>>) {
        let started = Instant::now();
        let mut group = self.begin_group();
        self.add_job(&mut group, first);
        if let Some(jobs) = jobs {
            // Fold in every queued job; after a group of several jobs, keep
            // applying jobs as they arrive until as many as last time are in
            // (or GATHER_WAIT passed), so their appenders' next commands share
            // this commit instead of forming a half-size group of their own.
            let deadline = started + GATHER_WAIT;
            while group.events < self.max_group_events {
                match jobs.try_recv() {
                    Ok(job) => self.add_job(&mut group, job),
                    Err(TryRecvError::Empty)
                        if group.replies.len() < self.previous_jobs
                            && Instant::now() < deadline =>
                    {
                        std::thread::yield_now();
                    }
                    Err(_) => break,
                }
            }
        }
        self.previous_jobs = group.replies.len();
        self.finish_group(group);
        self.index_if_due();
        self.checkpoint_if_due();
        self.preallocate_if_busy();
        self.maintenance.group_served();
        let busy = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats.busy_micros.fetch_add(busy, Ordering::Relaxed);
    }

    /// Opens the group's transaction.
    fn begin_group(&mut self) -> Group {
        // Only between groups: inside one, the cache is the only record of
        // the versions the group wrote (they reach the index on commit).
        if self.versions.len() >= VERSION_CACHE_ENTRIES {
            self.versions.clear();
        }
        let fatal = self
            .conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .err()
            .map(EventLogError::from);
        Group {
            replies: Vec::new(),
            published: Vec::new(),
            publish: self.committed.receiver_count() > 0,
            tail_before: self.tail,
            events: 0,
            fatal,
        }
    }

    /// Applies a job's requests inside the group's transaction (unless the
    /// group already failed); the replies wait for the commit.
    fn add_job(&mut self, group: &mut Group, Job { requests, reply }: Job) {
        let n = requests.len();
        group.events += requests
            .iter()
            .map(AppendRequest::event_count)
            .sum::<usize>();
        let mut results = Vec::with_capacity(n);
        if group.fatal.is_none() {
            for request in requests {
                let sink = if group.publish {
                    Some(&mut group.published)
                } else {
                    None
                };
                match self.apply(request, sink) {
                    Ok(result) => results.push(result),
                    Err(e) => {
                        group.fatal = Some(e);
                        break;
                    }
                }
            }
        }
        group.replies.push((reply, n, results));
    }

    /// Commits the group (one fsync), then replies to every job and publishes
    /// the events; on a storage error rolls back and fails every job.
    fn finish_group(&mut self, group: Group) {
        let Group {
            replies,
            published,
            tail_before,
            mut fatal,
            ..
        } = group;
        if fatal.is_none() {
            let started = std::time::Instant::now();
            fatal = self
                .conn
                .prepare_cached("COMMIT")
                .and_then(|mut s| s.execute([]))
                .err()
                .map(EventLogError::from);
            crate::observe::commit_took("sqlite", started.elapsed());
        }
        match fatal {
            None => {
                let commands = replies
                    .iter()
                    .flat_map(|(_, _, results)| results)
                    .filter(|r| matches!(r, Ok(o) if !o.duplicate))
                    .count();
                self.recent.add(
                    self.pending_commands.drain(),
                    self.pending_streams.drain(..),
                );
                self.stats.groups.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .commands
                    .fetch_add(commands as u64, Ordering::Relaxed);
                self.stats
                    .events
                    .fetch_add(self.tail - tail_before, Ordering::Relaxed);
                for (reply, _, results) in replies {
                    // The appender may have stopped waiting; its events are committed anyway.
                    let _ = reply.send(results);
                }
                // Checked again after the commit: a subscriber may have
                // registered while the group was open.
                if self.tail > tail_before && self.committed.receiver_count() > 0 {
                    // No receiver left is fine: subscribers catch up from the store.
                    let _ = self.committed.send(Arc::new(Committed {
                        first: tail_before + 1,
                        last: self.tail,
                        events: published,
                    }));
                }
            }
            Some(error) => {
                tracing::error!(%error, "group commit failed; rolling back");
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                self.versions.clear();
                self.pending_commands.clear();
                self.pending_streams.clear();
                for (reply, n, _) in replies {
                    let _ = reply.send(vec![Err(error.clone()); n]);
                }
                match rows::tail(&self.conn) {
                    Ok((tail, hash)) => {
                        self.tail = tail;
                        self.last_hash = hash;
                    }
                    Err(e) => tracing::error!(error = %e, "cannot reload the chain head"),
                }
            }
        }
    }
}

/// How long the idle writer polls for the next job before parking: an
/// appender that was just acknowledged usually sends its next command within a
/// few tens of microseconds, and catching it without a park/unpark saves a
/// thread wake-up on the critical path.
const IDLE_SPIN: Duration = Duration::from_micros(100);

/// How long a group stays open (applying jobs as they arrive) for the
/// appenders of the previous group to send their next jobs. Without it, many
/// concurrent appenders split into two cohorts that commit alternately,
/// halving the group size. Only after a group of more than one job.
const GATHER_WAIT: Duration = Duration::from_micros(200);

/// The next job: polls briefly, then parks. `None` when every sender is gone.
fn next_job(jobs: &mut mpsc::Receiver<Job>) -> Option<Job> {
    let started = Instant::now();
    while started.elapsed() < IDLE_SPIN {
        match jobs.try_recv() {
            Ok(job) => return Some(job),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => std::thread::yield_now(),
        }
    }
    jobs.blocking_recv()
}

/// A group commit in progress.
struct Group {
    /// Per job: where to reply, its number of requests, the results so far.
    replies: Vec<(oneshot::Sender<JobResults>, usize, JobResults)>,
    /// Events to broadcast after the commit (only when someone subscribes).
    published: Vec<RecordedEvent>,
    publish: bool,
    tail_before: Position,
    events: usize,
    /// A storage error: the group will be rolled back.
    fatal: Option<EventLogError>,
}
