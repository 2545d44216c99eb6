//! Events: the facts the log records, in a stable, versioned JSON form.
//!
//! An [`Event`] is an envelope (event id, the command that caused it, the instant, the
//! actor) around an [`EventBody`]. Each body has a stable dotted `type` name
//! (`customer.claimed`), a schema version, and names every customer, pool and user it
//! concerns, so a reader of the raw log understands each one without this code.
//! Each event belongs to exactly one stream ([`StreamRef`]): its customer, pool or user,
//! or the organization.
//!
//! This module keeps the envelope, the actors, the streams and the one table of every
//! body's type name, schema version and stream; the bodies themselves are in `users`,
//! `pools` (with the organization's) and `customers`.

mod customers;
mod pools;
mod users;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CommandId, CustomerId, EventId, PoolId, UserId};
use crate::rules::RuleKind;

/// Who did something: a user, the system itself, or the system applying a named rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// A user acting through a calling service.
    User(UserId),
    /// The service itself (bootstrap, operations).
    System,
    /// The reclaim scheduler applying a rule.
    Rule(RuleKind),
}

impl Actor {
    /// The acting user, if a user acted.
    pub fn user(self) -> Option<UserId> {
        match self {
            Actor::User(user) => Some(user),
            Actor::System | Actor::Rule(_) => None,
        }
    }

    /// How messages for callers name the actor: `users/{uuid}`, `system`, or
    /// `the {rule} rule`. (`Display` is the log's stored form, `user:{uuid}`.)
    pub fn resource_name(self) -> String {
        match self {
            Actor::User(user) => format!("users/{user}"),
            Actor::System => "system".to_owned(),
            Actor::Rule(rule) => format!("the {} rule", rule.as_str()),
        }
    }

    /// Parses the form produced by `Display`: `user:<uuid>`, `system` or `rule:<name>`.
    pub fn parse(text: &str) -> Option<Self> {
        if text == "system" {
            return Some(Actor::System);
        }
        if let Some(user) = text.strip_prefix("user:") {
            return user.parse().ok().map(Actor::User);
        }
        text.strip_prefix("rule:")
            .and_then(RuleKind::parse)
            .map(Actor::Rule)
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(user) => write!(f, "user:{user}"),
            Actor::System => f.write_str("system"),
            Actor::Rule(rule) => write!(f, "rule:{}", rule.as_str()),
        }
    }
}

/// The stream an event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamRef {
    /// A customer's stream: its version is the customer's version.
    Customer(CustomerId),
    /// A pool's configuration.
    Pool(PoolId),
    /// A user's profile.
    User(UserId),
    /// Organization-wide settings.
    Organization,
}

impl fmt::Display for StreamRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamRef::Customer(id) => write!(f, "customer-{id}"),
            StreamRef::Pool(id) => write!(f, "pool-{id}"),
            StreamRef::User(id) => write!(f, "user-{id}"),
            StreamRef::Organization => f.write_str("organization"),
        }
    }
}

impl StreamRef {
    /// Parses the form produced by `Display`.
    pub fn parse(text: &str) -> Option<Self> {
        if text == "organization" {
            return Some(StreamRef::Organization);
        }
        let (kind, id) = text.split_once('-')?;
        match kind {
            "customer" => id.parse().ok().map(StreamRef::Customer),
            "pool" => id.parse().ok().map(StreamRef::Pool),
            "user" => id.parse().ok().map(StreamRef::User),
            _ => None,
        }
    }
}

/// Why a stored payload could not be read back as an event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The type column names no known event type (an upcaster is missing, or the log is newer).
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    /// The payload does not match the type's current schema.
    #[error("payload does not match its schema: {0}")]
    Json(serde_json::Error),
}

impl EventBody {
    /// The stored JSON form of the body: an object with its `type` tag and every field.
    pub fn to_payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|error| {
            unreachable!("event bodies are plain data and always serialize: {error}")
        })
    }
}

/// One recorded fact: the envelope and its body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// UUID v7, unique across the log.
    pub event_id: EventId,
    /// The command that caused it (the idempotency key of the whole command).
    pub command_id: CommandId,
    /// When it happened, by the service's injected clock.
    pub at: DateTime<Utc>,
    /// Who did it.
    pub actor: Actor,
    /// What happened.
    #[serde(flatten)]
    pub body: EventBody,
}

impl Event {
    /// The stream the event belongs to.
    pub fn stream(&self) -> StreamRef {
        self.body.stream()
    }
}

