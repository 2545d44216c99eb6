//! `projections-bench` (being written).
fn main() {}
