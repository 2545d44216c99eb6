-- One schema for every organization's log; `organization` is the distribution key.
CREATE TABLE log_heads (
    organization     text PRIMARY KEY,
    head             bigint NOT NULL DEFAULT 0,
    last_hash        bytea NOT NULL,
    epoch            bigint NOT NULL DEFAULT 0,
    holder           text,
    lease_expires_at timestamptz NOT NULL DEFAULT '-infinity'
);

CREATE TABLE events (
    organization   text NOT NULL,
    position       bigint NOT NULL,
    stream_id      text NOT NULL,
    stream_version bigint NOT NULL,
    event_id       uuid NOT NULL,
    event_type     text NOT NULL,
    schema_version bigint NOT NULL,
    payload        text NOT NULL,
    command_id     uuid NOT NULL,
    correlation_id uuid NOT NULL,
    causation_id   uuid,
    actor          text NOT NULL,
    recorded_at    timestamptz NOT NULL,
    epoch          bigint NOT NULL,
    hash           bytea NOT NULL,
    PRIMARY KEY (organization, position),
    UNIQUE (organization, stream_id, stream_version)
);

CREATE INDEX events_by_type ON events (organization, event_type, position);

CREATE TABLE commands (
    organization   text NOT NULL,
    command_id     uuid NOT NULL,
    first_position bigint NOT NULL,
    last_position  bigint NOT NULL,
    PRIMARY KEY (organization, command_id)
);
