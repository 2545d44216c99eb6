//! The walkthroughs of the seed manuals (../shared/seeds), replayed against the domain.
//! Each test follows one manual's procedure step by step.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use poolkeeper_domain::command::NewCustomer;
use poolkeeper_domain::event::{EventBody, RestoredTo};
use poolkeeper_domain::permissions::Access;
use poolkeeper_domain::rules::{
    AssignRule, AssignStrategy, Condition, Limit, ProtectionExtension, ProtectionRule,
    ReturnTarget, Visibility,
};
use poolkeeper_domain::*;
use support::*;

fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// Seed 000 §一: the superior reclaims a customer, which leaves the owner's list and shows
/// as unclaimed in the pool; then assigns it to someone else.
#[test]
fn seed_000_admin_reclaims_then_assigns() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    assert_eq!(world.model.owned_total(ALICE), 1);

    let events = world.ok(
        as_user(ADMIN),
        CommandBody::Reclaim {
            customer_id: customer,
            reason: None,
        },
    );
    assert_eq!(types(&events), ["customer.reclaimed"]);
    assert_eq!(world.state(customer), &CustomerState::InPool);
    assert_eq!(world.model.owned_total(ALICE), 0);

    world.ok(
        as_user(ADMIN),
        CommandBody::Assign {
            customer_id: customer,
            assignee: BOB,
            protection: None,
        },
    );
    assert_eq!(world.owner(customer), Some(BOB));
    assert!(
        matches!(&world.log.last().unwrap().body, EventBody::CustomerAssigned(e) if e.assignee == BOB)
    );
}

/// Seed 000 §二: a subordinate applies (申请), the customer shows 待审批, a user with the
/// assign permission approves (同意) and it becomes 已领用; then the owner abandons it
/// (放弃) and the pool shows the reason and the abandoner, ready to be handed out again.
#[test]
fn seed_000_member_applies_admin_approves_owner_abandons_with_reason() {
    let mut world = World::standard();
    let rules = PoolRules {
        abandon_reasons: vec!["客户无意向".into(), "重复客户".into()],
        ..PoolRules::default()
    };
    let pool = world.pool(PoolMode::ClaimWithApproval, rules);
    let customer = world.customer_in(pool);

    world.ok(
        as_user(ALICE),
        CommandBody::RequestClaim {
            customer_id: customer,
        },
    );
    assert!(
        matches!(world.state(customer), CustomerState::Pending { applicant, .. } if *applicant == ALICE)
    );

    world.ok(
        as_user(KEEPER),
        CommandBody::ApproveClaim {
            customer_id: customer,
        },
    );
    assert_eq!(world.owner(customer), Some(ALICE));

    let events = world.ok(
        as_user(ALICE),
        CommandBody::Abandon {
            customer_id: customer,
            reason: "客户无意向".into(),
            return_to: None,
        },
    );
    let EventBody::CustomerAbandoned(abandoned) = &events[0].body else {
        panic!("expected an abandon")
    };
    assert_eq!(abandoned.abandoner, ALICE);
    assert_eq!(abandoned.reason, "客户无意向");
    assert_eq!(abandoned.to_pool, pool);
    assert_eq!(world.state(customer), &CustomerState::InPool);

    world.ok(
        as_user(KEEPER),
        CommandBody::Assign {
            customer_id: customer,
            assignee: BOB,
            protection: None,
        },
    );
    assert_eq!(world.owner(customer), Some(BOB));
}

