//! Pool configuration and the pure reclaim-rule arithmetic.
//!
//! This module owns what a pool's rules *are* ([`PoolRules`]) and what they *mean* for one
//! owned customer: its next automatic-reclaim [`Deadline`], which rule sets it, and when
//! its owner is reminded. Nothing here knows about other customers; cross-customer rules
//! (caps, cooldowns, quotas) are decided in [`crate::decide()`] against the write model.
//!
//! Time arithmetic is exact: "N days" is N × 24 hours from the base instant, so a 5-day
//! no-contact rule on a customer last contacted on day 1 at 10:00 fires on day 6 at 10:00.
//! A rule that is turned on (or changed) at instant `T` measures from `max(base, T)`:
//! it applies to customers already owned from the day it is turned on, never retroactively
//! (seed 003: 开启当天 + 保护期天数).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{PoolId, UserId};

/// How members take customers from a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolMode {
    /// 手动分配型: only pool admins hand customers out.
    AssignOnly,
    /// 主动领取型: members claim directly.
    FreeClaim,
    /// Members apply (申请); a pool admin approves or rejects.
    ClaimWithApproval,
}

impl PoolMode {
    /// The mode's name as the API spells it: `ASSIGN_ONLY`, `FREE_CLAIM`, `CLAIM_WITH_APPROVAL`.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolMode::AssignOnly => "ASSIGN_ONLY",
            PoolMode::FreeClaim => "FREE_CLAIM",
            PoolMode::ClaimWithApproval => "CLAIM_WITH_APPROVAL",
        }
    }
}

/// The automatic-reclaim rules, each of which can set an owned customer's deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// 领用未联系收回: no follow-up within N days of getting the customer.
    ClaimedNotContacted,
    /// 间隔未联系收回: no follow-up within N days of the last follow-up.
    NoContact,
    /// 跟进未成功收回: not won within N days of getting the customer.
    NotWon,
    /// 保护过期收回: the protection period ran out (after any extensions).
    ProtectionExpired,
}

impl RuleKind {
    /// Every reclaim rule, in tie-breaking order.
    pub const ALL: [RuleKind; 4] = [
        RuleKind::ClaimedNotContacted,
        RuleKind::NoContact,
        RuleKind::NotWon,
        RuleKind::ProtectionExpired,
    ];

    /// The stable snake_case name used in events and actor strings.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::ClaimedNotContacted => "claimed_not_contacted",
            RuleKind::NoContact => "no_contact",
            RuleKind::NotWon => "not_won",
            RuleKind::ProtectionExpired => "protection_expired",
        }
    }

    /// Parses a name produced by [`RuleKind::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|rule| rule.as_str() == name)
    }
}

/// A number with per-user overrides (不同人员设置不同期限).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    /// The value for everyone without an override.
    pub value: u32,
    /// Overrides for named users.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_user: BTreeMap<UserId, u32>,
}

impl Limit {
    /// A limit with no overrides.
    pub fn uniform(value: u32) -> Self {
        Self {
            value,
            per_user: BTreeMap::new(),
        }
    }

    /// The value that applies to `user`.
    pub fn for_user(&self, user: UserId) -> u32 {
        self.per_user.get(&user).copied().unwrap_or(self.value)
    }
}

/// The protection period (保护期) and how it may be extended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectionRule {
    /// Days of protection from the start of ownership (per-user overrides allowed).
    pub default_days: Limit,
    /// No extension or manual window may end later than this many days after the start.
    pub max_days: u32,
    /// When set, a protection that expires with a recent follow-up is extended instead of reclaimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<ProtectionExtension>,
}

/// The extension condition (延期条件): a follow-up in the last `contact_within_days` days
/// before expiry extends protection by `extend_by_days`, never past the maximum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectionExtension {
    /// How recent the last follow-up must be, in days before expiry.
    pub contact_within_days: u32,
    /// How many days each extension adds.
    pub extend_by_days: u32,
}

/// Where an abandoned customer goes (退回设置).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ReturnTarget {
    /// Back to the pool it is in (退回至领取分组).
    #[default]
    SourcePool,
    /// A pool the abandoning user chooses (选择分组退回); the source pool when none is chosen.
    UserChooses,
    /// Always to one fixed pool (退回至指定分组).
    Fixed {
        /// The pool abandoned customers go to.
        pool: PoolId,
    },
}

/// What members may see of a pool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visibility {
    /// Hide claimed customers from plain members (线索池隐藏已领取线索).
    #[serde(default)]
    pub hide_claimed_from_members: bool,
    /// Members may open the details of unclaimed customers (普通成员是否可以打开详情; off
    /// by default, as in seed 003, so members cannot cherry-pick).
    #[serde(default)]
    pub members_can_open_details: bool,
}

