//! The customer lifecycle every projection folds: [`WriteModel::apply`]'s state machine
//! restated over projection rows, so the five projections cannot disagree about it.
//!
//! [`transition`] says what a customer event does to a customer's [`Core`] (pool, state,
//! owner or applicant); [`Cause`] names the event that starts or ends a state period.
//!
//! [`WriteModel::apply`]: poolkeeper_domain::WriteModel::apply

use poolkeeper_domain::event::RestoredTo;
use poolkeeper_domain::{CustomerId, EventBody, PoolId, UserId};

/// A customer's ownership state, by the domain's stable names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnershipState {
    /// 未领用: unclaimed in its pool.
    InPool,
    /// 待审批: an application awaits a pool admin.
    Pending,
    /// 已领用: owned.
    Owned,
    /// 冻结.
    Frozen,
    /// 回收站: in the recycle bin.
    Deleted,
}

impl OwnershipState {
    /// Every state.
    pub const ALL: [OwnershipState; 5] = [
        OwnershipState::InPool,
        OwnershipState::Pending,
        OwnershipState::Owned,
        OwnershipState::Frozen,
        OwnershipState::Deleted,
    ];

    /// `in_pool`, `pending`, `owned`, `frozen` or `deleted` (as `CustomerState::name`).
    pub fn as_str(self) -> &'static str {
        match self {
            OwnershipState::InPool => "in_pool",
            OwnershipState::Pending => "pending",
            OwnershipState::Owned => "owned",
            OwnershipState::Frozen => "frozen",
            OwnershipState::Deleted => "deleted",
        }
    }

    /// Parses a name produced by [`OwnershipState::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// The event that started or ended a state period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// `customer.created`.
    Created,
    /// `customer.claimed`.
    Claimed,
    /// `customer.claim_requested`.
    Requested,
    /// `customer.claim_approved`.
    Approved,
    /// `customer.claim_rejected`.
    Rejected,
    /// `customer.assigned`.
    Assigned,
    /// `customer.auto_assigned`.
    AutoAssigned,
    /// `customer.abandoned`.
    Abandoned,
    /// `customer.reclaimed` by a pool admin.
    Reclaimed,
    /// `customer.auto_reclaimed`.
    AutoReclaimed,
    /// `customer.transferred`.
    Transferred,
    /// `customer.frozen`.
    Frozen,
    /// `customer.unfrozen`.
    Unfrozen,
    /// `customer.moved`.
    Moved,
    /// `customer.deleted`.
    Deleted,
    /// `customer.restored`.
    Restored,
    /// A reclaim, transfer or rejection made by deactivating the user concerned.
    Deactivation,
}

impl Cause {
    const NAMES: [(Cause, &'static str); 17] = [
        (Cause::Created, "created"),
        (Cause::Claimed, "claimed"),
        (Cause::Requested, "requested"),
        (Cause::Approved, "approved"),
        (Cause::Rejected, "rejected"),
        (Cause::Assigned, "assigned"),
        (Cause::AutoAssigned, "auto_assigned"),
        (Cause::Abandoned, "abandoned"),
        (Cause::Reclaimed, "reclaimed"),
        (Cause::AutoReclaimed, "auto_reclaimed"),
        (Cause::Transferred, "transferred"),
        (Cause::Frozen, "frozen"),
        (Cause::Unfrozen, "unfrozen"),
        (Cause::Moved, "moved"),
        (Cause::Deleted, "deleted"),
        (Cause::Restored, "restored"),
        (Cause::Deactivation, "deactivation"),
    ];

    /// Every cause, in declaration order.
    pub fn all() -> impl Iterator<Item = Cause> {
        Self::NAMES.iter().map(|(cause, _)| *cause)
    }

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(cause, _)| *cause == self)
            .map_or("unknown", |(_, name)| name)
    }

    /// Parses a name produced by [`Cause::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(cause, _)| *cause)
    }

    /// The cause of a state-changing event; `deactivation` when the user it takes the
    /// customer from (former owner, transferor, applicant) was deactivated.
    pub(crate) fn of(body: &EventBody, deactivated: impl Fn(UserId) -> bool) -> Option<Cause> {
        Some(match body {
            EventBody::CustomerCreated(_) => Cause::Created,
            EventBody::CustomerClaimed(_) => Cause::Claimed,
            EventBody::ClaimRequested(_) => Cause::Requested,
            EventBody::ClaimApproved(_) => Cause::Approved,
            EventBody::ClaimRejected(e) if deactivated(e.applicant) => Cause::Deactivation,
            EventBody::ClaimRejected(_) => Cause::Rejected,
            EventBody::CustomerAssigned(_) => Cause::Assigned,
            EventBody::CustomerAutoAssigned(_) => Cause::AutoAssigned,
            EventBody::CustomerAbandoned(_) => Cause::Abandoned,
            EventBody::CustomerReclaimed(e) if deactivated(e.former_owner) => Cause::Deactivation,
            EventBody::CustomerReclaimed(_) => Cause::Reclaimed,
            EventBody::CustomerAutoReclaimed(_) => Cause::AutoReclaimed,
            EventBody::CustomerTransferred(e) if deactivated(e.from) => Cause::Deactivation,
            EventBody::CustomerTransferred(_) => Cause::Transferred,
            EventBody::CustomerFrozen(_) => Cause::Frozen,
            EventBody::CustomerUnfrozen(_) => Cause::Unfrozen,
            EventBody::CustomerMoved(_) => Cause::Moved,
            EventBody::CustomerDeleted(_) => Cause::Deleted,
            EventBody::CustomerRestored(_) => Cause::Restored,
            _ => return None,
        })
    }
}

