//! Pools and the organization: creating pools, setting their mode, admins, members and
//! rules, and the organization's settings (overall cap, day offset). Owns the validation
//! of pool rules and the instants from which each reclaim rule is in force, so a rule
//! turned on or changed never reaches back before it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::command::limits;
use crate::error::DomainError;
use crate::event::{
    EventBody, OrganizationSettingsChanged, PoolAdminsChanged, PoolCreated, PoolMembersChanged,
    PoolModeChanged, PoolRulesChanged,
};
use crate::ids::{PoolId, UserId};
use crate::model::WriteModel;
use crate::rules::{self, Limit, MAX_ASSIGN_RULES, PoolMode, PoolRules, RuleKind, RulesSince};

use super::checks::required_text;
use super::{Result, Ruling};

/// Checks a limit's days (or counts, where zero is allowed) and the users it names.
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
        validate_protection(model, protection)?;
    }
    if rules.reminder_hours == Some(0) || rules.reminder_hours.is_some_and(|h| h > 24 * 365) {
        return Err(DomainError::invalid(
            "rules.reminder_hours",
            "must be between 1 and 8760",
        ));
    }
    if let Some(escalation) = &rules.escalation
        && !(1..=24 * 365).contains(&escalation.notify_superior_hours)
    {
        return Err(DomainError::invalid(
            "rules.escalation.notify_superior_hours",
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
    validate_auto_assign(model, &rules.auto_assign)
}

/// Checks the protection rule: its default days, a maximum no shorter than them, and a
/// nonzero extension when there is one.
fn validate_protection(model: &WriteModel, protection: &rules::ProtectionRule) -> Result<()> {
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
    Ok(())
}

/// Checks the auto-assignment rules: how many, their names, and their assignees.
fn validate_auto_assign(model: &WriteModel, auto_assign: &[rules::AssignRule]) -> Result<()> {
    if auto_assign.len() > MAX_ASSIGN_RULES {
        return Err(DomainError::invalid(
            "rules.auto_assign",
            format!("at most {MAX_ASSIGN_RULES} rules"),
        ));
    }
    for (index, rule) in auto_assign.iter().enumerate() {
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

/// `CreatePool`: an admin creates a pool; its reclaim rules are in force from now. At most
/// one pool is the default.
#[expect(
    clippy::too_many_arguments,
    reason = "one argument per field of the command, as for every command"
)]
pub(super) fn create(
    ruling: &mut Ruling<'_>,
    pool_id: PoolId,
    name: &str,
    mode: PoolMode,
    admins: &BTreeSet<UserId>,
    members: &BTreeSet<UserId>,
    everyone: bool,
    default: bool,
    rules: &PoolRules,
) -> Result<()> {
    ruling.require_admin()?;
    let name = required_text("name", name, limits::NAME)?;
    if ruling.model.pools.contains_key(&pool_id) {
        return Err(DomainError::AlreadyExists {
            kind: "pool",
            id: pool_id.to_string(),
        });
    }
    if default && let Some(existing) = ruling.model.default_pool {
        return Err(DomainError::AlreadyExists {
            kind: "default pool",
            id: existing.to_string(),
        });
    }
    if let Some(unknown) = admins
        .iter()
        .chain(members)
        .find(|u| !ruling.model.users.contains_key(u))
    {
        return Err(DomainError::UnknownUser(*unknown));
    }
    validate_rules(ruling.model, rules, pool_id)?;
    let (rules_since, _) = rules_since(None, rules, ruling.now);
    ruling.emit(EventBody::PoolCreated(PoolCreated {
        pool_id,
        name,
        mode,
        admins: admins.clone(),
        members: members.clone(),
        everyone,
        default,
        rules: Box::new(rules.clone()),
        rules_since,
    }));
    Ok(())
}

/// `SetPoolMode`: an admin changes how members take a pool's customers.
pub(super) fn set_mode(ruling: &mut Ruling<'_>, pool_id: PoolId, mode: PoolMode) -> Result<()> {
    ruling.require_admin()?;
    let pool = ruling.pool(pool_id)?;
    if pool.mode != mode {
        ruling.emit(EventBody::PoolModeChanged(PoolModeChanged {
            pool_id,
            mode,
            previous: pool.mode,
        }));
    }
    Ok(())
}

/// `SetPoolAdmins`: an admin names a pool's admins (负责人).
pub(super) fn set_admins(
    ruling: &mut Ruling<'_>,
    pool_id: PoolId,
    admins: &BTreeSet<UserId>,
) -> Result<()> {
    ruling.require_admin()?;
    let pool = ruling.pool(pool_id)?;
    if let Some(unknown) = admins.iter().find(|u| !ruling.model.users.contains_key(u)) {
        return Err(DomainError::UnknownUser(*unknown));
    }
    if pool.admins != *admins {
        ruling.emit(EventBody::PoolAdminsChanged(PoolAdminsChanged {
            pool_id,
            admins: admins.clone(),
        }));
    }
    Ok(())
}

/// `SetPoolMembers`: an admin names a pool's members, or makes everyone one.
pub(super) fn set_members(
    ruling: &mut Ruling<'_>,
    pool_id: PoolId,
    members: &BTreeSet<UserId>,
    everyone: bool,
) -> Result<()> {
    ruling.require_admin()?;
    let pool = ruling.pool(pool_id)?;
    if let Some(unknown) = members.iter().find(|u| !ruling.model.users.contains_key(u)) {
        return Err(DomainError::UnknownUser(*unknown));
    }
    if pool.members != *members || pool.everyone != everyone {
        ruling.emit(EventBody::PoolMembersChanged(PoolMembersChanged {
            pool_id,
            members: members.clone(),
            everyone,
        }));
    }
    Ok(())
}

/// `SetPoolRules`: an admin changes a pool's rules; each changed reclaim rule is in force
/// from now, unchanged ones keep their instant.
pub(super) fn set_rules(ruling: &mut Ruling<'_>, pool_id: PoolId, rules: &PoolRules) -> Result<()> {
    ruling.require_admin()?;
    if let Some(change) = rules_change(ruling.model, pool_id, rules, ruling.now)? {
        ruling.emit(EventBody::PoolRulesChanged(change));
    }
    Ok(())
}

/// The change that setting `rules` on `pool_id` at `now` records (each changed reclaim
/// rule in force from `now`), `None` when they are the pool's rules already; an error when
/// the pool is unknown or the rules are invalid. Permissions are the caller's.
pub fn rules_change(
    model: &WriteModel,
    pool_id: PoolId,
    rules: &PoolRules,
    now: DateTime<Utc>,
) -> Result<Option<PoolRulesChanged>> {
    let pool = model
        .pools
        .get(&pool_id)
        .ok_or(DomainError::UnknownPool(pool_id))?;
    validate_rules(model, rules, pool_id)?;
    if pool.rules == *rules {
        return Ok(None);
    }
    let (rules_since, changed_rules) =
        rules_since(Some((&pool.rules, &pool.rules_since)), rules, now);
    Ok(Some(PoolRulesChanged {
        pool_id,
        rules_version: pool.rules_version + 1,
        rules: Box::new(rules.clone()),
        rules_since,
        changed_rules,
    }))
}

/// `SetOrganizationSettings`: an admin sets the overall cap and the organization's day
/// offset from UTC. The first setting is always recorded.
pub(super) fn set_organization_settings(
    ruling: &mut Ruling<'_>,
    overall_cap: &Option<Limit>,
    day_offset_minutes: i32,
) -> Result<()> {
    ruling.require_admin()?;
    validate_limit("overall_cap", overall_cap, ruling.model, true)?;
    if !(-720..=840).contains(&day_offset_minutes) {
        return Err(DomainError::invalid(
            "day_offset_minutes",
            "must be between -720 and 840",
        ));
    }
    let settings = &ruling.model.settings;
    if settings.overall_cap != *overall_cap
        || settings.day_offset_minutes != day_offset_minutes
        || settings.version == 0
    {
        ruling.emit(EventBody::OrganizationSettingsChanged(
            OrganizationSettingsChanged {
                overall_cap: overall_cap.clone(),
                day_offset_minutes,
            },
        ));
    }
    Ok(())
}
