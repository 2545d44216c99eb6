-- Migration 2: the command and stream indexes are filled lazily (see
-- src/sqlite/index.rs). Every event whose position is below `indexed_below` is
-- in `stream_events`, and its command in `commands`; the writer keeps later
-- ones in memory and re-reads them from `events` on open. A log migrated from
-- version 1 has everything indexed already.
CREATE TABLE stream_events (
    stream_id      TEXT    NOT NULL,
    stream_version INTEGER NOT NULL,
    position       INTEGER NOT NULL,
    PRIMARY KEY (stream_id, stream_version)
) STRICT, WITHOUT ROWID;

INSERT INTO stream_events (stream_id, stream_version, position)
SELECT stream_id, stream_version, position FROM events;

-- Replaced by `stream_events`, whose entries are written in sorted batches.
DROP INDEX events_by_stream;

CREATE TRIGGER stream_events_no_update BEFORE UPDATE ON stream_events
BEGIN
    SELECT RAISE(ABORT, 'stream_events is append-only: UPDATE is forbidden');
END;

CREATE TRIGGER stream_events_no_delete BEFORE DELETE ON stream_events
BEGIN
    SELECT RAISE(ABORT, 'stream_events is append-only: DELETE is forbidden');
END;

CREATE TABLE meta (
    key   TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO meta (key, value)
SELECT 'indexed_below', IFNULL(MAX(position), 0) + 1 FROM events;
