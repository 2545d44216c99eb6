-- Query indexes of abandon_audit; every listing is ordered by (at, position).
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at);
CREATE INDEX IF NOT EXISTS audit_by_pool ON audit (pool_id, at);
CREATE INDEX IF NOT EXISTS audit_by_from ON audit (from_user, at);
CREATE INDEX IF NOT EXISTS audit_by_reason ON audit (reason, at) WHERE reason IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_by_rule ON audit (rule, at) WHERE rule IS NOT NULL;
