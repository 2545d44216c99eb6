//! The escalation ladder before an automatic reclaim (逐级上报): after the owner's
//! reminder, the scheduler notifies the owner's superior `notify_superior_hours` before
//! the deadline; at the deadline the customer goes back to the pool, to the superior, or
//! to an auto-assignee, as the pool's escalation says, within caps, and back to the pool
//! with the reason recorded when nobody can take it. A follow-up after the reminder or
//! the escalation stops the ladder: the deadline's outcome is then the pool.

use chrono::{DateTime, Utc};

use crate::assignment;
use crate::error::{CapScope, DomainError};
use crate::event::{
    CustomerReclaimReassigned, EventBody, ReassignedVia, ReassignmentChoice, ReclaimEscalated,
    ReclaimEvidence,
};
use crate::ids::{CustomerId, UserId};
use crate::model::{Customer, Pool};
use crate::rules::{self, Deadline, DeadlineOutcome, Ownership};

use super::intake::{candidates, pointer};
use super::{Result, Ruling};

/// `EscalateReclaim` (the system only): tells the owner's superior of a coming reclaim,
/// once per deadline.
pub(super) fn escalate(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    due_at: DateTime<Utc>,
) -> Result<()> {
    ruling.require_system("escalate_reclaim")?;
    let (customer, ownership) = ruling.owned(customer_id, "escalate_reclaim")?;
    let pool = ruling.pool(customer.pool)?;
    let due = customer
        .escalation_at(&pool.rules)
        .is_some_and(|at| at <= ruling.now);
    let Some(deadline) = customer.deadline.filter(|d| d.at == due_at && due) else {
        return Err(DomainError::NotDue {
            customer: customer_id,
            action: "escalate_reclaim",
            due_at,
        });
    };
    let superior = ruling
        .model
        .users
        .get(&ownership.owner)
        .and_then(|owner| owner.superior)
        .filter(|superior| ruling.model.users.get(superior).is_some_and(|u| u.active));
    ruling.emit(EventBody::ReclaimEscalated(ReclaimEscalated {
        customer_id,
        pool_id: customer.pool,
        owner: ownership.owner,
        superior,
        rule: deadline.rule,
        due_at,
        rules_version: pool.rules_version,
        evidence: evidence(pool, ownership, &deadline),
    }));
    Ok(())
}

/// The facts an automatic reclaim (or a step of its ladder) rests on.
pub(super) fn evidence(pool: &Pool, ownership: &Ownership, deadline: &Deadline) -> ReclaimEvidence {
    ReclaimEvidence {
        owned_since: ownership.since,
        last_contact_at: ownership.last_contact_at,
        won_at: ownership.won_at,
        counted_from: deadline.counted_from,
        protection_until: rules::protection_until(&pool.rules, &pool.rules_since, ownership),
    }
}

/// What the ladder does at the deadline.
pub(super) enum AtDeadline {
    /// The customer was reassigned (the event is emitted).
    Reassigned,
    /// It goes back to the pool; with escalation on, the reason it could not stay.
    ToPool(Option<&'static str>),
}

/// At the deadline of `customer` (owned as `ownership`, in `pool`): reassigns it as the
/// pool's escalation says, or says why it goes back to the pool.
pub(super) fn at_deadline(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    customer: &Customer,
    ownership: &Ownership,
    pool: &Pool,
    deadline: &Deadline,
) -> AtDeadline {
    let Some(escalation) = &pool.rules.escalation else {
        return AtDeadline::ToPool(None);
    };
    if escalation.at_deadline == DeadlineOutcome::ReturnToPool {
        return AtDeadline::ToPool(None);
    }
    if customer.ladder_stopped(deadline.at) {
        return AtDeadline::ToPool(Some("ladder_stopped_by_follow_up"));
    }
    let chosen = match escalation.at_deadline {
        DeadlineOutcome::ReassignToSuperior => superior_of(ruling, ownership.owner, customer)
            .map(|superior| (superior, ReassignedVia::Superior, None)),
        _ => auto_assignee(ruling, ownership.owner, customer, pool)
            .map(|(user, choice)| (user, ReassignedVia::AutoAssign, Some(Box::new(choice)))),
    };
    let (new_owner, via, assignment) = match chosen {
        Ok(chosen) => chosen,
        Err(reason) => return AtDeadline::ToPool(Some(reason)),
    };
    if let Some(choice) = &assignment {
        let index = choice.rule_index as usize;
        ruling
            .rotation
            .insert((customer.pool, index), choice.pointer_after);
    }
    ruling.note_ownership(new_owner, customer.pool, 1);
    ruling.emit(EventBody::CustomerReclaimReassigned(
        CustomerReclaimReassigned {
            customer_id,
            pool_id: customer.pool,
            former_owner: ownership.owner,
            new_owner,
            via,
            assignment,
            rule: deadline.rule,
            threshold_days: deadline.threshold_days,
            due_at: deadline.at,
            rules_version: pool.rules_version,
            evidence: evidence(pool, ownership, deadline),
        },
    ));
    AtDeadline::Reassigned
}

/// The owner's superior, when they may take the customer: active, a member of its pool,
/// within their caps.
fn superior_of(
    ruling: &Ruling<'_>,
    owner: UserId,
    customer: &Customer,
) -> std::result::Result<UserId, &'static str> {
    let superior = ruling
        .model
        .users
        .get(&owner)
        .and_then(|user| user.superior)
        .ok_or("no_superior")?;
    if !ruling.model.users.get(&superior).is_some_and(|u| u.active) {
        return Err("superior_deactivated");
    }
    if !ruling.model.is_member(superior, customer.pool) {
        return Err("superior_not_member");
    }
    match ruling.cap_breach(superior, customer.pool) {
        Some(DomainError::CapReached {
            scope: CapScope::Overall,
            ..
        }) => Err("superior_at_overall_cap"),
        Some(_) => Err("superior_at_pool_cap"),
        None => Ok(superior),
    }
}

/// An assignee of the pool's auto-assignment rules that match every customer (the write
/// model keeps no names or fields to filter on), other than the former owner.
fn auto_assignee(
    ruling: &Ruling<'_>,
    owner: UserId,
    customer: &Customer,
    pool: &Pool,
) -> std::result::Result<(UserId, ReassignmentChoice), &'static str> {
    let rules = pool.rules.auto_assign.iter().enumerate();
    for (index, rule) in rules.filter(|(_, rule)| rule.filter.is_empty()) {
        let mut candidates = candidates(ruling, rule, customer.pool);
        for candidate in candidates.iter_mut().filter(|c| c.user_id == owner) {
            candidate.skipped = Some("former_owner".to_owned());
        }
        let pointer_before = pointer(ruling, customer.pool, pool, index);
        if let Some(choice) = assignment::choose(rule.strategy, &candidates, pointer_before) {
            let reassignment = ReassignmentChoice {
                rule_index: u32::try_from(index).unwrap_or(u32::MAX),
                rule_name: rule.name.clone(),
                candidates,
                pointer_before,
                pointer_after: choice.pointer_after,
            };
            return Ok((choice.assignee, reassignment));
        }
    }
    Err("no_assignee")
}
