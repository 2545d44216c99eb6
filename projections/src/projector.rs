//! The write side of one projection: a [`Projector`] folding events into its SQLite file,
//! and the [`WriteSide`] that runs it in transactions with its checkpoint.
//!
//! **Invariant:** the checkpoint (last applied position) and the rows it accounts for are
//! written in the same transaction, so after any crash a projection resumes exactly after
//! the last event it committed. Live application and rebuilds run the same `apply` code;
//! only the batch sizes and the connection settings ([`WriteMode`]) differ.
//!
//! A *resident* projection (one whose fold keeps every row in memory and hands its readers
//! that [`Memory`]) is served from memory while it follows the log live: a batch changes
//! the memory only, and the file is its durable snapshot, written (dirty rows, checkpoint,
//! one transaction) every `snapshot_every`, when the runner is idle, before a dump and at
//! close. After a crash it resumes from the snapshot's checkpoint, like any projection.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use poolkeeper_codec::LoggedEvent;
use poolkeeper_eventlog::Position;
use rusqlite::Connection;

use crate::db::{self, WriteMode};
use crate::error::ProjectionError;
use crate::name::ProjectionName;

/// One projection's fold: applies events inside the open transaction, caching rows and
/// writing them back on [`Projector::flush`].
pub(crate) trait Projector: Send {
    /// Applies one event (its position is the checkpoint's successor).
    fn apply(&mut self, db: &Connection, event: &LoggedEvent) -> rusqlite::Result<()>;
    /// Writes every changed row; called before each commit.
    fn flush(&mut self, db: &Connection) -> rusqlite::Result<()>;
    /// After a commit: forgets cached rows when more than `keep` are cached.
    fn trim(&mut self, keep: usize);
    /// The rows in memory that the projection's readers answer from; `None` (the default):
    /// they read the file.
    fn memory(&self) -> Option<Memory> {
        None
    }
    /// After a snapshot failed: the next flush writes every row again (the failed one
    /// consumed the dirty marks). Only resident projections are ever asked.
    fn rewrite_all(&mut self) {}
}

/// A resident projection's in-memory rows, as its reader downcasts them.
pub(crate) type Memory = Arc<dyn Any + Send + Sync>;

/// What the crate knows statically about a projection.
pub(crate) struct ProjectionDefinition {
    pub name: ProjectionName,
    /// Bumped whenever the tables or the fold change; a file with another version is rebuilt.
    pub schema_version: i64,
    /// Tables (and the indexes the fold itself reads through), `IF NOT EXISTS`.
    pub tables: &'static str,
    /// Query indexes, created after a bulk load.
    pub indexes: &'static str,
    /// Opens the fold over a database holding the tables.
    pub open: fn(&Connection) -> rusqlite::Result<Box<dyn Projector>>,
}

/// The static description of `name`.
pub(crate) fn kind(name: ProjectionName) -> &'static ProjectionDefinition {
    match name {
        ProjectionName::PoolView => &crate::pool_view::DEFINITION,
        ProjectionName::OwnerView => &crate::owner_view::DEFINITION,
        ProjectionName::AbandonRecords => &crate::abandon_records::DEFINITION,
        ProjectionName::OwnershipHistory => &crate::history::DEFINITION,
        ProjectionName::Statistics => &crate::statistics::DEFINITION,
    }
}

/// Why events could not be applied.
#[derive(Debug)]
pub(crate) enum ApplyError {
    /// The next event is not the checkpoint's successor: the log has a hole. Permanent.
    Gap {
        /// The position expected.
        expected: Position,
        /// The position given.
        found: Position,
    },
    /// SQLite failed; the transaction was rolled back. Transient, usually.
    Storage(rusqlite::Error),
}

impl From<rusqlite::Error> for ApplyError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Storage(error)
    }
}

/// A projection's writer connection, fold and checkpoint.
pub(crate) struct WriteSide {
    kind: &'static ProjectionDefinition,
    path: PathBuf,
    conn: Connection,
    projector: Box<dyn Projector>,
    mode: WriteMode,
    in_transaction: bool,
    /// Rows kept cached between commits.
    cache_keep: usize,
    /// The last applied position.
    pub checkpoint: Position,
    /// The instant of the event at the checkpoint.
    pub checkpoint_at: Option<DateTime<Utc>>,
    /// Events applied since the file was created (equals `checkpoint` when none was applied twice).
    pub events_applied: u64,
    /// Served from memory, the file written as a snapshot (see the module's docs).
    resident: bool,
    /// How often a resident projection writes its snapshot while events arrive.
    snapshot_every: Duration,
    /// When it last did, and the checkpoint the file holds.
    snapshot_taken: Instant,
    snapshot_position: Position,
}

