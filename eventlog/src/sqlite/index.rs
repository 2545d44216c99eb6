//! The lazy indexes: which positions each command wrote (idempotency) and
//! which event holds each stream version (stream reads).
//!
//! Every event row carries its stream, version and command id, so the `events`
//! table alone is the truth; `commands` and `stream_events` are indexes over it.
//! Maintaining them row by row would dirty one random B-tree leaf per event for
//! each (streams and command ids are scattered), the costliest pages of a group
//! commit. Instead the writer keeps recently committed entries in memory
//! ([`RecentIndex`]) and moves them to the tables later, sorted, in a few short
//! transactions between groups, where many entries share a leaf. The `meta` row
//! `indexed_below` is the position below which every event is in the tables; on
//! open the writer re-reads the events from there, so a crash loses nothing.
//! Lookups consult memory first, then the tables: the writer forgets entries
//! only after the transaction that stored them committed, so a reader always
//! finds an entry in one or the other.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension};
use uuid::Uuid;

use super::rows::{self, sql_int};
use crate::error::EventLogError;
use crate::types::{Position, StreamVersion};

/// The first and last position a command wrote.
pub(crate) type Range = (Position, Position);

/// The `meta` key of the position below which every event is indexed.
const INDEXED_BELOW: &str = "indexed_below";

/// Transactions one indexing cycle is split into, so no single one stalls
/// the groups behind it for long.
const CHUNKS: usize = 16;

/// Committed entries not yet (known to be) in the index tables.
#[derive(Debug, Default)]
struct Recent {
    commands: HashMap<Uuid, Range>,
    /// Per stream, (version, position) in ascending order.
    streams: HashMap<String, Vec<(StreamVersion, Position)>>,
    /// Stream entries in `streams`.
    stream_entries: usize,
}

/// The recent, in-memory part of the indexes. Shared by the writer, which
/// alone changes it, and the readers.
#[derive(Debug, Default)]
pub(crate) struct RecentIndex {
    recent: Mutex<Recent>,
}

impl RecentIndex {
    fn lock(&self) -> MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Entries waiting to be indexed.
    fn len(&self) -> usize {
        let recent = self.lock();
        recent.commands.len().max(recent.stream_entries)
    }

    /// Adds committed entries: commands, and (stream, version, position).
    pub(crate) fn add(
        &self,
        commands: impl IntoIterator<Item = (Uuid, Range)>,
        streams: impl IntoIterator<Item = (String, StreamVersion, Position)>,
    ) {
        let mut recent = self.lock();
        recent.commands.extend(commands);
        for (stream, version, position) in streams {
            recent.stream_entries += 1;
            recent
                .streams
                .entry(stream)
                .or_default()
                .push((version, position));
        }
    }

    fn command(&self, id: &Uuid) -> Option<Range> {
        self.lock().commands.get(id).copied()
    }

    /// The (version, position) entries of `stream` from `from_version` on.
    fn stream_from(
        &self,
        stream: &str,
        from_version: StreamVersion,
    ) -> Vec<(StreamVersion, Position)> {
        self.lock()
            .streams
            .get(stream)
            .map_or_else(Vec::new, |entries| {
                entries
                    .iter()
                    .filter(|(v, _)| *v >= from_version)
                    .copied()
                    .collect()
            })
    }

    /// Forgets entries now stored in the tables.
    fn forget(&self, chunk: &Chunk) {
        let mut recent = self.lock();
        for (id, _) in &chunk.commands {
            recent.commands.remove(id);
        }
        // The chunk is sorted, and holds every snapshot entry of a stream
        // between its first and last version there: drop that span per stream.
        for run in chunk.streams.chunk_by(|a, b| a.0 == b.0) {
            let (stream, low, high) = (&run[0].0, run[0].1, run[run.len() - 1].1);
            if let Some(entries) = recent.streams.get_mut(stream) {
                let before = entries.len();
                entries.retain(|(v, _)| *v < low || *v > high);
                let removed = before - entries.len();
                if entries.is_empty() {
                    recent.streams.remove(stream);
                }
                recent.stream_entries -= removed;
            }
        }
    }
}

