//! Events: the facts the log records, in a stable, versioned JSON form.
//!
//! An [`Event`] is an envelope (event id, the command that caused it, the instant, the
//! actor) around an [`EventBody`]. Each body has a stable dotted `type` name
//! (`customer.claimed`), a schema version, and names every customer, pool and user it
//! concerns, so a reader of the raw log understands each one without this code.
//! Each event belongs to exactly one stream ([`StreamRef`]): its customer, pool or user,
//! or the organization.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CommandId, CustomerId, EventId, FollowUpId, PoolId, UserId};
use crate::rules::{AssignStrategy, Limit, PoolMode, PoolRules, RuleKind, RulesSince};

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
}

/// `user.created`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCreated {
    /// The new user.
    pub user_id: UserId,
    /// Display name.
    pub name: String,
    /// The direct superior (上级).
    pub superior: Option<UserId>,
    /// The department (部门).
    pub department: Option<String>,
    /// Whether the user is an organization admin (sees and may do everything).
    pub admin: bool,
}

/// `user.updated`: the user's profile after the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserUpdated {
    /// The user.
    pub user_id: UserId,
    /// Display name.
    pub name: String,
    /// The direct superior.
    pub superior: Option<UserId>,
    /// The department.
    pub department: Option<String>,
    /// Whether the user is an organization admin.
    pub admin: bool,
}

/// `user.deactivated`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDeactivated {
    /// The deactivated user.
    pub user_id: UserId,
    /// Who received their customers; `None` sent them back to their pools.
    pub successor: Option<UserId>,
    /// How many owned customers went to the successor.
    pub customers_transferred: u32,
    /// How many owned customers went back to their pools.
    pub customers_returned: u32,
    /// How many pending applications were rejected.
    pub applications_rejected: u32,
}

/// `pool.created`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolCreated {
    /// The new pool.
    pub pool_id: PoolId,
    /// Display name, e.g. 华北区客户.
    pub name: String,
    /// How members take customers.
    pub mode: PoolMode,
    /// Pool admins (负责人); organization admins always count as pool admins.
    pub admins: BTreeSet<UserId>,
    /// Named members.
    pub members: BTreeSet<UserId>,
    /// Every user is a member (the default pool: 成员为所有人).
    pub everyone: bool,
    /// This is the default pool.
    pub default: bool,
    /// The rules, version 1.
    pub rules: Box<PoolRules>,
    /// From when each active reclaim rule is in force.
    pub rules_since: RulesSince,
}

/// `pool.mode_changed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolModeChanged {
    /// The pool.
    pub pool_id: PoolId,
    /// The new mode.
    pub mode: PoolMode,
    /// The mode before.
    pub previous: PoolMode,
}

/// `pool.admins_changed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolAdminsChanged {
    /// The pool.
    pub pool_id: PoolId,
    /// The admins after the change.
    pub admins: BTreeSet<UserId>,
}

/// `pool.members_changed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolMembersChanged {
    /// The pool.
    pub pool_id: PoolId,
    /// The named members after the change.
    pub members: BTreeSet<UserId>,
    /// Every user is a member.
    pub everyone: bool,
}

/// `pool.rules_changed`: never retroactive; each changed rule is in force from this instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRulesChanged {
    /// The pool.
    pub pool_id: PoolId,
    /// The version of the rules after the change (the pool's first rules are version 1).
    pub rules_version: u32,
    /// The complete rules after the change.
    pub rules: Box<PoolRules>,
    /// From when each active reclaim rule is in force (changed rules: this event's instant).
    pub rules_since: RulesSince,
    /// The reclaim rules this change turned on, changed or turned off.
    pub changed_rules: Vec<RuleKind>,
}

/// `organization.settings_changed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationSettingsChanged {
    /// The overall cap: the most customers one user may own across all pools.
    pub overall_cap: Option<Limit>,
    /// The offset of the organization's day from UTC, in minutes (daily quotas reset at its midnight).
    pub day_offset_minutes: i32,
}

