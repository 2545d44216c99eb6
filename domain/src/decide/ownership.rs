//! Ownership after the claim: the owner abandons a customer back to a pool (with a
//! reason, to the pool's return target); a pool admin reclaims it, or the system does by
//! rule at its deadline (or extends its protection instead) and reminds the owner before;
//! the owner, a pool admin or a superior transfers it; a pool admin freezes and unfreezes
//! it and moves it between pools; it is deleted to the recycle bin and restored, to its
//! former owner where the caps allow.

use chrono::{DateTime, Utc};

use crate::command::limits;
use crate::error::{CapScope, DomainError};
use crate::event::{
    Actor, CustomerAbandoned, CustomerAutoReclaimed, CustomerDeleted, CustomerFrozen,
    CustomerMoved, CustomerReclaimed, CustomerRestored, CustomerTransferred, CustomerUnfrozen,
    EventBody, ProtectionExtended, ReclaimReminded, RestoredTo,
};
use crate::ids::{CustomerId, PoolId, UserId};
use crate::model::{CustomerState, FormerState};
use crate::rules::{self, RuleKind};

use super::checks::{not_deleted, optional_reason, required_text, state_error};
use super::ladder::{self, AtDeadline};
use super::{Result, Ruling};

/// `Abandon`: the owner returns a customer, with a reason (from the pool's list when it has
/// one), to the pool its return rule names (or one the owner chooses, where it may).
pub(super) fn abandon(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    reason: &str,
    return_to: Option<PoolId>,
) -> Result<()> {
    let reason = required_text("reason", reason, limits::SHORT_TEXT)?;
    let (customer, ownership) = ruling.owned(customer_id, "abandon")?;
    let abandoner = ruling.require_owner(customer_id, ownership)?;
    let pool = ruling.pool(customer.pool)?;
    if !pool.rules.abandon_reasons.is_empty() && !pool.rules.abandon_reasons.contains(&reason) {
        return Err(DomainError::ReasonNotInList {
            reason,
            pool: customer.pool,
        });
    }
    let target = match (&pool.rules.return_target, return_to) {
        (rules::ReturnTarget::SourcePool, None) => customer.pool,
        (rules::ReturnTarget::UserChooses, Some(chosen)) if chosen != customer.pool => {
            ruling.pool(chosen)?;
            if !ruling.model.is_member(abandoner, chosen) {
                return Err(DomainError::NotPoolMember {
                    user: abandoner,
                    pool: chosen,
                });
            }
            chosen
        }
        (rules::ReturnTarget::UserChooses, chosen) => chosen.unwrap_or(customer.pool),
        (rules::ReturnTarget::Fixed { pool }, None) => *pool,
        (rules::ReturnTarget::SourcePool, Some(chosen)) if chosen == customer.pool => chosen,
        (rules::ReturnTarget::Fixed { pool }, Some(chosen)) if chosen == *pool => chosen,
        (_, Some(_)) => {
            return Err(DomainError::invalid(
                "return_to",
                "this pool's return rule does not let the user choose",
            ));
        }
    };
    ruling.pool(target)?;
    ruling.emit(EventBody::CustomerAbandoned(CustomerAbandoned {
        customer_id,
        from_pool: customer.pool,
        to_pool: target,
        abandoner,
        reason,
    }));
    Ok(())
}

/// `Reclaim`: a pool admin takes an owned customer back to its pool.
pub(super) fn reclaim(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    reason: Option<&str>,
) -> Result<()> {
    let reason = optional_reason(reason)?;
    ruling.administered(customer_id)?;
    let (customer, ownership) = ruling.owned(customer_id, "reclaim")?;
    ruling.emit(EventBody::CustomerReclaimed(CustomerReclaimed {
        customer_id,
        pool_id: customer.pool,
        former_owner: ownership.owner,
        reason,
    }));
    Ok(())
}