macro_rules! event_bodies {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, schema $schema:literal, $stream:ident; )*) => {
        /// What happened; serialized with an explicit `type` tag.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type")]
        pub enum EventBody {
            $( $(#[$doc])* #[serde(rename = $name)] $variant($variant), )*
        }

        impl EventBody {
            /// Every event type name, in declaration order.
            pub const TYPES: &'static [&'static str] = &[$($name),*];

            /// The stable type name, e.g. `customer.claimed`.
            pub fn event_type(&self) -> &'static str {
                match self { $( EventBody::$variant(_) => $name, )* }
            }

            /// The schema version of this type's JSON form.
            pub fn schema_version(&self) -> u32 {
                match self { $( EventBody::$variant(_) => $schema, )* }
            }

            /// The stream the event belongs to.
            pub fn stream(&self) -> StreamRef {
                match self { $( EventBody::$variant(body) => event_bodies!(@stream $stream, body), )* }
            }

            /// The current schema version of the type named `event_type`.
            pub fn schema_version_of(event_type: &str) -> Option<u32> {
                match event_type { $( $name => Some($schema), )* _ => None }
            }

            /// Decodes a stored payload whose type is known from the log's type column:
            /// straight into the variant's struct, without buffering the whole document.
            pub fn decode(event_type: &str, payload: &str) -> Result<Self, DecodeError> {
                match event_type {
                    $( $name => serde_json::from_str(payload).map(EventBody::$variant).map_err(DecodeError::Json), )*
                    other => Err(DecodeError::UnknownType(other.to_owned())),
                }
            }
        }
    };
    (@stream customer, $body:ident) => { StreamRef::Customer($body.customer_id) };
    (@stream pool, $body:ident) => { StreamRef::Pool($body.pool_id) };
    (@stream user, $body:ident) => { StreamRef::User($body.user_id) };
    (@stream organization, $body:ident) => {{ let _ = $body; StreamRef::Organization }};
}

event_bodies! {
    /// A user was created.
    UserCreated => "user.created", schema 1, user;
    /// A user's profile changed (full new values).
    UserUpdated => "user.updated", schema 1, user;
    /// A user was deactivated; their customers went to the successor or back to their pools.
    UserDeactivated => "user.deactivated", schema 1, user;
    /// A pool was created.
    PoolCreated => "pool.created", schema 1, pool;
    /// A pool's mode changed.
    PoolModeChanged => "pool.mode_changed", schema 1, pool;
    /// A pool's admins (负责人) changed.
    PoolAdminsChanged => "pool.admins_changed", schema 1, pool;
    /// A pool's members changed.
    PoolMembersChanged => "pool.members_changed", schema 1, pool;
    /// A pool's rules changed, in force from the event's instant.
    PoolRulesChanged => "pool.rules_changed", schema 1, pool;
    /// Organization-wide settings changed.
    OrganizationSettingsChanged => "organization.settings_changed", schema 1, organization;
    /// A customer was created (alone or by import).
    CustomerCreated => "customer.created", schema 1, customer;
    /// An auto-assignment rule gave a new customer to a user.
    CustomerAutoAssigned => "customer.auto_assigned", schema 1, customer;
    /// A pool admin assigned a customer (指派/分配).
    CustomerAssigned => "customer.assigned", schema 1, customer;
    /// A member claimed a customer (领取).
    CustomerClaimed => "customer.claimed", schema 1, customer;
    /// A member applied for a customer (申请).
    ClaimRequested => "customer.claim_requested", schema 1, customer;
    /// A pool admin approved an application (同意).
    ClaimApproved => "customer.claim_approved", schema 1, customer;
    /// A pool admin rejected an application (拒绝).
    ClaimRejected => "customer.claim_rejected", schema 1, customer;
    /// The owner gave the customer up with a reason (放弃/退回).
    CustomerAbandoned => "customer.abandoned", schema 1, customer;
    /// A pool admin took the customer back (收回).
    CustomerReclaimed => "customer.reclaimed", schema 1, customer;
    /// A reclaim rule took the customer back (自动收回).
    CustomerAutoReclaimed => "customer.auto_reclaimed", schema 1, customer;
    /// The owner was warned of an upcoming automatic reclaim (提前提醒).
    ReclaimReminded => "customer.reclaim_reminded", schema 1, customer;
    /// The owner's superior was told of an upcoming automatic reclaim (逐级上报).
    ReclaimEscalated => "customer.reclaim_escalated", schema 1, customer;
    /// At its deadline an escalated customer went to the superior or an auto-assignee.
    CustomerReclaimReassigned => "customer.reclaim_reassigned", schema 1, customer;
    /// Ownership passed from one user to another (转移).
    CustomerTransferred => "customer.transferred", schema 1, customer;
    /// The customer was frozen (冻结).
    CustomerFrozen => "customer.frozen", schema 1, customer;
    /// The customer was unfrozen back into its pool.
    CustomerUnfrozen => "customer.unfrozen", schema 1, customer;
    /// The customer moved to another pool (变更公海池).
    CustomerMoved => "customer.moved", schema 1, customer;
    /// The customer went to the recycle bin (删除).
    CustomerDeleted => "customer.deleted", schema 1, customer;
    /// The customer came back from the recycle bin (恢复).
    CustomerRestored => "customer.restored", schema 1, customer;
    /// The owner logged a follow-up (跟进记录).
    FollowUpLogged => "customer.follow_up_logged", schema 1, customer;
    /// A superior commented on a follow-up (点评).
    FollowUpCommented => "customer.follow_up_commented", schema 1, customer;
    /// The owner won the customer (成交).
    CustomerWon => "customer.won", schema 1, customer;
    /// Protection was extended, by an admin or by the extension rule.
    ProtectionExtended => "customer.protection_extended", schema 1, customer;
    /// The customer was shared with a department (共享).
    CustomerShared => "customer.shared", schema 1, customer;
    /// An ownership change was reverted by its compensation.
    CustomerChangeReverted => "customer.change_reverted", schema 1, customer;
    /// The customer's personal data was erased (a purge).
    CustomerPurged => "customer.purged", schema 1, customer;
}

