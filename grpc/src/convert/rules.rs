//! Pool rules, limits, pool modes and reclaim rules, both ways.

use std::collections::BTreeMap;

use poolkeeper_domain::Actor;
use poolkeeper_domain::rules::{
    AssignRule, AssignStrategy, Condition, DeadlineOutcome, Escalation, Limit, PoolMode, PoolRules,
    ProtectionExtension, ProtectionRule, ReturnTarget, RuleKind, Visibility,
};
use poolkeeper_proto::v1 as pb;
use tonic::Status;

use super::names::{pool, pool_name, repeated, user, user_name};
use crate::status::{invalid, quoted};

/// A pool mode; UNSPECIFIED is refused.
pub fn pool_mode(field: &str, value: i32) -> Result<PoolMode, Status> {
    match pb::PoolMode::try_from(value) {
        Ok(pb::PoolMode::AssignOnly) => Ok(PoolMode::AssignOnly),
        Ok(pb::PoolMode::FreeClaim) => Ok(PoolMode::FreeClaim),
        Ok(pb::PoolMode::ClaimWithApproval) => Ok(PoolMode::ClaimWithApproval),
        _ => Err(invalid(
            field,
            "must be ASSIGN_ONLY, FREE_CLAIM or CLAIM_WITH_APPROVAL",
        )),
    }
}

/// A pool mode as protobuf.
pub fn pool_mode_pb(mode: PoolMode) -> pb::PoolMode {
    match mode {
        PoolMode::AssignOnly => pb::PoolMode::AssignOnly,
        PoolMode::FreeClaim => pb::PoolMode::FreeClaim,
        PoolMode::ClaimWithApproval => pb::PoolMode::ClaimWithApproval,
    }
}

/// A reclaim rule as protobuf.
pub fn rule_pb(rule: RuleKind) -> pb::ReclaimRule {
    match rule {
        RuleKind::ClaimedNotContacted => pb::ReclaimRule::ClaimedNotContacted,
        RuleKind::NoContact => pb::ReclaimRule::NoContact,
        RuleKind::NotWon => pb::ReclaimRule::NotWon,
        RuleKind::ProtectionExpired => pb::ReclaimRule::ProtectionExpired,
    }
}

/// An optional reclaim rule as protobuf, UNSPECIFIED when none.
pub fn optional_rule_pb(rule: Option<RuleKind>) -> pb::ReclaimRule {
    rule.map_or(pb::ReclaimRule::Unspecified, rule_pb)
}

/// The rule that acted, UNSPECIFIED when a user or the system did.
pub fn actor_rule(actor: Option<Actor>) -> pb::ReclaimRule {
    match actor {
        Some(Actor::Rule(rule)) => rule_pb(rule),
        _ => pb::ReclaimRule::Unspecified,
    }
}

/// A reclaim rule from protobuf; `None` for UNSPECIFIED.
pub fn rule(field: &str, value: i32) -> Result<Option<RuleKind>, Status> {
    match pb::ReclaimRule::try_from(value) {
        Ok(pb::ReclaimRule::Unspecified) => Ok(None),
        Ok(pb::ReclaimRule::ClaimedNotContacted) => Ok(Some(RuleKind::ClaimedNotContacted)),
        Ok(pb::ReclaimRule::NoContact) => Ok(Some(RuleKind::NoContact)),
        Ok(pb::ReclaimRule::NotWon) => Ok(Some(RuleKind::NotWon)),
        Ok(pb::ReclaimRule::ProtectionExpired) => Ok(Some(RuleKind::ProtectionExpired)),
        Err(_) => Err(invalid(field, "is not a known reclaim rule")),
    }
}

fn limit(field: &str, value: &pb::Limit) -> Result<Limit, Status> {
    let mut per_user = BTreeMap::new();
    for (name, days) in &value.per_user {
        per_user.insert(
            user(&format!("{field}.per_user[{}]", quoted(name)), name)?,
            *days,
        );
    }
    Ok(Limit {
        value: value.value,
        per_user,
    })
}

fn optional_limit(field: &str, value: &Option<pb::Limit>) -> Result<Option<Limit>, Status> {
    value.as_ref().map(|l| limit(field, l)).transpose()
}

/// A limit as protobuf.
pub fn limit_pb(value: &Limit) -> pb::Limit {
    pb::Limit {
        value: value.value,
        per_user: value
            .per_user
            .iter()
            .map(|(user, days)| (user_name(*user), *days))
            .collect(),
    }
}

/// The overall cap of organization settings.
pub fn overall_cap(value: &Option<pb::Limit>) -> Result<Option<Limit>, Status> {
    optional_limit("overall_cap", value)
}

