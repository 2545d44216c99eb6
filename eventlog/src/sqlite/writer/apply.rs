//! How the writer applies one request inside the open group: its expected versions
//! checked, a duplicate command answered with the first outcome, then its rows written
//! and chained.

use chrono::DateTime;
use uuid::Uuid;

use super::Writer;
use crate::error::EventLogError;
use crate::hash::{CanonicalEvent, chain_hash};
use crate::sqlite::index;
use crate::sqlite::rows::{self, INSERT_EVENT, sql_int};
use crate::types::{
    AppendOutcome, AppendRequest, EventMetadata, RecordedEvent, StreamId, StreamVersion,
};

impl Writer {
    /// The current version of a stream, from the cache or the database.
    pub(super) fn current_version(
        &mut self,
        stream: &StreamId,
    ) -> Result<Option<StreamVersion>, EventLogError> {
        if let Some(v) = self.versions.get(stream.as_str()) {
            return Ok(Some(*v));
        }
        let v = index::stream_version(&self.recent, &self.conn, stream.as_str())?;
        if let Some(v) = v {
            self.remember_version(stream, v);
        }
        Ok(v)
    }

    fn remember_version(&mut self, stream: &StreamId, version: StreamVersion) {
        if let Some(v) = self.versions.get_mut(stream.as_str()) {
            *v = version;
            return;
        }
        self.versions.insert(stream.as_str().to_owned(), version);
    }

    /// The stored outcome of a command (committed, or earlier in the open
    /// group), marked as a duplicate.
    pub(super) fn duplicate_of(
        &self,
        command_id: &Uuid,
    ) -> Result<Option<AppendOutcome>, EventLogError> {
        let range = match self.pending_commands.get(command_id) {
            Some(range) => Some(*range),
            None => index::command_range(&self.recent, &self.conn, command_id)?,
        };
        range
            .map(|range| {
                let outcome = rows::outcome_of_range(&self.conn, range)?;
                Ok(AppendOutcome {
                    duplicate: true,
                    ..outcome
                })
            })
            .transpose()
    }

    /// Applies one request inside the open transaction. The outer error is a
    /// storage failure (fails the group); the inner one is this request's.
    ///
    /// Nothing is written before the request is known to succeed: versions are
    /// checked first, then the command id (a duplicate, including one earlier
    /// in this group, returns the first outcome), then the events are written.
    pub(super) fn apply(
        &mut self,
        mut request: AppendRequest,
        mut sink: Option<&mut Vec<RecordedEvent>>,
    ) -> Result<Result<AppendOutcome, EventLogError>, EventLogError> {
        let mut current: Vec<Option<StreamVersion>> = Vec::with_capacity(request.streams.len());
        for s in &request.streams {
            let actual = self.current_version(&s.stream_id)?;
            if !s.expected.matches(actual) {
                // A retried command must get its first outcome, not a conflict.
                if let Some(first) = self.duplicate_of(&request.command_id)? {
                    return Ok(Ok(first));
                }
                return Ok(Err(EventLogError::WrongExpectedVersion {
                    stream: s.stream_id.clone(),
                    expected: s.expected,
                    actual,
                }));
            }
            current.push(actual);
        }

        if let Some(first) = self.duplicate_of(&request.command_id)? {
            return Ok(Ok(first));
        }
        let first_position = self.tail + 1;
        let last_position = self.tail + request.event_count() as u64;
        let command_id = *request.command_id.as_bytes();

        let micros = request.recorded_at.timestamp_micros();
        // What reads will return: the time truncated to whole microseconds.
        let recorded_at = DateTime::from_timestamp_micros(micros).unwrap_or(request.recorded_at);
        let correlation_id = *request.correlation_id.as_bytes();
        let causation_id = request.causation_id.map(|c| *c.as_bytes());
        let mut stream_versions = Vec::with_capacity(request.streams.len());
        let mut insert = self.conn.prepare_cached(INSERT_EVENT)?;
        let streams = std::mem::take(&mut request.streams);
        for (s, actual) in streams.into_iter().zip(current) {
            let mut version = actual.unwrap_or(0);
            for e in s.events {
                version += 1;
                let position = self.tail + 1;
                let hash = chain_hash(
                    &self.last_hash,
                    &CanonicalEvent::appended(
                        &request,
                        &s.stream_id,
                        &e,
                        position,
                        version,
                        micros,
                    ),
                );
                insert.execute(rusqlite::params![
                    sql_int(position),
                    s.stream_id.as_str(),
                    sql_int(version),
                    &e.event_id.as_bytes()[..],
                    e.event_type,
                    e.schema_version,
                    e.payload,
                    &command_id[..],
                    &correlation_id[..],
                    causation_id.as_ref().map(|c| &c[..]),
                    request.actor,
                    micros,
                    &hash[..],
                ])?;
                self.tail = position;
                self.last_hash = hash;
                self.pending_streams
                    .push((s.stream_id.as_str().to_owned(), version, position));
                if let Some(sink) = sink.as_deref_mut() {
                    sink.push(RecordedEvent {
                        position,
                        stream_id: s.stream_id.clone(),
                        stream_version: version,
                        event_id: e.event_id,
                        event_type: e.event_type,
                        schema_version: e.schema_version,
                        payload: e.payload,
                        metadata: EventMetadata {
                            command_id: request.command_id,
                            correlation_id: request.correlation_id,
                            causation_id: request.causation_id,
                            actor: request.actor.clone(),
                            recorded_at,
                        },
                        hash,
                    });
                }
            }
            stream_versions.push((s.stream_id, version));
        }
        drop(insert);
        for (stream, version) in &stream_versions {
            self.remember_version(stream, *version);
        }
        debug_assert_eq!(self.tail, last_position);
        self.pending_commands
            .insert(request.command_id, (first_position, last_position));
        Ok(Ok(AppendOutcome {
            first_position,
            last_position,
            stream_versions,
            duplicate: false,
        }))
    }
}