/// Seed 000 §三 and seed 001 §二.2: "领用未联系收回", single period 5 days: a customer
/// claimed and never contacted goes back to the pool when the period has passed.
#[test]
fn seed_001_claimed_never_contacted_for_five_days_is_reclaimed() {
    let mut world = World::standard();
    let rules = PoolRules {
        claimed_not_contacted: Some(Limit::uniform(5)),
        ..PoolRules::default()
    };
    let pool = world.pool(PoolMode::FreeClaim, rules);
    let customer = world.customer_in(pool);
    world.ok(
        as_user(ALICE),
        CommandBody::Claim {
            customer_id: customer,
        },
    );

    world.advance(days(5) - Duration::seconds(1));
    assert!(
        world.run_scheduler().is_empty(),
        "nothing is due before the period ends"
    );
    assert_eq!(world.owner(customer), Some(ALICE));

    world.advance(Duration::seconds(1));
    let events = world.run_scheduler();
    let [event] = events.as_slice() else {
        panic!("expected one reclaim, got {events:?}")
    };
    let EventBody::CustomerAutoReclaimed(reclaim) = &event.body else {
        panic!("expected an automatic reclaim")
    };
    assert_eq!(reclaim.rule, RuleKind::ClaimedNotContacted);
    assert_eq!(reclaim.threshold_days, 5);
    assert_eq!(reclaim.former_owner, ALICE);
    assert_eq!(reclaim.evidence.last_contact_at, None);
    assert_eq!(event.actor, Actor::Rule(RuleKind::ClaimedNotContacted));
    assert_eq!(world.state(customer), &CustomerState::InPool);
}

/// Seed 000 §三 "间隔未联系收回": contacted on day 1, a 5-day no-contact rule reclaims on
/// day 6; every follow-up pushes the deadline out again.
#[test]
fn seed_000_no_contact_for_five_days_reclaims_on_day_six() {
    let mut world = World::standard();
    let rules = PoolRules {
        no_contact: Some(Limit::uniform(5)),
        ..PoolRules::default()
    };
    let pool = world.pool(PoolMode::FreeClaim, rules);
    let customer = world.customer_in(pool);
    world.ok(
        as_user(ALICE),
        CommandBody::Claim {
            customer_id: customer,
        },
    );
    world.follow_up(ALICE, customer); // day 1
    world.advance(days(3));
    world.follow_up(ALICE, customer); // day 4: the clock restarts
    world.advance(days(4)); // day 8, 4 days after the last contact
    assert!(world.run_scheduler().is_empty());
    world.advance(days(1)); // day 9 = day 4 + 5
    let events = world.run_scheduler();
    assert_eq!(types(&events), ["customer.auto_reclaimed"]);
    let EventBody::CustomerAutoReclaimed(reclaim) = &events[0].body else {
        unreachable!()
    };
    assert_eq!(reclaim.rule, RuleKind::NoContact);
    assert_eq!(reclaim.evidence.last_contact_at, Some(t0() + days(3)));
    assert_eq!(reclaim.due_at, t0() + days(8));
}

/// Seed 000 §三 第三步: "不同人员设置不同期限": one user gets a longer period.
#[test]
fn seed_000_per_user_periods_differ() {
    let mut world = World::standard();
    let mut period = Limit::uniform(5);
    period.per_user.insert(BOB, 10);
    let pool = world.pool(
        PoolMode::FreeClaim,
        PoolRules {
            not_won: Some(period),
            ..PoolRules::default()
        },
    );
    let alices = world.customer_in(pool);
    let bobs = world.customer_in(pool);
    world.ok(
        as_user(ALICE),
        CommandBody::Claim {
            customer_id: alices,
        },
    );
    world.ok(as_user(BOB), CommandBody::Claim { customer_id: bobs });
    world.advance(days(5));
    world.run_scheduler();
    assert_eq!(world.state(alices), &CustomerState::InPool);
    assert_eq!(world.owner(bobs), Some(BOB));
    world.advance(days(5));
    world.run_scheduler();
    assert_eq!(world.state(bobs), &CustomerState::InPool);
}

/// Seed 001 §一: the owner logs a follow-up (洽谈进展), the superior sees it and comments (点评).
#[test]
fn seed_001_superior_comments_on_a_follow_up() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up = world.follow_up(ALICE, customer);
    assert_eq!(world.model.access(MANAGER, customer), Access::Details);
    let events = world.ok(
        as_user(MANAGER),
        CommandBody::CommentFollowUp {
            customer_id: customer,
            follow_up_id: follow_up,
            comment: "尽快报价".into(),
        },
    );
    assert!(matches!(&events[0].body, EventBody::FollowUpCommented(c) if c.author == MANAGER));
    let refused = world.err(
        as_user(CAROL),
        CommandBody::CommentFollowUp {
            customer_id: customer,
            follow_up_id: follow_up,
            comment: "路过".into(),
        },
    );
    assert!(matches!(refused, DomainError::NotSuperior { .. }));
}

