-- pool_view: one row per pool and one per customer, by ownership state.
-- Ids are 16-byte blobs, instants microseconds since the Unix epoch; an actor is a user's
-- 16-byte id, or `system` / `rule:<name>` as text.

CREATE TABLE IF NOT EXISTS pools (
    pool_id       BLOB    PRIMARY KEY,
    name          TEXT    NOT NULL,
    mode          TEXT    NOT NULL,
    is_default    INTEGER NOT NULL,
    everyone      INTEGER NOT NULL,
    admins        TEXT    NOT NULL,  -- JSON array of user ids
    members       TEXT    NOT NULL,  -- JSON array of user ids
    rules         TEXT    NOT NULL,  -- JSON PoolRules
    rules_since   TEXT    NOT NULL,  -- JSON: rule -> instant it is in force from
    rules_version INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    changed_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS customers (
    customer_id      BLOB    PRIMARY KEY,
    pool_id          BLOB    NOT NULL,
    state            TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    source           TEXT,
    fields           TEXT    NOT NULL,  -- JSON object
    created_by       BLOB    NOT NULL,
    created_at       INTEGER NOT NULL,
    version          INTEGER NOT NULL,  -- events on the customer's stream
    last_position    INTEGER NOT NULL,
    changed_at       INTEGER NOT NULL,  -- instant of the customer's last event
    -- pending
    applicant        BLOB,
    pending_since    INTEGER,
    -- owned: the facts the reclaim rules look at
    owner            BLOB,
    owned_since      INTEGER,
    protection_start INTEGER,
    protection_set   INTEGER,           -- an explicit end (assignment window, extension)
    last_contact_at  INTEGER,
    won_at           INTEGER,
    reminded_for     INTEGER,           -- the deadline the owner was last reminded of
    -- owned: derived from the pool's rules (recomputed when they change)
    protection_end   INTEGER,           -- protection_set in any pool, else the rule's default end
    deadline_at      INTEGER,
    deadline_rule    TEXT,
    deadline_days    INTEGER,
    reminder_at      INTEGER,
    -- the last abandon and the last reclaim
    abandon_reason   TEXT,
    abandoned_by     BLOB,
    abandoned_at     INTEGER,
    reclaimed_from   BLOB,
    reclaimed_by     ANY,  
    reclaim_reason   TEXT,
    reclaimed_at     INTEGER,
    -- frozen, deleted (actors: a user's 16-byte id, or `system` or `rule:<name>` as text)
    frozen_by        ANY,  
    frozen_reason    TEXT,
    frozen_at        INTEGER,
    deleted_by       ANY,  
    deleted_at       INTEGER
) STRICT, WITHOUT ROWID;