/// Pool rules from protobuf (a missing message means every rule off).
pub fn pool_rules(value: &Option<pb::PoolRules>) -> Result<PoolRules, Status> {
    let Some(rules) = value else {
        return Ok(PoolRules::default());
    };
    let protection = rules.protection.as_ref().map(protection).transpose()?;
    let return_target = return_target(rules.return_target.as_ref())?;
    let auto_assign = repeated("rules.auto_assign", &rules.auto_assign, assign_rule)?;
    Ok(PoolRules {
        claimed_not_contacted: optional_limit(
            "rules.claimed_not_contacted_days",
            &rules.claimed_not_contacted_days,
        )?,
        no_contact: optional_limit("rules.no_contact_days", &rules.no_contact_days)?,
        not_won: optional_limit("rules.not_won_days", &rules.not_won_days)?,
        protection,
        reminder_hours: rules.reminder_hours,
        cooldown_days: optional_limit("rules.cooldown_days", &rules.cooldown_days)?,
        cap: optional_limit("rules.cap", &rules.cap)?,
        daily_claim_quota: optional_limit("rules.daily_claim_quota", &rules.daily_claim_quota)?,
        return_target,
        abandon_reasons: rules.abandon_reasons.clone(),
        visibility: Visibility {
            hide_claimed_from_members: rules.hide_claimed_from_members,
            members_can_open_details: rules.members_can_open_details,
        },
        auto_assign,
        escalation: rules.escalation.as_ref().map(escalation).transpose()?,
    })
}

fn escalation(escalation: &pb::Escalation) -> Result<Escalation, Status> {
    let at_deadline = match pb::DeadlineOutcome::try_from(escalation.at_deadline) {
        Ok(pb::DeadlineOutcome::Unspecified | pb::DeadlineOutcome::ReturnToPool) => {
            DeadlineOutcome::ReturnToPool
        }
        Ok(pb::DeadlineOutcome::ReassignToSuperior) => DeadlineOutcome::ReassignToSuperior,
        Ok(pb::DeadlineOutcome::AutoAssign) => DeadlineOutcome::AutoAssign,
        Err(_) => {
            return Err(invalid(
                "rules.escalation.at_deadline",
                "is not a known deadline outcome",
            ));
        }
    };
    Ok(Escalation {
        notify_superior_hours: escalation.notify_superior_hours,
        at_deadline,
    })
}

fn escalation_pb(escalation: &Escalation) -> pb::Escalation {
    let at_deadline = match escalation.at_deadline {
        DeadlineOutcome::ReturnToPool => pb::DeadlineOutcome::ReturnToPool,
        DeadlineOutcome::ReassignToSuperior => pb::DeadlineOutcome::ReassignToSuperior,
        DeadlineOutcome::AutoAssign => pb::DeadlineOutcome::AutoAssign,
    };
    pb::Escalation {
        notify_superior_hours: escalation.notify_superior_hours,
        at_deadline: at_deadline as i32,
    }
}

fn protection(rule: &pb::ProtectionRule) -> Result<ProtectionRule, Status> {
    Ok(ProtectionRule {
        default_days: limit(
            "rules.protection.default_days",
            rule.default_days.as_ref().unwrap_or(&pb::Limit::default()),
        )?,
        max_days: rule.max_days,
        extension: (rule.extension_extend_by_days > 0 || rule.extension_contact_within_days > 0)
            .then_some(ProtectionExtension {
                contact_within_days: rule.extension_contact_within_days,
                extend_by_days: rule.extension_extend_by_days,
            }),
    })
}

fn return_target(target: Option<&pb::ReturnTarget>) -> Result<ReturnTarget, Status> {
    Ok(match target.and_then(|t| t.target.as_ref()) {
        None | Some(pb::return_target::Target::SourcePool(_)) => ReturnTarget::SourcePool,
        Some(pb::return_target::Target::UserChooses(_)) => ReturnTarget::UserChooses,
        Some(pb::return_target::Target::FixedPool(name)) => ReturnTarget::Fixed {
            pool: pool("rules.return_target.fixed_pool", name)?,
        },
    })
}

/// The auto-assign rule at `field` (`rules.auto_assign[{index}]`).
fn assign_rule(field: &str, rule: &pb::AssignRule) -> Result<AssignRule, Status> {
    let strategy = match pb::AssignStrategy::try_from(rule.strategy) {
        Ok(pb::AssignStrategy::RoundRobin) => AssignStrategy::RoundRobin,
        Ok(pb::AssignStrategy::LeastLoaded) => AssignStrategy::LeastLoaded,
        _ => {
            return Err(invalid(
                format!("{field}.strategy"),
                "must be ROUND_ROBIN or LEAST_LOADED",
            ));
        }
    };
    let filter = repeated(&format!("{field}.filter"), &rule.filter, assign_condition)?;
    Ok(AssignRule {
        name: rule.display_name.clone(),
        filter,
        assignees: repeated(
            &format!("{field}.assignees"),
            &rule.assignees,
            |field, name| user(field, name),
        )?,
        strategy,
    })
}

