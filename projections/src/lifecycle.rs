//! The customer lifecycle every projection folds: the domain's state machine
//! ([`next_state`], which [`WriteModel::apply`] folds too) read over projection rows, so
//! the five projections and the write model cannot disagree about it.
//!
//! [`transition`] says what a customer event does to a customer's [`Standing`] (pool, state,
//! owner or applicant); [`Cause`] names the event that starts or ends a state period. The
//! states are the domain's ([`OwnershipState`] is `CustomerStatus`); what is the
//! projections' own is the standing a row keeps, the causes of periods, and reading
//! [`next_state`] over rows instead of over `CustomerState`.
//!
//! [`WriteModel::apply`]: poolkeeper_domain::WriteModel::apply

use std::collections::BTreeSet;

use poolkeeper_domain::model::{NextState, next_state};
use poolkeeper_domain::{CustomerId, EventBody, PoolId, UserId};
use rusqlite::Connection;

use crate::db::{Id, RowExt};

/// A customer's ownership state as a projection row records it: the domain's
/// [`CustomerStatus`](poolkeeper_domain::CustomerStatus) (the state without its details,
/// by the stable names `CustomerState::name` gives), not a restatement of it.
pub use poolkeeper_domain::CustomerStatus as OwnershipState;

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
    /// `customer.reclaim_reassigned`: at the deadline, to the superior or an auto-assignee.
    ReclaimReassigned,
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
    /// `customer.change_reverted`: the compensation of an earlier change.
    Reverted,
}

impl Cause {
    const NAMES: [(Cause, &'static str); 19] = [
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
        (Cause::ReclaimReassigned, "reclaim_reassigned"),
        (Cause::Transferred, "transferred"),
        (Cause::Frozen, "frozen"),
        (Cause::Unfrozen, "unfrozen"),
        (Cause::Moved, "moved"),
        (Cause::Deleted, "deleted"),
        (Cause::Restored, "restored"),
        (Cause::Deactivation, "deactivation"),
        (Cause::Reverted, "reverted"),
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
            EventBody::CustomerReclaimReassigned(_) => Cause::ReclaimReassigned,
            EventBody::CustomerTransferred(e) if deactivated(e.from) => Cause::Deactivation,
            EventBody::CustomerTransferred(_) => Cause::Transferred,
            EventBody::CustomerFrozen(_) => Cause::Frozen,
            EventBody::CustomerUnfrozen(_) => Cause::Unfrozen,
            EventBody::CustomerMoved(_) => Cause::Moved,
            EventBody::CustomerDeleted(_) => Cause::Deleted,
            EventBody::CustomerRestored(_) => Cause::Restored,
            EventBody::CustomerChangeReverted(_) => Cause::Reverted,
            _ => return None,
        })
    }
}

/// What every projection knows of a customer: its pool, state, and the user the state
/// names (the owner when owned, the applicant when pending).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Standing {
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
    To(Standing),
}

/// The customer an event concerns, when it is a customer event.
pub(crate) fn customer_of(body: &EventBody) -> Option<CustomerId> {
    match body.stream() {
        poolkeeper_domain::StreamRef::Customer(id) => Some(id),
        _ => None,
    }
}

/// The transition `body` makes from `current` (`None`: the customer is unknown): the
/// domain's [`next_state`], the one statement of how `WriteModel::apply` changes
/// `Customer::state` and `Customer::pool`, read as a projection row's pool, state and user.
pub(crate) fn transition(current: Option<&Standing>, body: &EventBody) -> Transition {
    use OwnershipState::*;
    let Some(next) = next_state(body) else {
        return Transition::Ignore;
    };
    let to = |pool: PoolId, state: OwnershipState, user: Option<UserId>| {
        Transition::To(Standing { pool, state, user })
    };
    match (next, current) {
        (NextState::Created { pool, owner }, _) => {
            to(pool, if owner.is_some() { Owned } else { InPool }, owner)
        }
        // The write model ignores events of customers it has never seen, and so do we.
        (_, None) => Transition::Ignore,
        (NextState::InPool { to_pool }, Some(current)) => {
            to(to_pool.unwrap_or(current.pool), InPool, None)
        }
        (NextState::Pending { applicant }, Some(current)) => {
            to(current.pool, Pending, Some(applicant))
        }
        (NextState::Owned { owner, .. }, Some(current)) => to(current.pool, Owned, Some(owner)),
        (NextState::Frozen, Some(current)) => to(current.pool, Frozen, None),
        (NextState::Deleted, Some(current)) => to(current.pool, Deleted, None),
        (NextState::Moved { to_pool }, Some(current)) => to(to_pool, current.state, current.user),
        (NextState::Unchanged, Some(_)) => Transition::Touch,
    }
}

/// Whether `body` may start a state period (every customer event but those that leave the
/// state as it is).
pub(crate) use poolkeeper_domain::model::changes_state;

/// The users deactivated so far, as a projection's `deactivated` table keeps them: the
/// losses they cause afterwards are [`Cause::Deactivation`].
#[derive(Default)]
pub(crate) struct DeactivatedUsers {
    known: BTreeSet<UserId>,
    /// Deactivated since the last flush.
    new: Vec<UserId>,
}

impl DeactivatedUsers {
    /// Loads the table.
    pub fn load(db: &Connection) -> rusqlite::Result<Self> {
        let known = db
            .prepare("SELECT user_id FROM deactivated")?
            .query_map([], |row| row.id(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Self {
            known,
            new: Vec::new(),
        })
    }

    /// Notes a `user.deactivated`.
    pub fn insert(&mut self, user: UserId) {
        if self.known.insert(user) {
            self.new.push(user);
        }
    }

    /// Whether `user` was deactivated.
    pub fn contains(&self, user: UserId) -> bool {
        self.known.contains(&user)
    }

    /// Writes the users deactivated since the last flush.
    pub fn flush(&mut self, db: &Connection) -> rusqlite::Result<()> {
        for user in self.new.drain(..) {
            db.prepare_cached("INSERT OR IGNORE INTO deactivated (user_id) VALUES (?1)")?
                .execute([Id::from(user)])?;
        }
        Ok(())
    }
}
