-- Query index of ownership_history: a user's holdings as of an instant or a position.
CREATE INDEX IF NOT EXISTS periods_by_owner ON periods (user_id, customer_id, from_at, to_at, from_position, to_position) WHERE state = 'owned';