/// Seed 001 §二.1: only users with the assign permission may reclaim manually.
#[test]
fn seed_001_only_the_pool_admin_reclaims_manually() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::FreeClaim, PoolRules::default());
    let customer = world.owned_by(pool, ALICE);
    let refused = world.err(
        as_user(BOB),
        CommandBody::Reclaim {
            customer_id: customer,
            reason: None,
        },
    );
    assert!(matches!(refused, DomainError::NotPoolAdmin { .. }));
    world.ok(
        as_user(KEEPER),
        CommandBody::Reclaim {
            customer_id: customer,
            reason: Some("长期未跟进".into()),
        },
    );
    assert_eq!(world.state(customer), &CustomerState::InPool);
}

/// Seed 001 §三 and seed 004 §3.4: the recycle bin shows who deleted the customer; restoring
/// puts it back in the former owner's list (在"宋文明"的"客户列表"中，出现了上面恢复的客户).
#[test]
fn seed_001_deleted_customer_is_restored_to_its_former_owner() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let deleted = world.ok(
        as_user(MANAGER),
        CommandBody::Delete {
            customer_id: customer,
        },
    );
    assert_eq!(deleted[0].actor, as_user(MANAGER));
    assert!(matches!(
        world.state(customer),
        CustomerState::Deleted { .. }
    ));
    assert_eq!(world.model.owned_total(ALICE), 0);

    let restored = world.ok(
        as_user(ADMIN),
        CommandBody::Restore {
            customer_id: customer,
        },
    );
    let EventBody::CustomerRestored(restored) = &restored[0].body else {
        panic!("expected a restore")
    };
    assert_eq!(restored.restored_to, RestoredTo::FormerOwner);
    assert_eq!(world.owner(customer), Some(ALICE));
    assert_eq!(world.model.owned_total(ALICE), 1);
}

/// Seed 002 §二: in an assign-only pool (手动分配型) members cannot take customers; the pool
/// admin hands them out. In a free-claim pool (主动领取型) members claim directly.
#[test]
fn seed_002_assign_only_and_free_claim_pools() {
    let mut world = World::standard();
    let assign_only = world.pool(PoolMode::AssignOnly, PoolRules::default());
    let customer = world.customer_in(assign_only);
    let refused = world.err(
        as_user(ALICE),
        CommandBody::Claim {
            customer_id: customer,
        },
    );
    assert!(matches!(
        refused,
        DomainError::WrongMode {
            mode: PoolMode::AssignOnly,
            ..
        }
    ));
    world.ok(
        as_user(KEEPER),
        CommandBody::Assign {
            customer_id: customer,
            assignee: ALICE,
            protection: None,
        },
    );
    assert_eq!(world.owner(customer), Some(ALICE));

    let free = world.pool(PoolMode::FreeClaim, PoolRules::default());
    let other = world.customer_in(free);
    world.ok(as_user(BOB), CommandBody::Claim { customer_id: other });
    assert_eq!(world.owner(other), Some(BOB));
}

/// Seed 002 §3.1 4): after a reclaim the owner is empty, the customer is back in the pool,
/// the former owner becomes a related person (原负责人转为相关人) and earlier related
/// persons stay related.
#[test]
fn seed_002_reclaim_turns_former_owners_into_related_persons() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world.ok(
        as_user(ADMIN),
        CommandBody::Reclaim {
            customer_id: customer,
            reason: None,
        },
    );
    world.ok(
        as_user(BOB),
        CommandBody::Claim {
            customer_id: customer,
        },
    );
    world.ok(
        as_user(ADMIN),
        CommandBody::Reclaim {
            customer_id: customer,
            reason: None,
        },
    );
    assert_eq!(world.model.customers[&customer].related, vec![ALICE, BOB]);
    assert_eq!(world.owner(customer), None);
    assert_eq!(world.model.access(ALICE, customer), Access::Details);
}

