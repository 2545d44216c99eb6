-- statistics: counts per pool and per user of each state, and daily activity. Days are
-- the organization's days (UTC shifted by `organization.settings_changed`'s offset in
-- force at the event), numbered from the Unix epoch, as the domain's daily quotas count.

-- Each customer's pool, state and user (owner or applicant): what a change moves from.
CREATE TABLE IF NOT EXISTS customers (
    customer_id BLOB PRIMARY KEY,
    pool_id     BLOB NOT NULL,
    state       TEXT NOT NULL,
    user_id     BLOB
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS pool_states (
    pool_id BLOB    NOT NULL,
    state   TEXT    NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (pool_id, state)
) STRICT, WITHOUT ROWID;

-- Owned customers per owner and applications per applicant, per pool.
CREATE TABLE IF NOT EXISTS user_states (
    user_id BLOB    NOT NULL,
    pool_id BLOB    NOT NULL,
    state   TEXT    NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (user_id, pool_id, state)
) STRICT, WITHOUT ROWID;

-- Activity per organization day, pool and user (the new owner of claims and assignments,
-- the former owner of abandons and reclaims).
CREATE TABLE IF NOT EXISTS daily (
    day           INTEGER NOT NULL,
    pool_id       BLOB    NOT NULL,
    user_id       BLOB    NOT NULL,
    claims        INTEGER NOT NULL,  -- customer.claimed + customer.claim_approved
    assignments   INTEGER NOT NULL,  -- customer.assigned + customer.auto_assigned
    abandons      INTEGER NOT NULL,
    reclaims      INTEGER NOT NULL,  -- manual, deactivations included
    auto_reclaims INTEGER NOT NULL,
    PRIMARY KEY (day, pool_id, user_id)
) STRICT, WITHOUT ROWID;