pub use customers::*;
pub use pools::*;
pub use users::*;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use chrono::TimeZone;

    #[test]
    fn events_have_an_explicit_type_tag_and_round_trip() {
        let event = Event {
            event_id: EventId::from_u128(1),
            command_id: CommandId::from_u128(2),
            at: Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0).unwrap(),
            actor: Actor::User(UserId::from_u128(3)),
            body: EventBody::CustomerAbandoned(CustomerAbandoned {
                customer_id: CustomerId::from_u128(4),
                from_pool: PoolId::from_u128(5),
                to_pool: PoolId::from_u128(5),
                abandoner: UserId::from_u128(3),
                reason: "预算不足".into(),
            }),
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "customer.abandoned");
        assert_eq!(json["reason"], "预算不足");
        assert_eq!(json["actor"]["user"], UserId::from_u128(3).to_string());
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        assert_eq!(event.body.schema_version(), 1);
        assert_eq!(
            event.stream(),
            StreamRef::Customer(CustomerId::from_u128(4))
        );
    }

    #[test]
    fn actor_and_stream_strings_round_trip() {
        for actor in [
            Actor::System,
            Actor::Rule(RuleKind::NoContact),
            Actor::User(UserId::from_u128(9)),
        ] {
            assert_eq!(Actor::parse(&actor.to_string()), Some(actor));
        }
        for stream in [
            StreamRef::Organization,
            StreamRef::Customer(CustomerId::from_u128(1)),
            StreamRef::Pool(PoolId::from_u128(2)),
            StreamRef::User(UserId::from_u128(3)),
        ] {
            assert_eq!(StreamRef::parse(&stream.to_string()), Some(stream));
        }
        assert_eq!(Actor::parse("robot"), None);
    }

    #[test]
    fn stored_payloads_decode_by_their_type_column() {
        let body = EventBody::CustomerClaimed(CustomerClaimed {
            customer_id: CustomerId::from_u128(1),
            pool_id: PoolId::from_u128(2),
            owner: UserId::from_u128(3),
        });
        let payload = body.to_payload();
        assert!(payload.contains("\"type\":\"customer.claimed\""));
        assert_eq!(
            EventBody::decode("customer.claimed", &payload).unwrap(),
            body
        );
        assert!(matches!(
            EventBody::decode("customer.teleported", &payload),
            Err(DecodeError::UnknownType(_))
        ));
        assert!(matches!(
            EventBody::decode("customer.abandoned", &payload),
            Err(DecodeError::Json(_))
        ));
    }

    #[test]
    fn protection_extended_decodes_with_and_without_a_maximum() {
        // As written before protection could be extended in a pool without the rule.
        let stored = r#"{"type":"customer.protection_extended","customer_id":"00000000-0000-0000-0000-000000000001","owner":"00000000-0000-0000-0000-000000000003","previous_until":"2026-01-08T09:00:00Z","until":"2026-01-20T09:00:00Z","max_until":"2026-01-31T09:00:00Z"}"#;
        let EventBody::ProtectionExtended(old) =
            EventBody::decode("customer.protection_extended", stored).unwrap()
        else {
            panic!("decoded as another type");
        };
        assert_eq!(
            old.max_until.map(|at| at.to_rfc3339()),
            Some("2026-01-31T09:00:00+00:00".to_owned())
        );
        let without = EventBody::ProtectionExtended(ProtectionExtended {
            max_until: None,
            ..old
        });
        let payload = without.to_payload();
        assert!(!payload.contains("max_until"), "{payload}");
        assert_eq!(
            EventBody::decode("customer.protection_extended", &payload).unwrap(),
            without
        );
    }

    #[test]
    fn type_names_are_unique() {
        let unique: BTreeSet<_> = EventBody::TYPES.iter().collect();
        assert_eq!(unique.len(), EventBody::TYPES.len());
    }
}
