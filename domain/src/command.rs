//! Commands: what callers ask the service to do.
//!
//! A [`Command`] carries its own id (the idempotency key), the actor, an optional expected
//! version of the target (optimistic concurrency) and a [`CommandBody`]. Everything a
//! decision needs beyond the write model travels inside the command.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{Actor, Event, FollowUpKind};
use crate::ids::{CommandId, CustomerId, FollowUpId, PoolId, UserId};
use crate::rules::{Limit, PoolMode, PoolRules, RuleKind};

/// A request to change something, by an actor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// The caller's idempotency key.
    pub command_id: CommandId,
    /// Who asks.
    pub actor: Actor,
    /// When set, the command applies only if the target (customer, pool or user) is at
    /// exactly this version; otherwise it fails with a version conflict.
    pub expected_version: Option<u64>,
    /// What is asked.
    pub body: CommandBody,
}

impl Command {
    /// A command by `actor` with no expected version.
    pub fn new(command_id: CommandId, actor: Actor, body: CommandBody) -> Self {
        Self {
            command_id,
            actor,
            expected_version: None,
            body,
        }
    }
}

/// A customer to create, alone or in an import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCustomer {
    /// The caller-chosen id.
    pub customer_id: CustomerId,
    /// The pool; the default pool when `None`.
    pub pool_id: Option<PoolId>,
    /// Company or person name; must not be blank.
    pub name: String,
    /// Where it came from (线索来源).
    pub source: Option<String>,
    /// Free fields.
    pub fields: BTreeMap<String, String>,
    /// The creator keeps it (owned by creator) instead of leaving it unclaimed.
    pub keep: bool,
}

/// An explicit protection window chosen when assigning (seed 004).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectionWindow {
    /// Where protection counts from; at or before the end.
    pub start: DateTime<Utc>,
    /// The end of protection; after the start, in the future, and never past start + the
    /// pool's maximum where the pool's protection rule is on (without the rule there is no
    /// maximum and nothing is reclaimed automatically at the end).
    pub end: DateTime<Utc>,
}

