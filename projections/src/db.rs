//! SQLite plumbing shared by the projections: value conversions, connection settings for
//! live and bulk writing and for readers, and the `meta` table (checkpoint and counters).

use std::path::Path;

use chrono::{DateTime, Utc};
use poolkeeper_domain::{Actor, CustomerId, PoolId, UserId};
use rusqlite::types::{FromSql, FromSqlError, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, ToSql};
use uuid::Uuid;

/// The `meta` table every projection file has: one row per key.
pub(crate) const META_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value ANY
) STRICT, WITHOUT ROWID;";

/// A UUID stored as a 16-byte blob (memcmp order = `Uuid` order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Id(pub Uuid);

impl ToSql for Id {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Blob(self.0.as_bytes())))
    }
}

impl FromSql for Id {
    fn column_result(value: ValueRef<'_>) -> Result<Self, FromSqlError> {
        <[u8; 16]>::column_result(value).map(|bytes| Id(Uuid::from_bytes(bytes)))
    }
}

macro_rules! id_conversions {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Id {
            fn from(id: $ty) -> Self { Id(id.0) }
        }
        impl From<Id> for $ty {
            fn from(id: Id) -> Self { <$ty>::from_uuid(id.0) }
        }
    )*};
}
id_conversions!(CustomerId, PoolId, UserId);

/// An actor stored compactly: a user as its 16-byte id, `system` and `rule:<name>` as text
/// (columns of type `ANY`).
pub(crate) struct StoredActor(pub Actor);

impl ToSql for StoredActor {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match &self.0 {
            Actor::User(user) => ToSqlOutput::Borrowed(ValueRef::Blob(user.0.as_bytes())),
            other => ToSqlOutput::Owned(rusqlite::types::Value::Text(other.to_string())),
        })
    }
}

fn actor_of(value: ValueRef<'_>, index: usize) -> rusqlite::Result<Option<Actor>> {
    match value {
        ValueRef::Null => Ok(None),
        ValueRef::Blob(_) => Ok(Some(Actor::User(UserId::from(
            Id::column_result(value).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    index,
                    rusqlite::types::Type::Blob,
                    Box::new(e),
                )
            })?,
        )))),
        ValueRef::Text(text) => {
            let text = std::str::from_utf8(text).unwrap_or_default();
            Actor::parse(text)
                .map(Some)
                .ok_or_else(|| bad_text(index, text))
        }
        _ => Err(bad_text(index, "a number")),
    }
}

/// An instant stored as microseconds since the Unix epoch.
pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// Reads microseconds back into an instant.
pub(crate) fn instant(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Typed getters for the column encodings above.
pub(crate) trait RowExt {
    fn id<T: From<Id>>(&self, index: usize) -> rusqlite::Result<T>;
    fn opt_id<T: From<Id>>(&self, index: usize) -> rusqlite::Result<Option<T>>;
    fn at(&self, index: usize) -> rusqlite::Result<DateTime<Utc>>;
    fn opt_at(&self, index: usize) -> rusqlite::Result<Option<DateTime<Utc>>>;
    fn actor(&self, index: usize) -> rusqlite::Result<Actor>;
    fn opt_actor(&self, index: usize) -> rusqlite::Result<Option<Actor>>;
    fn parsed<T>(&self, index: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T>;
    fn opt_parsed<T>(
        &self,
        index: usize,
        parse: fn(&str) -> Option<T>,
    ) -> rusqlite::Result<Option<T>>;
}

fn bad_text(index: usize, text: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        format!("unexpected value {text:?}").into(),
    )
}

impl RowExt for Row<'_> {
    fn id<T: From<Id>>(&self, index: usize) -> rusqlite::Result<T> {
        self.get::<_, Id>(index).map(T::from)
    }
    fn opt_id<T: From<Id>>(&self, index: usize) -> rusqlite::Result<Option<T>> {
        Ok(self.get::<_, Option<Id>>(index)?.map(T::from))
    }
    fn at(&self, index: usize) -> rusqlite::Result<DateTime<Utc>> {
        self.get::<_, i64>(index).map(instant)
    }
    fn opt_at(&self, index: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
        Ok(self.get::<_, Option<i64>>(index)?.map(instant))
    }
    fn actor(&self, index: usize) -> rusqlite::Result<Actor> {
        actor_of(self.get_ref(index)?, index)?.ok_or_else(|| bad_text(index, "NULL"))
    }
    fn opt_actor(&self, index: usize) -> rusqlite::Result<Option<Actor>> {
        actor_of(self.get_ref(index)?, index)
    }
    fn parsed<T>(&self, index: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
        let text = self.get_ref(index)?.as_str()?;
        parse(text).ok_or_else(|| bad_text(index, text))
    }
    fn opt_parsed<T>(
        &self,
        index: usize,
        parse: fn(&str) -> Option<T>,
    ) -> rusqlite::Result<Option<T>> {
        match self.get_ref(index)?.as_str_or_null()? {
            None => Ok(None),
            Some(text) => parse(text).map(Some).ok_or_else(|| bad_text(index, text)),
        }
    }
}

