//! The background checkpointer.
//!
//! The write connection does not checkpoint on its own (`wal_autocheckpoint`
//! is raised to a large safety limit): after each commit the writer nudges this
//! thread, which runs a PASSIVE checkpoint (copying WAL frames into the
//! database file) at most once per [`CHECKPOINT_INTERVAL`], with its own
//! connection. Appends therefore pay only for their WAL fsync, and the copying
//! and the database fsync overlap with the next group commit instead of
//! delaying it. A PASSIVE checkpoint never blocks the writer or readers.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::error::EventLogError;

/// Minimum time between two checkpoints.
pub(crate) const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(25);

/// The writer's handle: a non-blocking nudge.
pub(crate) struct CheckpointNotifier {
    /// Set when a nudge is outstanding: further commits need not wake the thread.
    pending: Arc<AtomicBool>,
    tx: SyncSender<()>,
}

impl CheckpointNotifier {
    /// Tells the checkpointer there are new frames; never blocks, and wakes
    /// the thread only when no nudge is outstanding.
    pub(crate) fn notify(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            let _ = self.tx.try_send(());
        }
    }
}

/// Starts the checkpointer; it stops when the notifier is dropped.
pub(crate) fn spawn(path: PathBuf) -> Result<(CheckpointNotifier, JoinHandle<()>), EventLogError> {
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // This connection must not checkpoint from a commit hook either (it never writes).
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    let (tx, rx) = mpsc::sync_channel::<()>(1);
    let pending = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&pending);
    let handle = std::thread::Builder::new()
        .name("eventlog-checkpoint".into())
        .spawn(move || run(conn, rx, &flag))?;
    Ok((CheckpointNotifier { pending, tx }, handle))
}

fn run(conn: Connection, rx: mpsc::Receiver<()>, pending: &AtomicBool) {
    let mut last = Instant::now();
    // Wait for a commit, then for the pacing interval to elapse (or the writer to stop).
    while rx.recv().is_ok() {
        // No nudge arrives while `pending` is set, so this waits out the interval
        // unless the writer stops (disconnects).
        if let Some(left) = (last + CHECKPOINT_INTERVAL).checked_duration_since(Instant::now())
            && let Err(RecvTimeoutError::Disconnected) = rx.recv_timeout(left)
        {
            break;
        }
        // Commits from here on nudge again; earlier ones are covered by this checkpoint.
        pending.store(false, Ordering::Release);
        if let Err(error) = checkpoint(&conn) {
            tracing::warn!(%error, "background checkpoint failed");
        }
        last = Instant::now();
    }
}

fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}
