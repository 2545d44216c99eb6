//! poolkeeper eventlog (placeholder until its issue lands).
