//! The idle checkpoint: once no group has been served for
//! `EventLogConfig::idle_checkpoint`, a housekeeping thread copies the WAL
//! into the database file and truncates it to zero bytes, so an idle log keeps
//! no WAL (a busy one was preallocated to about 41 MB).
//!
//! It never makes an append wait for the copy, and never runs beside another
//! checkpoint:
//!
//! 1. **Copy** (`wal_checkpoint(PASSIVE)`) on the thread's own connection,
//!    without the writer's lock: appends keep committing meanwhile (SQLite
//!    lets one checkpoint run beside the writer).
//! 2. **Cut the dead tail**: past the WAL's last frame the file holds only
//!    zeros (preallocation) or frames of earlier cycles, which SQLite ignores.
//!    The thread cuts it from the end, 4 MiB at a time, each cut under the
//!    writer's lock taken only if it is free (it never waits for it; holding
//!    it, no write transaction of this store is open) and only while no group
//!    was served since step 1 began. Each cut is also made inside an empty
//!    `BEGIN IMMEDIATE` transaction of the thread's connection (SQLite's write
//!    lock: no connection of any process is writing frames) after checking
//!    that `data_version` did not change since step 1 (nothing was committed,
//!    so no frame lies past the end the copy saw). A cut costs about a
//!    millisecond; cutting 41 MB at once held the lock for 10–27 ms here.
//! 3. **Truncate**, under the same conditions: `wal_checkpoint(TRUNCATE)`.
//!    Every frame is already in the database file, so this only resets the
//!    WAL and cuts the rest of the file (its live frames); an append arriving
//!    meanwhile waits for that alone. The connection has no busy timeout: a
//!    reader still using the WAL makes it give up at once, and it tries again
//!    after the next idle period.
//!
//! Every step holds [`Maintenance::checkpointing`]; the writer's own checkpoint
//! (after a group that filled `checkpoint_pages`) only *tries* that lock and,
//! while the idle checkpoint holds it, checkpoints after a later group instead.
//! A truncated WAL restarts small; the writer preallocates it again only once
//! the log is busy again ([`Writer::wal_truncated`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use super::writer::Writer;
use crate::error::EventLogError;

/// What the writer and the idle checkpoint share: when the log was last
/// active, and the lock that serializes checkpoints.
#[derive(Debug)]
pub(crate) struct Maintenance {
    base: Instant,
    /// Groups served (committed or failed) since the store opened.
    groups: AtomicU64,
    /// When the last group ended, in microseconds since `base`.
    last_group_micros: AtomicU64,
    /// Held by whoever checkpoints: the idle checkpoint, the writer at close;
    /// the writer's own checkpoint skips while another one holds it.
    pub(crate) checkpointing: Mutex<()>,
}

impl Maintenance {
    pub(crate) fn new() -> Self {
        Self {
            base: Instant::now(),
            groups: AtomicU64::new(0),
            last_group_micros: AtomicU64::new(0),
            checkpointing: Mutex::new(()),
        }
    }

    /// Records a served group (called under the writer's lock).
    pub(crate) fn group_served(&self) {
        let now = u64::try_from(self.base.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last_group_micros.store(now, Ordering::Release);
        self.groups.fetch_add(1, Ordering::AcqRel);
    }

    fn groups(&self) -> u64 {
        self.groups.load(Ordering::Acquire)
    }

    /// How long ago the last group ended (or the store opened).
    fn quiet_for(&self) -> Duration {
        let last = Duration::from_micros(self.last_group_micros.load(Ordering::Acquire));
        self.base.elapsed().saturating_sub(last)
    }
}

/// Takes a lock whether or not a panicking holder poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes a lock if it is free.
pub(crate) fn try_lock<T>(mutex: &Mutex<T>) -> Option<std::sync::MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// The running housekeeping thread; [`IdleCheckpointer::stop`] ends it (and
/// so does dropping it, without waiting).
pub(crate) struct IdleCheckpointer {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

/// How soon the thread looks again after an append interrupted it.
const RETRY_PAUSE: Duration = Duration::from_millis(10);

/// How much of the WAL's dead tail one cut removes under the writer's lock.
const CUT_SLICE: u64 = 4 << 20;

/// The pause between two cuts, with the writer's lock free.
const CUT_PAUSE: Duration = Duration::from_millis(1);

impl IdleCheckpointer {
    /// Opens the thread's connection to the log at `path` and starts it.
    pub(crate) fn spawn(
        path: &Path,
        after: Duration,
        state: Arc<Mutex<Option<Writer>>>,
        maintenance: Arc<Maintenance>,
    ) -> Result<Self, EventLogError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never wait for a lock: a busy moment is not idle.
        conn.busy_timeout(Duration::ZERO)?;
        // A checkpoint syncs the WAL and the database file as the writer's do.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "cache_size", -1024)?;
        let page_size: u32 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let stop = Arc::new(Stop::default());
        let housekeeper = Housekeeper {
            conn,
            wal: PathBuf::from(wal),
            frame_bytes: 24 + u64::from(page_size),
            after: after.max(Duration::from_millis(1)),
            state,
            maintenance,
            stop: Arc::clone(&stop),
        };
        let thread = std::thread::Builder::new()
            .name("eventlog-idle".into())
            .spawn(move || housekeeper.run())?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread (after the checkpoint it may be running) and waits for
    /// it, closing its connection.
    pub(crate) fn stop(mut self) {
        self.signal();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn signal(&self) {
        *lock(&self.stop.stopped) = true;
        self.stop.wake.notify_all();
    }
}

impl Drop for IdleCheckpointer {
    fn drop(&mut self) {
        self.signal();
    }
}

#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    /// Sleeps for `timeout` unless stopped first; true when stopped.
    fn wait(&self, timeout: Duration) -> bool {
        let stopped = lock(&self.stopped);
        let (stopped, _) = self
            .wake
            .wait_timeout_while(stopped, timeout, |stopped| !*stopped)
            .unwrap_or_else(|e| e.into_inner());
        *stopped
    }
}

/// What one cut of the WAL's dead tail did.
enum Cut {
    /// Cut a slice; more may follow.
    More,
    /// What is left goes with the truncation.
    Done,
    /// A commit happened since the copy: the log is not idle.
    Changed,
}

/// What one attempt gave.
enum Outcome {
    /// The WAL is empty.
    Clean,
    /// A group was served meanwhile: the log is not idle.
    Interrupted,
    /// A reader (or an error) kept the WAL from being truncated.
    Busy,
    /// The writer stopped.
    Stopped,
}

struct Housekeeper {
    conn: Connection,
    wal: PathBuf,
    /// A WAL frame: its 24-byte header and a page.
    frame_bytes: u64,
    after: Duration,
    state: Arc<Mutex<Option<Writer>>>,
    maintenance: Arc<Maintenance>,
    stop: Arc<Stop>,
}

impl Housekeeper {
    fn run(self) {
        // The group count when the WAL was last found empty.
        let mut clean_at = None;
        loop {
            let groups = self.maintenance.groups();
            let quiet = self.maintenance.quiet_for();
            let wait = if quiet < self.after {
                self.after - quiet
            } else if clean_at == Some(groups) {
                self.after
            } else {
                match self.checkpoint() {
                    Outcome::Clean => {
                        clean_at = Some(groups);
                        self.after
                    }
                    Outcome::Interrupted => RETRY_PAUSE.min(self.after),
                    Outcome::Busy => self.after,
                    Outcome::Stopped => return,
                }
            };
            if self.stop.wait(wait) {
                return;
            }
        }
    }

