//! What happens to a customer while it is owned: the owner logs follow-ups (contacts that
//! reset the no-contact timers) and a superior or pool admin comments on them; the owner
//! marks the deal won; a pool admin extends its protection window; the owner or a pool
//! admin shares it with a department.

use chrono::{DateTime, Utc};

use crate::command::limits;
use crate::error::DomainError;
use crate::event::{
    Actor, CustomerShared, CustomerWon, EventBody, FollowUpCommented, FollowUpKind, FollowUpLogged,
    ProtectionExtended,
};
use crate::ids::{CustomerId, FollowUpId};
use crate::rules;

use super::checks::{not_deleted, required_text};
use super::purge::not_purged;
use super::{Result, Ruling};

/// `LogFollowUp`: the owner records a contact with the customer.
pub(super) fn log(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    follow_up_id: FollowUpId,
    kind: FollowUpKind,
    note: &str,
) -> Result<()> {
    let note = required_text("note", note, limits::LONG_TEXT)?;
    let (customer, ownership) = ruling.owned(customer_id, "log_follow_up")?;
    not_purged(customer_id, customer, "log_follow_up")?;
    let author = ruling.require_owner(customer_id, ownership)?;
    if ruling.model.follow_ups.contains_key(&follow_up_id) {
        return Err(DomainError::AlreadyExists {
            kind: "follow_up",
            id: follow_up_id.to_string(),
        });
    }
    ruling.emit(EventBody::FollowUpLogged(FollowUpLogged {
        customer_id,
        follow_up_id,
        author,
        kind,
        note,
    }));
    Ok(())
}

/// `CommentFollowUp`: a superior of the follow-up's author, or a pool admin, comments on it.
pub(super) fn comment(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    follow_up_id: FollowUpId,
    comment: &str,
) -> Result<()> {
    let comment = required_text("comment", comment, limits::LONG_TEXT)?;
    let customer = ruling.customer(customer_id)?;
    not_purged(customer_id, customer, "comment_follow_up")?;
    let follow_up = ruling
        .model
        .follow_ups
        .get(&follow_up_id)
        .filter(|f| f.customer == customer_id)
        .ok_or(DomainError::UnknownFollowUp(follow_up_id))?;
    let author = ruling.user_actor()?;
    if !ruling.model.is_superior_of(author, follow_up.author)
        && !ruling.model.is_pool_admin(author, customer.pool)
    {
        return Err(DomainError::NotSuperior {
            actor: ruling.actor_name(),
            follow_up: follow_up_id,
        });
    }
    not_deleted(customer_id, customer, "comment_follow_up")?;
    ruling.emit(EventBody::FollowUpCommented(FollowUpCommented {
        customer_id,
        follow_up_id,
        author,
        comment,
    }));
    Ok(())
}

/// `MarkWon`: the owner records the deal, once; it stops the not-won and protection timers.
pub(super) fn mark_won(ruling: &mut Ruling<'_>, customer_id: CustomerId) -> Result<()> {
    let (_, ownership) = ruling.owned(customer_id, "mark_won")?;
    let owner = ruling.require_owner(customer_id, ownership)?;
    if ownership.won_at.is_some() {
        return Err(DomainError::NothingToDo(format!(
            "customer {customer_id} is already won"
        )));
    }
    ruling.emit(EventBody::CustomerWon(CustomerWon { customer_id, owner }));
    Ok(())
}

/// `ExtendProtection`: a pool admin moves the end of an owned customer's protection later.
pub(super) fn extend_protection(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    until: DateTime<Utc>,
) -> Result<()> {
    ruling.administered(customer_id)?;
    let (customer, ownership) = ruling.owned(customer_id, "extend_protection")?;
    let pool = ruling.pool(customer.pool)?;
    // With the protection rule on, protection always has an end and a maximum.
    // With it off, only an explicit window (an assignment's or an earlier
    // extension's) can be extended, without a maximum; the new end must then be
    // in the future, or the customer would stay in the expired view.
    let current = rules::protection_until(&pool.rules, &pool.rules_since, ownership)
        .ok_or(DomainError::NoProtectionRule(customer.pool))?;
    let max = rules::protection_max(&pool.rules, &pool.rules_since, ownership);
    if until <= current {
        return Err(DomainError::invalid(
            "until",
            format!("must be later than the current end of protection, {current}"),
        ));
    }
    if max.is_none() && until <= ruling.now {
        return Err(DomainError::invalid("until", "must be in the future"));
    }
    if let Some(max) = max
        && until > max
    {
        return Err(DomainError::ProtectionBeyondMaximum {
            requested: until,
            max,
        });
    }
    ruling.emit(EventBody::ProtectionExtended(ProtectionExtended {
        customer_id,
        owner: ownership.owner,
        previous_until: current,
        until,
        max_until: max,
    }));
    Ok(())
}

/// `Share`: the owner or a pool admin gives a department read access, once.
pub(super) fn share(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    department: &str,
) -> Result<()> {
    let department = required_text("department", department, limits::SHORT_TEXT)?;
    let customer = ruling.customer(customer_id)?;
    if let Actor::User(user) = ruling.command.actor
        && customer.state.owner() != Some(user)
        && !ruling.model.is_pool_admin(user, customer.pool)
    {
        return Err(DomainError::NotOwner {
            actor: ruling.actor_name(),
            customer: customer_id,
        });
    }
    not_deleted(customer_id, customer, "share")?;
    if !customer.shared_with.contains(&department) {
        ruling.emit(EventBody::CustomerShared(CustomerShared {
            customer_id,
            department,
        }));
    }
    Ok(())
}
