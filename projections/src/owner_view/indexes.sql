-- Query indexes of owner_view.
CREATE INDEX IF NOT EXISTS customers_by_owner ON customers (owner, changed_at, customer_id) WHERE owner IS NOT NULL;
CREATE INDEX IF NOT EXISTS users_by_superior ON users (superior) WHERE superior IS NOT NULL;
CREATE INDEX IF NOT EXISTS related_by_time ON related (user_id, since_position);
CREATE INDEX IF NOT EXISTS shares_by_time ON shares (department, since_position);