/// Seed 002 §3.1: return (退回) a customer to the pool; freeze (冻结) one that has no new
/// business so it can be neither claimed nor edited, and unfreeze it later; move it to a
/// better-suited pool (变更公海池); transfer (转移) one to a colleague.
#[test]
fn seed_002_return_freeze_move_and_transfer() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world.ok(
        as_user(ALICE),
        CommandBody::Abandon {
            customer_id: customer,
            reason: "代理意愿不强".into(),
            return_to: None,
        },
    );

    world.ok(
        as_user(ADMIN),
        CommandBody::Freeze {
            customer_id: customer,
            reason: Some("一年订货合同".into()),
        },
    );
    let refused = world.err(
        as_user(BOB),
        CommandBody::Claim {
            customer_id: customer,
        },
    );
    assert!(matches!(
        refused,
        DomainError::WrongState {
            actual: "frozen",
            ..
        }
    ));
    world.ok(
        as_user(ADMIN),
        CommandBody::Unfreeze {
            customer_id: customer,
        },
    );
    assert_eq!(world.state(customer), &CustomerState::InPool);

    let north = world.pool(PoolMode::FreeClaim, PoolRules::default());
    world.ok(
        as_user(ADMIN),
        CommandBody::Move {
            customer_id: customer,
            destination_pool: north,
        },
    );
    assert_eq!(world.pool_of(customer), north);

    world.ok(
        as_user(BOB),
        CommandBody::Claim {
            customer_id: customer,
        },
    );
    world.ok(
        as_user(BOB),
        CommandBody::Transfer {
            customer_id: customer,
            new_owner: ALICE,
            reason: Some("工作调整".into()),
        },
    );
    assert_eq!(world.owner(customer), Some(ALICE));
    assert_eq!(world.model.owned_in_pool(BOB, north), 0);
    assert_eq!(world.model.owned_in_pool(ALICE, north), 1);
}

/// Seed 002 §3.2 2): the default pool's admins are all admins and its members everyone.
#[test]
fn seed_002_default_pool_belongs_to_everyone() {
    let world = World::standard();
    for user in [ALICE, BOB, CAROL, MANAGER] {
        assert!(world.model.is_member(user, DEFAULT_POOL));
        assert!(!world.model.is_pool_admin(user, DEFAULT_POOL));
    }
    assert!(world.model.is_pool_admin(ADMIN, DEFAULT_POOL));
}

/// Seed 002 §3.1 4)B and seed 003: the owner is reminded before an automatic reclaim.
#[test]
fn seed_002_owner_is_reminded_before_the_automatic_reclaim() {
    let mut world = World::standard();
    let rules = PoolRules {
        claimed_not_contacted: Some(Limit::uniform(3)),
        reminder_hours: Some(24),
        ..PoolRules::default()
    };
    let pool = world.pool(PoolMode::FreeClaim, rules);
    let customer = world.customer_in(pool);
    world.ok(
        as_user(ALICE),
        CommandBody::Claim {
            customer_id: customer,
        },
    );
    world.advance(days(2));
    let reminders = world.run_scheduler();
    assert_eq!(types(&reminders), ["customer.reclaim_reminded"]);
    assert!(
        matches!(&reminders[0].body, EventBody::ReclaimReminded(r) if r.owner == ALICE && r.due_at == t0() + days(3))
    );
    world.advance(Duration::hours(1));
    assert!(world.run_scheduler().is_empty(), "a reminder is sent once");
    world.advance(Duration::hours(23));
    assert_eq!(types(&world.run_scheduler()), ["customer.auto_reclaimed"]);
}

