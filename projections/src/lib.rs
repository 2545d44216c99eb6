//! poolkeeper projections (placeholder until its issue lands).
