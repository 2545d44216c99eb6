//! Between protobuf messages and domain types. Every parse failure is an INVALID_ARGUMENT
//! naming the field. Resource names are `customers/{uuid}`, `pools/{uuid}`, `users/{uuid}`;
//! a bare UUID is accepted too.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use poolkeeper_domain::event::FollowUpKind;
use poolkeeper_domain::rules::{
    AssignRule, AssignStrategy, Condition, Limit, PoolMode, PoolRules, ProtectionExtension,
    ProtectionRule, ReturnTarget, RuleKind, Visibility,
};
use poolkeeper_domain::{CommandId, CustomerId, FollowUpId, PoolId, UserId};
use poolkeeper_proto::v1 as pb;
use prost_types::Timestamp;
use tonic::Status;
use uuid::Uuid;

use crate::status::{invalid, quoted};

/// Parses `prefix/{uuid}` or a bare UUID.
pub fn parse_uuid(field: &str, value: &str, prefix: &str) -> Result<Uuid, Status> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(invalid(field, "is required"));
    }
    let id = trimmed
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(trimmed);
    match Uuid::parse_str(id) {
        Ok(uuid) if !uuid.is_nil() => Ok(uuid),
        Ok(_) => Err(invalid(field, "must not be the nil UUID")),
        Err(_) => Err(invalid(
            field,
            format!("must be `{prefix}/{{uuid}}`, got {}", quoted(trimmed)),
        )),
    }
}

/// A required customer name.
pub fn customer(field: &str, value: &str) -> Result<CustomerId, Status> {
    parse_uuid(field, value, "customers").map(CustomerId)
}

/// A required pool name.
pub fn pool(field: &str, value: &str) -> Result<PoolId, Status> {
    parse_uuid(field, value, "pools").map(PoolId)
}

/// A required user name.
pub fn user(field: &str, value: &str) -> Result<UserId, Status> {
    parse_uuid(field, value, "users").map(UserId)
}

/// An optional pool name (empty means none).
pub fn optional_pool(field: &str, value: &str) -> Result<Option<PoolId>, Status> {
    if value.trim().is_empty() {
        Ok(None)
    } else {
        pool(field, value).map(Some)
    }
}

/// An optional user name (empty means none).
pub fn optional_user(field: &str, value: &str) -> Result<Option<UserId>, Status> {
    if value.trim().is_empty() {
        Ok(None)
    } else {
        user(field, value).map(Some)
    }
}

/// The command id: a UUID chosen by the caller (`commands/{uuid}` is accepted too, but
/// the API documents and names the bare UUID).
pub fn command_id(value: &str) -> Result<CommandId, Status> {
    let trimmed = value.trim();
    let id = trimmed.strip_prefix("commands/").unwrap_or(trimmed);
    match Uuid::parse_str(id) {
        Ok(uuid) if !uuid.is_nil() => Ok(CommandId(uuid)),
        Ok(_) => Err(invalid("command_id", "must not be the nil UUID")),
        Err(_) if trimmed.is_empty() => Err(invalid("command_id", "is required (a UUID)")),
        Err(_) => Err(invalid(
            "command_id",
            format!("must be a UUID, got {}", quoted(trimmed)),
        )),
    }
}

/// A caller-chosen id, or a fresh UUID v7 when empty.
pub fn chosen_or_new(field: &str, value: &str, prefix: &str) -> Result<Uuid, Status> {
    if value.trim().is_empty() {
        Ok(Uuid::now_v7())
    } else {
        parse_uuid(field, value, prefix)
    }
}

/// A list of user names.
pub fn users(field: &str, values: &[String]) -> Result<BTreeSet<UserId>, Status> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| user(&format!("{field}[{i}]"), v))
        .collect()
}

/// `customers/{id}`.
pub fn customer_name(id: CustomerId) -> String {
    format!("customers/{id}")
}

/// `pools/{id}`.
pub fn pool_name(id: PoolId) -> String {
    format!("pools/{id}")
}

/// `users/{id}`.
pub fn user_name(id: UserId) -> String {
    format!("users/{id}")
}

/// An optional user as a name, empty when none.
pub fn optional_user_name(id: Option<UserId>) -> String {
    id.map(user_name).unwrap_or_default()
}

/// A protobuf timestamp as an instant.
pub fn instant(field: &str, value: &Timestamp) -> Result<DateTime<Utc>, Status> {
    let nanos =
        u32::try_from(value.nanos).map_err(|_| invalid(field, "nanos must not be negative"))?;
    DateTime::from_timestamp(value.seconds, nanos).ok_or_else(|| invalid(field, "is out of range"))
}

/// An optional protobuf timestamp as an instant.
pub fn optional_instant(
    field: &str,
    value: &Option<Timestamp>,
) -> Result<Option<DateTime<Utc>>, Status> {
    value.as_ref().map(|t| instant(field, t)).transpose()
}

/// An instant as a protobuf timestamp.
pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// An optional instant as an optional protobuf timestamp.
pub fn optional_timestamp(at: Option<DateTime<Utc>>) -> Option<Timestamp> {
    at.map(timestamp)
}

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