fn protection(default_days: u32, max_days: u32, within: u32, by: u32) -> ProtectionRule {
    ProtectionRule {
        default_days: Limit::uniform(default_days),
        max_days,
        extension: Some(ProtectionExtension {
            contact_within_days: within,
            extend_by_days: by,
        }),
    }
}

/// Seed 003 注意事项 1-2: when the rule is turned on, data already in the pool expires on
/// the day it was turned on + the protection days; data claimed afterwards on the claim day
/// + the protection days.
#[test]
fn seed_003_rule_turned_on_applies_from_that_day() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::FreeClaim, PoolRules::default());
    let old = world.customer_in(pool);
    world.ok(as_user(ALICE), CommandBody::Claim { customer_id: old });

    world.advance(days(20));
    let rules = PoolRules {
        protection: Some(ProtectionRule {
            default_days: Limit::uniform(7),
            max_days: 30,
            extension: None,
        }),
        ..PoolRules::default()
    };
    let changed = world.ok(
        as_user(ADMIN),
        CommandBody::SetPoolRules {
            pool_id: pool,
            rules,
        },
    );
    assert!(matches!(&changed[0].body, EventBody::PoolRulesChanged(c) if c.rules_version == 2));
    assert!(
        world.run_scheduler().is_empty(),
        "turning a rule on is never retroactive"
    );

    world.advance(days(2));
    let new = world.customer_in(pool);
    world.ok(as_user(BOB), CommandBody::Claim { customer_id: new });

    let deadline = |world: &World, customer| world.model.customers[&customer].deadline.unwrap().at;
    assert_eq!(deadline(&world, old), t0() + days(20 + 7));
    assert_eq!(deadline(&world, new), t0() + days(22 + 7));
    world.advance(days(5));
    let events = world.run_scheduler();
    assert_eq!(types(&events), ["customer.auto_reclaimed"]);
    assert!(
        matches!(&events[0].body, EventBody::CustomerAutoReclaimed(r) if r.customer_id == old && r.rules_version == 2)
    );
}

/// Seed 003 回收規則: default and maximum protection with an extension condition: while
/// the condition holds protection is extended, but once the maximum is reached the customer
/// is reclaimed even though the condition still holds.
#[test]
fn seed_003_protection_extension_stops_at_the_maximum() {
    let mut world = World::standard();
    let rules = PoolRules {
        protection: Some(protection(10, 25, 3, 10)),
        ..PoolRules::default()
    };
    let pool = world.pool(PoolMode::FreeClaim, rules);
    let customer = world.customer_in(pool);
    world.ok(
        as_user(ALICE),
        CommandBody::Claim {
            customer_id: customer,
        },
    );

    world.advance(days(9));
    world.follow_up(ALICE, customer);
    world.advance(days(1)); // day 10: protection ends, a follow-up 1 day ago extends it
    let first = world.run_scheduler();
    let EventBody::ProtectionExtended(extended) = &first[0].body else {
        panic!("expected an extension, got {first:?}")
    };
    assert_eq!(
        (extended.previous_until, extended.until),
        (t0() + days(10), t0() + days(20))
    );
    assert_eq!(extended.max_until, Some(t0() + days(25)));

    world.advance(days(9));
    world.follow_up(ALICE, customer);
    world.advance(days(1)); // day 20: extended again, but only to the maximum (day 25)
    let second = world.run_scheduler();
    assert!(
        matches!(&second[0].body, EventBody::ProtectionExtended(e) if e.until == t0() + days(25))
    );

    world.advance(days(4));
    world.follow_up(ALICE, customer);
    world.advance(days(1)); // day 25: the condition holds, the maximum is reached
    let last = world.run_scheduler();
    assert!(
        matches!(&last[0].body, EventBody::CustomerAutoReclaimed(r) if r.rule == RuleKind::ProtectionExpired)
    );
    assert_eq!(world.state(customer), &CustomerState::InPool);
}

