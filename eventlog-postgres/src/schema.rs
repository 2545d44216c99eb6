//! The schema and its versioned migrations (`migrations/*.sql`).
//!
//! [`migrate`] runs on connect, in one transaction that first takes a
//! transaction-level advisory lock, so two nodes migrating at once apply each
//! migration exactly once (the second waits, then finds nothing to do). The
//! lock is released at commit; it guards only the migration, never appends.

use poolkeeper_eventlog::EventLogError;
use tokio_postgres::Client;

use crate::rows::backend;

/// The migrations in order; `MIGRATIONS[i]` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_log.sql"),
    include_str!("migrations/0002_advance_head.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The advisory lock key serializing migrations ("poolkeep" in ASCII).
const MIGRATION_LOCK: i64 = 0x706f_6f6c_6b65_6570;

/// Applies the pending migrations. Fails with
/// [`SchemaTooNew`](EventLogError::SchemaTooNew) when a newer build migrated
/// the database, changing nothing.
pub async fn migrate(client: &mut Client) -> Result<(), EventLogError> {
    let tx = client.transaction().await.map_err(backend)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(backend)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS log_schema (version integer PRIMARY KEY, \
         applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(backend)?;
    let row = tx
        .query_one("SELECT coalesce(max(version), 0) FROM log_schema", &[])
        .await
        .map_err(backend)?;
    let found = u32::try_from(row.get::<_, i32>(0)).unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(EventLogError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (version, sql) in (1..).zip(MIGRATIONS).skip(found as usize) {
        tx.batch_execute(sql).await.map_err(backend)?;
        tx.execute("INSERT INTO log_schema (version) VALUES ($1)", &[&version])
            .await
            .map_err(backend)?;
    }
    tx.commit().await.map_err(backend)
}