/// What a command asks for. One variant per row of the domain's command table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum CommandBody {
    /// Create a user (admin).
    CreateUser {
        /// The caller-chosen id.
        user_id: UserId,
        /// Display name.
        name: String,
        /// The direct superior.
        superior: Option<UserId>,
        /// The department.
        department: Option<String>,
        /// An organization admin.
        admin: bool,
    },
    /// Replace a user's profile (admin).
    UpdateUser {
        /// The user.
        user_id: UserId,
        /// Display name.
        name: String,
        /// The direct superior; may not create a cycle.
        superior: Option<UserId>,
        /// The department.
        department: Option<String>,
        /// An organization admin.
        admin: bool,
    },
    /// Deactivate a user, handing their customers to a successor or back to their pools (admin).
    DeactivateUser {
        /// The user to deactivate.
        user_id: UserId,
        /// Who receives their customers; `None` returns them to their pools.
        successor: Option<UserId>,
    },
    /// Create a pool (admin).
    CreatePool {
        /// The caller-chosen id.
        pool_id: PoolId,
        /// Display name.
        name: String,
        /// How members take customers.
        mode: PoolMode,
        /// Pool admins.
        admins: BTreeSet<UserId>,
        /// Named members.
        members: BTreeSet<UserId>,
        /// Every user is a member.
        everyone: bool,
        /// Make this the default pool (only when none exists yet).
        default: bool,
        /// The rules.
        rules: PoolRules,
    },
    /// Change a pool's mode (admin).
    SetPoolMode {
        /// The pool.
        pool_id: PoolId,
        /// The new mode.
        mode: PoolMode,
    },
    /// Replace a pool's admins (admin).
    SetPoolAdmins {
        /// The pool.
        pool_id: PoolId,
        /// The admins.
        admins: BTreeSet<UserId>,
    },
    /// Replace a pool's members (admin).
    SetPoolMembers {
        /// The pool.
        pool_id: PoolId,
        /// The named members.
        members: BTreeSet<UserId>,
        /// Every user is a member.
        everyone: bool,
    },
    /// Replace a pool's rules, in force from now (admin).
    SetPoolRules {
        /// The pool.
        pool_id: PoolId,
        /// The complete new rules.
        rules: PoolRules,
    },
    /// Change organization-wide settings (admin).
    SetOrganizationSettings {
        /// The overall cap across pools.
        overall_cap: Option<Limit>,
        /// The organization's day offset from UTC, in minutes (−720..=840).
        day_offset_minutes: i32,
    },
    /// Create one customer (any active user who is a member of the pool).
    CreateCustomer(NewCustomer),
    /// Create many customers at once, atomically.
    ImportCustomers {
        /// The customers; at most [`MAX_IMPORT`].
        customers: Vec<NewCustomer>,
    },
    /// Give an unclaimed or pending customer to a member (pool admin).
    Assign {
        /// The customer.
        customer_id: CustomerId,
        /// The new owner.
        assignee: UserId,
        /// An explicit protection window.
        protection: Option<ProtectionWindow>,
    },
    /// Take an unclaimed customer from a free-claim pool (member).
    Claim {
        /// The customer.
        customer_id: CustomerId,
    },
    /// Apply for an unclaimed customer in a claim-with-approval pool (member).
    RequestClaim {
        /// The customer.
        customer_id: CustomerId,
    },
    /// Approve a pending application (pool admin).
    ApproveClaim {
        /// The customer.
        customer_id: CustomerId,
    },
    /// Reject a pending application (pool admin).
    RejectClaim {
        /// The customer.
        customer_id: CustomerId,
        /// Why.
        reason: Option<String>,
    },
    /// Give up an owned customer with a reason (the owner).
    Abandon {
        /// The customer.
        customer_id: CustomerId,
        /// Why; required, and from the pool's list when it has one.
        reason: String,
        /// The pool to return it to, when the pool lets the user choose.
        return_to: Option<PoolId>,
    },
    /// Take an owned customer back into its pool (pool admin).
    Reclaim {
        /// The customer.
        customer_id: CustomerId,
        /// Why.
        reason: Option<String>,
    },
    /// Apply a due reclaim rule (the scheduler, as the system).
    AutoReclaim {
        /// The customer.
        customer_id: CustomerId,
        /// The rule the scheduler found due.
        rule: RuleKind,
        /// The deadline the scheduler found due.
        due_at: DateTime<Utc>,
    },
    /// Warn the owner of an upcoming automatic reclaim (the scheduler, as the system).
    RemindReclaim {
        /// The customer.
        customer_id: CustomerId,
        /// The deadline being warned of.
        due_at: DateTime<Utc>,
    },
    /// Notify the owner's superior of an upcoming automatic reclaim (the scheduler).
    EscalateReclaim {
        /// The customer.
        customer_id: CustomerId,
        /// The deadline being escalated.
        due_at: DateTime<Utc>,
    },
    /// Revert ownership changes by appending their compensations, all or none (pool
    /// admins of the pools concerned). The service reads the changes from the log.
    RevertChanges {
        /// The changes, as recorded.
        changes: Vec<RecordedChange>,
        /// Why (required).
        reason: String,
    },
    /// Hand an owned customer to another user (owner, pool admin, or the owner's superior).
    Transfer {
        /// The customer.
        customer_id: CustomerId,
        /// The new owner.
        new_owner: UserId,
        /// Why.
        reason: Option<String>,
    },
    /// Freeze a live customer (pool admin).
    Freeze {
        /// The customer.
        customer_id: CustomerId,
        /// Why.
        reason: Option<String>,
    },
    /// Unfreeze a frozen customer into its pool (pool admin).
    Unfreeze {
        /// The customer.
        customer_id: CustomerId,
    },
    /// Move a customer to another pool, keeping its state (admin of both pools).
    Move {
        /// The customer.
        customer_id: CustomerId,
        /// The destination pool.
        destination_pool: PoolId,
    },
    /// Put a customer in the recycle bin (pool admin or the owner's superior).
    Delete {
        /// The customer.
        customer_id: CustomerId,
    },
    /// Bring a customer back from the recycle bin (pool admin).
    Restore {
        /// The customer.
        customer_id: CustomerId,
    },
    /// Erase a customer's personal data (organization admin): it must be in the recycle
    /// bin, unless `force` (a legal order).
    PurgeCustomer {
        /// The customer.
        customer_id: CustomerId,
        /// Why (required; the erasure request, never personal data itself).
        reason: String,
        /// Purge it in any state.
        force: bool,
    },
    /// Record a contact (the owner).
    LogFollowUp {
        /// The customer.
        customer_id: CustomerId,
        /// The caller-chosen follow-up id.
        follow_up_id: FollowUpId,
        /// Call, visit, message or note.
        kind: FollowUpKind,
        /// What was said; must not be blank.
        note: String,
    },
    /// Comment on a follow-up (a superior of its author, or a pool admin).
    CommentFollowUp {
        /// The customer.
        customer_id: CustomerId,
        /// The follow-up.
        follow_up_id: FollowUpId,
        /// The comment; must not be blank.
        comment: String,
    },
    /// Mark an owned customer won (the owner).
    MarkWon {
        /// The customer.
        customer_id: CustomerId,
    },
    /// Extend an owned customer's protection to a later end (pool admin). With the pool's
    /// protection rule on, never past the maximum; with it off, only an explicit window
    /// (from an assignment or an earlier extension) is extended, to a future end, without a
    /// maximum ("re-protecting" a customer in the expired view).
    ExtendProtection {
        /// The customer.
        customer_id: CustomerId,
        /// The new end of protection.
        until: DateTime<Utc>,
    },
    /// Share a customer with a department (the owner or a pool admin).
    Share {
        /// The customer.
        customer_id: CustomerId,
        /// The department.
        department: String,
    },
}