/// Seed 003: the cooldown (冷却天数) stops the same salesperson from re-claiming a lead
/// they returned within N days; others may take it at once.
#[test]
fn seed_003_cooldown_blocks_a_reclaim_by_the_same_user() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::FreeClaim,
        PoolRules {
            cooldown_days: Some(Limit::uniform(7)),
            ..PoolRules::default()
        },
    );
    let customer = world.customer_in(pool);
    world.ok(
        as_user(ALICE),
        CommandBody::Claim {
            customer_id: customer,
        },
    );
    world.ok(
        as_user(ALICE),
        CommandBody::Abandon {
            customer_id: customer,
            reason: "暂无需求".into(),
            return_to: None,
        },
    );
    world.advance(days(6));
    let refused = world.err(
        as_user(ALICE),
        CommandBody::Claim {
            customer_id: customer,
        },
    );
    assert!(
        matches!(refused, DomainError::CooldownActive { until, .. } if until == t0() + days(7))
    );
    assert_eq!(refused.class(), ErrorClass::FailedPrecondition);
    world.advance(days(1));
    world.ok(
        as_user(ALICE),
        CommandBody::Claim {
            customer_id: customer,
        },
    );
}

/// Seed 003 私池設置 and 分配規則: auto-assignment sends leads from a market event to the
/// strong salespeople, in turns, and skips anyone at their private-pool cap.
#[test]
fn seed_003_auto_assignment_skips_users_at_their_cap() {
    let mut world = World::standard();
    let rules = PoolRules {
        cap: Some(Limit::uniform(1)),
        auto_assign: vec![AssignRule {
            name: "市场活动线索".into(),
            filter: vec![Condition::Equals {
                field: "source".into(),
                value: "市场活动".into(),
            }],
            assignees: vec![ALICE, BOB],
            strategy: AssignStrategy::RoundRobin,
        }],
        ..PoolRules::default()
    };
    let pool = world.pool(PoolMode::AssignOnly, rules);
    let lead = |world: &mut World, source: &str| {
        let customer_id = CustomerId::from_u128(world.fresh());
        NewCustomer {
            source: Some(source.into()),
            ..new_customer(customer_id, Some(pool), "线索")
        }
    };
    let customers = vec![
        lead(&mut world, "市场活动"),
        lead(&mut world, "官网"),
        lead(&mut world, "市场活动"),
        lead(&mut world, "市场活动"),
    ];
    let ids: Vec<CustomerId> = customers.iter().map(|c| c.customer_id).collect();
    let events = world.ok(as_user(ADMIN), CommandBody::ImportCustomers { customers });
    assert_eq!(world.owner(ids[0]), Some(ALICE));
    assert_eq!(world.owner(ids[1]), None, "the filter did not match");
    assert_eq!(world.owner(ids[2]), Some(BOB));
    assert_eq!(world.owner(ids[3]), None, "everyone is at the cap");
    let assigned: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::CustomerAutoAssigned(a) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(assigned.len(), 2);
    assert_eq!(
        (assigned[1].pointer_before, assigned[1].pointer_after),
        (1, 0)
    );
    assert_eq!(
        assigned[1].candidates[0].skipped.as_deref(),
        Some("pool_cap")
    );
}

/// Seed 003 退回設置: the three return targets and the reason list.
#[test]
fn seed_003_return_targets_and_reason_list() {
    let mut world = World::standard();
    let archive = world.pool(PoolMode::AssignOnly, PoolRules::default());
    let fixed = world.pool(
        PoolMode::FreeClaim,
        PoolRules {
            return_target: ReturnTarget::Fixed { pool: archive },
            abandon_reasons: vec!["无效线索".into()],
            ..PoolRules::default()
        },
    );
    let customer = world.owned_by(fixed, ALICE);
    let refused = world.err(
        as_user(ALICE),
        CommandBody::Abandon {
            customer_id: customer,
            reason: "其他".into(),
            return_to: None,
        },
    );
    assert!(matches!(refused, DomainError::ReasonNotInList { .. }));
    world.ok(
        as_user(ALICE),
        CommandBody::Abandon {
            customer_id: customer,
            reason: "无效线索".into(),
            return_to: None,
        },
    );
    assert_eq!(world.pool_of(customer), archive);

    let choosing = world.pool(
        PoolMode::FreeClaim,
        PoolRules {
            return_target: ReturnTarget::UserChooses,
            ..PoolRules::default()
        },
    );
    let chosen = world.owned_by(choosing, BOB);
    world.ok(
        as_user(BOB),
        CommandBody::Abandon {
            customer_id: chosen,
            reason: "转给华北".into(),
            return_to: Some(archive),
        },
    );
    assert_eq!(world.pool_of(chosen), archive);

    let source = world.pool(PoolMode::FreeClaim, PoolRules::default());
    let back = world.owned_by(source, CAROL);
    world.ok(
        as_user(CAROL),
        CommandBody::Abandon {
            customer_id: back,
            reason: "暂缓".into(),
            return_to: None,
        },
    );
    assert_eq!(world.pool_of(back), source);
}

