-- owner_view: who may read which customer outside the pools: owners, their superiors
-- (recursively), related persons (former owners of reclaimed customers) and departments
-- a customer was shared with.

CREATE TABLE IF NOT EXISTS users (
    user_id    BLOB    PRIMARY KEY,
    name       TEXT    NOT NULL,
    superior   BLOB,
    department TEXT,
    admin      INTEGER NOT NULL,
    active     INTEGER NOT NULL,
    version    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS customers (
    customer_id   BLOB    PRIMARY KEY,
    pool_id       BLOB    NOT NULL,
    name          TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    owner         BLOB,
    owned_since   INTEGER,
    created_by    BLOB    NOT NULL,
    version       INTEGER NOT NULL,
    last_position INTEGER NOT NULL,
    changed_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Related persons (相关人): kept for good, as in the write model.
CREATE TABLE IF NOT EXISTS related (
    user_id        BLOB    NOT NULL,
    customer_id    BLOB    NOT NULL,
    since_at       INTEGER NOT NULL,
    since_position INTEGER NOT NULL,
    PRIMARY KEY (user_id, customer_id)
) STRICT, WITHOUT ROWID;

-- Department shares (客户共享).
CREATE TABLE IF NOT EXISTS shares (
    department     TEXT    NOT NULL,
    customer_id    BLOB    NOT NULL,
    since_at       INTEGER NOT NULL,
    since_position INTEGER NOT NULL,
    PRIMARY KEY (department, customer_id)
) STRICT, WITHOUT ROWID;