impl WriteSide {
    /// Opens (creating if needed) the serving file of a projection; a resident one
    /// writes its snapshot every `snapshot_every` while events arrive.
    pub fn open_live(
        name: ProjectionName,
        path: &Path,
        cache_keep: usize,
        snapshot_every: Duration,
    ) -> Result<Self, ProjectionError> {
        let kind = kind(name);
        let conn = db::open_writer(path, WriteMode::Live)?;
        conn.execute_batch(db::META_SCHEMA)?;
        match db::meta_int(&conn, "schema_version")? {
            Some(found) if found != kind.schema_version => {
                return Err(ProjectionError::SchemaMismatch {
                    projection: name,
                    found,
                    expected: kind.schema_version,
                });
            }
            _ => {}
        }
        conn.execute_batch(kind.tables)?;
        conn.execute_batch(kind.indexes)?;
        Self::init_meta(&conn, kind)?;
        let mut side = Self::with_connection(kind, path, conn, WriteMode::Live, cache_keep)?;
        side.resident = side.projector.memory().is_some();
        side.snapshot_every = snapshot_every;
        Ok(side)
    }

    /// Creates a fresh file for a bulk build (removing any file at `path`), without the
    /// query indexes.
    pub fn create_bulk(name: ProjectionName, path: &Path) -> Result<Self, ProjectionError> {
        let kind = kind(name);
        db::remove_database(path)?;
        let conn = db::open_writer(path, WriteMode::Bulk)?;
        conn.execute_batch(db::META_SCHEMA)?;
        conn.execute_batch(kind.tables)?;
        Self::init_meta(&conn, kind)?;
        Self::with_connection(kind, path, conn, WriteMode::Bulk, usize::MAX)
    }

    fn init_meta(conn: &Connection, kind: &ProjectionDefinition) -> rusqlite::Result<()> {
        if db::meta_int(conn, "schema_version")?.is_none() {
            db::set_meta(conn, "projection", kind.name.as_str())?;
            db::set_meta(conn, "schema_version", kind.schema_version)?;
            db::set_meta(conn, "checkpoint", 0i64)?;
            db::set_meta(conn, "events_applied", 0i64)?;
        }
        Ok(())
    }

    fn with_connection(
        kind: &'static ProjectionDefinition,
        path: &Path,
        conn: Connection,
        mode: WriteMode,
        cache_keep: usize,
    ) -> Result<Self, ProjectionError> {
        let projector = (kind.open)(&conn)?;
        let mut side = Self {
            kind,
            path: path.to_path_buf(),
            conn,
            projector,
            mode,
            in_transaction: false,
            cache_keep,
            checkpoint: 0,
            checkpoint_at: None,
            events_applied: 0,
            resident: false,
            snapshot_every: Duration::ZERO,
            snapshot_taken: Instant::now(),
            snapshot_position: 0,
        };
        side.load_checkpoint()?;
        Ok(side)
    }

    fn load_checkpoint(&mut self) -> rusqlite::Result<()> {
        self.checkpoint = db::meta_int(&self.conn, "checkpoint")?.unwrap_or(0) as Position;
        self.checkpoint_at = db::meta_int(&self.conn, "checkpoint_at")?.map(db::instant);
        self.events_applied = db::meta_int(&self.conn, "events_applied")?.unwrap_or(0) as u64;
        self.snapshot_position = self.checkpoint;
        Ok(())
    }

    /// The projection.
    pub fn name(&self) -> ProjectionName {
        self.kind.name
    }

    /// The rows its readers answer from, when it is served from memory.
    pub fn memory(&self) -> Option<Memory> {
        self.projector.memory()
    }

    /// Applies `events` in one transaction with the checkpoint (skipping those at or
    /// before it). On failure nothing of the batch is kept. A resident projection applies
    /// them to its memory, and writes its snapshot when one is due.
    pub fn apply_batch(&mut self, events: &[LoggedEvent]) -> Result<usize, ApplyError> {
        let before = self.events_applied;
        if self.resident {
            // The events before a gap stay applied: the memory and checkpoint agree.
            self.apply(events)?;
            if self.snapshot_taken.elapsed() >= self.snapshot_every {
                self.snapshot();
            }
            return Ok((self.events_applied - before) as usize);
        }
        let result = self
            .begin()
            .and_then(|()| self.apply(events))
            .and_then(|()| self.commit().map_err(ApplyError::Storage));
        match result {
            Ok(()) => Ok((self.events_applied - before) as usize),
            Err(error) => {
                self.rollback();
                Err(error)
            }
        }
    }

    /// Opens a transaction (a no-op when one is open).
    pub fn begin(&mut self) -> Result<(), ApplyError> {
        Ok(self.open_transaction()?)
    }

    fn open_transaction(&mut self) -> rusqlite::Result<()> {
        if !self.in_transaction {
            self.conn.execute_batch("BEGIN")?;
            self.in_transaction = true;
        }
        Ok(())
    }

    /// Applies events inside the open transaction (a resident projection's memory needs
    /// none).
    pub fn apply(&mut self, events: &[LoggedEvent]) -> Result<(), ApplyError> {
        debug_assert!(self.in_transaction || self.resident);
        for event in events {
            if event.position <= self.checkpoint {
                continue;
            }
            if event.position != self.checkpoint + 1 {
                return Err(ApplyError::Gap {
                    expected: self.checkpoint + 1,
                    found: event.position,
                });
            }
            self.projector.apply(&self.conn, event)?;
            self.checkpoint = event.position;
            self.checkpoint_at = Some(event.event.at);
            self.events_applied += 1;
        }
        Ok(())
    }

