//! `eventlog-postgres-bench` (written next).

fn main() {}
