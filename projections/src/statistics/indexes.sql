-- Query indexes of statistics.
CREATE INDEX IF NOT EXISTS daily_by_pool ON daily (pool_id, day);
CREATE INDEX IF NOT EXISTS daily_by_user ON daily (user_id, day);
