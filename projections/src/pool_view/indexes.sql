-- Query indexes of pool_view (created after a bulk load). Every listing pages by the
-- keyset (changed_at, customer_id).
CREATE INDEX IF NOT EXISTS customers_by_state ON customers (pool_id, state, changed_at, customer_id);
CREATE INDEX IF NOT EXISTS customers_by_time ON customers (pool_id, changed_at, customer_id);
CREATE INDEX IF NOT EXISTS customers_by_owner ON customers (pool_id, owner, changed_at, customer_id) WHERE owner IS NOT NULL;
CREATE INDEX IF NOT EXISTS customers_by_name ON customers (pool_id, name);
