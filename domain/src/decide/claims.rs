//! Claims: how a customer in a pool gets an owner. A pool admin assigns it (with an
//! optional protection window); a member claims it in a free-claim pool or applies for it
//! in a pool with approval, and a pool admin approves or rejects the application. Claims
//! and applications respect cooldowns and the daily quota; every new owner respects the
//! caps.

use crate::command::ProtectionWindow;
use crate::error::DomainError;
use crate::event::{
    ClaimApproved, ClaimRejected, ClaimRequested, CustomerAssigned, CustomerClaimed, EventBody,
};
use crate::ids::{CustomerId, PoolId, UserId};
use crate::model::CustomerState;
use crate::rules::{self, PoolMode};

use super::checks::{optional_reason, pending_applicant, state_error};
use super::{Result, Ruling};

/// `Assign`: a pool admin gives an unclaimed or pending customer to a member (overriding
/// the application), with an optional protection window.
pub(super) fn assign(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    assignee: UserId,
    protection: Option<ProtectionWindow>,
) -> Result<()> {
    let customer = ruling.customer(customer_id)?;
    let pool = ruling.pool(customer.pool)?;
    ruling.require_pool_admin(customer.pool)?;
    let overrode_applicant = match customer.state {
        CustomerState::InPool => None,
        CustomerState::Pending { applicant, .. } => Some(applicant),
        _ => {
            return Err(state_error(
                customer_id,
                customer,
                "assign",
                "in_pool or pending",
            ));
        }
    };
    ruling.receiving_member(assignee, customer.pool)?;
    let (protection_start, protection_until) = match protection {
        None => (ruling.now, None),
        // A window is accepted in every pool (seed 004: the admin picks the dates on any
        // assignment); the pool's maximum bounds it where the protection rule is on.
        Some(window) => {
            if window.end <= window.start {
                return Err(DomainError::invalid(
                    "protection.end",
                    "must be after protection.start",
                ));
            }
            if window.end <= ruling.now {
                return Err(DomainError::invalid(
                    "protection.end",
                    "must be in the future",
                ));
            }
            if let Some(protection) = &pool.rules.protection {
                let max = rules::protection_base(&pool.rules_since, window.start)
                    + rules::days(protection.max_days);
                if window.end > max {
                    return Err(DomainError::ProtectionBeyondMaximum {
                        requested: window.end,
                        max,
                    });
                }
            }
            (window.start, Some(window.end))
        }
    };
    ruling.check_cap(assignee, customer.pool)?;
    ruling.emit(EventBody::CustomerAssigned(CustomerAssigned {
        customer_id,
        pool_id: customer.pool,
        assignee,
        overrode_applicant,
        protection_start,
        protection_until,
    }));
    Ok(())
}

/// `Claim`: a member takes an unclaimed customer of a free-claim pool.
pub(super) fn claim(ruling: &mut Ruling<'_>, customer_id: CustomerId) -> Result<()> {
    let user = ruling.user_actor()?;
    let pool_id = claimable(ruling, customer_id, user, PoolMode::FreeClaim, "claim")?;
    ruling.check_cap(user, pool_id)?;
    ruling.emit(EventBody::CustomerClaimed(CustomerClaimed {
        customer_id,
        pool_id,
        owner: user,
    }));
    Ok(())
}

/// `RequestClaim`: a member applies for an unclaimed customer of a pool with approval.
pub(super) fn request(ruling: &mut Ruling<'_>, customer_id: CustomerId) -> Result<()> {
    let user = ruling.user_actor()?;
    let pool_id = claimable(
        ruling,
        customer_id,
        user,
        PoolMode::ClaimWithApproval,
        "request_claim",
    )?;
    ruling.check_cap(user, pool_id)?;
    ruling.emit(EventBody::ClaimRequested(ClaimRequested {
        customer_id,
        pool_id,
        applicant: user,
    }));
    Ok(())
}

/// `ApproveClaim`: a pool admin makes the applicant the owner.
pub(super) fn approve(ruling: &mut Ruling<'_>, customer_id: CustomerId) -> Result<()> {
    let customer = ruling.administered(customer_id)?;
    let applicant = pending_applicant(customer_id, customer, "approve_claim")?;
    ruling.active_user(applicant)?;
    ruling.check_cap(applicant, customer.pool)?;
    ruling.emit(EventBody::ClaimApproved(ClaimApproved {
        customer_id,
        pool_id: customer.pool,
        applicant,
    }));
    Ok(())
}

/// `RejectClaim`: a pool admin sends a pending customer back to its pool.
pub(super) fn reject(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    reason: Option<&str>,
) -> Result<()> {
    let reason = optional_reason(reason)?;
    let customer = ruling.administered(customer_id)?;
    let applicant = pending_applicant(customer_id, customer, "reject_claim")?;
    ruling.emit(EventBody::ClaimRejected(ClaimRejected {
        customer_id,
        pool_id: customer.pool,
        applicant,
        reason,
    }));
    Ok(())
}

/// What claim and request claim both check: that `user` is a member of the customer's pool,
/// that the pool is in `mode`, that the customer is in the pool, then the cooldown and the
/// daily quota. Returns the pool.
fn claimable(
    ruling: &Ruling<'_>,
    customer_id: CustomerId,
    user: UserId,
    mode: PoolMode,
    action: &'static str,
) -> Result<PoolId> {
    let customer = ruling.customer(customer_id)?;
    let pool = ruling.pool(customer.pool)?;
    if !ruling.model.is_member(user, customer.pool) {
        return Err(DomainError::NotPoolMember {
            user,
            pool: customer.pool,
        });
    }
    if pool.mode != mode {
        return Err(DomainError::WrongMode {
            pool: customer.pool,
            mode: pool.mode,
            action,
        });
    }
    if customer.state != CustomerState::InPool {
        return Err(state_error(customer_id, customer, action, "in_pool"));
    }
    ruling.check_cooldown(user, customer_id, pool)?;
    ruling.check_quota(user, customer.pool, pool)?;
    Ok(customer.pool)
}
