//! What tests say: another user, limits and rules, pools with rules, rows to import, and
//! one builder per command, so a test names the command and the fields that matter.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use poolkeeper_domain::command::NewCustomer;
use poolkeeper_domain::event::FollowUpKind;
use poolkeeper_domain::rules::{AssignRule, AssignStrategy, Condition, Limit, ProtectionRule};
use poolkeeper_domain::*;

use super::{ADMIN, World, as_user, new_customer};

/// A user of another department (市场部), with no superior and in no named pool.
pub const DAVE: UserId = UserId::from_u128(0xC4);

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

pub fn limit(value: u32) -> Option<Limit> {
    Some(Limit::uniform(value))
}

pub fn limit_with(value: u32, user: UserId, for_user: u32) -> Option<Limit> {
    Some(Limit {
        value,
        per_user: BTreeMap::from([(user, for_user)]),
    })
}

pub fn protection(default_days: u32, max_days: u32) -> Option<ProtectionRule> {
    Some(ProtectionRule {
        default_days: Limit::uniform(default_days),
        max_days,
        extension: None,
    })
}

pub fn no_rules() -> PoolRules {
    PoolRules::default()
}

pub fn free_pool(world: &mut World, rules: PoolRules) -> PoolId {
    world.pool(PoolMode::FreeClaim, rules)
}

pub fn assign_rule(
    name: &str,
    filter: Vec<Condition>,
    assignees: Vec<UserId>,
    strategy: AssignStrategy,
) -> AssignRule {
    AssignRule {
        name: name.into(),
        filter,
        assignees,
        strategy,
    }
}

/// A pool whose customers are auto-assigned by `auto_assign`, with an optional pool cap.
pub fn auto_pool(world: &mut World, auto_assign: Vec<AssignRule>, cap: Option<Limit>) -> PoolId {
    world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            auto_assign,
            cap,
            ..no_rules()
        },
    )
}

pub fn add_dave(world: &mut World) {
    world.ok(
        as_user(ADMIN),
        CommandBody::CreateUser {
            user_id: DAVE,
            name: "Dave".into(),
            superior: None,
            department: Some("市场部".into()),
            admin: false,
        },
    );
}

/// `n` new rows for `pool`, with fresh ids.
pub fn rows(world: &mut World, pool: PoolId, n: usize) -> Vec<NewCustomer> {
    (0..n)
        .map(|i| {
            new_customer(
                CustomerId::from_u128(world.fresh()),
                Some(pool),
                &format!("客户{i}"),
            )
        })
        .collect()
}

pub fn import(customers: Vec<NewCustomer>) -> CommandBody {
    CommandBody::ImportCustomers { customers }
}

pub fn claim(customer_id: CustomerId) -> CommandBody {
    CommandBody::Claim { customer_id }
}

pub fn request(customer_id: CustomerId) -> CommandBody {
    CommandBody::RequestClaim { customer_id }
}

pub fn approve(customer_id: CustomerId) -> CommandBody {
    CommandBody::ApproveClaim { customer_id }
}

pub fn reject(customer_id: CustomerId, reason: Option<&str>) -> CommandBody {
    CommandBody::RejectClaim {
        customer_id,
        reason: reason.map(str::to_owned),
    }
}

pub fn assign(customer_id: CustomerId, assignee: UserId) -> CommandBody {
    CommandBody::Assign {
        customer_id,
        assignee,
        protection: None,
    }
}

pub fn assign_window(
    customer_id: CustomerId,
    assignee: UserId,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> CommandBody {
    CommandBody::Assign {
        customer_id,
        assignee,
        protection: Some(ProtectionWindow { start, end }),
    }
}

pub fn abandon(customer_id: CustomerId, reason: &str, return_to: Option<PoolId>) -> CommandBody {
    CommandBody::Abandon {
        customer_id,
        reason: reason.into(),
        return_to,
    }
}

pub fn reclaim(customer_id: CustomerId) -> CommandBody {
    CommandBody::Reclaim {
        customer_id,
        reason: Some("长期未跟进".into()),
    }
}

pub fn transfer(customer_id: CustomerId, new_owner: UserId) -> CommandBody {
    CommandBody::Transfer {
        customer_id,
        new_owner,
        reason: Some("工作调整".into()),
    }
}

pub fn freeze(customer_id: CustomerId) -> CommandBody {
    CommandBody::Freeze {
        customer_id,
        reason: Some("签订一年合同".into()),
    }
}

pub fn unfreeze(customer_id: CustomerId) -> CommandBody {
    CommandBody::Unfreeze { customer_id }
}

pub fn move_pool(customer_id: CustomerId, destination_pool: PoolId) -> CommandBody {
    CommandBody::Move {
        customer_id,
        destination_pool,
    }
}

pub fn delete(customer_id: CustomerId) -> CommandBody {
    CommandBody::Delete { customer_id }
}

pub fn restore(customer_id: CustomerId) -> CommandBody {
    CommandBody::Restore { customer_id }
}

pub fn log_follow_up(customer_id: CustomerId, follow_up_id: FollowUpId, note: &str) -> CommandBody {
    CommandBody::LogFollowUp {
        customer_id,
        follow_up_id,
        kind: FollowUpKind::Visit,
        note: note.into(),
    }
}

pub fn comment(customer_id: CustomerId, follow_up_id: FollowUpId, text: &str) -> CommandBody {
    CommandBody::CommentFollowUp {
        customer_id,
        follow_up_id,
        comment: text.into(),
    }
}

pub fn mark_won(customer_id: CustomerId) -> CommandBody {
    CommandBody::MarkWon { customer_id }
}

pub fn extend(customer_id: CustomerId, until: DateTime<Utc>) -> CommandBody {
    CommandBody::ExtendProtection { customer_id, until }
}

pub fn share(customer_id: CustomerId, department: &str) -> CommandBody {
    CommandBody::Share {
        customer_id,
        department: department.into(),
    }
}

pub fn auto_reclaim(customer_id: CustomerId, rule: RuleKind, due_at: DateTime<Utc>) -> CommandBody {
    CommandBody::AutoReclaim {
        customer_id,
        rule,
        due_at,
    }
}

pub fn remind(customer_id: CustomerId, due_at: DateTime<Utc>) -> CommandBody {
    CommandBody::RemindReclaim {
        customer_id,
        due_at,
    }
}

pub fn settings(overall_cap: Option<Limit>, day_offset_minutes: i32) -> CommandBody {
    CommandBody::SetOrganizationSettings {
        overall_cap,
        day_offset_minutes,
    }
}

pub fn deactivate(user_id: UserId, successor: Option<UserId>) -> CommandBody {
    CommandBody::DeactivateUser { user_id, successor }
}

pub fn set_rules(pool_id: PoolId, rules: PoolRules) -> CommandBody {
    CommandBody::SetPoolRules { pool_id, rules }
}

pub fn update_user(user_id: UserId, name: &str, superior: Option<UserId>) -> CommandBody {
    CommandBody::UpdateUser {
        user_id,
        name: name.into(),
        superior,
        department: Some("销售部".into()),
        admin: false,
    }
}

/// A free-claim pool that reclaims customers not contacted within 5 days of the claim or
/// of the last follow-up, reminding owners `reminder_hours` before.
pub fn not_contacted_pool(world: &mut World, reminder_hours: Option<u32>) -> PoolId {
    free_pool(
        world,
        PoolRules {
            claimed_not_contacted: limit(5),
            no_contact: limit(5),
            reminder_hours,
            ..no_rules()
        },
    )
}