    /// Copies the WAL into the database file, then truncates it (see the
    /// module docs).
    fn checkpoint(&self) -> Outcome {
        if std::fs::metadata(&self.wal).map_or(true, |m| m.len() == 0) {
            return Outcome::Clean;
        }
        let _serial = lock(&self.maintenance.checkpointing);
        let before = self.maintenance.groups();
        // Changes when any connection (of any process) commits.
        let Ok(version) = self.data_version() else {
            return Outcome::Busy;
        };
        let copied = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            });
        let frames = match copied {
            // Every frame is in the database file.
            Ok((0, log, checkpointed)) if checkpointed >= log => log,
            // A reader pins frames that are not copied yet (its snapshot).
            Ok(_) => return Outcome::Busy,
            Err(error) => {
                tracing::debug!(%error, "idle checkpoint failed; retrying later");
                return Outcome::Busy;
            }
        };
        // The WAL's header and frames; with no group served since the copy,
        // its last frame is still `frames`.
        let live = 32 + u64::try_from(frames).unwrap_or(0) * self.frame_bytes;
        loop {
            let Some(mut state) = try_lock(&self.state) else {
                return Outcome::Interrupted;
            };
            let Some(writer) = state.as_mut() else {
                return Outcome::Stopped;
            };
            if self.maintenance.groups() != before {
                return Outcome::Interrupted;
            }
            match self.cut_dead_tail(live, version) {
                Ok(Cut::More) => {
                    // Lets a waiting appender take the lock before the next cut.
                    drop(state);
                    std::thread::sleep(CUT_PAUSE);
                }
                Ok(Cut::Done) => return self.truncate(writer),
                Ok(Cut::Changed) => return Outcome::Interrupted,
                Err(error) => {
                    tracing::debug!(%error, "cutting the WAL's tail failed; retrying later");
                    return Outcome::Busy;
                }
            }
        }
    }

    fn data_version(&self) -> rusqlite::Result<i64> {
        self.conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
    }

    /// Cuts one slice off the end of the WAL file if more than a slice lies
    /// past `live` (the end of its last frame at `version`).
    ///
    /// Called under the writer's lock, and done inside an empty `BEGIN
    /// IMMEDIATE` transaction: holding SQLite's write lock, no connection of
    /// this or any other process is writing frames, and an unchanged
    /// `data_version` means nothing was committed since the copy, so every
    /// frame still ends before `live`.
    fn cut_dead_tail(&self, live: u64, version: i64) -> Result<Cut, EventLogError> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let cut = (|| {
            if self.data_version()? != version {
                return Ok(Cut::Changed);
            }
            let file = std::fs::OpenOptions::new().write(true).open(&self.wal)?;
            let len = file.metadata()?.len();
            if len <= live.saturating_add(CUT_SLICE) {
                return Ok(Cut::Done);
            }
            file.set_len(len - CUT_SLICE)?;
            Ok(Cut::More)
        })();
        // Nothing was written: this only releases the locks.
        self.conn.execute_batch("COMMIT")?;
        cut
    }

    /// Resets the WAL and truncates the file (under the writer's lock).
    fn truncate(&self, writer: &mut Writer) -> Outcome {
        match self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            }) {
            Ok(0) => {
                writer.wal_truncated();
                Outcome::Clean
            }
            Ok(_) => Outcome::Busy,
            Err(error) => {
                tracing::debug!(%error, "idle WAL truncation failed; retrying later");
                Outcome::Busy
            }
        }
    }
}
