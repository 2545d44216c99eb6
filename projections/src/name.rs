//! The names of the five projections, [`ProjectionName`].

use std::fmt;

/// One of the projections this crate maintains; each lives in `<dir>/<name>.db`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProjectionName {
    /// Customers of each pool by ownership state.
    PoolView,
    /// "My customers", subordinates' customers, related persons and department shares.
    OwnerView,
    /// One row per abandon, manual reclaim and automatic reclaim. Stored as
    /// `abandon_audit`, its name before it was named for what it holds.
    AbandonRecords,
    /// Every customer's state periods and ownership intervals, queryable as of any instant.
    OwnershipHistory,
    /// Counts per pool and user, and daily activity.
    Statistics,
}

impl ProjectionName {
    /// Every projection, in a fixed order (also the order of [`crate::Projections::status`]).
    pub const ALL: [ProjectionName; 5] = [
        ProjectionName::PoolView,
        ProjectionName::OwnerView,
        ProjectionName::AbandonRecords,
        ProjectionName::OwnershipHistory,
        ProjectionName::Statistics,
    ];

    /// The stable snake_case name, also the database file's stem and the `projection`
    /// recorded in its `meta` table: never changed, so existing directories keep opening.
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectionName::PoolView => "pool_view",
            ProjectionName::OwnerView => "owner_view",
            ProjectionName::AbandonRecords => "abandon_audit",
            ProjectionName::OwnershipHistory => "ownership_history",
            ProjectionName::Statistics => "statistics",
        }
    }

    /// Parses a name produced by [`ProjectionName::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The position of this projection in [`ProjectionName::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ProjectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_index_matches_all() {
        for (index, name) in ProjectionName::ALL.into_iter().enumerate() {
            assert_eq!(ProjectionName::parse(name.as_str()), Some(name));
            assert_eq!(name.index(), index);
        }
        assert_eq!(ProjectionName::parse("nope"), None);
    }
}
