//! The strings the API returns in place of enums are all documented in the protos, so a
//! client written from `proto/` alone knows every value it can receive.

use poolkeeper_projections::{Cause, LossKind};

const QUERIES: &str = include_str!("../../proto/poolkeeper/v1/queries.proto");

/// The comment lines of `proto` from the line containing `start` up to the next blank line.
fn comment_block(proto: &str, start: &str) -> String {
    proto
        .lines()
        .skip_while(|line| !line.contains(start))
        .take_while(|line| !line.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_cause_a_period_can_have_is_documented() {
    let causes = comment_block(QUERIES, "// Causes:");
    for cause in Cause::all() {
        let name = format!("`{}`", cause.as_str());
        assert!(
            causes.contains(&name),
            "{name} missing from the Causes comment"
        );
    }
    let documented = causes.matches("\n//   `").count();
    assert_eq!(
        documented,
        Cause::all().count(),
        "a documented cause no longer exists"
    );
}

#[test]
fn every_abandon_record_kind_is_documented() {
    let record = comment_block(QUERIES, "// One abandon, return, manual reclaim");
    for kind in LossKind::ALL {
        let name = format!("`{}`", kind.as_str());
        assert!(
            record.contains(&name),
            "{name} missing from AbandonRecord.kind"
        );
    }
}