/// Seed 003 其他設置: hide claimed leads from members, and keep members from opening
/// unclaimed leads' details so they cannot cherry-pick.
#[test]
fn seed_003_visibility_settings() {
    let mut world = World::standard();
    let rules = PoolRules {
        visibility: Visibility {
            hide_claimed_from_members: true,
            members_can_open_details: false,
        },
        ..PoolRules::default()
    };
    let pool = world.pool(PoolMode::FreeClaim, rules);
    let unclaimed = world.customer_in(pool);
    let claimed = world.owned_by(pool, ALICE);
    assert_eq!(world.model.access(BOB, unclaimed), Access::Listed);
    assert_eq!(world.model.access(CAROL, claimed), Access::None);
    assert_eq!(
        world.model.access(KEEPER, claimed),
        Access::Details,
        "the pool admin sees everything"
    );
}

/// Seed 004 §3.1.3: deleting a user loses nothing: their customers go to a named user
/// (the sales manager) who hands them out again.
#[test]
fn seed_004_deactivated_users_customers_go_to_the_successor() {
    let mut world = World::standard();
    let first = world.owned_by(DEFAULT_POOL, ALICE);
    let second = world.owned_by(DEFAULT_POOL, ALICE);
    let events = world.ok(
        as_user(ADMIN),
        CommandBody::DeactivateUser {
            user_id: ALICE,
            successor: Some(MANAGER),
        },
    );
    assert_eq!(
        types(&events),
        [
            "user.deactivated",
            "customer.transferred",
            "customer.transferred"
        ]
    );
    assert_eq!(world.owner(first), Some(MANAGER));
    assert_eq!(world.owner(second), Some(MANAGER));
    let refused = world.err(as_user(ALICE), CommandBody::Claim { customer_id: first });
    assert!(matches!(refused, DomainError::InactiveActor(user) if user == ALICE));
    world.ok(
        as_user(MANAGER),
        CommandBody::Transfer {
            customer_id: first,
            new_owner: BOB,
            reason: None,
        },
    );
    assert_eq!(world.owner(first), Some(BOB));
}

/// Seed 004 §3.2: a user sees their own data, superiors see their subordinates' (all the
/// way up), peers are isolated, and a department share opens a customer to peers.
#[test]
fn seed_004_superiors_see_subordinates_and_peers_are_isolated() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::FreeClaim,
        PoolRules {
            visibility: Visibility {
                hide_claimed_from_members: true,
                members_can_open_details: true,
            },
            ..PoolRules::default()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    assert_eq!(world.model.access(ALICE, customer), Access::Details);
    assert_eq!(world.model.access(MANAGER, customer), Access::Details);
    assert_eq!(world.model.access(DIRECTOR, customer), Access::Details);
    assert_eq!(world.model.access(CAROL, customer), Access::None);
    world.ok(
        as_user(ADMIN),
        CommandBody::UpdateUser {
            user_id: CAROL,
            name: "Carol".into(),
            superior: None,
            department: Some("华东销售".into()),
            admin: false,
        },
    );
    world.ok(
        as_user(ALICE),
        CommandBody::Share {
            customer_id: customer,
            department: "华东销售".into(),
        },
    );
    assert_eq!(world.model.access(CAROL, customer), Access::Details);
}

