//! The read side: a small pool of read-only connections used from
//! `spawn_blocking`, the read queries, `verify` and the export.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, Params};

use super::index::{self, RecentIndex};
use super::rows::{self, EVENT_COLUMNS, corrupt, sql_int, sql_limit};
use super::schema;
use crate::error::EventLogError;
use crate::export::{ExportSummary, write_export_line};
use crate::hash::{CanonicalEvent, GENESIS_HASH, chain_hash};
use crate::types::{BreakReason, ChainBreak, Position, RecordedEvent, VerifyReport};
use crate::upcast::Upcasters;

/// Read connections and what reads need to post-process rows.
pub(crate) struct ReadSide {
    path: PathBuf,
    /// Idle connections; `None` once the store closed (connections are then
    /// dropped after each read, so the writer's is the last one to close).
    idle: Mutex<Option<Vec<Connection>>>,
    /// Idle connections for paging through the log (full reads, catch-ups): without a
    /// memory map, so reading the whole log once (a fold at start) does not leave every
    /// page of it mapped into the process; the kernel's page cache holds them instead.
    /// `None` once the store closed.
    paging: Mutex<Option<Vec<Connection>>>,
    max_idle: usize,
    pub(crate) upcasters: Upcasters,
    pub(crate) page_size: usize,
}

impl ReadSide {
    pub(crate) fn new(
        path: PathBuf,
        max_idle: usize,
        upcasters: Upcasters,
        page_size: usize,
    ) -> Self {
        Self {
            path,
            idle: Mutex::new(Some(Vec::new())),
            paging: Mutex::new(Some(Vec::new())),
            max_idle,
            upcasters,
            page_size: page_size.max(1),
        }
    }

    fn open_connection(&self, mapped: bool) -> Result<Connection, EventLogError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        schema::configure_reader(&conn)?;
        if !mapped {
            conn.pragma_update(None, "mmap_size", 0)?;
        }
        Ok(conn)
    }

    /// Runs `f` on a pooled connection, on the current (blocking) thread.
    pub(crate) fn with_conn<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, EventLogError>,
    ) -> Result<R, EventLogError> {
        self.pooled(&self.idle, true, f)
    }

    /// Runs `f` on a pooled paging connection (no memory map), on the current thread.
    pub(crate) fn with_paging_conn<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, EventLogError>,
    ) -> Result<R, EventLogError> {
        self.pooled(&self.paging, false, f)
    }

    fn pooled<R>(
        &self,
        pool: &Mutex<Option<Vec<Connection>>>,
        mapped: bool,
        f: impl FnOnce(&Connection) -> Result<R, EventLogError>,
    ) -> Result<R, EventLogError> {
        let pooled = pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .and_then(Vec::pop);
        let conn = match pooled {
            Some(c) => c,
            None => self.open_connection(mapped)?,
        };
        let result = f(&conn);
        // A connection left inside a transaction (an error mid-way) is not reused.
        if conn.is_autocommit() {
            let mut idle = pool.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(idle) = idle.as_mut()
                && idle.len() < self.max_idle
            {
                idle.push(conn);
            }
        }
        result
    }

    /// Closes the idle connections and stops pooling: reads still running (a
    /// subscription delivering what was committed) finish on their own
    /// connection, which is closed afterwards.
    pub(crate) fn close(&self) {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(idle);
        let paging = self.paging.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(paging);
    }

    /// Runs `f` on a pooled connection in tokio's blocking pool.
    pub(crate) async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&ReadSide, &Connection) -> Result<R, EventLogError> + Send + 'static,
    ) -> Result<R, EventLogError> {
        let me = Arc::clone(self);
        match tokio::task::spawn_blocking(move || me.with_conn(|c| f(&me, c))).await {
            Ok(r) => r,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(EventLogError::Closed),
        }
    }

    /// Runs a query selecting [`EVENT_COLUMNS`] and returns the upcast events.
    fn query_events<P: Params>(
        &self,
        conn: &Connection,
        sql: &str,
        params: P,
        capacity: usize,
        upcast: bool,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        let mut out = Vec::with_capacity(capacity.min(4096));
        let upcast = upcast && !self.upcasters.is_empty();
        while let Some(row) = rows.next()? {
            let mut event = rows::decode_event(row)?;
            if upcast {
                self.upcasters.apply(&mut event)?;
            }
            out.push(event);
        }
        Ok(out)
    }

    /// Events with position `>= from`, at most `max`, upcast.
    pub(crate) fn read_all(
        &self,
        conn: &Connection,
        from: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.read_all_impl(conn, from, max, true)
    }

    /// Events with position `>= from`, at most `max`, as stored (not upcast).
    pub(crate) fn read_all_stored(
        &self,
        conn: &Connection,
        from: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.read_all_impl(conn, from, max, false)
    }

    fn read_all_impl(
        &self,
        conn: &Connection,
        from: Position,
        max: usize,
        upcast: bool,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE position >= ?1 ORDER BY position LIMIT ?2"
        );
        self.query_events(conn, &sql, (sql_int(from), sql_limit(max)), max, upcast)
    }

    /// Events of one stream with version `>= from`, at most `max`.
    pub(crate) fn read_stream(
        &self,
        conn: &Connection,
        recent: &RecentIndex,
        stream: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let positions = index::stream_positions(recent, conn, stream, from, max)?;
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE position = ?1");
        let mut out = Vec::with_capacity(positions.len());
        for position in positions {
            let found = self.query_events(conn, &sql, [sql_int(position)], 1, true)?;
            let event = found
                .into_iter()
                .next()
                .ok_or_else(|| corrupt(position, "indexed event is missing"))?;
            out.push(event);
        }
        Ok(out)
    }

    /// Events of one type with position `>= from`, at most `max`.
    pub(crate) fn read_by_type(
        &self,
        conn: &Connection,
        event_type: &str,
        from: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE event_type = ?1 AND position >= ?2 \
             ORDER BY position LIMIT ?3"
        );
        self.query_events(
            conn,
            &sql,
            (event_type, sql_int(from), sql_limit(max)),
            max,
            true,
        )
    }

    /// Re-walks the hash chain inside one read transaction (a consistent snapshot).
    pub(crate) fn verify(&self, conn: &Connection) -> Result<VerifyReport, EventLogError> {
        conn.execute_batch("BEGIN")?;
        let result = verify_in_tx(conn);
        // A read transaction has nothing to commit; end it either way.
        conn.execute_batch("COMMIT")?;
        result
    }

    /// Writes every stored row (stored payload, not upcast) as JSON lines, inside
    /// one read transaction.
    pub(crate) fn export<W: Write>(
        &self,
        conn: &Connection,
        out: &mut W,
    ) -> Result<ExportSummary, EventLogError> {
        conn.execute_batch("BEGIN")?;
        let result = (|| {
            let sql = format!("SELECT {EVENT_COLUMNS} FROM events ORDER BY position");
            let mut stmt = conn.prepare(&sql)?;
            let mut rows = stmt.query([])?;
            let mut summary = ExportSummary {
                events: 0,
                tail: 0,
                tail_hash: GENESIS_HASH,
            };
            while let Some(row) = rows.next()? {
                let event = rows::decode_event(row)?;
                write_export_line(out, &event)?;
                summary.events += 1;
                summary.tail = event.position;
                summary.tail_hash = event.hash;
            }
            out.flush()?;
            Ok(summary)
        })();
        conn.execute_batch("COMMIT")?;
        result
    }
}

