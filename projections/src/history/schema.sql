-- ownership_history: every customer's state periods, one row each, clustered by customer
-- and the position of the event that began it. Owned periods are the ownership intervals.
-- A period is half-open: it holds from `from_*` (inclusive) until `to_*` (exclusive); the
-- open one has no end.

CREATE TABLE IF NOT EXISTS periods (
    from_position INTEGER NOT NULL,
    customer_id   BLOB    NOT NULL,
    state         TEXT    NOT NULL,  -- in_pool | pending | owned | frozen | deleted
    pool_id       BLOB    NOT NULL,
    user_id       BLOB,              -- the owner when owned, the applicant when pending
    from_at       INTEGER NOT NULL,
    began         TEXT    NOT NULL,  -- created | claimed | assigned | auto_assigned | approved | transferred | restored | moved | ...
    began_by      ANY     NOT NULL,  -- the actor of the beginning event: a user id, or system | rule:<name>
    to_position   INTEGER,
    to_at         INTEGER,
    ended         TEXT,              -- abandoned | reclaimed | auto_reclaimed | transferred | frozen | deleted | deactivation | moved | ...
    ended_by      ANY,               -- the actor of the ending event (rule:<name> for automatic reclaims)
    end_reason    TEXT,
    ended_to      BLOB,              -- a transfer's new owner
    PRIMARY KEY (customer_id, from_position)
) STRICT, WITHOUT ROWID;

-- Users deactivated so far: losses they cause are `deactivation`.
CREATE TABLE IF NOT EXISTS deactivated (
    user_id BLOB PRIMARY KEY
) STRICT, WITHOUT ROWID;

-- Reverted changes: the change at `position` was compensated by the event at
-- `by_position` (customer.change_reverted), which `by_actor` appended for `reason`.
CREATE TABLE IF NOT EXISTS reverts (
    position    INTEGER PRIMARY KEY,
    by_position INTEGER NOT NULL UNIQUE,
    at          INTEGER NOT NULL,
    by_actor    ANY     NOT NULL,
    reason      TEXT    NOT NULL
) STRICT;
