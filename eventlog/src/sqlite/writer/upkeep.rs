//! The writer's upkeep between groups: the checkpoint once the WAL is large, the WAL's
//! preallocation once the log is busy, and the slices of the lazy indexes' cycles.

use std::cell::Cell;
use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use rusqlite::Connection;

use super::Writer;
use crate::error::EventLogError;
use crate::sqlite::idle;
use crate::sqlite::index::Cycle;
use crate::sqlite::schema;

/// Growing the WAL file ahead of the commits once the log is busy: see
/// [`Writer::preallocate_if_busy`].
pub(super) struct Preallocation {
    /// The `-wal` file.
    wal: PathBuf,
    /// The log is busy once the WAL holds this many frames: `checkpoint_pages / 8`.
    busy_frames: i32,
    /// The size to reach: `1.25 × checkpoint_pages` frames (at most the
    /// journal size limit), as large as a checkpoint cycle makes the WAL anyway.
    bytes: u64,
    /// The WAL reached `busy_frames` since it was last empty.
    busy: bool,
    /// The WAL reached `bytes` (or preallocating failed) since it was last empty.
    done: bool,
}

/// The most the writer preallocates after one group (written and synced in
/// about 3 ms here), so a group's appenders wait little more than for a
/// checkpoint.
const PREALLOCATION_SLICE: u64 = 4 << 20;

impl Preallocation {
    /// Preallocation for the log at `path`, whose WAL is checkpointed at
    /// `checkpoint_pages`.
    pub(super) fn new(
        conn: &Connection,
        path: &Path,
        checkpoint_pages: u32,
    ) -> Result<Self, EventLogError> {
        let page_size: u32 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
        let frames = u64::from(checkpoint_pages) * 5 / 4;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(Self {
            wal: PathBuf::from(wal),
            busy_frames: i32::try_from(checkpoint_pages / 8)
                .unwrap_or(i32::MAX)
                .max(1),
            bytes: (32 + frames * (24 + u64::from(page_size))).min(schema::JOURNAL_SIZE_LIMIT),
            busy: false,
            done: false,
        })
    }
}

thread_local! {
    /// Pages in the WAL after the last commit on this thread. A group's commit
    /// and the checkpoint check after it run on one thread, under the lock.
    static WAL_PAGES: Cell<i32> = const { Cell::new(0) };
}

/// SQLite's WAL hook: called after each commit with the WAL's size in pages.
pub(super) fn record_wal_pages(_: &rusqlite::hooks::Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(pages);
    Ok(())
}

impl Writer {
    /// Called by the idle checkpoint, under the writer's lock, after it
    /// truncated the WAL: the next busy period preallocates it again.
    pub(crate) fn wal_truncated(&mut self) {
        self.stats.wal_truncations.fetch_add(1, Ordering::Relaxed);
        if let Some(p) = self.preallocation.as_mut() {
            p.busy = false;
            p.done = false;
        }
    }

    /// Copies the WAL into the database file once it is large enough, so the
    /// next transaction restarts the WAL from its beginning (overwriting an
    /// allocated file is cheaper to fsync than growing one). Runs between
    /// groups: no transaction is open, so the checkpoint completes. While the
    /// idle checkpoint runs (appends resumed during its copy), this one waits
    /// for a later group instead of running beside it.
    pub(super) fn checkpoint_if_due(&mut self) {
        if WAL_PAGES.get() < self.checkpoint_pages {
            return;
        }
        let Some(_serial) = idle::try_lock(&self.maintenance.checkpointing) else {
            return;
        };
        match self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            Ok(()) => WAL_PAGES.set(0),
            Err(error) => tracing::warn!(%error, "checkpoint failed"),
        }
    }

    /// Once the log is busy, extends the WAL file with zeros, one slice per
    /// group, to the size a checkpoint cycle gives it (`1.25 ×
    /// checkpoint_pages` frames): commits then overwrite allocated blocks,
    /// whose fsync costs about 100 µs less than one that grows the file.
    ///
    /// Busy means the WAL reached `checkpoint_pages / 8` frames (500, 4 MiB by
    /// default) since it was last empty (opened, or truncated when idle): that
    /// many frames without an idle pause are a few hundred commits in a row,
    /// the WAL is on its way to a full cycle, and the rest of the cycle saves
    /// more than the preallocation costs (41 MB written and synced in about
    /// 30 ms here, the growth of some 300 commits). A quiet log never writes
    /// the zeros, and its WAL stays as small as its commits made it.
    pub(super) fn preallocate_if_busy(&mut self) {
        let Some(p) = self.preallocation.as_mut() else {
            return;
        };
        if p.done {
            return;
        }
        if !p.busy {
            if WAL_PAGES.get() < p.busy_frames {
                return;
            }
            p.busy = true;
        }
        // Inside an empty write transaction: holding SQLite's write lock, no
        // connection of any process is writing frames past the end.
        let extended = self
            .conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(EventLogError::from)
            .and_then(|()| schema::extend_wal(&p.wal, p.bytes, PREALLOCATION_SLICE));
        if !self.conn.is_autocommit() {
            // Nothing was written: this only releases the lock.
            let _ = self.conn.execute_batch("COMMIT");
        }
        match extended {
            Ok(reached) => p.done = reached,
            Err(error) => {
                // Commits grow the file instead; tried again after the next idle truncation.
                tracing::warn!(%error, "preallocating the WAL failed");
                p.done = true;
            }
        }
    }

    /// Moves one slice of recent entries into the index tables when a cycle
    /// is under way or due. Runs between groups, after the replies.
    pub(super) fn index_if_due(&mut self) {
        if self.cycle.is_none() {
            self.cycle = Cycle::start_if_due(&self.recent, self.index_after, self.tail + 1);
        }
        let Some(cycle) = self.cycle.as_mut() else {
            return;
        };
        match cycle.step(&self.conn, &self.recent) {
            Ok(false) => {}
            Ok(true) => self.cycle = None,
            Err(error) => {
                // The entries stay in memory; a later cycle writes them again.
                tracing::warn!(%error, "indexing failed; retrying later");
                self.cycle = None;
            }
        }
    }
}
