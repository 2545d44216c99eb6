//! poolkeeper domain (placeholder until its issue lands).
