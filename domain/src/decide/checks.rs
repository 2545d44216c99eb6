//! What several commands check, and the lookups they share.
//!
//! The actor (exists, is active, is a user where only users may act), the expected
//! version of the target, who may act on a pool or a customer (admins, pool admins,
//! owners, superiors), the target's state, and the limits: caps (counting the ruling's
//! own overlay, so a command that hands out several customers cannot break one),
//! cooldowns and daily quotas. Also the shape of text fields: trimmed, not blank, not
//! too long.

use crate::command::{CommandBody, limits};
use crate::error::{CapScope, DomainError};
use crate::event::Actor;
use crate::ids::{CustomerId, PoolId, UserId};
use crate::model::{Customer, CustomerState, Pool, User};
use crate::rules;

use super::{Result, Ruling};

/// Trims `value` and checks it is not blank and not longer than `max` characters.
pub(super) fn required_text(field: &str, value: &str, max: usize) -> Result<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(DomainError::invalid(field, "must not be blank"));
    }
    if trimmed.chars().count() > max {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Like [`required_text`], but blank becomes `None`.
pub(super) fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => required_text(field, text, max).map(Some),
    }
}

/// An optional reason (of a rejection, a reclaim, a transfer, a freeze): trimmed, blank
/// as none, not too long.
pub(super) fn optional_reason(reason: Option<&str>) -> Result<Option<String>> {
    optional_text("reason", reason, limits::SHORT_TEXT)
}

/// The applicant of a pending customer; refuses `action` on a customer in any other state.
pub(super) fn pending_applicant(
    customer_id: CustomerId,
    customer: &Customer,
    action: &'static str,
) -> Result<UserId> {
    match customer.state {
        CustomerState::Pending { applicant, .. } => Ok(applicant),
        _ => Err(state_error(customer_id, customer, action, "pending")),
    }
}

/// The refusal of `action` on a customer whose state is not the `expected` one.
pub(super) fn state_error(
    customer_id: CustomerId,
    customer: &Customer,
    action: &'static str,
    expected: &'static str,
) -> DomainError {
    DomainError::WrongState {
        customer: customer_id,
        action,
        expected,
        actual: customer.state.name(),
    }
}

/// Refuses `action` on a customer in the recycle bin.
pub(super) fn not_deleted(
    customer_id: CustomerId,
    customer: &Customer,
    action: &'static str,
) -> Result<()> {
    match customer.state {
        CustomerState::Deleted { .. } => {
            Err(state_error(customer_id, customer, action, "not deleted"))
        }
        _ => Ok(()),
    }
}

impl<'a> Ruling<'a> {
    /// The actor as errors name it (`users/{uuid}`, `system`, `the … rule`).
    pub(super) fn actor_name(&self) -> String {
        self.command.actor.resource_name()
    }

    /// The acting user must exist and be active; the system may always act.
    pub(super) fn check_actor(&self) -> Result<()> {
        if let Actor::User(user) = self.command.actor {
            let known = self
                .model
                .users
                .get(&user)
                .ok_or(DomainError::UnknownUser(user))?;
            if !known.active {
                return Err(DomainError::InactiveActor(user));
            }
        }
        Ok(())
    }

    /// The acting user; commands that only users may issue call this.
    pub(super) fn user_actor(&self) -> Result<UserId> {
        self.command.actor.user().ok_or_else(|| {
            DomainError::invalid(
                "actor",
                format!("{} must be made by a user", self.command.body.name()),
            )
        })
    }

    /// The target's stream (customer, pool, user or organization) must be at the expected
    /// version, when the command names one.
    pub(super) fn check_expected_version(&self) -> Result<()> {
        let Some(expected) = self.command.expected_version else {
            return Ok(());
        };
        use CommandBody::*;
        let actual = match &self.command.body {
            CreateUser { user_id, .. }
            | UpdateUser { user_id, .. }
            | DeactivateUser { user_id, .. } => {
                self.model.users.get(user_id).map_or(0, |u| u.version)
            }
            CreatePool { pool_id, .. }
            | SetPoolMode { pool_id, .. }
            | SetPoolAdmins { pool_id, .. }
            | SetPoolMembers { pool_id, .. }
            | SetPoolRules { pool_id, .. } => {
                self.model.pools.get(pool_id).map_or(0, |p| p.version)
            }
            SetOrganizationSettings { .. } => self.model.settings.version,
            ImportCustomers { .. } => {
                return Err(DomainError::invalid(
                    "expected_version",
                    "an import has no single target version",
                ));
            }
            body => body
                .customer_id()
                .map_or(0, |id| self.model.customer_version(id)),
        };
        if actual == expected {
            Ok(())
        } else {
            Err(DomainError::VersionConflict { expected, actual })
        }
    }