/// How an auto-assignment rule picks among its assignees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignStrategy {
    /// Take turns, starting after the last one chosen.
    RoundRobin,
    /// The eligible assignee owning the fewest customers in the pool (平均分配); ties go
    /// to the earliest in rotation order.
    LeastLoaded,
}

/// One condition of an auto-assignment filter, on `name`, `source` or a free field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Condition {
    /// The field equals the value.
    Equals {
        /// `name`, `source` or a free field's key.
        field: String,
        /// The value it must equal.
        value: String,
    },
    /// The field equals one of the values.
    OneOf {
        /// `name`, `source` or a free field's key.
        field: String,
        /// The accepted values.
        values: Vec<String>,
    },
    /// The field starts with the prefix.
    Prefix {
        /// `name`, `source` or a free field's key.
        field: String,
        /// The prefix it must start with.
        prefix: String,
    },
    /// The field is present and not empty.
    Present {
        /// `name`, `source` or a free field's key.
        field: String,
    },
}

/// An auto-assignment rule (分配规则): customers matching every condition go to one of the assignees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignRule {
    /// A name shown in audit trails.
    pub name: String,
    /// Conditions that must all hold; empty matches every customer.
    #[serde(default)]
    pub filter: Vec<Condition>,
    /// Who may receive the customer, in rotation order.
    pub assignees: Vec<UserId>,
    /// How the assignee is picked.
    pub strategy: AssignStrategy,
}

/// What happens at the deadline of a customer whose reclaim was escalated (逐级上报).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineOutcome {
    /// Back to the pool, as without escalation.
    #[default]
    ReturnToPool,
    /// To the owner's superior, within their caps.
    ReassignToSuperior,
    /// To an assignee of the pool's auto-assignment rules (those that match every
    /// customer), within their caps.
    AutoAssign,
}

impl DeadlineOutcome {
    /// The outcome's name as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineOutcome::ReturnToPool => "return_to_pool",
            DeadlineOutcome::ReassignToSuperior => "reassign_to_superior",
            DeadlineOutcome::AutoAssign => "auto_assign",
        }
    }
}

/// The escalation ladder before an automatic reclaim: after the owner's reminder, the
/// owner's superior hears of it, and at the deadline the customer may stay in the team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// Notify the owner's superior this many hours before the deadline.
    pub notify_superior_hours: u32,
    /// Where the customer goes at the deadline.
    #[serde(default)]
    pub at_deadline: DeadlineOutcome,
}

/// The most auto-assignment rules a pool may have (seed 003: 最多不超过10个小规则).
pub const MAX_ASSIGN_RULES: usize = 10;

/// Everything configurable about a pool. Each rule is off when `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRules {
    /// 领用未联系收回, in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_not_contacted: Option<Limit>,
    /// 间隔未联系收回, in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_contact: Option<Limit>,
    /// 跟进未成功收回, in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_won: Option<Limit>,
    /// 保护过期收回.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<ProtectionRule>,
    /// 提前提醒: remind the owner this many hours before an automatic reclaim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_hours: Option<u32>,
    /// 逐级上报: notify the owner's superior before a reclaim, and where the customer goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
    /// 冷却天数: days a user may not re-claim a customer they returned or lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_days: Option<Limit>,
    /// 私池上限: the most customers of this pool one user may own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Limit>,
    /// 领取频率: the most claims (and claim requests) one user may make in this pool per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_claim_quota: Option<Limit>,
    /// Where abandoned customers go.
    #[serde(default)]
    pub return_target: ReturnTarget,
    /// The reasons an owner may give when abandoning; empty accepts any non-empty reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub abandon_reasons: Vec<String>,
    /// What members see.
    #[serde(default)]
    pub visibility: Visibility,
    /// Auto-assignment rules, tried in order on create and import.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auto_assign: Vec<AssignRule>,
}

impl PoolRules {
    /// The day threshold of a reclaim rule when it is on; for protection, the default days.
    pub fn threshold(&self, rule: RuleKind, user: UserId) -> Option<u32> {
        match rule {
            RuleKind::ClaimedNotContacted => self.claimed_not_contacted.as_ref(),
            RuleKind::NoContact => self.no_contact.as_ref(),
            RuleKind::NotWon => self.not_won.as_ref(),
            RuleKind::ProtectionExpired => self.protection.as_ref().map(|p| &p.default_days),
        }
        .map(|limit| limit.for_user(user))
    }