/// What every projection knows of a customer: its pool, state, and the user the state
/// names (the owner when owned, the applicant when pending).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Core {
    pub pool: PoolId,
    pub state: OwnershipState,
    pub user: Option<UserId>,
}

/// What a customer event does to its customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Not a customer event, or a customer the projection has never seen (the write model
    /// ignores those too).
    Ignore,
    /// The customer's stream moved on but its state did not (follow-ups, comments, shares…).
    Touch,
    /// A new state period starts (possibly with the same state: a transfer, a move).
    To(Core),
}

/// The customer an event concerns, when it is a customer event.
pub(crate) fn customer_of(body: &EventBody) -> Option<CustomerId> {
    match body.stream() {
        poolkeeper_domain::StreamRef::Customer(id) => Some(id),
        _ => None,
    }
}

/// The transition `body` makes from `current` (`None`: the customer is unknown), exactly as
/// `WriteModel::apply` changes `Customer::state` and `Customer::pool`.
pub(crate) fn transition(current: Option<&Core>, body: &EventBody) -> Transition {
    use OwnershipState::*;
    if let EventBody::CustomerCreated(e) = body {
        return Transition::To(Core {
            pool: e.pool_id,
            state: if e.owner.is_some() { Owned } else { InPool },
            user: e.owner,
        });
    }
    let Some(current) = current else {
        return Transition::Ignore;
    };
    let at = |state: OwnershipState, user: Option<UserId>| {
        Transition::To(Core {
            pool: current.pool,
            state,
            user,
        })
    };
    match body {
        EventBody::CustomerAutoAssigned(e) => at(Owned, Some(e.assignee)),
        EventBody::CustomerAssigned(e) => at(Owned, Some(e.assignee)),
        EventBody::CustomerClaimed(e) => at(Owned, Some(e.owner)),
        EventBody::ClaimRequested(e) => at(Pending, Some(e.applicant)),
        EventBody::ClaimApproved(e) => at(Owned, Some(e.applicant)),
        EventBody::CustomerTransferred(e) => at(Owned, Some(e.to)),
        EventBody::ClaimRejected(_)
        | EventBody::CustomerReclaimed(_)
        | EventBody::CustomerAutoReclaimed(_)
        | EventBody::CustomerUnfrozen(_) => at(InPool, None),
        EventBody::CustomerAbandoned(e) => Transition::To(Core {
            pool: e.to_pool,
            state: InPool,
            user: None,
        }),
        EventBody::CustomerFrozen(_) => at(Frozen, None),
        EventBody::CustomerDeleted(_) => at(Deleted, None),
        EventBody::CustomerMoved(e) => Transition::To(Core {
            pool: e.to_pool,
            ..*current
        }),
        EventBody::CustomerRestored(e) => match (e.restored_to, e.owner) {
            (RestoredTo::FormerOwner, Some(owner)) => at(Owned, Some(owner)),
            (RestoredTo::Frozen, _) => at(Frozen, None),
            _ => at(InPool, None),
        },
        EventBody::ReclaimReminded(_)
        | EventBody::FollowUpLogged(_)
        | EventBody::FollowUpCommented(_)
        | EventBody::CustomerWon(_)
        | EventBody::ProtectionExtended(_)
        | EventBody::CustomerShared(_) => Transition::Touch,
        _ => Transition::Ignore,
    }
}

/// Whether `body` may start a state period (every customer event but the touches).
pub(crate) fn changes_state(body: &EventBody) -> bool {
    !matches!(
        body,
        EventBody::ReclaimReminded(_)
            | EventBody::FollowUpLogged(_)
            | EventBody::FollowUpCommented(_)
            | EventBody::CustomerWon(_)
            | EventBody::ProtectionExtended(_)
            | EventBody::CustomerShared(_)
    ) && customer_of(body).is_some()
}