    /// Flushes the fold's rows, writes the checkpoint and commits.
    pub fn commit(&mut self) -> rusqlite::Result<()> {
        if !self.in_transaction {
            return Ok(());
        }
        self.projector.flush(&self.conn)?;
        db::set_meta(&self.conn, "checkpoint", self.checkpoint as i64)?;
        db::set_meta(
            &self.conn,
            "checkpoint_at",
            self.checkpoint_at.map(db::micros),
        )?;
        db::set_meta(&self.conn, "events_applied", self.events_applied as i64)?;
        self.conn.execute_batch("COMMIT")?;
        self.in_transaction = false;
        self.snapshot_position = self.checkpoint;
        self.projector.trim(self.cache_keep);
        Ok(())
    }

    /// A resident projection: writes the rows changed since the last snapshot and the
    /// checkpoint to the file, in one transaction. A failure is logged and the next
    /// snapshot rewrites every row; the memory, which readers use, is untouched.
    pub fn snapshot(&mut self) {
        if let Err(error) = self.write_snapshot() {
            tracing::warn!(projection = %self.kind.name, %error, "writing the snapshot failed; the next one rewrites every row");
            if self.in_transaction {
                let _ = self.conn.execute_batch("ROLLBACK");
                self.in_transaction = false;
            }
            self.projector.rewrite_all();
        }
    }

    /// Writes a resident projection's snapshot when its file is behind its memory.
    fn write_snapshot(&mut self) -> rusqlite::Result<()> {
        self.snapshot_taken = Instant::now();
        if !self.resident || self.snapshot_position == self.checkpoint {
            return Ok(());
        }
        self.open_transaction()?;
        self.commit()
    }

    /// Abandons the open transaction and reloads the fold and checkpoint from the file.
    pub fn rollback(&mut self) {
        if self.in_transaction {
            let _ = self.conn.execute_batch("ROLLBACK");
            self.in_transaction = false;
        }
        match (self.kind.open)(&self.conn) {
            Ok(projector) => self.projector = projector,
            Err(error) => {
                tracing::error!(projection = %self.kind.name, %error, "reloading after a rollback failed")
            }
        }
        if let Err(error) = self.load_checkpoint() {
            tracing::error!(projection = %self.kind.name, %error, "reloading the checkpoint failed");
        }
    }

    /// Creates the query indexes (after a bulk load).
    pub fn create_indexes(&mut self) -> rusqlite::Result<()> {
        self.commit()?;
        self.conn.execute_batch(self.kind.indexes)
    }

    /// Ends a bulk build: indexes, a rollback journal instead of none, and everything
    /// fsynced. The file can then be renamed into place and opened live.
    pub fn finish_bulk(mut self) -> Result<Position, ProjectionError> {
        debug_assert_eq!(self.mode, WriteMode::Bulk);
        self.create_indexes()?;
        self.conn.execute_batch(
            "PRAGMA journal_mode = DELETE;
             PRAGMA locking_mode = NORMAL;",
        )?;
        let checkpoint = self.checkpoint;
        let path = self.path.clone();
        let Self { conn, .. } = self;
        conn.close().map_err(|(_, error)| error)?;
        db::sync_file_and_dir(&path)?;
        Ok(checkpoint)
    }

    /// When the runner has been idle: copies the WAL into the file and truncates it to
    /// zero bytes. Never waits: false when a reader still uses the WAL (or a transaction
    /// is open), to be tried again after the next idle period. Without fsync, like every
    /// live commit (`synchronous=OFF`).
    pub fn checkpoint_idle(&mut self) -> Result<bool, ProjectionError> {
        if self.mode != WriteMode::Live || self.in_transaction {
            return Ok(false);
        }
        self.snapshot();
        self.conn.busy_timeout(std::time::Duration::ZERO)?;
        let busy = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            });
        self.conn.busy_timeout(db::LIVE_BUSY_TIMEOUT)?;
        Ok(busy? == 0)
    }

    /// Before the file is swapped out or the service stops: commit, checkpoint the WAL
    /// into the file and truncate it to zero bytes (waiting up to 5 s for readers still
    /// using it), close, and fsync the file.
    pub fn close(mut self) -> Result<(), ProjectionError> {
        self.write_snapshot()?;
        self.commit()?;
        if self.mode == WriteMode::Live {
            let busy = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    r.get::<_, i64>(0)
                })?;
            if busy != 0 {
                tracing::warn!(projection = %self.kind.name, "a reader kept the WAL from being truncated at close");
            }
        }
        let Self { conn, path, .. } = self;
        conn.close().map_err(|(_, error)| error)?;
        db::sync_file_and_dir(&path)?;
        Ok(())
    }
}
