-- Indexes of ownership_history (created after a bulk load, whose fold keeps every open
-- period in memory). A customer's periods; the live fold reads the open one through it.
CREATE INDEX IF NOT EXISTS periods_by_customer ON periods (customer_id, from_position);
-- A user's holdings as of an instant or a position.
CREATE INDEX IF NOT EXISTS periods_by_owner ON periods (user_id, customer_id, from_at, to_at, from_position, to_position) WHERE state = 'owned';
