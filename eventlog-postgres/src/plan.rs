//! What one group commit writes, decided in memory: each request checked
//! against the streams' versions and the stored and pending command ids, then
//! given positions, stream versions and chained hashes. No I/O: the writer
//! loads the inputs under the head row's lock and writes the [`Plan`]'s rows.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use poolkeeper_eventlog::hash::{CanonicalEvent, chain_hash};
use poolkeeper_eventlog::{
    AppendOutcome, AppendRequest, EventLogError, Position, StreamId, StreamVersion,
};
use uuid::Uuid;

use crate::rows::sql_int;

/// The `events` rows of a group, one vector per column (for `unnest`).
#[derive(Default)]
pub(crate) struct EventRows<'a> {
    pub positions: Vec<i64>,
    pub stream_ids: Vec<&'a str>,
    pub versions: Vec<i64>,
    pub event_ids: Vec<Uuid>,
    pub event_types: Vec<&'a str>,
    pub schema_versions: Vec<i64>,
    pub payloads: Vec<&'a str>,
    pub command_ids: Vec<Uuid>,
    pub correlation_ids: Vec<Uuid>,
    pub causation_ids: Vec<Option<Uuid>>,
    pub actors: Vec<&'a str>,
    pub recorded_at: Vec<DateTime<Utc>>,
    pub hashes: Vec<Vec<u8>>,
}

/// The `commands` rows of a group, one vector per column.
#[derive(Default)]
pub(crate) struct CommandRows {
    pub command_ids: Vec<Uuid>,
    pub first_positions: Vec<i64>,
    pub last_positions: Vec<i64>,
}

/// A group being planned: the log's head and the rows written so far.
pub(crate) struct Plan<'a> {
    /// The last position and hash, including the rows planned so far.
    pub head: Position,
    pub last_hash: [u8; 32],
    /// Current versions of the streams the group touches (absent: no events).
    versions: HashMap<&'a str, StreamVersion>,
    /// Outcomes of stored commands and of commands earlier in the group.
    outcomes: HashMap<Uuid, AppendOutcome>,
    pub events: EventRows<'a>,
    pub commands: CommandRows,
}

impl<'a> Plan<'a> {
    /// A plan starting at the locked head, with the stored streams' versions and
    /// the stored outcomes of the group's command ids.
    pub(crate) fn new(
        head: Position,
        last_hash: [u8; 32],
        versions: HashMap<&'a str, StreamVersion>,
        outcomes: HashMap<Uuid, AppendOutcome>,
    ) -> Self {
        Self {
            head,
            last_hash,
            versions,
            outcomes,
            events: EventRows::default(),
            commands: CommandRows::default(),
        }
    }

    /// Plans one request: versions are checked first (a retried command gets
    /// its first outcome rather than a conflict), then the command id, then its
    /// events are given positions and hashes.
    pub(crate) fn apply(
        &mut self,
        request: &'a AppendRequest,
    ) -> Result<AppendOutcome, EventLogError> {
        if let Err(conflict) = self.check_versions(request) {
            return self.duplicate(&request.command_id).ok_or(conflict);
        }
        if let Some(first) = self.duplicate(&request.command_id) {
            return Ok(first);
        }
        let first_position = self.head + 1;
        let mut stream_versions = Vec::with_capacity(request.streams.len());
        for s in &request.streams {
            let version = self.append_stream(request, s);
            stream_versions.push((s.stream_id.clone(), version));
        }
        let outcome = AppendOutcome {
            first_position,
            last_position: self.head,
            stream_versions,
            duplicate: false,
        };
        self.commands.command_ids.push(request.command_id);
        self.commands.first_positions.push(sql_int(first_position));
        self.commands.last_positions.push(sql_int(self.head));
        self.outcomes.insert(request.command_id, outcome.clone());
        Ok(outcome)
    }

    /// The versions of the streams planned so far (absent: no events).
    pub(crate) fn versions(&self) -> &HashMap<&'a str, StreamVersion> {
        &self.versions
    }

    /// True when the plan writes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.events.positions.is_empty()
    }

    fn check_versions(&self, request: &AppendRequest) -> Result<(), EventLogError> {
        for s in &request.streams {
            let actual = self.versions.get(s.stream_id.as_str()).copied();
            if !s.expected.matches(actual) {
                return Err(EventLogError::WrongExpectedVersion {
                    stream: s.stream_id.clone(),
                    expected: s.expected,
                    actual,
                });
            }
        }
        Ok(())
    }

    fn duplicate(&self, command_id: &Uuid) -> Option<AppendOutcome> {
        self.outcomes.get(command_id).map(|first| AppendOutcome {
            duplicate: true,
            ..first.clone()
        })
    }

    /// Plans one stream's events; returns the stream's new version.
    fn append_stream(
        &mut self,
        request: &'a AppendRequest,
        s: &'a poolkeeper_eventlog::StreamAppend,
    ) -> StreamVersion {
        let micros = request.recorded_at.timestamp_micros();
        let recorded_at = DateTime::from_timestamp_micros(micros).unwrap_or(request.recorded_at);
        let mut version = self
            .versions
            .get(s.stream_id.as_str())
            .copied()
            .unwrap_or(0);
        for e in &s.events {
            version += 1;
            self.head += 1;
            self.last_hash = chain_hash(
                &self.last_hash,
                &CanonicalEvent::appended(request, &s.stream_id, e, self.head, version, micros),
            );
            let rows = &mut self.events;
            rows.positions.push(sql_int(self.head));
            rows.stream_ids.push(s.stream_id.as_str());
            rows.versions.push(sql_int(version));
            rows.event_ids.push(e.event_id);
            rows.event_types.push(&e.event_type);
            rows.schema_versions.push(i64::from(e.schema_version));
            rows.payloads.push(&e.payload);
            rows.command_ids.push(request.command_id);
            rows.correlation_ids.push(request.correlation_id);
            rows.causation_ids.push(request.causation_id);
            rows.actors.push(&request.actor);
            rows.recorded_at.push(recorded_at);
            rows.hashes.push(self.last_hash.to_vec());
        }
        self.versions.insert(s.stream_id.as_str(), version);
        version
    }
}

/// The distinct streams a group touches.
pub(crate) fn streams_of<'a>(requests: impl Iterator<Item = &'a AppendRequest>) -> Vec<&'a str> {
    let mut streams: Vec<&str> = requests
        .flat_map(|r| r.streams.iter().map(|s| s.stream_id.as_str()))
        .collect();
    streams.sort_unstable();
    streams.dedup();
    streams
}

/// Used by the writer to name streams of stored outcomes.
pub(crate) fn stream_id(stored: String, position: Position) -> Result<StreamId, EventLogError> {
    StreamId::new(stored).map_err(|_| crate::rows::corrupt(position, "bad stream id"))
}
