//! Upcasters: how a payload stored under an older schema version of an event type becomes
//! the payload of the next version. They are registered beside the event types they
//! upcast, one table per family as the domain's `event` module groups the bodies:
//! [`customers`], [`pools`] (with the organization's) and [`users`].
//!
//! Each is an [`Upcaster`]: the event type, the schema version it starts from, and a
//! function from that version's JSON to the next one's. [`upcasters()`] gathers every
//! table into the log's registry ([`poolkeeper_eventlog::Upcasters`], set as
//! `EventLogConfig::upcasters`), which chains them on every read and never rewrites a
//! stored row, so [`crate::decode`] only sees the versions this build decodes.
//!
//! Every event type is at schema version 1 today, so the tables are empty. To change an
//! event's JSON form: raise its version in the domain's table (`domain/src/event/mod.rs`)
//! and add an `Upcaster` from the old version to its family's table here; the tests check
//! that every chain ends at the version this build decodes.

mod customers;
mod pools;
mod users;

use poolkeeper_eventlog::Upcasters;
use serde_json::Value;

/// One step of schema evolution: `event_type` payloads of `from_version` become payloads
/// of `from_version + 1`.
#[derive(Clone, Copy, Debug)]
pub struct Upcaster {
    /// The event type (`customer.claimed`).
    pub event_type: &'static str,
    /// The schema version it starts from.
    pub from_version: u32,
    /// The conversion; a reason when the payload cannot be converted.
    pub upcast: fn(Value) -> Result<Value, String>,
}

/// Every registered upcaster, family by family.
pub fn registered() -> impl Iterator<Item = &'static Upcaster> {
    customers::UPCASTERS
        .iter()
        .chain(pools::UPCASTERS)
        .chain(users::UPCASTERS)
}

/// The log's registry of every registered upcaster, for `EventLogConfig::upcasters`.
pub fn upcasters() -> Upcasters {
    let mut registry = Upcasters::new();
    for upcaster in registered() {
        registry.register(upcaster.event_type, upcaster.from_version, upcaster.upcast);
    }
    registry
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use poolkeeper_domain::EventBody;

    use super::*;

    /// Checks that each upcaster names an event type this build knows, starts below the
    /// version it decodes, and that each type's upcasters form one chain up to that version.
    fn check<'a>(table: impl IntoIterator<Item = &'a Upcaster>) -> Result<(), String> {
        let mut by_type: BTreeMap<&str, BTreeSet<u32>> = BTreeMap::new();
        for upcaster in table {
            let current = EventBody::schema_version_of(upcaster.event_type)
                .ok_or_else(|| format!("{}: no such event type", upcaster.event_type))?;
            if upcaster.from_version >= current {
                return Err(format!(
                    "{} v{}: this build decodes v{current}",
                    upcaster.event_type, upcaster.from_version
                ));
            }
            if !by_type
                .entry(upcaster.event_type)
                .or_default()
                .insert(upcaster.from_version)
            {
                return Err(format!(
                    "{} v{}: registered twice",
                    upcaster.event_type, upcaster.from_version
                ));
            }
        }
        for (event_type, versions) in by_type {
            let current = EventBody::schema_version_of(event_type).unwrap_or(0);
            let first = versions.first().copied().unwrap_or(current);
            if (first..current).any(|version| !versions.contains(&version)) {
                return Err(format!(
                    "{event_type}: no chain from v{first} to v{current}"
                ));
            }
        }
        Ok(())
    }

    fn identity(payload: Value) -> Result<Value, String> {
        Ok(payload)
    }

    #[test]
    fn registered_upcasters_lead_to_the_versions_this_build_decodes() {
        assert_eq!(check(registered()), Ok(()));
        assert_eq!(upcasters().is_empty(), registered().next().is_none());
    }

    #[test]
    fn a_table_that_cannot_reach_the_decoded_version_is_refused() {
        let unknown = Upcaster {
            event_type: "customer.vanished",
            from_version: 1,
            upcast: identity,
        };
        let current = Upcaster {
            event_type: "customer.claimed",
            from_version: 1,
            upcast: identity,
        };
        assert!(check([&unknown]).is_err());
        assert!(check([&current]).is_err());
        assert_eq!(check(std::iter::empty()), Ok(()));
    }
}