/// `customer.created`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerCreated {
    /// The new customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// Company or person name.
    pub name: String,
    /// Where it came from (线索来源), used by auto-assignment filters.
    pub source: Option<String>,
    /// Free fields (region, industry, level…).
    pub fields: BTreeMap<String, String>,
    /// Who created it.
    pub created_by: UserId,
    /// Set when the creator keeps it (owned by creator); otherwise it starts unclaimed.
    pub owner: Option<UserId>,
}

/// One assignee considered by an auto-assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignCandidate {
    /// The assignee.
    pub user_id: UserId,
    /// Customers of this pool they owned at that moment.
    pub owned_in_pool: u32,
    /// Why they were skipped, if they were: `deactivated`, `unknown_user`, `pool_cap`, `overall_cap`.
    pub skipped: Option<String>,
}

/// `customer.auto_assigned`: everything needed to audit and replay the choice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerAutoAssigned {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// Who received it.
    pub assignee: UserId,
    /// The index of the rule that fired, in the pool's rules (0-based).
    pub rule_index: u32,
    /// The rule's name.
    pub rule_name: String,
    /// The rule's strategy.
    pub strategy: AssignStrategy,
    /// The version of the pool's rules in force.
    pub rules_version: u32,
    /// Every assignee of the rule, in rotation order, with load and skip reason.
    pub candidates: Vec<AssignCandidate>,
    /// The rule's rotation pointer before (index of the next assignee to try).
    pub pointer_before: u32,
    /// The rule's rotation pointer after.
    pub pointer_after: u32,
}

/// `customer.assigned`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerAssigned {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// The new owner.
    pub assignee: UserId,
    /// The applicant whose pending application this assignment overrode, if any.
    pub overrode_applicant: Option<UserId>,
    /// Where protection counts from.
    pub protection_start: DateTime<Utc>,
    /// An explicit end of protection chosen by the admin (seed 004), in any pool: with the
    /// pool's protection rule on the customer is reclaimed then unless won; with it off it
    /// shows in the expired view (已过期) from then on.
    pub protection_until: Option<DateTime<Utc>>,
}

/// `customer.claimed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerClaimed {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// The new owner.
    pub owner: UserId,
}

/// `customer.claim_requested`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRequested {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// Who applied.
    pub applicant: UserId,
}

/// `customer.claim_approved`: the applicant becomes the owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimApproved {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// The applicant, now owner.
    pub applicant: UserId,
}

/// `customer.claim_rejected`: the customer is unclaimed again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRejected {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// Who had applied.
    pub applicant: UserId,
    /// Why, if given.
    pub reason: Option<String>,
}

/// `customer.abandoned`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerAbandoned {
    /// The customer.
    pub customer_id: CustomerId,
    /// The pool it was in.
    pub from_pool: PoolId,
    /// The pool it went to (by the return target rule).
    pub to_pool: PoolId,
    /// The former owner who gave it up (放弃人).
    pub abandoner: UserId,
    /// The reason (放弃原因).
    pub reason: String,
}

/// `customer.reclaimed`: a manual reclaim; the former owner becomes a related person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerReclaimed {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// Who owned it.
    pub former_owner: UserId,
    /// Why, if given (deactivations say so here).
    pub reason: Option<String>,
}

/// The facts an automatic reclaim was decided on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReclaimEvidence {
    /// When the ownership began.
    pub owned_since: DateTime<Utc>,
    /// The last follow-up, if any.
    pub last_contact_at: Option<DateTime<Utc>>,
    /// When it was won, if it was.
    pub won_at: Option<DateTime<Utc>>,
    /// Where the rule's threshold counted from (the later of the base and the rule's start).
    pub counted_from: DateTime<Utc>,
    /// The end of protection, if it had one: the rule's default or an explicit window
    /// (the latter also in a pool whose protection rule is off).
    pub protection_until: Option<DateTime<Utc>>,
}