fn verify_in_tx(conn: &Connection) -> Result<VerifyReport, EventLogError> {
    let (tail, tail_hash) = rows::tail(conn)?;
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events ORDER BY position");
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    let mut prev = GENESIS_HASH;
    let mut expected: Position = 1;
    let mut checked = 0u64;
    let mut first_break = None;
    while let Some(row) = rows.next()? {
        let position = match row.get_ref(0)? {
            rusqlite::types::ValueRef::Integer(p) if p >= 1 => p as u64,
            _ => {
                first_break = Some(ChainBreak {
                    position: expected,
                    reason: BreakReason::Malformed("position is not a positive integer".into()),
                });
                break;
            }
        };
        if position != expected {
            first_break = Some(ChainBreak {
                position: expected,
                reason: BreakReason::Missing {
                    next_stored: position,
                },
            });
            break;
        }
        checked += 1;
        match row_hashes(row, position, &prev) {
            Ok((computed, stored)) if computed == stored => prev = stored,
            Ok(_) => {
                first_break = Some(ChainBreak {
                    position,
                    reason: BreakReason::HashMismatch,
                });
                break;
            }
            Err(EventLogError::Corrupt { reason, .. }) => {
                first_break = Some(ChainBreak {
                    position,
                    reason: BreakReason::Malformed(reason),
                });
                break;
            }
            Err(e) => return Err(e),
        }
        expected += 1;
    }
    Ok(VerifyReport {
        events_checked: checked,
        tail,
        tail_hash,
        first_break,
    })
}

/// The recomputed and the stored hash of one row, without allocating.
fn row_hashes(
    row: &rusqlite::Row<'_>,
    position: Position,
    prev: &[u8; 32],
) -> Result<([u8; 32], [u8; 32]), EventLogError> {
    let causation_id = match row.get_ref(9)? {
        rusqlite::types::ValueRef::Null => None,
        _ => Some(rows::uuid(row, 9, position)?),
    };
    let schema_version = u32::try_from(rows::unsigned(row, 5, position)?)
        .map_err(|_| corrupt(position, "schema_version out of range"))?;
    let canonical = CanonicalEvent {
        position,
        stream_id: rows::text(row, 1, position)?,
        stream_version: rows::unsigned(row, 2, position)?,
        event_id: rows::uuid(row, 3, position)?,
        event_type: rows::text(row, 4, position)?,
        schema_version,
        command_id: rows::uuid(row, 7, position)?,
        correlation_id: rows::uuid(row, 8, position)?,
        causation_id,
        actor: rows::text(row, 10, position)?,
        recorded_at_micros: rows::integer(row, 11, position)?,
        payload: rows::text(row, 6, position)?,
    };
    let stored = match row.get_ref(12)? {
        rusqlite::types::ValueRef::Blob(b) => {
            <[u8; 32]>::try_from(b).map_err(|_| corrupt(position, "hash is not 32 bytes"))?
        }
        _ => return Err(corrupt(position, "hash is not a blob")),
    };
    Ok((chain_hash(prev, &canonical), stored))
}