    /// Only an organization admin (or the system) may act.
    pub(super) fn require_admin(&self) -> Result<()> {
        match self.command.actor {
            Actor::User(user) if !self.model.is_admin(user) => Err(DomainError::NotAdmin {
                actor: self.actor_name(),
            }),
            _ => Ok(()),
        }
    }

    /// Only an admin of `pool` (organization admins count) or the system may act.
    pub(super) fn require_pool_admin(&self, pool: PoolId) -> Result<()> {
        match self.command.actor {
            Actor::User(user) if !self.model.is_pool_admin(user, pool) => {
                Err(DomainError::NotPoolAdmin {
                    actor: self.actor_name(),
                    pool,
                })
            }
            _ => Ok(()),
        }
    }

    /// Only the system or a rule may act.
    pub(super) fn require_system(&self, action: &'static str) -> Result<()> {
        match self.command.actor {
            Actor::User(_) => Err(DomainError::SystemOnly { action }),
            Actor::System | Actor::Rule(_) => Ok(()),
        }
    }

    /// The customer, which must exist.
    pub(super) fn customer(&self, customer_id: CustomerId) -> Result<&'a Customer> {
        self.model
            .customers
            .get(&customer_id)
            .ok_or(DomainError::UnknownCustomer(customer_id))
    }

    /// The customer, which must exist and which the actor must administer (a pool admin of
    /// its pool, or the system).
    pub(super) fn administered(&self, customer_id: CustomerId) -> Result<&'a Customer> {
        let customer = self.customer(customer_id)?;
        self.require_pool_admin(customer.pool)?;
        Ok(customer)
    }

    /// The pool, which must exist.
    pub(super) fn pool(&self, pool_id: PoolId) -> Result<&'a Pool> {
        self.model
            .pools
            .get(&pool_id)
            .ok_or(DomainError::UnknownPool(pool_id))
    }

    /// The user, who must exist.
    pub(super) fn user(&self, user_id: UserId) -> Result<&'a User> {
        self.model
            .users
            .get(&user_id)
            .ok_or(DomainError::UnknownUser(user_id))
    }

    /// The user, who must exist and be active.
    pub(super) fn active_user(&self, user_id: UserId) -> Result<&'a User> {
        let user = self.user(user_id)?;
        if user.active {
            Ok(user)
        } else {
            Err(DomainError::DeactivatedUser(user_id))
        }
    }

    /// A user who may receive customers of `pool`: known, active and a member.
    pub(super) fn receiving_member(&self, user_id: UserId, pool: PoolId) -> Result<()> {
        self.active_user(user_id)?;
        if self.model.is_member(user_id, pool) {
            Ok(())
        } else {
            Err(DomainError::NotPoolMember {
                user: user_id,
                pool,
            })
        }
    }

    /// Customers `user` owns in `pool`, counting what this ruling has handed out so far.
    pub(super) fn owned_in_pool(&self, user: UserId, pool: PoolId) -> u32 {
        if self.owned_delta.is_empty() {
            return self.model.owned_in_pool(user, pool);
        }
        let delta = self.owned_delta.get(&(user, pool)).copied().unwrap_or(0);
        u32::try_from((i64::from(self.model.owned_in_pool(user, pool)) + delta).max(0))
            .unwrap_or(u32::MAX)
    }

    /// Customers `user` owns overall, counting what this ruling has handed out so far.
    pub(super) fn owned_total(&self, user: UserId) -> u32 {
        if self.owned_delta.is_empty() {
            return self.model.owned_total(user);
        }
        let delta: i64 = self
            .owned_delta
            .iter()
            .filter(|((owner, _), _)| *owner == user)
            .map(|(_, delta)| *delta)
            .sum();
        u32::try_from((i64::from(self.model.owned_total(user)) + delta).max(0)).unwrap_or(u32::MAX)
    }

    /// Records that this ruling hands `user` `delta` more customers of `pool`.
    pub(super) fn note_ownership(&mut self, user: UserId, pool: PoolId, delta: i64) {
        *self.owned_delta.entry((user, pool)).or_insert(0) += delta;
    }

    /// The cap that one more customer of `pool` would break for `user`, if any.
    pub(super) fn cap_breach(&self, user: UserId, pool: PoolId) -> Option<DomainError> {
        if let Some(cap) = self
            .model
            .pools
            .get(&pool)
            .and_then(|p| p.rules.cap.as_ref())
        {
            let cap = cap.for_user(user);
            let owned = self.owned_in_pool(user, pool);
            if owned >= cap {
                return Some(DomainError::CapReached {
                    user,
                    scope: CapScope::Pool(pool),
                    cap,
                    owned,
                });
            }
        }
        if let Some(cap) = &self.model.settings.overall_cap {
            let cap = cap.for_user(user);
            let owned = self.owned_total(user);
            if owned >= cap {
                return Some(DomainError::CapReached {
                    user,
                    scope: CapScope::Overall,
                    cap,
                    owned,
                });
            }
        }
        None
    }

    /// One more customer of `pool` must not break a cap of `user`.
    pub(super) fn check_cap(&self, user: UserId, pool: PoolId) -> Result<()> {
        self.cap_breach(user, pool).map_or(Ok(()), Err)
    }

    /// `user` must not be in the cooldown after losing or returning the customer.
    pub(super) fn check_cooldown(
        &self,
        user: UserId,
        customer_id: CustomerId,
        pool: &Pool,
    ) -> Result<()> {
        let (Some(cooldown), Some(lost_at)) = (
            &pool.rules.cooldown_days,
            self.model.losses.get(&(user, customer_id)),
        ) else {
            return Ok(());
        };
        let until = *lost_at + rules::days(cooldown.for_user(user));
        if self.now < until {
            return Err(DomainError::CooldownActive {
                user,
                customer: customer_id,
                until,
            });
        }
        Ok(())
    }

    /// `user` must have claims or applications left in `pool` today.
    pub(super) fn check_quota(&self, user: UserId, pool_id: PoolId, pool: &Pool) -> Result<()> {
        if let Some(quota) = &pool.rules.daily_claim_quota {
            let quota = quota.for_user(user);
            if self.model.claims_on_day(user, pool_id, self.now) >= quota {
                return Err(DomainError::DailyQuotaReached {
                    user,
                    pool: pool_id,
                    quota,
                });
            }
        }
        Ok(())
    }

    /// The customer and its ownership; it must be owned.
    pub(super) fn owned(
        &self,
        customer_id: CustomerId,
        action: &'static str,
    ) -> Result<(&'a Customer, &'a rules::Ownership)> {
        let customer = self.customer(customer_id)?;
        match &customer.state {
            CustomerState::Owned(ownership) => Ok((customer, ownership)),
            _ => Err(state_error(customer_id, customer, action, "owned")),
        }
    }

    /// Only the owner may act; returns them.
    pub(super) fn require_owner(
        &self,
        customer_id: CustomerId,
        ownership: &rules::Ownership,
    ) -> Result<UserId> {
        let user = self.user_actor()?;
        if user == ownership.owner {
            Ok(user)
        } else {
            Err(DomainError::NotOwner {
                actor: self.actor_name(),
                customer: customer_id,
            })
        }
    }

    /// The owner, a pool admin, or a superior of the owner.
    pub(super) fn require_owner_admin_or_superior(
        &self,
        customer_id: CustomerId,
        customer: &Customer,
    ) -> Result<()> {
        let Actor::User(user) = self.command.actor else {
            return Ok(());
        };
        let owner = customer.state.owner();
        if owner == Some(user)
            || self.model.is_pool_admin(user, customer.pool)
            || owner.is_some_and(|owner| self.model.is_superior_of(user, owner))
        {
            Ok(())
        } else {
            Err(DomainError::NotOwnerOrSuperior {
                actor: self.actor_name(),
                customer: customer_id,
            })
        }
    }
}