    /// Whether `rule` differs between `self` and `other` (so its effective instant restarts).
    pub fn rule_changed(&self, other: &PoolRules, rule: RuleKind) -> bool {
        match rule {
            RuleKind::ClaimedNotContacted => {
                self.claimed_not_contacted != other.claimed_not_contacted
            }
            RuleKind::NoContact => self.no_contact != other.no_contact,
            RuleKind::NotWon => self.not_won != other.not_won,
            RuleKind::ProtectionExpired => self.protection != other.protection,
        }
    }
}

/// The instant from which each active reclaim rule is in force.
pub type RulesSince = BTreeMap<RuleKind, DateTime<Utc>>;

/// The facts about one ownership that the reclaim rules look at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ownership {
    /// The owner (负责人).
    pub owner: UserId,
    /// When this ownership began (claim, assignment, approval, transfer, restore…).
    pub since: DateTime<Utc>,
    /// Where the protection period counts from (an assignment may choose it).
    pub protection_start: DateTime<Utc>,
    /// An explicit end of protection (an assignment window or an extension); when `None`
    /// the pool's default applies.
    pub protection_until: Option<DateTime<Utc>>,
    /// The last follow-up by this owner, if any.
    pub last_contact_at: Option<DateTime<Utc>>,
    /// When this owner won the customer, if they did.
    pub won_at: Option<DateTime<Utc>>,
}

impl Ownership {
    /// A fresh ownership starting at `at`.
    pub fn starting(owner: UserId, at: DateTime<Utc>) -> Self {
        Self {
            owner,
            since: at,
            protection_start: at,
            protection_until: None,
            last_contact_at: None,
            won_at: None,
        }
    }
}

/// When an owned customer is next due for automatic reclaim, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// The instant the customer becomes due.
    pub at: DateTime<Utc>,
    /// The rule that sets it.
    pub rule: RuleKind,
    /// The rule's threshold in days, as it applies to this owner.
    pub threshold_days: u32,
    /// The instant the deadline counts from.
    pub counted_from: DateTime<Utc>,
}

/// `days` whole days as a duration.
pub fn days(days: u32) -> Duration {
    Duration::days(i64::from(days))
}

/// The end of protection for `ownership` under `rules`: its explicit end (an assignment
/// window or an extension) in any pool, else the protection rule's default end (its base +
/// the default days) when the rule is on; `None` when there is neither.
///
/// An explicit end outlives the rule: in a pool whose protection rule is off, a window still
/// ends (the customer shows in the expired view, 已过期, for the admin to reclaim by hand),
/// but only [`next_deadline`] under the rule reclaims automatically.
pub fn protection_until(
    rules: &PoolRules,
    since: &RulesSince,
    ownership: &Ownership,
) -> Option<DateTime<Utc>> {
    if let Some(until) = ownership.protection_until {
        return Some(until);
    }
    let protection = rules.protection.as_ref()?;
    Some(
        protection_base(since, ownership.protection_start)
            + days(protection.default_days.for_user(ownership.owner)),
    )
}

/// Where protection counts from, for both its default end and its maximum: the start of
/// protection, or the instant the protection rule came into force when that is later, so a
/// rule turned on for customers already owned counts from the day it was turned on (seed
/// 003: 开启当天 + 保护期天数), never retroactively.
pub fn protection_base(since: &RulesSince, protection_start: DateTime<Utc>) -> DateTime<Utc> {
    protection_start.max(rule_since(since, RuleKind::ProtectionExpired))
}

/// The latest instant protection may reach under `rules`: its base + maximum days.
pub fn protection_max(
    rules: &PoolRules,
    since: &RulesSince,
    ownership: &Ownership,
) -> Option<DateTime<Utc>> {
    rules.protection.as_ref().map(|protection| {
        protection_base(since, ownership.protection_start) + days(protection.max_days)
    })
}