/// Seed 004 §8.1: the admin assigns with a protection start and end date; when protection
/// ends without a deal the customer goes back to the pool.
#[test]
fn seed_004_assignment_with_a_protection_window() {
    let mut world = World::standard();
    let rules = PoolRules {
        protection: Some(ProtectionRule {
            default_days: Limit::uniform(30),
            max_days: 60,
            extension: None,
        }),
        ..PoolRules::default()
    };
    let pool = world.pool(PoolMode::AssignOnly, rules);
    let customer = world.customer_in(pool);
    let too_long = ProtectionWindow {
        start: t0(),
        end: t0() + days(61),
    };
    let refused = world.err(
        as_user(KEEPER),
        CommandBody::Assign {
            customer_id: customer,
            assignee: ALICE,
            protection: Some(too_long),
        },
    );
    assert!(matches!(
        refused,
        DomainError::ProtectionBeyondMaximum { .. }
    ));
    let window = ProtectionWindow {
        start: t0(),
        end: t0() + days(14),
    };
    world.ok(
        as_user(KEEPER),
        CommandBody::Assign {
            customer_id: customer,
            assignee: ALICE,
            protection: Some(window),
        },
    );
    world.advance(days(14));
    let events = world.run_scheduler();
    assert!(
        matches!(&events[0].body, EventBody::CustomerAutoReclaimed(r) if r.rule == RuleKind::ProtectionExpired && r.threshold_days == 14)
    );
}

/// Seed 004 §8: the admin limits how many customers each salesperson may hold; claims past
/// the cap are refused, also across pools with the overall cap.
#[test]
fn seed_004_private_pool_cap_limits_claims() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::FreeClaim,
        PoolRules {
            cap: Some(Limit::uniform(2)),
            ..PoolRules::default()
        },
    );
    for _ in 0..2 {
        let customer = world.customer_in(pool);
        world.ok(
            as_user(ALICE),
            CommandBody::Claim {
                customer_id: customer,
            },
        );
    }
    let third = world.customer_in(pool);
    let refused = world.err(as_user(ALICE), CommandBody::Claim { customer_id: third });
    assert!(matches!(
        refused,
        DomainError::CapReached {
            cap: 2,
            owned: 2,
            ..
        }
    ));
    assert_eq!(refused.class(), ErrorClass::ResourceExhausted);

    world.ok(
        as_user(ADMIN),
        CommandBody::SetOrganizationSettings {
            overall_cap: Some(Limit::uniform(2)),
            day_offset_minutes: 480,
        },
    );
    let elsewhere = world.customer_in(DEFAULT_POOL);
    let refused = world.err(
        as_user(ALICE),
        CommandBody::Claim {
            customer_id: elsewhere,
        },
    );
    assert!(matches!(
        refused,
        DomainError::CapReached {
            scope: CapScope::Overall,
            ..
        }
    ));
}

/// Seed 004 §4.1.2: a 10,000-row import lands atomically in one command.
#[test]
fn seed_004_import_of_ten_thousand_customers() {
    let mut world = World::standard();
    let customers: Vec<NewCustomer> = (0..10_000u128)
        .map(|n| NewCustomer {
            fields: BTreeMap::from([("电话".into(), format!("138{n:08}"))]),
            ..new_customer(
                CustomerId::from_u128(0x1_0000_0000 + n),
                None,
                &format!("客户{n}"),
            )
        })
        .collect();
    let events = world.ok(
        as_user(ALICE),
        CommandBody::ImportCustomers {
            customers: customers.clone(),
        },
    );
    assert_eq!(events.len(), 10_000);
    assert_eq!(world.model.customers.len(), 10_000);
    let distinct: BTreeSet<_> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(distinct.len(), 10_000);
    let again = world.err(as_user(ALICE), CommandBody::ImportCustomers { customers });
    assert!(matches!(again, DomainError::AlreadyExists { .. }));
}
