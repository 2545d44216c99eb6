//! Domain errors: why a command was refused.
//!
//! Every forbidden transition returns a typed [`DomainError`] naming why. Each error
//! belongs to one [`ErrorClass`], which tells a caller how to handle it and which the
//! gRPC layer maps, in one place, to a status code.

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::ids::{CustomerId, EventId, FollowUpId, PoolId, UserId};
use crate::rules::PoolMode;

/// How a caller should treat an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The command is malformed; fix the named field (INVALID_ARGUMENT).
    InvalidArgument,
    /// Something it names does not exist (NOT_FOUND).
    NotFound,
    /// What it would create exists already (ALREADY_EXISTS).
    AlreadyExists,
    /// The actor may not do this (PERMISSION_DENIED).
    PermissionDenied,
    /// The target is not in a state that allows it (FAILED_PRECONDITION).
    FailedPrecondition,
    /// A cap or quota is reached (RESOURCE_EXHAUSTED).
    ResourceExhausted,
    /// The expected version did not match; re-read and retry (ABORTED).
    Conflict,
}

/// Which cap was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapScope {
    /// The pool's 私池上限.
    Pool(PoolId),
    /// The organization's overall cap.
    Overall,
}

/// Why a command was refused. Nothing is appended when a command fails.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DomainError {
    /// A field is missing, blank, too long or out of range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field, as a path (`customers[3].name`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The customer does not exist.
    #[error("customers/{0} not found")]
    UnknownCustomer(CustomerId),
    /// The pool does not exist.
    #[error("pools/{0} not found")]
    UnknownPool(PoolId),
    /// The user does not exist.
    #[error("users/{0} not found")]
    UnknownUser(UserId),
    /// The follow-up does not exist on that customer.
    #[error("followUps/{0} not found")]
    UnknownFollowUp(FollowUpId),
    /// There is no default pool yet, and the command named no pool.
    #[error("no default pool exists; name a pool")]
    NoDefaultPool,
    /// The id is taken.
    #[error("{} already exists", resource_name(kind, id))]
    AlreadyExists {
        /// `customer`, `pool`, `user` or `follow_up`.
        kind: &'static str,
        /// The id.
        id: String,
    },
    /// Only organization admins may do this.
    #[error("{actor} is not an admin")]
    NotAdmin {
        /// Who tried.
        actor: String,
    },
    /// Only the pool's admins may do this.
    #[error("{actor} is not an admin of pools/{pool}")]
    NotPoolAdmin {
        /// Who tried.
        actor: String,
        /// The pool.
        pool: PoolId,
    },
    /// Only members of the pool may do this.
    #[error("users/{user} is not a member of pools/{pool}")]
    NotPoolMember {
        /// The user.
        user: UserId,
        /// The pool.
        pool: PoolId,
    },
    /// Only the owner may do this.
    #[error("{actor} is not the owner of customers/{customer}")]
    NotOwner {
        /// Who tried.
        actor: String,
        /// The customer.
        customer: CustomerId,
    },
    /// Only the owner, a pool admin or the owner's superior may do this.
    #[error(
        "{actor} is neither the owner, a pool admin nor a superior of the owner of customers/{customer}"
    )]
    NotOwnerOrSuperior {
        /// Who tried.
        actor: String,
        /// The customer.
        customer: CustomerId,
    },
    /// Only a superior of the follow-up's author or a pool admin may comment.
    #[error("{actor} is not a superior of the author of followUps/{follow_up}")]
    NotSuperior {
        /// Who tried.
        actor: String,
        /// The follow-up.
        follow_up: FollowUpId,
    },
    /// Only the reclaim scheduler (the system) may do this.
    #[error("only the system may {action}")]
    SystemOnly {
        /// What was attempted.
        action: &'static str,
    },
    /// The named user (assignee, applicant, successor…) is deactivated.
    #[error("users/{0} is deactivated")]
    DeactivatedUser(UserId),
    /// The acting user is deactivated and may do nothing.
    #[error("the acting user users/{0} is deactivated")]
    InactiveActor(UserId),
    /// The customer is not in a state that allows this.
    #[error("customers/{customer} is {actual}; {action} needs it {expected}")]
    WrongState {
        /// The customer.
        customer: CustomerId,
        /// The command.
        action: &'static str,
        /// The state the command needs.
        expected: &'static str,
        /// The state it is in.
        actual: &'static str,
    },
    /// The customer's personal data was purged; the command would record it again.
    #[error("customers/{customer} was purged; {action} would record personal data of it")]
    Purged {
        /// The customer.
        customer: CustomerId,
        /// The command.
        action: &'static str,
    },
    /// The pool's mode does not allow this.
    #[error("pools/{pool} is {}; {action} is not allowed there", mode.as_str())]
    WrongMode {
        /// The pool.
        pool: PoolId,
        /// Its mode.
        mode: PoolMode,
        /// The command.
        action: &'static str,
    },
    /// The user returned or lost this customer too recently (冷却天数).
    #[error("users/{user} may not take customers/{customer} again before {until}")]
    CooldownActive {
        /// The user.
        user: UserId,
        /// The customer.
        customer: CustomerId,
        /// When the cooldown ends.
        until: DateTime<Utc>,
    },
    /// The abandon reason is not in the pool's list.
    #[error("reason {reason:?} is not in the abandon reasons of pools/{pool}")]
    ReasonNotInList {
        /// The reason given.
        reason: String,
        /// The pool.
        pool: PoolId,
    },
    /// The protection would pass the pool's maximum.
    #[error("protection until {requested} passes the maximum {max}")]
    ProtectionBeyondMaximum {
        /// What was asked.
        requested: DateTime<Utc>,
        /// The latest allowed.
        max: DateTime<Utc>,
    },
    /// The pool has no protection rule and the customer no explicit protection window, so
    /// there is no protection to extend (a window is set by assigning with one).
    #[error("pools/{0} has no protection rule and the customer no protection window to extend")]
    NoProtectionRule(PoolId),
    /// The customer is already owned by that user, or already won.
    #[error("{0}")]
    NothingToDo(String),
    /// The customer changed hands after the ownership change a revert names.
    #[error(
        "customers/{customer} changed since events/{original}: its stream is at version \
         {changed_version} of a later change, so the change can no longer be reverted"
    )]
    ChangedSince {
        /// The customer.
        customer: CustomerId,
        /// The change to revert.
        original: EventId,
        /// The stream version of the later change.
        changed_version: u64,
    },
    /// The event named is not an ownership change that can be reverted.
    #[error("events/{event} is a {event_type}, not a revertible ownership change")]
    NotRevertible {
        /// The event.
        event: EventId,
        /// Its type.
        event_type: &'static str,
    },
    /// A scheduled action is not (or no longer) due.
    #[error("customers/{customer} has nothing due for {action} at {due_at}")]
    NotDue {
        /// The customer.
        customer: CustomerId,
        /// The scheduled action.
        action: &'static str,
        /// The deadline the scheduler named.
        due_at: DateTime<Utc>,
    },
    /// A user would own more customers than a cap allows (私池上限).
    #[error("users/{user} owns {owned} customers, the cap is {cap}")]
    CapReached {
        /// The user.
        user: UserId,
        /// Which cap.
        scope: CapScope,
        /// The cap.
        cap: u32,
        /// How many they own.
        owned: u32,
    },
    /// The user made all the claims allowed today (领取频率).
    #[error("users/{user} reached the daily claim quota of {quota} in pools/{pool}")]
    DailyQuotaReached {
        /// The user.
        user: UserId,
        /// The pool.
        pool: PoolId,
        /// The quota.
        quota: u32,
    },
    /// The target is not at the expected version.
    #[error("expected version was {expected}, found {actual}")]
    VersionConflict {
        /// What the command expected.
        expected: u64,
        /// The current version.
        actual: u64,
    },
}