/// The filter condition at `field` (`rules.auto_assign[{i}].filter[{j}]`).
fn assign_condition(field: &str, condition: &pb::Condition) -> Result<Condition, Status> {
    let name = condition.field.clone();
    Ok(match &condition.op {
        Some(pb::condition::Op::Equals(value)) => Condition::Equals {
            field: name,
            value: value.clone(),
        },
        Some(pb::condition::Op::OneOf(values)) => Condition::OneOf {
            field: name,
            values: values.values.clone(),
        },
        Some(pb::condition::Op::Prefix(prefix)) => Condition::Prefix {
            field: name,
            prefix: prefix.clone(),
        },
        Some(pb::condition::Op::Present(_)) => Condition::Present { field: name },
        None => return Err(invalid(format!("{field}.op"), "is required")),
    })
}

/// Pool rules as protobuf.
pub fn pool_rules_pb(rules: &PoolRules) -> pb::PoolRules {
    pb::PoolRules {
        claimed_not_contacted_days: rules.claimed_not_contacted.as_ref().map(limit_pb),
        no_contact_days: rules.no_contact.as_ref().map(limit_pb),
        not_won_days: rules.not_won.as_ref().map(limit_pb),
        protection: rules.protection.as_ref().map(|p| pb::ProtectionRule {
            default_days: Some(limit_pb(&p.default_days)),
            max_days: p.max_days,
            extension_contact_within_days: p
                .extension
                .as_ref()
                .map_or(0, |e| e.contact_within_days),
            extension_extend_by_days: p.extension.as_ref().map_or(0, |e| e.extend_by_days),
        }),
        reminder_hours: rules.reminder_hours,
        cooldown_days: rules.cooldown_days.as_ref().map(limit_pb),
        cap: rules.cap.as_ref().map(limit_pb),
        daily_claim_quota: rules.daily_claim_quota.as_ref().map(limit_pb),
        return_target: Some(pb::ReturnTarget {
            target: Some(match &rules.return_target {
                ReturnTarget::SourcePool => pb::return_target::Target::SourcePool(true),
                ReturnTarget::UserChooses => pb::return_target::Target::UserChooses(true),
                ReturnTarget::Fixed { pool } => {
                    pb::return_target::Target::FixedPool(pool_name(*pool))
                }
            }),
        }),
        abandon_reasons: rules.abandon_reasons.clone(),
        hide_claimed_from_members: rules.visibility.hide_claimed_from_members,
        members_can_open_details: rules.visibility.members_can_open_details,
        auto_assign: rules.auto_assign.iter().map(assign_rule_pb).collect(),
        escalation: rules.escalation.as_ref().map(escalation_pb),
    }
}

fn assign_rule_pb(rule: &AssignRule) -> pb::AssignRule {
    pb::AssignRule {
        display_name: rule.name.clone(),
        filter: rule.filter.iter().map(condition_pb).collect(),
        assignees: rule.assignees.iter().map(|u| user_name(*u)).collect(),
        strategy: match rule.strategy {
            AssignStrategy::RoundRobin => pb::AssignStrategy::RoundRobin,
            AssignStrategy::LeastLoaded => pb::AssignStrategy::LeastLoaded,
        } as i32,
    }
}

fn condition_pb(condition: &Condition) -> pb::Condition {
    let (field, op) = match condition {
        Condition::Equals { field, value } => (field, pb::condition::Op::Equals(value.clone())),
        Condition::OneOf { field, values } => (
            field,
            pb::condition::Op::OneOf(pb::condition::OneOf {
                values: values.clone(),
            }),
        ),
        Condition::Prefix { field, prefix } => (field, pb::condition::Op::Prefix(prefix.clone())),
        Condition::Present { field } => (field, pb::condition::Op::Present(true)),
    };
    pb::Condition {
        field: field.clone(),
        op: Some(op),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poolkeeper_domain::UserId;
    use uuid::Uuid;

    #[test]
    fn pool_rules_round_trip_through_protobuf() {
        let alice = UserId(Uuid::now_v7());
        let rules = PoolRules {
            claimed_not_contacted: Some(Limit {
                value: 5,
                per_user: BTreeMap::from([(alice, 7)]),
            }),
            protection: Some(ProtectionRule {
                default_days: Limit::uniform(30),
                max_days: 60,
                extension: Some(ProtectionExtension {
                    contact_within_days: 3,
                    extend_by_days: 10,
                }),
            }),
            reminder_hours: Some(24),
            cap: Some(Limit::uniform(50)),
            return_target: ReturnTarget::UserChooses,
            abandon_reasons: vec!["无意向".into()],
            visibility: Visibility {
                hide_claimed_from_members: true,
                members_can_open_details: false,
            },
            auto_assign: vec![AssignRule {
                name: "市场活动".into(),
                filter: vec![Condition::OneOf {
                    field: "source".into(),
                    values: vec!["展会".into()],
                }],
                assignees: vec![alice],
                strategy: AssignStrategy::LeastLoaded,
            }],
            ..PoolRules::default()
        };
        assert_eq!(pool_rules(&Some(pool_rules_pb(&rules))).unwrap(), rules);
    }
}
