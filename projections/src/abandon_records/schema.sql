-- abandon_audit: one row per abandon (放弃), manual reclaim (收回, including the reclaims
-- of a user's deactivation) and automatic reclaim (自动收回), keyed by log position.

CREATE TABLE IF NOT EXISTS audit (
    position       INTEGER PRIMARY KEY,
    at             INTEGER NOT NULL,
    customer_id    BLOB    NOT NULL,
    pool_id        BLOB    NOT NULL,
    kind           TEXT    NOT NULL,  -- abandoned | reclaimed | deactivation | auto_reclaimed
    from_user      BLOB    NOT NULL,  -- the owner who lost it
    by_actor       ANY     NOT NULL,  -- a user's 16-byte id, or rule:<name> | system
    by_user        BLOB,              -- the acting user, if a user acted
    rule           TEXT,              -- automatic reclaims: the rule
    reason         TEXT,
    to_pool        BLOB,              -- abandons: where it went
    threshold_days INTEGER,           -- automatic reclaims
    due_at         INTEGER,
    rules_version  INTEGER,
    -- automatic reclaims: the evidence (ReclaimEvidence)
    owned_since     INTEGER,
    last_contact_at INTEGER,
    won_at          INTEGER,
    counted_from    INTEGER,
    protection_until INTEGER,
    -- when the loss was reverted (customer.change_reverted): where, when, by whom, why
    reverted_position INTEGER,
    reverted_at       INTEGER,
    reverted_by       ANY,
    revert_reason     TEXT
) STRICT;

-- Users deactivated so far: their reclaims are `deactivation`.
CREATE TABLE IF NOT EXISTS deactivated (
    user_id BLOB PRIMARY KEY
) STRICT, WITHOUT ROWID;
