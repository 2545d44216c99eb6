//! Undo by compensation: `RevertChanges` reverses ownership changes (assign, auto-assign,
//! claim, approve, transfer, abandon, reclaim, automatic reclaim or reassignment, move,
//! freeze) by appending `customer.change_reverted`, linked to the change it compensates,
//! never by rewriting the log. A change can be reverted only while nothing changed its
//! customer's state since; the compensation is checked like any command (pool admins,
//! the returning owner active, a member, within caps) except that a reverted loss starts no
//! cooldown. Several changes (one command's) are reverted all or none, caps counted across
//! them.

use std::collections::HashSet;

use crate::command::{RecordedChange, limits};
use crate::error::DomainError;
use crate::event::{CustomerChangeReverted, CustomerMoved, EventBody, RevertedTo, StreamRef};
use crate::ids::{CustomerId, PoolId, UserId};

use super::checks::required_text;
use super::{Result, Ruling};

/// Where reverting a change takes its customer back to.
#[derive(Clone, Copy)]
enum Back {
    /// Unclaimed in its pool.
    Pool,
    /// Pending for the applicant.
    Pending(UserId),
    /// Owned by the user, in the pool (the customer moves back first when it left it).
    Owner(UserId, Option<PoolId>),
    /// The same state in the pool it came from.
    PoolOf(PoolId),
}

/// The way back from `body`, `None` when it is no revertible ownership change.
fn back_of(body: &EventBody) -> Option<Back> {
    Some(match body {
        EventBody::CustomerClaimed(_)
        | EventBody::CustomerAssigned(_)
        | EventBody::CustomerAutoAssigned(_) => Back::Pool,
        EventBody::ClaimApproved(e) => Back::Pending(e.applicant),
        EventBody::CustomerTransferred(e) => Back::Owner(e.from, None),
        EventBody::CustomerReclaimed(e) => Back::Owner(e.former_owner, None),
        EventBody::CustomerAutoReclaimed(e) => Back::Owner(e.former_owner, None),
        EventBody::CustomerReclaimReassigned(e) => Back::Owner(e.former_owner, None),
        EventBody::CustomerAbandoned(e) => Back::Owner(e.abandoner, Some(e.from_pool)),
        EventBody::CustomerMoved(e) => Back::PoolOf(e.from_pool),
        EventBody::CustomerFrozen(e) => match e.former_owner {
            Some(owner) => Back::Owner(owner, None),
            None => Back::Pool,
        },
        _ => return None,
    })
}

/// `RevertChanges`: the compensation of every change, or the first reason one cannot be.
pub(super) fn revert(
    ruling: &mut Ruling<'_>,
    changes: &[RecordedChange],
    reason: &str,
) -> Result<()> {
    let reason = required_text("reason", reason, limits::SHORT_TEXT)?;
    if changes.is_empty() {
        return Err(DomainError::NothingToDo(
            "no ownership change to revert".to_owned(),
        ));
    }
    let mut reverted = HashSet::new();
    for change in changes {
        revert_one(ruling, change, &reason, &mut reverted)?;
    }
    Ok(())
}

fn revert_one(
    ruling: &mut Ruling<'_>,
    change: &RecordedChange,
    reason: &str,
    reverted: &mut HashSet<CustomerId>,
) -> Result<()> {
    let event = &change.event;
    let not_revertible = || DomainError::NotRevertible {
        event: event.event_id,
        event_type: event.body.event_type(),
    };
    let StreamRef::Customer(customer_id) = event.stream() else {
        return Err(not_revertible());
    };
    let back = back_of(&event.body).ok_or_else(not_revertible)?;
    let customer = ruling.customer(customer_id)?;
    if customer.changed_version != change.stream_version || !reverted.insert(customer_id) {
        return Err(DomainError::ChangedSince {
            customer: customer_id,
            original: event.event_id,
            changed_version: customer.changed_version,
        });
    }
    ruling.require_pool_admin(customer.pool)?;
    let former_owner = customer.state.owner();
    let mut pool = customer.pool;
    let reverted_to = match back {
        Back::Pool => RevertedTo::InPool,
        Back::Pending(applicant) => RevertedTo::Pending { applicant },
        Back::PoolOf(from_pool) => {
            ruling.pool(from_pool)?;
            ruling.require_pool_admin(from_pool)?;
            if let Some(owner) = former_owner {
                ruling.check_cap(owner, from_pool)?;
                ruling.note_ownership(owner, customer.pool, -1);
                ruling.note_ownership(owner, from_pool, 1);
            }
            ruling.emit(EventBody::CustomerMoved(CustomerMoved {
                customer_id,
                from_pool: customer.pool,
                to_pool: from_pool,
            }));
            pool = from_pool;
            RevertedTo::Moved
        }
        Back::Owner(owner, home) => {
            let home = home.unwrap_or(customer.pool);
            ruling.pool(home)?;
            ruling.require_pool_admin(home)?;
            ruling.receiving_member(owner, home)?;
            ruling.check_cap(owner, home)?;
            ruling.note_ownership(owner, home, 1);
            if home != customer.pool {
                ruling.emit(EventBody::CustomerMoved(CustomerMoved {
                    customer_id,
                    from_pool: customer.pool,
                    to_pool: home,
                }));
            }
            pool = home;
            RevertedTo::Owned { owner }
        }
    };
    if let Some(owner) = former_owner
        && !matches!(back, Back::PoolOf(_))
    {
        ruling.note_ownership(owner, customer.pool, -1);
    }
    ruling.emit(EventBody::CustomerChangeReverted(CustomerChangeReverted {
        customer_id,
        pool_id: pool,
        compensates: event.event_id,
        compensates_position: change.position,
        reverted_type: event.body.event_type().to_owned(),
        former_owner,
        reverted_to,
        reason: reason.to_owned(),
    }));
    Ok(())
}