/// A follow-up kind; UNSPECIFIED is refused.
pub fn follow_up_kind(value: i32) -> Result<FollowUpKind, Status> {
    match pb::FollowUpKind::try_from(value) {
        Ok(pb::FollowUpKind::Call) => Ok(FollowUpKind::Call),
        Ok(pb::FollowUpKind::Visit) => Ok(FollowUpKind::Visit),
        Ok(pb::FollowUpKind::Message) => Ok(FollowUpKind::Message),
        Ok(pb::FollowUpKind::Note) => Ok(FollowUpKind::Note),
        _ => Err(invalid("kind", "must be CALL, VISIT, MESSAGE or NOTE")),
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
    let protection = match &rules.protection {
        None => None,
        Some(p) => Some(ProtectionRule {
            default_days: limit(
                "rules.protection.default_days",
                p.default_days.as_ref().unwrap_or(&pb::Limit::default()),
            )?,
            max_days: p.max_days,
            extension: (p.extension_extend_by_days > 0 || p.extension_contact_within_days > 0)
                .then_some(ProtectionExtension {
                    contact_within_days: p.extension_contact_within_days,
                    extend_by_days: p.extension_extend_by_days,
                }),
        }),
    };
    let return_target = match rules.return_target.as_ref().and_then(|t| t.target.as_ref()) {
        None | Some(pb::return_target::Target::SourcePool(_)) => ReturnTarget::SourcePool,
        Some(pb::return_target::Target::UserChooses(_)) => ReturnTarget::UserChooses,
        Some(pb::return_target::Target::FixedPool(name)) => ReturnTarget::Fixed {
            pool: pool("rules.return_target.fixed_pool", name)?,
        },
    };
    let mut auto_assign = Vec::with_capacity(rules.auto_assign.len());
    for (index, rule) in rules.auto_assign.iter().enumerate() {
        let field = format!("rules.auto_assign[{index}]");
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
        let mut filter = Vec::with_capacity(rule.filter.len());
        for (c, condition) in rule.filter.iter().enumerate() {
            let field = condition.field.clone();
            filter.push(match &condition.op {
                Some(pb::condition::Op::Equals(value)) => Condition::Equals {
                    field,
                    value: value.clone(),
                },
                Some(pb::condition::Op::OneOf(values)) => Condition::OneOf {
                    field,
                    values: values.values.clone(),
                },
                Some(pb::condition::Op::Prefix(prefix)) => Condition::Prefix {
                    field,
                    prefix: prefix.clone(),
                },
                Some(pb::condition::Op::Present(_)) => Condition::Present { field },
                None => {
                    return Err(invalid(
                        format!("rules.auto_assign[{index}].filter[{c}].op"),
                        "is required",
                    ));
                }
            });
        }
        auto_assign.push(AssignRule {
            name: rule.display_name.clone(),
            filter,
            assignees: rule
                .assignees
                .iter()
                .enumerate()
                .map(|(i, name)| user(&format!("{field}.assignees[{i}]"), name))
                .collect::<Result<_, _>>()?,
            strategy,
        });
    }
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
        auto_assign: rules
            .auto_assign
            .iter()
            .map(|rule| pb::AssignRule {
                display_name: rule.name.clone(),
                filter: rule
                    .filter
                    .iter()
                    .map(|condition| match condition {
                        Condition::Equals { field, value } => pb::Condition {
                            field: field.clone(),
                            op: Some(pb::condition::Op::Equals(value.clone())),
                        },
                        Condition::OneOf { field, values } => pb::Condition {
                            field: field.clone(),
                            op: Some(pb::condition::Op::OneOf(pb::condition::OneOf {
                                values: values.clone(),
                            })),
                        },
                        Condition::Prefix { field, prefix } => pb::Condition {
                            field: field.clone(),
                            op: Some(pb::condition::Op::Prefix(prefix.clone())),
                        },
                        Condition::Present { field } => pb::Condition {
                            field: field.clone(),
                            op: Some(pb::condition::Op::Present(true)),
                        },
                    })
                    .collect(),
                assignees: rule.assignees.iter().map(|u| user_name(*u)).collect(),
                strategy: match rule.strategy {
                    AssignStrategy::RoundRobin => pb::AssignStrategy::RoundRobin,
                    AssignStrategy::LeastLoaded => pb::AssignStrategy::LeastLoaded,
                } as i32,
            })
            .collect(),
    }
}

/// A follow-up id chosen by the caller, or a fresh one.
pub fn follow_up_id(value: &str) -> Result<FollowUpId, Status> {
    chosen_or_new("follow_up_id", value, "followUps").map(FollowUpId)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bare_uuids_parse_and_garbage_names_its_field() {
        let id = Uuid::now_v7();
        assert_eq!(
            customer("customer", &format!("customers/{id}")).unwrap().0,
            id
        );
        assert_eq!(customer("customer", &id.to_string()).unwrap().0, id);
        let status = customer("customer", "customers/not-a-uuid").unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains("customer"));
        assert_eq!(
            customer("customer", "").unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            command_id(&Uuid::nil().to_string()).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }

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

    #[test]
    fn timestamps_round_trip() {
        let at = DateTime::from_timestamp(1_790_000_000, 123_000_000).unwrap();
        assert_eq!(instant("t", &timestamp(at)).unwrap(), at);
        assert!(
            instant(
                "t",
                &Timestamp {
                    seconds: 0,
                    nanos: -1
                }
            )
            .is_err()
        );
    }
}
