-- Migration 1: the append-only events table and the command index.
-- Applied by src/sqlite/schema.rs inside a transaction; PRAGMA user_version records it.

-- One row per event. `position` is the rowid: 1-based, gapless, assigned by the writer.
-- Uuids are 16-byte big-endian blobs, `recorded_at` is microseconds since the Unix epoch,
-- `hash` is the 32-byte SHA-256 chain value (see README.md).
CREATE TABLE events (
    position       INTEGER PRIMARY KEY,
    stream_id      TEXT    NOT NULL,
    stream_version INTEGER NOT NULL,
    event_id       BLOB    NOT NULL,
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    payload        TEXT    NOT NULL,
    command_id     BLOB    NOT NULL,
    correlation_id BLOB    NOT NULL,
    causation_id   BLOB,
    actor          TEXT    NOT NULL,
    recorded_at    INTEGER NOT NULL,
    hash           BLOB    NOT NULL,
    CHECK (position >= 1 AND stream_version >= 1 AND schema_version >= 1),
    CHECK (length(event_id) = 16 AND length(command_id) = 16 AND length(correlation_id) = 16),
    CHECK (causation_id IS NULL OR length(causation_id) = 16),
    CHECK (length(hash) = 32)
) STRICT;

-- Reads of one stream, the current version of a stream, and the per-stream uniqueness.
CREATE UNIQUE INDEX events_by_stream ON events (stream_id, stream_version);

-- Reads by event type in log order.
CREATE INDEX events_by_type ON events (event_type, position);

-- Idempotency: one row per appended command, pointing at its contiguous position range.
CREATE TABLE commands (
    command_id     BLOB    PRIMARY KEY,
    first_position INTEGER NOT NULL,
    last_position  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The log is append-only: rows can be neither changed nor removed.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE is forbidden');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE is forbidden');
END;

CREATE TRIGGER commands_no_update BEFORE UPDATE ON commands
BEGIN
    SELECT RAISE(ABORT, 'commands are append-only: UPDATE is forbidden');
END;

CREATE TRIGGER commands_no_delete BEFORE DELETE ON commands
BEGIN
    SELECT RAISE(ABORT, 'commands are append-only: DELETE is forbidden');
END;