/// An event as the log recorded it: what a revert names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedChange {
    /// The event.
    pub event: Event,
    /// Its log position.
    pub position: u64,
    /// The version of its stream after it.
    pub stream_version: u64,
}

/// The most customers one import may carry.
pub const MAX_IMPORT: usize = 50_000;

/// Text limits, in characters.
pub mod limits {
    /// Names of users, pools, customers and rules.
    pub const NAME: usize = 200;
    /// Reasons, departments, sources, field keys and values.
    pub const SHORT_TEXT: usize = 500;
    /// Follow-up notes and comments.
    pub const LONG_TEXT: usize = 10_000;
    /// Free fields per customer.
    pub const FIELDS: usize = 100;
    /// Reasons in a pool's abandon list.
    pub const REASONS: usize = 100;
    /// Assignees in one auto-assignment rule.
    pub const ASSIGNEES: usize = 1_000;
}

impl CommandBody {
    /// The customer the command targets, if it targets one.
    pub fn customer_id(&self) -> Option<CustomerId> {
        use CommandBody::*;
        match self {
            CreateCustomer(new) => Some(new.customer_id),
            Assign { customer_id, .. }
            | Claim { customer_id }
            | RequestClaim { customer_id }
            | ApproveClaim { customer_id }
            | RejectClaim { customer_id, .. }
            | Abandon { customer_id, .. }
            | Reclaim { customer_id, .. }
            | AutoReclaim { customer_id, .. }
            | RemindReclaim { customer_id, .. }
            | EscalateReclaim { customer_id, .. }
            | Transfer { customer_id, .. }
            | Freeze { customer_id, .. }
            | Unfreeze { customer_id }
            | Move { customer_id, .. }
            | Delete { customer_id }
            | Restore { customer_id }
            | PurgeCustomer { customer_id, .. }
            | LogFollowUp { customer_id, .. }
            | CommentFollowUp { customer_id, .. }
            | MarkWon { customer_id }
            | ExtendProtection { customer_id, .. }
            | Share { customer_id, .. } => Some(*customer_id),
            CreateUser { .. }
            | UpdateUser { .. }
            | DeactivateUser { .. }
            | CreatePool { .. }
            | SetPoolMode { .. }
            | SetPoolAdmins { .. }
            | SetPoolMembers { .. }
            | SetPoolRules { .. }
            | SetOrganizationSettings { .. }
            | ImportCustomers { .. }
            | RevertChanges { .. } => None,
        }
    }

    /// A short stable name of the command, e.g. `claim`.
    pub fn name(&self) -> &'static str {
        use CommandBody::*;
        match self {
            CreateUser { .. } => "create_user",
            UpdateUser { .. } => "update_user",
            DeactivateUser { .. } => "deactivate_user",
            CreatePool { .. } => "create_pool",
            SetPoolMode { .. } => "set_pool_mode",
            SetPoolAdmins { .. } => "set_pool_admins",
            SetPoolMembers { .. } => "set_pool_members",
            SetPoolRules { .. } => "set_pool_rules",
            SetOrganizationSettings { .. } => "set_organization_settings",
            CreateCustomer(_) => "create_customer",
            ImportCustomers { .. } => "import_customers",
            Assign { .. } => "assign",
            Claim { .. } => "claim",
            RequestClaim { .. } => "request_claim",
            ApproveClaim { .. } => "approve_claim",
            RejectClaim { .. } => "reject_claim",
            Abandon { .. } => "abandon",
            Reclaim { .. } => "reclaim",
            AutoReclaim { .. } => "auto_reclaim",
            RemindReclaim { .. } => "remind_reclaim",
            EscalateReclaim { .. } => "escalate_reclaim",
            RevertChanges { .. } => "revert_changes",
            Transfer { .. } => "transfer",
            Freeze { .. } => "freeze",
            Unfreeze { .. } => "unfreeze",
            Move { .. } => "move",
            Delete { .. } => "delete",
            Restore { .. } => "restore",
            PurgeCustomer { .. } => "purge_customer",
            LogFollowUp { .. } => "log_follow_up",
            CommentFollowUp { .. } => "comment_follow_up",
            MarkWon { .. } => "mark_won",
            ExtendProtection { .. } => "extend_protection",
            Share { .. } => "share",
        }
    }
}