/// `customer.auto_reclaimed`: names the rule, its threshold, the evidence, the due time
/// and the version of the rules in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerAutoReclaimed {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// Who owned it.
    pub former_owner: UserId,
    /// The rule that fired.
    pub rule: RuleKind,
    /// Its threshold in days for this owner.
    pub threshold_days: u32,
    /// When it became due.
    pub due_at: DateTime<Utc>,
    /// The version of the pool's rules in force.
    pub rules_version: u32,
    /// The facts the decision rests on.
    pub evidence: ReclaimEvidence,
}

/// `customer.reclaim_reminded`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReclaimReminded {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// The owner being warned.
    pub owner: UserId,
    /// The rule that will fire.
    pub rule: RuleKind,
    /// When it will fire unless something changes.
    pub due_at: DateTime<Utc>,
}

/// `customer.transferred`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerTransferred {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// The former owner.
    pub from: UserId,
    /// The new owner.
    pub to: UserId,
    /// Why, if given (deactivations say so here).
    pub reason: Option<String>,
}

/// `customer.frozen`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerFrozen {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// The owner whose ownership the freeze ended, if it was owned.
    pub former_owner: Option<UserId>,
    /// Why, if given.
    pub reason: Option<String>,
}

/// `customer.unfrozen`: back in its pool, unclaimed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerUnfrozen {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
}

/// `customer.moved`: same state, another pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerMoved {
    /// The customer.
    pub customer_id: CustomerId,
    /// The pool it left.
    pub from_pool: PoolId,
    /// The pool it joined.
    pub to_pool: PoolId,
}

/// `customer.deleted`: into the recycle bin; restorable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerDeleted {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// The owner whose ownership the deletion ended, if it was owned.
    pub former_owner: Option<UserId>,
}

/// What a restore brought the customer back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoredTo {
    /// Owned by its former owner again (seed 004: 还原到原负责人名下).
    FormerOwner,
    /// Unclaimed in its pool.
    Pool,
    /// Frozen, as it was.
    Frozen,
}

/// `customer.restored`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRestored {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// What it came back to.
    pub restored_to: RestoredTo,
    /// The owner, when restored to the former owner.
    pub owner: Option<UserId>,
    /// Why a formerly owned customer went to the pool instead: `former_owner_deactivated`,
    /// `former_owner_at_pool_cap`, `former_owner_at_overall_cap`.
    pub note: Option<String>,
}

/// The kind of a follow-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpKind {
    /// A phone call.
    Call,
    /// A visit.
    Visit,
    /// A message (mail, chat, SMS).
    Message,
    /// A note.
    Note,
}

/// `customer.follow_up_logged`: resets the no-contact timers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpLogged {
    /// The customer.
    pub customer_id: CustomerId,
    /// The follow-up's id (comments refer to it).
    pub follow_up_id: FollowUpId,
    /// The owner who logged it.
    pub author: UserId,
    /// Call, visit, message or note.
    pub kind: FollowUpKind,
    /// What was said (洽谈进展).
    pub note: String,
}

/// `customer.follow_up_commented`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpCommented {
    /// The customer.
    pub customer_id: CustomerId,
    /// The follow-up commented on.
    pub follow_up_id: FollowUpId,
    /// Who commented (a superior or a pool admin).
    pub author: UserId,
    /// The comment (点评).
    pub comment: String,
}

/// `customer.won`: stops the not-won and protection timers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerWon {
    /// The customer.
    pub customer_id: CustomerId,
    /// The owner who won it.
    pub owner: UserId,
}

/// `customer.protection_extended`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectionExtended {
    /// The customer.
    pub customer_id: CustomerId,
    /// The owner.
    pub owner: UserId,
    /// The end of protection before.
    pub previous_until: DateTime<Utc>,
    /// The end of protection now.
    pub until: DateTime<Utc>,
    /// The latest protection may ever reach for this ownership: the pool's maximum. Absent
    /// when the pool has no protection rule (an admin extending an explicit window there has
    /// no maximum); every event written before that was possible has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_until: Option<DateTime<Utc>>,
}

/// `customer.shared`: a department gains read access (客户共享).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerShared {
    /// The customer.
    pub customer_id: CustomerId,
    /// The department that may now read it.
    pub department: String,
}

#[cfg(test)]
mod tests {
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
