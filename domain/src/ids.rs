//! Typed identifiers: customers, pools, users, commands, events and follow-ups.
//!
//! Every identifier is a UUID wrapped in its own type so a pool id can never be passed
//! where a customer id is expected. Event ids are UUID v7, derived deterministically from
//! the command id, the event's index within the command and the decision instant, so
//! `decide` stays a pure function.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// The stream id prefix of this kind of identifier.
            pub const PREFIX: &'static str = $prefix;

            /// Wraps a UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// Builds an id from a number; handy for tests and benchmarks.
            pub const fn from_u128(value: u128) -> Self {
                Self(Uuid::from_u128(value))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self)
            }
        }
    };
}

id_type!(
    /// A customer (a company or a person) whose ownership this service decides.
    CustomerId,
    "customer"
);
id_type!(
    /// A pool (公海池) of customers.
    PoolId,
    "pool"
);
id_type!(
    /// A user: salesperson, manager or admin.
    UserId,
    "user"
);
id_type!(
    /// The caller-chosen id of a command; the idempotency key of everything it appends.
    CommandId,
    "command"
);
id_type!(
    /// The id of one event (UUID v7).
    EventId,
    "event"
);
id_type!(
    /// A follow-up (跟进记录) logged on a customer.
    FollowUpId,
    "follow-up"
);

impl EventId {
    /// Derives the id of the `index`-th event emitted by `command` at `at`: a UUID v7 whose
    /// timestamp is `at` and whose random bits are a mix of the command id and the index.
    pub fn derive(command: CommandId, index: u32, at: DateTime<Utc>) -> Self {
        let bits = command.0.as_u128();
        let high = splitmix64((bits >> 64) as u64 ^ u64::from(index).rotate_left(32));
        let low = splitmix64(bits as u64 ^ high ^ u64::from(index));
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&high.to_be_bytes());
        random[8..].copy_from_slice(&low.to_be_bytes()[..2]);
        let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        Self(uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid())
    }
}

/// A stateless 64-bit mixer (SplitMix64's finaliser).
fn splitmix64(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn derived_event_ids_are_v7_distinct_and_deterministic() {
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0).unwrap();
        let command = CommandId::from_u128(42);
        let first = EventId::derive(command, 0, at);
        let second = EventId::derive(command, 1, at);
        assert_eq!(first.0.get_version_num(), 7);
        assert_ne!(first, second);
        assert_eq!(first, EventId::derive(command, 0, at));
        assert_ne!(first, EventId::derive(CommandId::from_u128(43), 0, at));
    }
}