fn rule_since(since: &RulesSince, rule: RuleKind) -> DateTime<Utc> {
    since
        .get(&rule)
        .copied()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The next automatic-reclaim deadline of `ownership` under `rules`, or `None` when no rule
/// applies. The earliest deadline wins; ties go to the rule listed first in [`RuleKind::ALL`].
///
/// - claimed, never contacted: from the start of ownership, while there is no follow-up;
/// - no contact: from the last follow-up;
/// - not won: from the start of ownership, until won;
/// - protection expired: when the protection rule is on, at the end of protection (default or
///   explicit), until won (seed 004: reclaimed when not signed within the protection
///   period); an explicit end that passed before the rule came into force is due when it
///   comes into force, never before. With the rule off an explicit window reclaims nothing.
pub fn next_deadline(
    rules: &PoolRules,
    since: &RulesSince,
    ownership: &Ownership,
) -> Option<Deadline> {
    let owner = ownership.owner;
    let mut best: Option<Deadline> = None;
    let mut consider = |candidate: Deadline| {
        if best.is_none_or(|current| candidate.at < current.at) {
            best = Some(candidate);
        }
    };
    let mut day_rule = |rule: RuleKind, base: DateTime<Utc>| {
        if let Some(threshold_days) = rules.threshold(rule, owner) {
            let counted_from = base.max(rule_since(since, rule));
            consider(Deadline {
                at: counted_from + days(threshold_days),
                rule,
                threshold_days,
                counted_from,
            });
        }
    };
    match ownership.last_contact_at {
        None => day_rule(RuleKind::ClaimedNotContacted, ownership.since),
        Some(last_contact) => day_rule(RuleKind::NoContact, last_contact),
    }
    if ownership.won_at.is_none() {
        day_rule(RuleKind::NotWon, ownership.since);
        if rules.protection.is_some()
            && let Some(until) = protection_until(rules, since, ownership)
        {
            let counted_from = protection_base(since, ownership.protection_start);
            let at = until.max(counted_from);
            let threshold_days = u32::try_from((at - counted_from).num_days()).unwrap_or(0);
            consider(Deadline {
                at,
                rule: RuleKind::ProtectionExpired,
                threshold_days,
                counted_from,
            });
        }
    }
    best
}

/// When the owner is reminded of `deadline` (提前提醒), if reminders are on.
pub fn reminder_at(rules: &PoolRules, deadline: &Deadline) -> Option<DateTime<Utc>> {
    rules
        .reminder_hours
        .map(|hours| deadline.at - Duration::hours(i64::from(hours)))
}

/// When the owner's superior is notified of `deadline`, if the pool escalates.
pub fn escalation_at(rules: &PoolRules, deadline: &Deadline) -> Option<DateTime<Utc>> {
    rules.escalation.as_ref().map(|escalation| {
        deadline.at - Duration::hours(i64::from(escalation.notify_superior_hours))
    })
}

/// Whether a protection expiring now is extended rather than reclaimed, and to when.
/// Returns `None` when the customer must be reclaimed: no extension rule, no recent
/// follow-up, or protection already at its maximum.
pub fn protection_extension(
    rules: &PoolRules,
    since: &RulesSince,
    ownership: &Ownership,
    expiring_at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let protection = rules.protection.as_ref()?;
    let extension = protection.extension.as_ref()?;
    let last_contact = ownership.last_contact_at?;
    if last_contact < expiring_at - days(extension.contact_within_days) {
        return None;
    }
    let max = protection_max(rules, since, ownership)?;
    let extended = (expiring_at + days(extension.extend_by_days)).min(max);
    (extended > expiring_at).then_some(extended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(n: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, n, 10, 0, 0).unwrap()
    }

    const ALICE: UserId = UserId::from_u128(1);
    const BOB: UserId = UserId::from_u128(2);

    #[test]
    fn five_day_no_contact_rule_fires_on_day_six() {
        let rules = PoolRules {
            no_contact: Some(Limit::uniform(5)),
            ..PoolRules::default()
        };
        let mut ownership = Ownership::starting(ALICE, day(1));
        ownership.last_contact_at = Some(day(1));
        let deadline = next_deadline(&rules, &RulesSince::new(), &ownership).unwrap();
        assert_eq!(deadline.at, day(6));
        assert_eq!(deadline.rule, RuleKind::NoContact);
        assert_eq!(deadline.threshold_days, 5);
    }

    #[test]
    fn no_contact_rule_does_not_apply_before_the_first_follow_up() {
        let rules = PoolRules {
            no_contact: Some(Limit::uniform(5)),
            ..PoolRules::default()
        };
        let ownership = Ownership::starting(ALICE, day(1));
        assert_eq!(next_deadline(&rules, &RulesSince::new(), &ownership), None);
    }

    #[test]
    fn earliest_rule_wins_and_per_user_overrides_apply() {
        let mut not_won = Limit::uniform(10);
        not_won.per_user.insert(BOB, 2);
        let rules = PoolRules {
            claimed_not_contacted: Some(Limit::uniform(3)),
            not_won: Some(not_won),
            ..PoolRules::default()
        };
        let alice = next_deadline(
            &rules,
            &RulesSince::new(),
            &Ownership::starting(ALICE, day(1)),
        );
        assert_eq!(
            alice.map(|d| (d.at, d.rule)),
            Some((day(4), RuleKind::ClaimedNotContacted))
        );
        let bob = next_deadline(
            &rules,
            &RulesSince::new(),
            &Ownership::starting(BOB, day(1)),
        );
        assert_eq!(
            bob.map(|d| (d.at, d.rule)),
            Some((day(3), RuleKind::NotWon))
        );
    }

    #[test]
    fn rule_turned_on_later_counts_from_the_day_it_was_turned_on() {
        let rules = PoolRules {
            claimed_not_contacted: Some(Limit::uniform(5)),
            ..PoolRules::default()
        };
        let since = RulesSince::from([(RuleKind::ClaimedNotContacted, day(10))]);
        let deadline = next_deadline(&rules, &since, &Ownership::starting(ALICE, day(1))).unwrap();
        assert_eq!(deadline.at, day(15));
        assert_eq!(deadline.counted_from, day(10));
    }

    #[test]
    fn winning_stops_the_not_won_and_protection_timers() {
        let rules = PoolRules {
            not_won: Some(Limit::uniform(5)),
            protection: Some(ProtectionRule {
                default_days: Limit::uniform(7),
                max_days: 30,
                extension: None,
            }),
            ..PoolRules::default()
        };
        let mut ownership = Ownership::starting(ALICE, day(1));
        assert!(next_deadline(&rules, &RulesSince::new(), &ownership).is_some());
        ownership.won_at = Some(day(2));
        assert_eq!(next_deadline(&rules, &RulesSince::new(), &ownership), None);
    }

    #[test]
    fn an_explicit_window_ends_without_the_protection_rule_but_is_a_deadline_only_under_it() {
        let mut ownership = Ownership::starting(ALICE, day(1));
        ownership.protection_until = Some(day(5));
        let off = PoolRules::default();
        assert_eq!(
            protection_until(&off, &RulesSince::new(), &ownership),
            Some(day(5))
        );
        assert_eq!(next_deadline(&off, &RulesSince::new(), &ownership), None);
        let on = PoolRules {
            protection: Some(ProtectionRule {
                default_days: Limit::uniform(7),
                max_days: 30,
                extension: None,
            }),
            ..PoolRules::default()
        };
        let deadline = next_deadline(&on, &RulesSince::new(), &ownership).unwrap();
        assert_eq!(
            (deadline.at, deadline.rule, deadline.threshold_days),
            (day(5), RuleKind::ProtectionExpired, 4)
        );
        // A rule in force only from day 10 is never due before it.
        let since = RulesSince::from([(RuleKind::ProtectionExpired, day(10))]);
        let deadline = next_deadline(&on, &since, &ownership).unwrap();
        assert_eq!(
            (deadline.at, deadline.counted_from, deadline.threshold_days),
            (day(10), day(10), 0)
        );
    }

    #[test]
    fn protection_extension_stops_at_the_maximum() {
        let rules = PoolRules {
            protection: Some(ProtectionRule {
                default_days: Limit::uniform(10),
                max_days: 25,
                extension: Some(ProtectionExtension {
                    contact_within_days: 3,
                    extend_by_days: 10,
                }),
            }),
            ..PoolRules::default()
        };
        let mut ownership = Ownership::starting(ALICE, day(1));
        ownership.last_contact_at = Some(day(10));
        assert_eq!(
            protection_extension(&rules, &RulesSince::new(), &ownership, day(11)),
            Some(day(21))
        );
        ownership.last_contact_at = Some(day(20));
        assert_eq!(
            protection_extension(&rules, &RulesSince::new(), &ownership, day(21)),
            Some(day(26))
        );
        ownership.last_contact_at = Some(day(25));
        assert_eq!(
            protection_extension(&rules, &RulesSince::new(), &ownership, day(26)),
            None
        );
        ownership.last_contact_at = Some(day(5));
        assert_eq!(
            protection_extension(&rules, &RulesSince::new(), &ownership, day(11)),
            None
        );
    }

    #[test]
    fn reminder_comes_the_configured_hours_before_the_deadline() {
        let rules = PoolRules {
            claimed_not_contacted: Some(Limit::uniform(5)),
            reminder_hours: Some(24),
            ..PoolRules::default()
        };
        let deadline = next_deadline(
            &rules,
            &RulesSince::new(),
            &Ownership::starting(ALICE, day(1)),
        )
        .unwrap();
        assert_eq!(reminder_at(&rules, &deadline), Some(day(5)));
    }
}