/// `AutoReclaim` (the system only): reclaims a customer at its deadline by the rule that
/// set it, or extends its protection instead where the extension rule allows, or hands it
/// on as the pool's escalation ladder says.
pub(super) fn auto_reclaim(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    rule: RuleKind,
    due_at: DateTime<Utc>,
) -> Result<()> {
    ruling.require_system("auto_reclaim")?;
    let (customer, ownership) = ruling.owned(customer_id, "auto_reclaim")?;
    let pool = ruling.pool(customer.pool)?;
    let not_due = || DomainError::NotDue {
        customer: customer_id,
        action: "auto_reclaim",
        due_at,
    };
    let deadline = customer.deadline.ok_or_else(not_due)?;
    if deadline.at != due_at || deadline.rule != rule || ruling.now < due_at {
        return Err(not_due());
    }
    if rule == RuleKind::ProtectionExpired
        && let Some(until) =
            rules::protection_extension(&pool.rules, &pool.rules_since, ownership, due_at)
    {
        ruling.emit(EventBody::ProtectionExtended(ProtectionExtended {
            customer_id,
            owner: ownership.owner,
            previous_until: due_at,
            until,
            max_until: rules::protection_max(&pool.rules, &pool.rules_since, ownership),
        }));
        return Ok(());
    }
    let escalation_fallback =
        match ladder::at_deadline(ruling, customer_id, customer, ownership, pool, &deadline) {
            AtDeadline::Reassigned => return Ok(()),
            AtDeadline::ToPool(reason) => reason.map(str::to_owned),
        };
    ruling.emit(EventBody::CustomerAutoReclaimed(CustomerAutoReclaimed {
        customer_id,
        pool_id: customer.pool,
        former_owner: ownership.owner,
        rule,
        threshold_days: deadline.threshold_days,
        due_at,
        rules_version: pool.rules_version,
        evidence: ladder::evidence(pool, ownership, &deadline),
        escalation_fallback,
    }));
    Ok(())
}

/// `RemindReclaim` (the system only): reminds the owner of a coming reclaim, once per
/// deadline.
pub(super) fn remind_reclaim(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    due_at: DateTime<Utc>,
) -> Result<()> {
    ruling.require_system("remind_reclaim")?;
    let (customer, ownership) = ruling.owned(customer_id, "remind_reclaim")?;
    let due = customer.deadline.filter(|deadline| deadline.at == due_at);
    let reminder_due = customer.reminder_at.is_some_and(|at| at <= ruling.now);
    match due {
        Some(deadline) if reminder_due && customer.reminded_for != Some(due_at) => {
            ruling.emit(EventBody::ReclaimReminded(ReclaimReminded {
                customer_id,
                pool_id: customer.pool,
                owner: ownership.owner,
                rule: deadline.rule,
                due_at,
            }));
            Ok(())
        }
        _ => Err(DomainError::NotDue {
            customer: customer_id,
            action: "remind_reclaim",
            due_at,
        }),
    }
}

/// `Transfer`: the owner, a pool admin or a superior of the owner gives an owned customer
/// to another member, within the new owner's caps.
pub(super) fn transfer(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    new_owner: UserId,
    reason: Option<&str>,
) -> Result<()> {
    let reason = optional_reason(reason)?;
    let (customer, ownership) = ruling.owned(customer_id, "transfer")?;
    ruling.require_owner_admin_or_superior(customer_id, customer)?;
    if new_owner == ownership.owner {
        return Err(DomainError::NothingToDo(format!(
            "users/{new_owner} already owns customers/{customer_id}"
        )));
    }
    ruling.receiving_member(new_owner, customer.pool)?;
    ruling.check_cap(new_owner, customer.pool)?;
    ruling.emit(EventBody::CustomerTransferred(CustomerTransferred {
        customer_id,
        pool_id: customer.pool,
        from: ownership.owner,
        to: new_owner,
        reason,
    }));
    Ok(())
}

/// `Freeze`: a pool admin freezes a live customer (unclaimed, pending or owned).
pub(super) fn freeze(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    reason: Option<&str>,
) -> Result<()> {
    let reason = optional_reason(reason)?;
    let customer = ruling.administered(customer_id)?;
    match customer.state {
        CustomerState::InPool | CustomerState::Pending { .. } | CustomerState::Owned(_) => {}
        _ => {
            return Err(state_error(
                customer_id,
                customer,
                "freeze",
                "in_pool, pending or owned",
            ));
        }
    }
    ruling.emit(EventBody::CustomerFrozen(CustomerFrozen {
        customer_id,
        pool_id: customer.pool,
        former_owner: customer.state.owner(),
        reason,
    }));
    Ok(())
}

