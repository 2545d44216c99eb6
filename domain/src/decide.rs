//! `decide`: the pure decision of one command against the write model.
//!
//! [`decide`] checks a command in a fixed order (that the actor exists and is active, the
//! expected version of the target, then per command: the shape of its fields, that what it
//! names exists, the actor's permission, the target's state, then
//! cooldowns, quotas and caps) and returns the events it causes, or the first reason it
//! must be refused. It reads the model and never changes it; the caller appends the
//! events and folds them in with [`WriteModel::apply`]. Commands that emit several events
//! (imports with auto-assignment, deactivations) track their own effect on counts and
//! rotation pointers in an overlay, so caps hold within one command too.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::assignment;
use crate::command::{Command, CommandBody, MAX_IMPORT, NewCustomer, ProtectionWindow, limits};
use crate::error::{CapScope, DomainError};
use crate::event::*;
use crate::ids::{CustomerId, EventId, PoolId, UserId};
use crate::model::{Customer, CustomerState, FormerState, Pool, User, WriteModel};
use crate::rules::{self, Limit, MAX_ASSIGN_RULES, PoolMode, PoolRules, RuleKind, RulesSince};

/// Decides `command` against `model` at `now`: the events it causes, or why it is refused.
/// An empty list means the command asked for what already holds (e.g. setting a mode a
/// pool already has).
pub fn decide(model: &WriteModel, command: &Command, now: DateTime<Utc>) -> Result<Vec<Event>> {
    let mut decision = Decision {
        model,
        command,
        now,
        events: Vec::new(),
        owned_delta: HashMap::new(),
        rotation: HashMap::new(),
    };
    decision.check_actor()?;
    decision.check_expected_version()?;
    decision.run()?;
    Ok(decision.events)
}

type Result<T> = std::result::Result<T, DomainError>;

struct Decision<'a> {
    model: &'a WriteModel,
    command: &'a Command,
    now: DateTime<Utc>,
    events: Vec<Event>,
    /// Ownership changes emitted so far by this command: (user, pool) → delta.
    owned_delta: HashMap<(UserId, PoolId), i64>,
    /// Rotation pointers moved so far by this command: (pool, rule index) → pointer.
    rotation: HashMap<(PoolId, usize), u32>,
}

/// Trims `value` and checks it is not blank and not longer than `max` characters.
fn required_text(field: &str, value: &str, max: usize) -> Result<String> {
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

/// A user profile's trimmed name (required) and department (optional).
fn profile(name: &str, department: Option<&str>) -> Result<(String, Option<String>)> {
    Ok((
        required_text("name", name, limits::NAME)?,
        optional_text("department", department, limits::SHORT_TEXT)?,
    ))
}

/// Like [`required_text`], but blank becomes `None`.
fn optional_text(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => required_text(field, text, max).map(Some),
    }
}