/// How a writer connection is tuned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// Serving: WAL, `synchronous=OFF` (a commit is atomic and survives a process crash;
    /// an OS crash or power loss while open discards the files, see [`crate::marker`]),
    /// readers alongside.
    Live,
    /// Building a fresh file nobody reads: no journal, no fsync until the end.
    Bulk,
}

/// Opens a writer connection with the settings of `mode`.
pub(crate) fn open_writer(path: &Path, mode: WriteMode) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    match mode {
        WriteMode::Live => conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA secure_delete = ON;
             PRAGMA synchronous = OFF;
             PRAGMA wal_autocheckpoint = 20000;
             PRAGMA journal_size_limit = 134217728;
             PRAGMA cache_size = -16000;
             PRAGMA temp_store = MEMORY;",
        )?,
        WriteMode::Bulk => conn.execute_batch(
            "PRAGMA page_size = 16384;
             PRAGMA secure_delete = ON;
             PRAGMA journal_mode = OFF;
             PRAGMA synchronous = OFF;
             PRAGMA locking_mode = EXCLUSIVE;
             PRAGMA cache_size = -32768;
             PRAGMA threads = 2;
             PRAGMA temp_store = MEMORY;",
        )?,
    }
    if mode == WriteMode::Live {
        conn.busy_timeout(LIVE_BUSY_TIMEOUT)?;
    }
    Ok(conn)
}

/// How long a live writer waits for a lock (a checkpoint at close waits this long for
/// readers still using the WAL).
pub(crate) const LIVE_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens a read-only connection.
pub(crate) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.execute_batch(
        "PRAGMA cache_size = -8000;
         PRAGMA temp_store = MEMORY;
         PRAGMA busy_timeout = 5000;
         PRAGMA query_only = ON;",
    )?;
    Ok(conn)
}

/// Reads an integer from `meta`.
pub(crate) fn meta_int(conn: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |row| row.get::<_, i64>(0))
        .optional()
}

/// Reads a text value from `meta`.
pub(crate) fn meta_text(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |row| row.get::<_, String>(0))
        .optional()
}

/// Writes a value into `meta`.
pub(crate) fn set_meta(conn: &Connection, key: &str, value: impl ToSql) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
        .execute(rusqlite::params![key, value])?;
    Ok(())
}

/// Removes a database's `-wal`, `-shm` and `-journal` companions.
pub(crate) fn remove_companions(path: &Path) -> std::io::Result<()> {
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        match std::fs::remove_file(&companion) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    Ok(())
}

/// Removes a database and its companions.
pub(crate) fn remove_database(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    remove_companions(path)
}

/// fsyncs a file and its directory.
pub(crate) fn sync_file_and_dir(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Serializes a value as JSON text for a column.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|error| {
        unreachable!("projection values are plain data and always serialize: {error}")
    })
}

/// Reads a JSON text column.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<T> {
    let text = row.get_ref(index)?.as_str()?;
    serde_json::from_str(text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}
