//! SQLite schema: migrations (SQL files under `migrations/`), the schema version
//! check, and connection settings.
//!
//! The applied migration count is kept in `PRAGMA user_version`. Opening a file
//! whose version is newer than [`SCHEMA_VERSION`] fails with
//! [`SchemaTooNew`](crate::EventLogError::SchemaTooNew) before anything is written.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::EventLogError;

/// Migrations in order; migration `i` (0-based) brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_lazy_indexes.sql"),
];

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// How long a connection waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Page size of new databases. 8 KiB measured best here: fewer frames per
/// group commit than 4 KiB for the sequential parts (events, type index) and
/// faster full reads, while a random index leaf costs less than with 16 KiB.
const PAGE_SIZE: i64 = 8192;

/// Reads the file's schema version and refuses one newer than this build's.
pub(crate) fn check_version(conn: &Connection) -> Result<u32, EventLogError> {
    let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(EventLogError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

/// Settings of the single write connection: WAL, `synchronous=FULL` (a commit
/// is durable when it returns), a busy timeout and a larger page cache.
pub(crate) fn configure_writer(conn: &Connection) -> Result<(), EventLogError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Only takes effect while the file is new (before WAL mode and the first table).
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;

    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(EventLogError::invalid(
            "path",
            format!("the database cannot use WAL journaling (got {mode})"),
        ));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    // After a checkpoint, truncate a WAL file that grew beyond this many bytes
    // (above the preallocated size of the default configuration).
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT as i64)?;
    conn.pragma_update(None, "cache_size", -32 * 1024)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

/// Settings of a read connection.
pub(crate) fn configure_reader(conn: &Connection) -> Result<(), EventLogError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "cache_size", -16 * 1024)?;
    conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
    Ok(())
}

/// After a checkpoint, SQLite truncates a WAL file larger than this
/// (`journal_size_limit`); preallocation never goes beyond it.
pub(crate) const JOURNAL_SIZE_LIMIT: u64 = 64 << 20;

/// Appends zeros to the WAL file `wal` until it is `bytes` long, at most
/// `slice` bytes per call, and syncs them. Returns whether the file now is
/// that long (or there is no WAL to extend).
///
/// Call it only while holding SQLite's write lock in a transaction that
/// writes nothing (no connection is writing frames). It writes nothing but
/// zeros past the current end of the file, where SQLite has no frame; a zeroed frame fails the WAL's salt and
/// checksum, so recovery stops before it, and SQLite writes its next frames
/// over the zeros: the commits of the first checkpoint cycle then overwrite
/// allocated blocks instead of growing the file, which costs an extra
/// metadata write in every fsync. SQLite never locks the WAL file itself (its
/// locks are on the database and `-shm` files), so opening and closing a
/// second descriptor on it releases none of its POSIX locks.
pub(crate) fn extend_wal(wal: &Path, bytes: u64, slice: u64) -> Result<bool, EventLogError> {
    let mut file = match std::fs::OpenOptions::new().write(true).open(wal) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    let len = file.metadata()?.len();
    if len >= bytes {
        return Ok(true);
    }
    let end = bytes.min(len.saturating_add(slice.max(1)));
    file.seek(SeekFrom::Start(len))?;
    let zeros = vec![0u8; 1 << 20];
    let mut left = end - len;
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(zeros.len());
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_data()?;
    Ok(end >= bytes)
}

/// Applies the missing migrations, each in its own immediate transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), EventLogError> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Re-read under the write lock: another process may have migrated meanwhile.
        let current = check_version(&tx)?;
        if current == SCHEMA_VERSION {
            return Ok(());
        }
        tx.execute_batch(MIGRATIONS[current as usize])?;
        tx.pragma_update(None, "user_version", current + 1)?;
        tx.commit()?;
    }
}