fn state_error(
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
fn not_deleted(customer_id: CustomerId, customer: &Customer, action: &'static str) -> Result<()> {
    match customer.state {
        CustomerState::Deleted { .. } => {
            Err(state_error(customer_id, customer, action, "not deleted"))
        }
        _ => Ok(()),
    }
}

fn validate_limit(
    field: &str,
    limit: &Option<Limit>,
    model: &WriteModel,
    allow_zero: bool,
) -> Result<()> {
    let Some(limit) = limit else { return Ok(()) };
    let check = |value: u32, field: String| {
        if value == 0 && !allow_zero {
            Err(DomainError::invalid(field, "must be at least 1"))
        } else if value > 36_500 && !allow_zero {
            Err(DomainError::invalid(field, "must be at most 36500 days"))
        } else {
            Ok(())
        }
    };
    check(limit.value, format!("{field}.value"))?;
    for (user, value) in &limit.per_user {
        if !model.users.contains_key(user) {
            return Err(DomainError::UnknownUser(*user));
        }
        check(*value, format!("{field}.per_user[{user}]"))?;
    }
    Ok(())
}

/// Checks a pool's rules for shape and for users and pools they name.
fn validate_rules(model: &WriteModel, rules: &PoolRules, own_pool: PoolId) -> Result<()> {
    validate_limit(
        "rules.claimed_not_contacted",
        &rules.claimed_not_contacted,
        model,
        false,
    )?;
    validate_limit("rules.no_contact", &rules.no_contact, model, false)?;
    validate_limit("rules.not_won", &rules.not_won, model, false)?;
    validate_limit("rules.cooldown_days", &rules.cooldown_days, model, false)?;
    validate_limit("rules.cap", &rules.cap, model, true)?;
    validate_limit(
        "rules.daily_claim_quota",
        &rules.daily_claim_quota,
        model,
        true,
    )?;
    if let Some(protection) = &rules.protection {
        validate_limit(
            "rules.protection.default_days",
            &Some(protection.default_days.clone()),
            model,
            false,
        )?;
        let longest = protection
            .default_days
            .per_user
            .values()
            .copied()
            .chain([protection.default_days.value])
            .max()
            .unwrap_or(0);
        if protection.max_days < longest {
            return Err(DomainError::invalid(
                "rules.protection.max_days",
                "must be at least the default days",
            ));
        }
        if let Some(extension) = &protection.extension {
            for (field, days) in [
                ("contact_within_days", extension.contact_within_days),
                ("extend_by_days", extension.extend_by_days),
            ] {
                if days == 0 {
                    return Err(DomainError::invalid(
                        format!("rules.protection.extension.{field}"),
                        "must be at least 1 when the extension is on",
                    ));
                }
            }
        }
    }
    if rules.reminder_hours == Some(0) || rules.reminder_hours.is_some_and(|h| h > 24 * 365) {
        return Err(DomainError::invalid(
            "rules.reminder_hours",
            "must be between 1 and 8760",
        ));
    }
    if let rules::ReturnTarget::Fixed { pool } = rules.return_target
        && pool != own_pool
        && !model.pools.contains_key(&pool)
    {
        return Err(DomainError::UnknownPool(pool));
    }
    if rules.abandon_reasons.len() > limits::REASONS {
        return Err(DomainError::invalid(
            "rules.abandon_reasons",
            format!("at most {} reasons", limits::REASONS),
        ));
    }
    for (index, reason) in rules.abandon_reasons.iter().enumerate() {
        required_text(
            &format!("rules.abandon_reasons[{index}]"),
            reason,
            limits::SHORT_TEXT,
        )?;
    }
    if rules.auto_assign.len() > MAX_ASSIGN_RULES {
        return Err(DomainError::invalid(
            "rules.auto_assign",
            format!("at most {MAX_ASSIGN_RULES} rules"),
        ));
    }
    for (index, rule) in rules.auto_assign.iter().enumerate() {
        let field = format!("rules.auto_assign[{index}]");
        required_text(&format!("{field}.name"), &rule.name, limits::NAME)?;
        if rule.assignees.is_empty() || rule.assignees.len() > limits::ASSIGNEES {
            return Err(DomainError::invalid(
                format!("{field}.assignees"),
                format!("must name 1 to {} users", limits::ASSIGNEES),
            ));
        }
        if let Some(unknown) = rule
            .assignees
            .iter()
            .find(|user| !model.users.contains_key(user))
        {
            return Err(DomainError::UnknownUser(*unknown));
        }
    }
    Ok(())
}

/// The instants from which each active reclaim rule of `new` is in force, given the rules
/// before (`old`, with their instants): unchanged rules keep theirs, changed ones start at `now`.
fn rules_since(
    old: Option<(&PoolRules, &RulesSince)>,
    new: &PoolRules,
    now: DateTime<Utc>,
) -> (RulesSince, Vec<RuleKind>) {
    let mut since = RulesSince::new();
    let mut changed = Vec::new();
    for rule in RuleKind::ALL {
        let differs = old.is_none_or(|(old_rules, _)| old_rules.rule_changed(new, rule));
        let active = new.threshold(rule, UserId::from_u128(0)).is_some();
        if differs && (active || old.is_some()) {
            changed.push(rule);
        }
        if active {
            let kept = old.and_then(|(_, old_since)| old_since.get(&rule).copied());
            since.insert(rule, if differs { now } else { kept.unwrap_or(now) });
        }
    }
    (since, changed)
}

impl<'a> Decision<'a> {
    fn emit(&mut self, body: EventBody) {
        let index = u32::try_from(self.events.len()).unwrap_or(u32::MAX);
        self.events.push(Event {
            event_id: EventId::derive(self.command.command_id, index, self.now),
            command_id: self.command.command_id,
            at: self.now,
            actor: self.command.actor,
            body,
        });
    }

    fn actor_name(&self) -> String {
        self.command.actor.resource_name()
    }

    /// The acting user must exist and be active; the system may always act.
    fn check_actor(&self) -> Result<()> {
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
    fn user_actor(&self) -> Result<UserId> {
        self.command.actor.user().ok_or_else(|| {
            DomainError::invalid(
                "actor",
                format!("{} must be made by a user", self.command.body.name()),
            )
        })
    }

    fn check_expected_version(&self) -> Result<()> {
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

    fn require_admin(&self) -> Result<()> {
        match self.command.actor {
            Actor::User(user) if !self.model.is_admin(user) => Err(DomainError::NotAdmin {
                actor: self.actor_name(),
            }),
            _ => Ok(()),
        }
    }

    fn require_pool_admin(&self, pool: PoolId) -> Result<()> {
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

    fn require_system(&self, action: &'static str) -> Result<()> {
        match self.command.actor {
            Actor::User(_) => Err(DomainError::SystemOnly { action }),
            Actor::System | Actor::Rule(_) => Ok(()),
        }
    }

    fn customer(&self, customer_id: CustomerId) -> Result<&'a Customer> {
        self.model
            .customers
            .get(&customer_id)
            .ok_or(DomainError::UnknownCustomer(customer_id))
    }

    fn pool(&self, pool_id: PoolId) -> Result<&'a Pool> {
        self.model
            .pools
            .get(&pool_id)
            .ok_or(DomainError::UnknownPool(pool_id))
    }

    fn user(&self, user_id: UserId) -> Result<&'a User> {
        self.model
            .users
            .get(&user_id)
            .ok_or(DomainError::UnknownUser(user_id))
    }

    fn active_user(&self, user_id: UserId) -> Result<&'a User> {
        let user = self.user(user_id)?;
        if user.active {
            Ok(user)
        } else {
            Err(DomainError::DeactivatedUser(user_id))
        }
    }

    /// A user who may receive customers of `pool`: known, active and a member.
    fn receiving_member(&self, user_id: UserId, pool: PoolId) -> Result<()> {
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

    fn owned_in_pool(&self, user: UserId, pool: PoolId) -> u32 {
        if self.owned_delta.is_empty() {
            return self.model.owned_in_pool(user, pool);
        }
        let delta = self.owned_delta.get(&(user, pool)).copied().unwrap_or(0);
        u32::try_from((i64::from(self.model.owned_in_pool(user, pool)) + delta).max(0))
            .unwrap_or(u32::MAX)
    }

    fn owned_total(&self, user: UserId) -> u32 {
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

    fn note_ownership(&mut self, user: UserId, pool: PoolId, delta: i64) {
        *self.owned_delta.entry((user, pool)).or_insert(0) += delta;
    }

    /// The cap that one more customer of `pool` would break for `user`, if any.
    fn cap_breach(&self, user: UserId, pool: PoolId) -> Option<DomainError> {
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

    fn check_cap(&self, user: UserId, pool: PoolId) -> Result<()> {
        self.cap_breach(user, pool).map_or(Ok(()), Err)
    }

    fn check_cooldown(&self, user: UserId, customer_id: CustomerId, pool: &Pool) -> Result<()> {
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

    fn check_quota(&self, user: UserId, pool_id: PoolId, pool: &Pool) -> Result<()> {
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

    fn owned(
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

    fn require_owner(
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
    fn require_owner_admin_or_superior(
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

    fn run(&mut self) -> Result<()> {
        let command = self.command;
        use CommandBody::*;
        match &command.body {
            CreateUser {
                user_id,
                name,
                superior,
                department,
                admin,
            } => {
                self.require_admin()?;
                let (name, department) = profile(name, department.as_deref())?;
                if user_id.0.is_nil() {
                    return Err(DomainError::invalid("user_id", "must not be the nil UUID"));
                }
                if self.model.users.contains_key(user_id) {
                    return Err(DomainError::AlreadyExists {
                        kind: "user",
                        id: user_id.to_string(),
                    });
                }
                if let Some(superior) = superior {
                    self.user(*superior)?;
                }
                self.emit(EventBody::UserCreated(UserCreated {
                    user_id: *user_id,
                    name,
                    superior: *superior,
                    department,
                    admin: *admin,
                }));
            }
            UpdateUser {
                user_id,
                name,
                superior,
                department,
                admin,
            } => {
                self.require_admin()?;
                let (name, department) = profile(name, department.as_deref())?;
                let user = self.user(*user_id)?;
                if let Some(superior) = superior {
                    self.user(*superior)?;
                    if superior == user_id || self.model.is_superior_of(*user_id, *superior) {
                        return Err(DomainError::invalid(
                            "superior",
                            "would make the hierarchy a cycle",
                        ));
                    }
                }
                if user.name == name
                    && user.superior == *superior
                    && user.department == department
                    && user.admin == *admin
                {
                    return Ok(());
                }
                self.emit(EventBody::UserUpdated(UserUpdated {
                    user_id: *user_id,
                    name,
                    superior: *superior,
                    department,
                    admin: *admin,
                }));
            }
            DeactivateUser { user_id, successor } => self.deactivate_user(*user_id, *successor)?,
            CreatePool {
                pool_id,
                name,
                mode,
                admins,
                members,
                everyone,
                default,
                rules,
            } => {
                self.require_admin()?;
                let name = required_text("name", name, limits::NAME)?;
                if self.model.pools.contains_key(pool_id) {
                    return Err(DomainError::AlreadyExists {
                        kind: "pool",
                        id: pool_id.to_string(),
                    });
                }
                if *default && let Some(existing) = self.model.default_pool {
                    return Err(DomainError::AlreadyExists {
                        kind: "default pool",
                        id: existing.to_string(),
                    });
                }
                if let Some(unknown) = admins
                    .iter()
                    .chain(members)
                    .find(|u| !self.model.users.contains_key(u))
                {
                    return Err(DomainError::UnknownUser(*unknown));
                }
                validate_rules(self.model, rules, *pool_id)?;
                let (rules_since, _) = rules_since(None, rules, self.now);
                self.emit(EventBody::PoolCreated(PoolCreated {
                    pool_id: *pool_id,
                    name,
                    mode: *mode,
                    admins: admins.clone(),
                    members: members.clone(),
                    everyone: *everyone,
                    default: *default,
                    rules: Box::new(rules.clone()),
                    rules_since,
                }));
            }
            SetPoolMode { pool_id, mode } => {
                self.require_admin()?;
                let pool = self.pool(*pool_id)?;
                if pool.mode != *mode {
                    self.emit(EventBody::PoolModeChanged(PoolModeChanged {
                        pool_id: *pool_id,
                        mode: *mode,
                        previous: pool.mode,
                    }));
                }
            }
            SetPoolAdmins { pool_id, admins } => {
                self.require_admin()?;
                let pool = self.pool(*pool_id)?;
                if let Some(unknown) = admins.iter().find(|u| !self.model.users.contains_key(u)) {
                    return Err(DomainError::UnknownUser(*unknown));
                }
                if pool.admins != *admins {
                    self.emit(EventBody::PoolAdminsChanged(PoolAdminsChanged {
                        pool_id: *pool_id,
                        admins: admins.clone(),
                    }));
                }
            }
            SetPoolMembers {
                pool_id,
                members,
                everyone,
            } => {
                self.require_admin()?;
                let pool = self.pool(*pool_id)?;
                if let Some(unknown) = members.iter().find(|u| !self.model.users.contains_key(u)) {
                    return Err(DomainError::UnknownUser(*unknown));
                }
                if pool.members != *members || pool.everyone != *everyone {
                    self.emit(EventBody::PoolMembersChanged(PoolMembersChanged {
                        pool_id: *pool_id,
                        members: members.clone(),
                        everyone: *everyone,
                    }));
                }
            }
            SetPoolRules { pool_id, rules } => {
                self.require_admin()?;
                let pool = self.pool(*pool_id)?;
                validate_rules(self.model, rules, *pool_id)?;
                if pool.rules != *rules {
                    let (rules_since, changed_rules) =
                        rules_since(Some((&pool.rules, &pool.rules_since)), rules, self.now);
                    self.emit(EventBody::PoolRulesChanged(PoolRulesChanged {
                        pool_id: *pool_id,
                        rules_version: pool.rules_version + 1,
                        rules: Box::new(rules.clone()),
                        rules_since,
                        changed_rules,
                    }));
                }
            }
            SetOrganizationSettings {
                overall_cap,
                day_offset_minutes,
            } => {
                self.require_admin()?;
                validate_limit("overall_cap", overall_cap, self.model, true)?;
                if !(-720..=840).contains(day_offset_minutes) {
                    return Err(DomainError::invalid(
                        "day_offset_minutes",
                        "must be between -720 and 840",
                    ));
                }
                let settings = &self.model.settings;
                if settings.overall_cap != *overall_cap
                    || settings.day_offset_minutes != *day_offset_minutes
                    || settings.version == 0
                {
                    self.emit(EventBody::OrganizationSettingsChanged(
                        OrganizationSettingsChanged {
                            overall_cap: overall_cap.clone(),
                            day_offset_minutes: *day_offset_minutes,
                        },
                    ));
                }
            }
            CreateCustomer(new) => {
                let mut seen = HashSet::new();
                self.create_customer(new, "", &mut seen)?;
            }
            ImportCustomers { customers } => {
                if customers.is_empty() || customers.len() > MAX_IMPORT {
                    return Err(DomainError::invalid(
                        "customers",
                        format!("must hold 1 to {MAX_IMPORT} customers"),
                    ));
                }
                self.events.reserve(customers.len());
                let mut seen = HashSet::with_capacity(customers.len());
                for (index, new) in customers.iter().enumerate() {
                    self.create_customer(new, &format!("customers[{index}]."), &mut seen)?;
                }
            }
            Assign {
                customer_id,
                assignee,
                protection,
            } => self.assign(*customer_id, *assignee, *protection)?,
            Claim { customer_id } => {
                let user = self.user_actor()?;
                let (pool_id, pool) =
                    self.taking(*customer_id, user, PoolMode::FreeClaim, "claim")?;
                self.check_cap(user, pool_id)?;
                let _ = pool;
                self.emit(EventBody::CustomerClaimed(CustomerClaimed {
                    customer_id: *customer_id,
                    pool_id,
                    owner: user,
                }));
            }
            RequestClaim { customer_id } => {
                let user = self.user_actor()?;
                let (pool_id, _) = self.taking(
                    *customer_id,
                    user,
                    PoolMode::ClaimWithApproval,
                    "request_claim",
                )?;
                self.check_cap(user, pool_id)?;
                self.emit(EventBody::ClaimRequested(ClaimRequested {
                    customer_id: *customer_id,
                    pool_id,
                    applicant: user,
                }));
            }
            ApproveClaim { customer_id } => {
                let customer = self.customer(*customer_id)?;
                self.require_pool_admin(customer.pool)?;
                let CustomerState::Pending { applicant, .. } = customer.state else {
                    return Err(state_error(
                        *customer_id,
                        customer,
                        "approve_claim",
                        "pending",
                    ));
                };
                self.active_user(applicant)?;
                self.check_cap(applicant, customer.pool)?;
                self.emit(EventBody::ClaimApproved(ClaimApproved {
                    customer_id: *customer_id,
                    pool_id: customer.pool,
                    applicant,
                }));
            }
            RejectClaim {
                customer_id,
                reason,
            } => {
                let reason = optional_text("reason", reason.as_deref(), limits::SHORT_TEXT)?;
                let customer = self.customer(*customer_id)?;
                self.require_pool_admin(customer.pool)?;
                let CustomerState::Pending { applicant, .. } = customer.state else {
                    return Err(state_error(
                        *customer_id,
                        customer,
                        "reject_claim",
                        "pending",
                    ));
                };
                self.emit(EventBody::ClaimRejected(ClaimRejected {
                    customer_id: *customer_id,
                    pool_id: customer.pool,
                    applicant,
                    reason,
                }));
            }
            Abandon {
                customer_id,
                reason,
                return_to,
            } => self.abandon(*customer_id, reason, *return_to)?,
            Reclaim {
                customer_id,
                reason,
            } => {
                let reason = optional_text("reason", reason.as_deref(), limits::SHORT_TEXT)?;
                let customer = self.customer(*customer_id)?;
                self.require_pool_admin(customer.pool)?;
                let (customer, ownership) = self.owned(*customer_id, "reclaim")?;
                self.emit(EventBody::CustomerReclaimed(CustomerReclaimed {
                    customer_id: *customer_id,
                    pool_id: customer.pool,
                    former_owner: ownership.owner,
                    reason,
                }));
            }
            AutoReclaim {
                customer_id,
                rule,
                due_at,
            } => self.auto_reclaim(*customer_id, *rule, *due_at)?,
            RemindReclaim {
                customer_id,
                due_at,
            } => {
                self.require_system("remind_reclaim")?;
                let (customer, ownership) = self.owned(*customer_id, "remind_reclaim")?;
                let due = customer.deadline.filter(|deadline| deadline.at == *due_at);
                let reminder_due = customer.reminder_at.is_some_and(|at| at <= self.now);
                match due {
                    Some(deadline) if reminder_due && customer.reminded_for != Some(*due_at) => {
                        self.emit(EventBody::ReclaimReminded(ReclaimReminded {
                            customer_id: *customer_id,
                            pool_id: customer.pool,
                            owner: ownership.owner,
                            rule: deadline.rule,
                            due_at: *due_at,
                        }));
                    }
                    _ => {
                        return Err(DomainError::NotDue {
                            customer: *customer_id,
                            action: "remind_reclaim",
                            due_at: *due_at,
                        });
                    }
                }
            }
            Transfer {
                customer_id,
                new_owner,
                reason,
            } => {
                let reason = optional_text("reason", reason.as_deref(), limits::SHORT_TEXT)?;
                let (customer, ownership) = self.owned(*customer_id, "transfer")?;
                self.require_owner_admin_or_superior(*customer_id, customer)?;
                if *new_owner == ownership.owner {
                    return Err(DomainError::NothingToDo(format!(
                        "users/{new_owner} already owns customers/{customer_id}"
                    )));
                }
                self.receiving_member(*new_owner, customer.pool)?;
                self.check_cap(*new_owner, customer.pool)?;
                self.emit(EventBody::CustomerTransferred(CustomerTransferred {
                    customer_id: *customer_id,
                    pool_id: customer.pool,
                    from: ownership.owner,
                    to: *new_owner,
                    reason,
                }));
            }
            Freeze {
                customer_id,
                reason,
            } => {
                let reason = optional_text("reason", reason.as_deref(), limits::SHORT_TEXT)?;
                let customer = self.customer(*customer_id)?;
                self.require_pool_admin(customer.pool)?;
                match customer.state {
                    CustomerState::InPool
                    | CustomerState::Pending { .. }
                    | CustomerState::Owned(_) => {}
                    _ => {
                        return Err(state_error(
                            *customer_id,
                            customer,
                            "freeze",
                            "in_pool, pending or owned",
                        ));
                    }
                }
                self.emit(EventBody::CustomerFrozen(CustomerFrozen {
                    customer_id: *customer_id,
                    pool_id: customer.pool,
                    former_owner: customer.state.owner(),
                    reason,
                }));
            }
            Unfreeze { customer_id } => {
                let customer = self.customer(*customer_id)?;
                self.require_pool_admin(customer.pool)?;
                if customer.state != CustomerState::Frozen {
                    return Err(state_error(*customer_id, customer, "unfreeze", "frozen"));
                }
                self.emit(EventBody::CustomerUnfrozen(CustomerUnfrozen {
                    customer_id: *customer_id,
                    pool_id: customer.pool,
                }));
            }
            Move {
                customer_id,
                destination_pool,
            } => {
                let customer = self.customer(*customer_id)?;
                self.pool(*destination_pool)?;
                if *destination_pool == customer.pool {
                    return Err(DomainError::invalid(
                        "destination_pool",
                        "the customer is already in that pool",
                    ));
                }
                self.require_pool_admin(customer.pool)?;
                self.require_pool_admin(*destination_pool)?;
                not_deleted(*customer_id, customer, "move")?;
                self.emit(EventBody::CustomerMoved(CustomerMoved {
                    customer_id: *customer_id,
                    from_pool: customer.pool,
                    to_pool: *destination_pool,
                }));
            }
            Delete { customer_id } => {
                let customer = self.customer(*customer_id)?;
                if let Actor::User(user) = self.command.actor {
                    let superior = customer
                        .state
                        .owner()
                        .is_some_and(|owner| self.model.is_superior_of(user, owner));
                    if !superior && !self.model.is_pool_admin(user, customer.pool) {
                        return Err(DomainError::NotPoolAdmin {
                            actor: self.actor_name(),
                            pool: customer.pool,
                        });
                    }
                }
                not_deleted(*customer_id, customer, "delete")?;
                self.emit(EventBody::CustomerDeleted(CustomerDeleted {
                    customer_id: *customer_id,
                    pool_id: customer.pool,
                    former_owner: customer.state.owner(),
                }));
            }
            Restore { customer_id } => self.restore(*customer_id)?,
            LogFollowUp {
                customer_id,
                follow_up_id,
                kind,
                note,
            } => {
                let note = required_text("note", note, limits::LONG_TEXT)?;
                let (_, ownership) = self.owned(*customer_id, "log_follow_up")?;
                let author = self.require_owner(*customer_id, ownership)?;
                if self.model.follow_ups.contains_key(follow_up_id) {
                    return Err(DomainError::AlreadyExists {
                        kind: "follow_up",
                        id: follow_up_id.to_string(),
                    });
                }
                self.emit(EventBody::FollowUpLogged(FollowUpLogged {
                    customer_id: *customer_id,
                    follow_up_id: *follow_up_id,
                    author,
                    kind: *kind,
                    note,
                }));
            }
            CommentFollowUp {
                customer_id,
                follow_up_id,
                comment,
            } => {
                let comment = required_text("comment", comment, limits::LONG_TEXT)?;
                let customer = self.customer(*customer_id)?;
                let follow_up = self
                    .model
                    .follow_ups
                    .get(follow_up_id)
                    .filter(|f| f.customer == *customer_id)
                    .ok_or(DomainError::UnknownFollowUp(*follow_up_id))?;
                let author = self.user_actor()?;
                if !self.model.is_superior_of(author, follow_up.author)
                    && !self.model.is_pool_admin(author, customer.pool)
                {
                    return Err(DomainError::NotSuperior {
                        actor: self.actor_name(),
                        follow_up: *follow_up_id,
                    });
                }
                not_deleted(*customer_id, customer, "comment_follow_up")?;
                self.emit(EventBody::FollowUpCommented(FollowUpCommented {
                    customer_id: *customer_id,
                    follow_up_id: *follow_up_id,
                    author,
                    comment,
                }));
            }
            MarkWon { customer_id } => {
                let (_, ownership) = self.owned(*customer_id, "mark_won")?;
                let owner = self.require_owner(*customer_id, ownership)?;
                if ownership.won_at.is_some() {
                    return Err(DomainError::NothingToDo(format!(
                        "customer {customer_id} is already won"
                    )));
                }
                self.emit(EventBody::CustomerWon(CustomerWon {
                    customer_id: *customer_id,
                    owner,
                }));
            }
            ExtendProtection { customer_id, until } => {
                let customer = self.customer(*customer_id)?;
                self.require_pool_admin(customer.pool)?;
                let (customer, ownership) = self.owned(*customer_id, "extend_protection")?;
                let pool = self.pool(customer.pool)?;
                // With the protection rule on, protection always has an end and a maximum.
                // With it off, only an explicit window (an assignment's or an earlier
                // extension's) can be extended, without a maximum; the new end must then be
                // in the future, or the customer would stay in the expired view.
                let current = rules::protection_until(&pool.rules, &pool.rules_since, ownership)
                    .ok_or(DomainError::NoProtectionRule(customer.pool))?;
                let max = rules::protection_max(&pool.rules, &pool.rules_since, ownership);
                if *until <= current {
                    return Err(DomainError::invalid(
                        "until",
                        format!("must be later than the current end of protection, {current}"),
                    ));
                }
                if max.is_none() && *until <= self.now {
                    return Err(DomainError::invalid("until", "must be in the future"));
                }
                if let Some(max) = max
                    && *until > max
                {
                    return Err(DomainError::ProtectionBeyondMaximum {
                        requested: *until,
                        max,
                    });
                }
                self.emit(EventBody::ProtectionExtended(ProtectionExtended {
                    customer_id: *customer_id,
                    owner: ownership.owner,
                    previous_until: current,
                    until: *until,
                    max_until: max,
                }));
            }
            Share {
                customer_id,
                department,
            } => {
                let department = required_text("department", department, limits::SHORT_TEXT)?;
                let customer = self.customer(*customer_id)?;
                if let Actor::User(user) = self.command.actor
                    && customer.state.owner() != Some(user)
                    && !self.model.is_pool_admin(user, customer.pool)
                {
                    return Err(DomainError::NotOwner {
                        actor: self.actor_name(),
                        customer: *customer_id,
                    });
                }
                not_deleted(*customer_id, customer, "share")?;
                if !customer.shared_with.contains(&department) {
                    self.emit(EventBody::CustomerShared(CustomerShared {
                        customer_id: *customer_id,
                        department,
                    }));
                }
            }
        }
        Ok(())
    }

    /// Shared checks of claim and request claim: membership, mode, state, cooldown, quota.
    fn taking(
        &self,
        customer_id: CustomerId,
        user: UserId,
        mode: PoolMode,
        action: &'static str,
    ) -> Result<(PoolId, &'a Pool)> {
        let customer = self.customer(customer_id)?;
        let pool = self.pool(customer.pool)?;
        if !self.model.is_member(user, customer.pool) {
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
        self.check_cooldown(user, customer_id, pool)?;
        self.check_quota(user, customer.pool, pool)?;
        Ok((customer.pool, pool))
    }

    fn create_customer(
        &mut self,
        new: &NewCustomer,
        prefix: &str,
        seen: &mut HashSet<CustomerId>,
    ) -> Result<()> {
        let field = |name: &str| format!("{prefix}{name}");
        let name = required_text(&field("name"), &new.name, limits::NAME)?;
        let source = optional_text(&field("source"), new.source.as_deref(), limits::SHORT_TEXT)?;
        if new.fields.len() > limits::FIELDS {
            return Err(DomainError::invalid(
                field("fields"),
                format!("at most {} fields", limits::FIELDS),
            ));
        }
        let mut fields = BTreeMap::new();
        for (key, value) in &new.fields {
            let key = required_text(&field("fields"), key, limits::SHORT_TEXT)?;
            if value.chars().count() > limits::SHORT_TEXT {
                return Err(DomainError::invalid(
                    field(&format!("fields.{key}")),
                    format!("must be at most {} characters", limits::SHORT_TEXT),
                ));
            }
            fields.insert(key, value.trim().to_owned());
        }
        if self.model.customers.contains_key(&new.customer_id) || !seen.insert(new.customer_id) {
            return Err(DomainError::AlreadyExists {
                kind: "customer",
                id: new.customer_id.to_string(),
            });
        }
        let pool_id = match new.pool_id {
            Some(pool) => pool,
            None => self.model.default_pool.ok_or(DomainError::NoDefaultPool)?,
        };
        let pool = self.pool(pool_id)?;
        let owner = match self.command.actor {
            Actor::User(user) => {
                if !self.model.is_member(user, pool_id) {
                    return Err(DomainError::NotPoolMember {
                        user,
                        pool: pool_id,
                    });
                }
                new.keep.then_some(user)
            }
            _ if new.keep => {
                return Err(DomainError::invalid(
                    field("keep"),
                    "only a user can keep a customer",
                ));
            }
            _ => None,
        };
        let created_by = self.command.actor.user().unwrap_or(UserId::from_u128(0));
        let cleaned = NewCustomer {
            name,
            source,
            fields,
            ..new.clone()
        };
        self.emit(EventBody::CustomerCreated(CustomerCreated {
            customer_id: new.customer_id,
            pool_id,
            name: cleaned.name.clone(),
            source: cleaned.source.clone(),
            fields: cleaned.fields.clone(),
            created_by,
            owner,
        }));
        match owner {
            Some(owner) => self.note_ownership(owner, pool_id, 1),
            None => self.auto_assign(new.customer_id, pool_id, pool, &cleaned),
        }
        Ok(())
    }

    /// Tries the pool's auto-assignment rules in order on a new unclaimed customer.
    fn auto_assign(
        &mut self,
        customer_id: CustomerId,
        pool_id: PoolId,
        pool: &Pool,
        customer: &NewCustomer,
    ) {
        for (index, rule) in pool.rules.auto_assign.iter().enumerate() {
            if !assignment::matches(rule, customer) {
                continue;
            }
            let candidates: Vec<AssignCandidate> = rule
                .assignees
                .iter()
                .map(|&user_id| {
                    let skipped = match self.model.users.get(&user_id) {
                        None => Some("unknown_user".to_owned()),
                        Some(user) if !user.active => Some("deactivated".to_owned()),
                        Some(_) => match self.cap_breach(user_id, pool_id) {
                            Some(DomainError::CapReached {
                                scope: CapScope::Overall,
                                ..
                            }) => Some("overall_cap".to_owned()),
                            Some(_) => Some("pool_cap".to_owned()),
                            None => None,
                        },
                    };
                    AssignCandidate {
                        user_id,
                        owned_in_pool: self.owned_in_pool(user_id, pool_id),
                        skipped,
                    }
                })
                .collect();
            let pointer_before = self
                .rotation
                .get(&(pool_id, index))
                .copied()
                .unwrap_or_else(|| pool.rotation.get(index).copied().unwrap_or(0));
            let Some(choice) = assignment::choose(rule.strategy, &candidates, pointer_before)
            else {
                continue;
            };
            self.rotation.insert((pool_id, index), choice.pointer_after);
            self.note_ownership(choice.assignee, pool_id, 1);
            self.emit(EventBody::CustomerAutoAssigned(CustomerAutoAssigned {
                customer_id,
                pool_id,
                assignee: choice.assignee,
                rule_index: u32::try_from(index).unwrap_or(u32::MAX),
                rule_name: rule.name.clone(),
                strategy: rule.strategy,
                rules_version: pool.rules_version,
                candidates,
                pointer_before,
                pointer_after: choice.pointer_after,
            }));
            return;
        }
    }

    fn assign(
        &mut self,
        customer_id: CustomerId,
        assignee: UserId,
        window: Option<ProtectionWindow>,
    ) -> Result<()> {
        let customer = self.customer(customer_id)?;
        let pool = self.pool(customer.pool)?;
        self.require_pool_admin(customer.pool)?;
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
        self.receiving_member(assignee, customer.pool)?;
        let (protection_start, protection_until) = match window {
            None => (self.now, None),
            // A window is accepted in every pool (seed 004: the admin picks the dates on any
            // assignment); the pool's maximum bounds it where the protection rule is on.
            Some(window) => {
                if window.end <= window.start {
                    return Err(DomainError::invalid(
                        "protection.end",
                        "must be after protection.start",
                    ));
                }
                if window.end <= self.now {
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
        self.check_cap(assignee, customer.pool)?;
        self.emit(EventBody::CustomerAssigned(CustomerAssigned {
            customer_id,
            pool_id: customer.pool,
            assignee,
            overrode_applicant,
            protection_start,
            protection_until,
        }));
        Ok(())
    }

    fn abandon(
        &mut self,
        customer_id: CustomerId,
        reason: &str,
        return_to: Option<PoolId>,
    ) -> Result<()> {
        let reason = required_text("reason", reason, limits::SHORT_TEXT)?;
        let (customer, ownership) = self.owned(customer_id, "abandon")?;
        let abandoner = self.require_owner(customer_id, ownership)?;
        let pool = self.pool(customer.pool)?;
        if !pool.rules.abandon_reasons.is_empty() && !pool.rules.abandon_reasons.contains(&reason) {
            return Err(DomainError::ReasonNotInList {
                reason,
                pool: customer.pool,
            });
        }
        let target = match (&pool.rules.return_target, return_to) {
            (rules::ReturnTarget::SourcePool, None) => customer.pool,
            (rules::ReturnTarget::UserChooses, Some(chosen)) if chosen != customer.pool => {
                self.pool(chosen)?;
                if !self.model.is_member(abandoner, chosen) {
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
        self.pool(target)?;
        self.emit(EventBody::CustomerAbandoned(CustomerAbandoned {
            customer_id,
            from_pool: customer.pool,
            to_pool: target,
            abandoner,
            reason,
        }));
        Ok(())
    }

    fn auto_reclaim(
        &mut self,
        customer_id: CustomerId,
        rule: RuleKind,
        due_at: DateTime<Utc>,
    ) -> Result<()> {
        self.require_system("auto_reclaim")?;
        let (customer, ownership) = self.owned(customer_id, "auto_reclaim")?;
        let pool = self.pool(customer.pool)?;
        let not_due = || DomainError::NotDue {
            customer: customer_id,
            action: "auto_reclaim",
            due_at,
        };
        let deadline = customer.deadline.ok_or_else(not_due)?;
        if deadline.at != due_at || deadline.rule != rule || self.now < due_at {
            return Err(not_due());
        }
        if rule == RuleKind::ProtectionExpired
            && let Some(until) =
                rules::protection_extension(&pool.rules, &pool.rules_since, ownership, due_at)
        {
            self.emit(EventBody::ProtectionExtended(ProtectionExtended {
                customer_id,
                owner: ownership.owner,
                previous_until: due_at,
                until,
                max_until: rules::protection_max(&pool.rules, &pool.rules_since, ownership),
            }));
            return Ok(());
        }
        self.emit(EventBody::CustomerAutoReclaimed(CustomerAutoReclaimed {
            customer_id,
            pool_id: customer.pool,
            former_owner: ownership.owner,
            rule,
            threshold_days: deadline.threshold_days,
            due_at,
            rules_version: pool.rules_version,
            evidence: ReclaimEvidence {
                owned_since: ownership.since,
                last_contact_at: ownership.last_contact_at,
                won_at: ownership.won_at,
                counted_from: deadline.counted_from,
                protection_until: rules::protection_until(
                    &pool.rules,
                    &pool.rules_since,
                    ownership,
                ),
            },
        }));
        Ok(())
    }

    fn restore(&mut self, customer_id: CustomerId) -> Result<()> {
        let customer = self.customer(customer_id)?;
        self.require_pool_admin(customer.pool)?;
        let CustomerState::Deleted { former } = customer.state else {
            return Err(state_error(customer_id, customer, "restore", "deleted"));
        };
        let (restored_to, owner, note) = match former {
            FormerState::Unclaimed => (RestoredTo::Pool, None, None),
            FormerState::Frozen => (RestoredTo::Frozen, None, None),
            FormerState::Owned(owner) => {
                let active = self.model.users.get(&owner).is_some_and(|u| u.active);
                match (active, self.cap_breach(owner, customer.pool)) {
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
        self.emit(EventBody::CustomerRestored(CustomerRestored {
            customer_id,
            pool_id: customer.pool,
            restored_to,
            owner,
            note: note.map(str::to_owned),
        }));
        Ok(())
    }

    fn deactivate_user(&mut self, user_id: UserId, successor: Option<UserId>) -> Result<()> {
        self.require_admin()?;
        self.active_user(user_id)?;
        if let Some(successor) = successor {
            if successor == user_id {
                return Err(DomainError::invalid("successor", "must be another user"));
            }
            self.active_user(successor)?;
        }
        let mut affected: Vec<(CustomerId, &Customer)> = self
            .model
            .customers
            .iter()
            .filter(|(_, c)| {
                c.state.owner() == Some(user_id)
                    || matches!(c.state, CustomerState::Pending { applicant, .. } if applicant == user_id)
            })
            .map(|(id, c)| (*id, c))
            .collect();
        affected.sort_by_key(|(id, _)| *id);
        let reason = Some("owner deactivated".to_owned());
        let mut bodies = Vec::with_capacity(affected.len());
        let (mut transferred, mut returned, mut rejected) = (0u32, 0u32, 0u32);
        for (customer_id, customer) in affected {
            if let CustomerState::Pending { applicant, .. } = customer.state {
                rejected += 1;
                bodies.push(EventBody::ClaimRejected(ClaimRejected {
                    customer_id,
                    pool_id: customer.pool,
                    applicant,
                    reason: Some("applicant deactivated".to_owned()),
                }));
                continue;
            }
            match successor {
                Some(successor) => {
                    self.check_cap(successor, customer.pool)?;
                    self.note_ownership(successor, customer.pool, 1);
                    transferred += 1;
                    bodies.push(EventBody::CustomerTransferred(CustomerTransferred {
                        customer_id,
                        pool_id: customer.pool,
                        from: user_id,
                        to: successor,
                        reason: reason.clone(),
                    }));
                }
                None => {
                    returned += 1;
                    bodies.push(EventBody::CustomerReclaimed(CustomerReclaimed {
                        customer_id,
                        pool_id: customer.pool,
                        former_owner: user_id,
                        reason: reason.clone(),
                    }));
                }
            }
        }
        self.emit(EventBody::UserDeactivated(UserDeactivated {
            user_id,
            successor,
            customers_transferred: transferred,
            customers_returned: returned,
            applications_rejected: rejected,
        }));
        for body in bodies {
            self.emit(body);
        }
        Ok(())
    }
}