/// The API's name of a resource: `customers/{id}`, `pools/{id}`, `users/{id}`, `followUps/{id}`.
fn resource_name(kind: &str, id: &str) -> String {
    let collection = match kind {
        "customer" => "customers",
        "pool" => "pools",
        "user" => "users",
        "follow_up" => "followUps",
        other => other,
    };
    format!("{collection}/{id}")
}

impl DomainError {
    /// How a caller should treat this error.
    pub fn class(&self) -> ErrorClass {
        use DomainError::*;
        match self {
            Invalid { .. } => ErrorClass::InvalidArgument,
            UnknownCustomer(_) | UnknownPool(_) | UnknownUser(_) | UnknownFollowUp(_) => {
                ErrorClass::NotFound
            }
            AlreadyExists { .. } => ErrorClass::AlreadyExists,
            NotAdmin { .. }
            | NotPoolAdmin { .. }
            | NotPoolMember { .. }
            | NotOwner { .. }
            | NotOwnerOrSuperior { .. }
            | NotSuperior { .. }
            | SystemOnly { .. }
            | InactiveActor(_) => ErrorClass::PermissionDenied,
            NoDefaultPool
            | DeactivatedUser(_)
            | WrongState { .. }
            | Purged { .. }
            | WrongMode { .. }
            | CooldownActive { .. }
            | ReasonNotInList { .. }
            | ProtectionBeyondMaximum { .. }
            | NoProtectionRule(_)
            | NothingToDo(_)
            | ChangedSince { .. }
            | NotRevertible { .. }
            | NotDue { .. } => ErrorClass::FailedPrecondition,
            CapReached { .. } | DailyQuotaReached { .. } => ErrorClass::ResourceExhausted,
            VersionConflict { .. } => ErrorClass::Conflict,
        }
    }

    /// A short stable code naming the reason, e.g. `cooldown_active`.
    pub fn code(&self) -> &'static str {
        use DomainError::*;
        match self {
            Invalid { .. } => "invalid_argument",
            UnknownCustomer(_) => "unknown_customer",
            UnknownPool(_) => "unknown_pool",
            UnknownUser(_) => "unknown_user",
            UnknownFollowUp(_) => "unknown_follow_up",
            NoDefaultPool => "no_default_pool",
            AlreadyExists { .. } => "already_exists",
            NotAdmin { .. } => "not_admin",
            NotPoolAdmin { .. } => "not_pool_admin",
            NotPoolMember { .. } => "not_pool_member",
            NotOwner { .. } => "not_owner",
            NotOwnerOrSuperior { .. } => "not_owner_or_superior",
            NotSuperior { .. } => "not_superior",
            SystemOnly { .. } => "system_only",
            DeactivatedUser(_) => "deactivated_user",
            InactiveActor(_) => "inactive_actor",
            WrongState { .. } => "wrong_state",
            Purged { .. } => "purged",
            WrongMode { .. } => "wrong_mode",
            CooldownActive { .. } => "cooldown_active",
            ReasonNotInList { .. } => "reason_not_in_list",
            ProtectionBeyondMaximum { .. } => "protection_beyond_maximum",
            NoProtectionRule(_) => "no_protection_rule",
            NothingToDo(_) => "nothing_to_do",
            NotDue { .. } => "not_due",
            ChangedSince { .. } => "changed_since",
            NotRevertible { .. } => "not_revertible",
            CapReached { .. } => "cap_reached",
            DailyQuotaReached { .. } => "daily_quota_reached",
            VersionConflict { .. } => "version_conflict",
        }
    }

    /// An `Invalid` error for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DomainError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