/// The range of a command: recent ones first, then the `commands` table.
pub(crate) fn command_range(
    recent: &RecentIndex,
    conn: &Connection,
    id: &Uuid,
) -> Result<Option<Range>, EventLogError> {
    if let Some(range) = recent.command(id) {
        return Ok(Some(range));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT first_position, last_position FROM commands WHERE command_id = ?1",
    )?;
    let range: Option<(i64, i64)> = stmt
        .query_row([&id.as_bytes()[..]], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(range.map(|(first, last)| (first as u64, last as u64)))
}

/// The positions of `stream`'s events from `from_version` on, in version
/// order, at most `max`: recent ones first, then the `stream_events` table.
pub(crate) fn stream_positions(
    recent: &RecentIndex,
    conn: &Connection,
    stream: &str,
    from_version: StreamVersion,
    max: usize,
) -> Result<Vec<Position>, EventLogError> {
    let mut entries = recent.stream_from(stream, from_version);
    let mut stmt = conn.prepare_cached(
        "SELECT stream_version, position FROM stream_events \
         WHERE stream_id = ?1 AND stream_version >= ?2 ORDER BY stream_version LIMIT ?3",
    )?;
    let mut rows = stmt.query(rusqlite::params![
        stream,
        sql_int(from_version),
        rows::sql_limit(max)
    ])?;
    while let Some(row) = rows.next()? {
        let version: i64 = row.get(0)?;
        let position: i64 = row.get(1)?;
        entries.push((version as u64, position as u64));
    }
    // An entry indexed while this ran is in both; versions are unique.
    entries.sort_unstable();
    entries.dedup_by_key(|(v, _)| *v);
    entries.truncate(max);
    Ok(entries.into_iter().map(|(_, p)| p).collect())
}

/// The current version of `stream`, or `None` before its first event.
pub(crate) fn stream_version(
    recent: &RecentIndex,
    conn: &Connection,
    stream: &str,
) -> Result<Option<StreamVersion>, EventLogError> {
    let in_memory = recent
        .lock()
        .streams
        .get(stream)
        .and_then(|entries| entries.iter().map(|(v, _)| *v).max());
    let mut stmt =
        conn.prepare_cached("SELECT max(stream_version) FROM stream_events WHERE stream_id = ?1")?;
    let stored: Option<i64> = stmt.query_row([stream], |r| r.get(0))?;
    Ok(in_memory.max(stored.map(|v| v as u64)))
}

/// Rebuilds the recent entries from the log (at open, on the write connection).
pub(crate) fn recover(conn: &Connection, recent: &RecentIndex) -> Result<(), EventLogError> {
    let below: i64 = conn.query_row(
        "SELECT value FROM meta WHERE key = ?1",
        [INDEXED_BELOW],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(
        "SELECT position, stream_id, stream_version, command_id FROM events \
         WHERE position >= ?1 ORDER BY position",
    )?;
    let mut rows = stmt.query([below])?;
    let mut commands: Vec<(Uuid, Range)> = Vec::new();
    let mut streams = Vec::new();
    while let Some(row) = rows.next()? {
        let position = rows::unsigned(row, 0, 0)?;
        let stream = rows::text(row, 1, position)?.to_owned();
        let version = rows::unsigned(row, 2, position)?;
        let id = rows::uuid(row, 3, position)?;
        streams.push((stream, version, position));
        match commands.last_mut() {
            // A command's events are contiguous, and a command is written once.
            Some((last, range)) if *last == id => range.1 = position,
            _ => commands.push((id, (position, position))),
        }
    }
    recent.add(commands, streams);
    Ok(())
}

/// Entries written to the tables in one transaction.
#[derive(Debug, Default)]
struct Chunk {
    commands: Vec<(Uuid, Range)>,
    streams: Vec<(String, StreamVersion, Position)>,
}

/// An indexing cycle in progress: every entry below `below`, sorted, is
/// written in [`CHUNKS`] contiguous slices, one per [`Cycle::step`].
#[derive(Debug)]
pub(crate) struct Cycle {
    below: Position,
    commands: Vec<(Uuid, Range)>,
    streams: Vec<(String, StreamVersion, Position)>,
    next: usize,
}

impl Cycle {
    /// A cycle when enough entries wait: over every entry below `below`.
    pub(crate) fn start_if_due(
        recent: &RecentIndex,
        after: usize,
        below: Position,
    ) -> Option<Self> {
        if recent.len() < after {
            return None;
        }
        let guard = recent.lock();
        let mut commands: Vec<(Uuid, Range)> = guard
            .commands
            .iter()
            .filter(|(_, (first, _))| *first < below)
            .map(|(id, range)| (*id, *range))
            .collect();
        let mut streams: Vec<(String, StreamVersion, Position)> = guard
            .streams
            .iter()
            .flat_map(|(stream, entries)| {
                entries
                    .iter()
                    .filter(|(_, p)| *p < below)
                    .map(|(v, p)| (stream.clone(), *v, *p))
            })
            .collect();
        drop(guard);
        commands.sort_unstable_by_key(|(id, _)| *id);
        streams.sort_unstable();
        Some(Self {
            below,
            commands,
            streams,
            next: 0,
        })
    }

    /// Writes the next slice in its own transaction (recording the new bound
    /// with the last), then forgets it in memory. True when the cycle is
    /// complete. On error the slice stays in memory and the cycle should be
    /// dropped; a later one writes it again.
    pub(crate) fn step(
        &mut self,
        conn: &Connection,
        recent: &RecentIndex,
    ) -> Result<bool, EventLogError> {
        let i = self.next;
        let slice = |len: usize| (len * i / CHUNKS)..(len * (i + 1) / CHUNKS);
        let chunk = Chunk {
            commands: self.commands[slice(self.commands.len())].to_vec(),
            streams: self.streams[slice(self.streams.len())].to_vec(),
        };
        let last = i + 1 == CHUNKS;
        let result = write_chunk(conn, &chunk, last.then_some(self.below));
        if result.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        result?;
        recent.forget(&chunk);
        self.next += 1;
        Ok(last)
    }
}

fn write_chunk(
    conn: &Connection,
    chunk: &Chunk,
    indexed_below: Option<Position>,
) -> Result<(), EventLogError> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    {
        let mut insert = conn.prepare_cached(
            "INSERT INTO commands (command_id, first_position, last_position) \
             VALUES (?1, ?2, ?3) ON CONFLICT (command_id) DO NOTHING",
        )?;
        for (id, (first, last)) in &chunk.commands {
            insert.execute(rusqlite::params![
                &id.as_bytes()[..],
                sql_int(*first),
                sql_int(*last)
            ])?;
        }
        let mut insert = conn.prepare_cached(
            "INSERT INTO stream_events (stream_id, stream_version, position) \
             VALUES (?1, ?2, ?3) ON CONFLICT (stream_id, stream_version) DO NOTHING",
        )?;
        for (stream, version, position) in &chunk.streams {
            insert.execute(rusqlite::params![
                stream,
                sql_int(*version),
                sql_int(*position)
            ])?;
        }
    }
    if let Some(below) = indexed_below {
        conn.prepare_cached("UPDATE meta SET value = ?2 WHERE key = ?1")?
            .execute(rusqlite::params![INDEXED_BELOW, sql_int(below)])?;
    }
    conn.prepare_cached("COMMIT")?.execute([])?;
    Ok(())
}