/// `Unfreeze`: a pool admin returns a frozen customer to its pool.
pub(super) fn unfreeze(ruling: &mut Ruling<'_>, customer_id: CustomerId) -> Result<()> {
    let customer = ruling.administered(customer_id)?;
    if customer.state != CustomerState::Frozen {
        return Err(state_error(customer_id, customer, "unfreeze", "frozen"));
    }
    ruling.emit(EventBody::CustomerUnfrozen(CustomerUnfrozen {
        customer_id,
        pool_id: customer.pool,
    }));
    Ok(())
}

/// `Move`: an admin of both pools moves a customer, in whatever state, to another pool.
pub(super) fn move_pool(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    destination_pool: PoolId,
) -> Result<()> {
    let customer = ruling.customer(customer_id)?;
    ruling.pool(destination_pool)?;
    if destination_pool == customer.pool {
        return Err(DomainError::invalid(
            "destination_pool",
            "the customer is already in that pool",
        ));
    }
    ruling.require_pool_admin(customer.pool)?;
    ruling.require_pool_admin(destination_pool)?;
    not_deleted(customer_id, customer, "move")?;
    ruling.emit(EventBody::CustomerMoved(CustomerMoved {
        customer_id,
        from_pool: customer.pool,
        to_pool: destination_pool,
    }));
    Ok(())
}

/// `Delete`: a pool admin or a superior of the owner puts a customer in the recycle bin.
pub(super) fn delete(ruling: &mut Ruling<'_>, customer_id: CustomerId) -> Result<()> {
    let customer = ruling.customer(customer_id)?;
    if let Actor::User(user) = ruling.command.actor {
        let superior = customer
            .state
            .owner()
            .is_some_and(|owner| ruling.model.is_superior_of(user, owner));
        if !superior && !ruling.model.is_pool_admin(user, customer.pool) {
            return Err(DomainError::NotPoolAdmin {
                actor: ruling.actor_name(),
                pool: customer.pool,
            });
        }
    }
    not_deleted(customer_id, customer, "delete")?;
    ruling.emit(EventBody::CustomerDeleted(CustomerDeleted {
        customer_id,
        pool_id: customer.pool,
        former_owner: customer.state.owner(),
    }));
    Ok(())
}

/// `Restore`: a pool admin brings a deleted customer back to the state before, to its
/// former owner unless that owner was deactivated or is at a cap (then to the pool, saying
/// why).
pub(super) fn restore(ruling: &mut Ruling<'_>, customer_id: CustomerId) -> Result<()> {
    let customer = ruling.administered(customer_id)?;
    let CustomerState::Deleted { former } = customer.state else {
        return Err(state_error(customer_id, customer, "restore", "deleted"));
    };
    let (restored_to, owner, note) = match former {
        FormerState::Unclaimed => (RestoredTo::Pool, None, None),
        FormerState::Frozen => (RestoredTo::Frozen, None, None),
        FormerState::Owned(owner) => {
            let active = ruling.model.users.get(&owner).is_some_and(|u| u.active);
            match (active, ruling.cap_breach(owner, customer.pool)) {
                (false, _) => (RestoredTo::Pool, None, Some("former_owner_deactivated")),
                (
                    true,
                    Some(DomainError::CapReached {
                        scope: CapScope::Overall,
                        ..
                    }),
                ) => (RestoredTo::Pool, None, Some("former_owner_at_overall_cap")),
                (true, Some(_)) => (RestoredTo::Pool, None, Some("former_owner_at_pool_cap")),
                (true, None) => (RestoredTo::FormerOwner, Some(owner), None),
            }
        }
    };
    ruling.emit(EventBody::CustomerRestored(CustomerRestored {
        customer_id,
        pool_id: customer.pool,
        restored_to,
        owner,
        note: note.map(str::to_owned),
    }));
    Ok(())
}
