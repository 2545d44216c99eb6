//! Ownership after the claim (`decide/ownership.rs`): abandons, reclaims by hand and by
//! rule, reminders, transfers, freezing, moves between pools, deletes and restores.
//!
//! Each test drives the pure domain through the given/when/then harness in `support` and
//! asserts the exact events (type and key fields) and the resulting state, or the exact
//! `DomainError` and its class. A refused command is checked by `World::err` to have
//! appended nothing and changed nothing.

mod support;

use std::collections::BTreeSet;

use chrono::Duration;
use poolkeeper_domain::event::{EventBody, RestoredTo};
use poolkeeper_domain::model::FormerState;
use poolkeeper_domain::rules::{Limit, ProtectionExtension, ProtectionRule, ReturnTarget};
use poolkeeper_domain::*;
use support::*;

// ---------------------------------------------------------------------------------------
// Abandon
// ---------------------------------------------------------------------------------------

#[test]
fn owner_abandons_with_a_reason_from_the_pool_list() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            abandon_reasons: vec!["预算不足".into(), "无意向".into()],
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    let events = world.ok(as_user(ALICE), abandon(customer, " 预算不足 ", None));
    let abandoned = only!(events, CustomerAbandoned);
    assert_eq!(abandoned.customer_id, customer);
    assert_eq!((abandoned.from_pool, abandoned.to_pool), (pool, pool));
    assert_eq!(abandoned.abandoner, ALICE);
    assert_eq!(abandoned.reason, "预算不足");
    assert_eq!(world.state(customer), &CustomerState::InPool);
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 0);
    assert_eq!(world.model.losses.get(&(ALICE, customer)), Some(&world.now));
    // An abandoner is no related person.
    assert!(world.model.customers[&customer].related.is_empty());
}

#[test]
fn abandon_without_reason_is_invalid() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    refused!(
        world.err(as_user(ALICE), abandon(customer, "   ", None)),
        DomainError::Invalid { field, .. } if field == "reason",
        InvalidArgument
    );
    assert_eq!(world.owner(customer), Some(ALICE));
}

#[test]
fn abandon_reason_must_come_from_the_pools_list() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            abandon_reasons: vec!["预算不足".into()],
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    refused!(
        world.err(as_user(ALICE), abandon(customer, "不想跟了", None)),
        DomainError::ReasonNotInList { reason, pool: p } if reason == "不想跟了" && *p == pool,
        FailedPrecondition
    );
}

#[test]
fn only_the_owner_may_abandon() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    for actor in [BOB, MANAGER, ADMIN] {
        refused!(
            world.err(as_user(actor), abandon(customer, "无意向", None)),
            DomainError::NotOwner { customer: c, .. } if *c == customer,
            PermissionDenied
        );
    }
}

#[test]
fn an_unclaimed_customer_cannot_be_abandoned() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    refused!(
        world.err(as_user(ALICE), abandon(customer, "无意向", None)),
        DomainError::WrongState {
            action: "abandon",
            expected: "owned",
            actual: "in_pool",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn abandon_returns_to_the_source_pool_and_refuses_another_choice() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    refused!(
        world.err(as_user(ALICE), abandon(customer, "无意向", Some(DEFAULT_POOL))),
        DomainError::Invalid { field, .. } if field == "return_to",
        InvalidArgument
    );
    // Naming the source pool itself is fine.
    let events = world.ok(as_user(ALICE), abandon(customer, "无意向", Some(pool)));
    assert_eq!(only!(events, CustomerAbandoned).to_pool, pool);
    assert_eq!(world.pool_of(customer), pool);
}

#[test]
fn abandon_goes_to_the_pool_the_user_chooses() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            return_target: ReturnTarget::UserChooses,
            ..no_rules()
        },
    );
    let chosen = world.owned_by(pool, ALICE);
    let unchosen = world.owned_by(pool, ALICE);
    let events = world.ok(
        as_user(ALICE),
        abandon(chosen, "无意向", Some(DEFAULT_POOL)),
    );
    let abandoned = only!(events, CustomerAbandoned);
    assert_eq!(
        (abandoned.from_pool, abandoned.to_pool),
        (pool, DEFAULT_POOL)
    );
    assert_eq!(world.pool_of(chosen), DEFAULT_POOL);
    assert_eq!(world.state(chosen), &CustomerState::InPool);
    // No choice: back where it came from.
    let events = world.ok(as_user(ALICE), abandon(unchosen, "无意向", None));
    assert_eq!(only!(events, CustomerAbandoned).to_pool, pool);
    assert_eq!(world.model.owned_total(ALICE), 0);
}

#[test]
fn abandon_to_an_unknown_chosen_pool_is_not_found() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            return_target: ReturnTarget::UserChooses,
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    let ghost = PoolId::from_u128(0x6057);
    refused!(
        world.err(as_user(ALICE), abandon(customer, "无意向", Some(ghost))),
        DomainError::UnknownPool(p) if *p == ghost,
        NotFound
    );
}

#[test]
fn abandon_goes_to_the_fixed_pool() {
    let mut world = World::standard();
    let fixed = world.pool(PoolMode::AssignOnly, no_rules());
    let pool = free_pool(
        &mut world,
        PoolRules {
            return_target: ReturnTarget::Fixed { pool: fixed },
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    refused!(
        world.err(as_user(ALICE), abandon(customer, "无意向", Some(DEFAULT_POOL))),
        DomainError::Invalid { field, .. } if field == "return_to",
        InvalidArgument
    );
    let events = world.ok(as_user(ALICE), abandon(customer, "无意向", None));
    let abandoned = only!(events, CustomerAbandoned);
    assert_eq!((abandoned.from_pool, abandoned.to_pool), (pool, fixed));
    assert_eq!(world.pool_of(customer), fixed);
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 0);
    assert_eq!(world.model.owned_in_pool(ALICE, fixed), 0);
}

#[test]
fn a_user_chosen_return_pool_must_be_one_the_user_belongs_to() {
    let mut world = World::standard();
    let rules = PoolRules {
        return_target: ReturnTarget::UserChooses,
        ..no_rules()
    };
    let pool = world.pool(PoolMode::FreeClaim, rules);
    let foreign = PoolId::from_u128(world.fresh());
    world.ok(
        as_user(ADMIN),
        CommandBody::CreatePool {
            pool_id: foreign,
            name: "华南公海".into(),
            mode: PoolMode::FreeClaim,
            admins: BTreeSet::new(),
            members: BTreeSet::from([CAROL]),
            everyone: false,
            default: false,
            rules: no_rules(),
        },
    );
    let customer = world.owned_by(pool, ALICE);
    let refused = world.err(
        as_user(ALICE),
        CommandBody::Abandon {
            customer_id: customer,
            reason: "转区域".into(),
            return_to: Some(foreign),
        },
    );
    assert!(
        matches!(refused, DomainError::NotPoolMember { user, pool } if user == ALICE && pool == foreign)
    );
}

// ---------------------------------------------------------------------------------------
// Reclaim (manual)
// ---------------------------------------------------------------------------------------

#[test]
fn pool_admin_reclaims_and_the_former_owner_becomes_a_related_person() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.advance(days(1));
    let events = world.ok(as_user(KEEPER), reclaim(customer));
    let reclaimed = only!(events, CustomerReclaimed);
    assert_eq!(
        (
            reclaimed.customer_id,
            reclaimed.pool_id,
            reclaimed.former_owner
        ),
        (customer, pool, ALICE)
    );
    assert_eq!(reclaimed.reason.as_deref(), Some("长期未跟进"));
    assert_eq!(world.state(customer), &CustomerState::InPool);
    assert_eq!(world.model.customers[&customer].related, vec![ALICE]);
    assert_eq!(world.model.losses.get(&(ALICE, customer)), Some(&world.now));
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 0);
}

#[test]
fn owners_superior_who_is_no_pool_admin_cannot_reclaim() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    for actor in [MANAGER, ALICE, BOB] {
        refused!(
            world.err(as_user(actor), reclaim(customer)),
            DomainError::NotPoolAdmin { pool: p, .. } if *p == pool,
            PermissionDenied
        );
    }
}

#[test]
fn an_unclaimed_customer_cannot_be_reclaimed() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(KEEPER), reclaim(customer)),
        DomainError::WrongState {
            action: "reclaim",
            actual: "in_pool",
            ..
        },
        FailedPrecondition
    );
}

// ---------------------------------------------------------------------------------------
// Automatic reclaim and reminders (system only)
// ---------------------------------------------------------------------------------------

#[test]
fn the_system_reclaims_a_customer_whose_rule_is_due() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let customer = world.owned_by(pool, ALICE);
    let owned_at = world.now;
    let due = owned_at + days(5);
    world.advance(days(5));
    let events = world.ok(
        Actor::Rule(RuleKind::ClaimedNotContacted),
        auto_reclaim(customer, RuleKind::ClaimedNotContacted, due),
    );
    let reclaimed = only!(events, CustomerAutoReclaimed);
    assert_eq!(reclaimed.former_owner, ALICE);
    assert_eq!(reclaimed.rule, RuleKind::ClaimedNotContacted);
    assert_eq!(reclaimed.threshold_days, 5);
    assert_eq!(reclaimed.due_at, due);
    assert_eq!(reclaimed.rules_version, 1);
    assert_eq!(reclaimed.evidence.owned_since, owned_at);
    assert_eq!(reclaimed.evidence.counted_from, owned_at);
    assert_eq!(reclaimed.evidence.last_contact_at, None);
    assert_eq!(world.state(customer), &CustomerState::InPool);
    assert_eq!(world.model.customers[&customer].related, vec![ALICE]);
    assert_eq!(world.model.losses.get(&(ALICE, customer)), Some(&world.now));
    assert_eq!(deadline(&world, customer), None);
}

#[test]
fn a_user_cannot_trigger_an_automatic_reclaim_or_reminder() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, Some(24));
    let customer = world.owned_by(pool, ALICE);
    let due = world.now + days(5);
    world.advance(days(5));
    refused!(
        world.err(
            as_user(ADMIN),
            auto_reclaim(customer, RuleKind::ClaimedNotContacted, due)
        ),
        DomainError::SystemOnly {
            action: "auto_reclaim"
        },
        PermissionDenied
    );
    refused!(
        world.err(as_user(KEEPER), remind(customer, due)),
        DomainError::SystemOnly {
            action: "remind_reclaim"
        },
        PermissionDenied
    );
}

#[test]
fn automatic_reclaim_before_the_deadline_is_not_due() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let customer = world.owned_by(pool, ALICE);
    let due = world.now + days(5);
    world.advance(days(5) - Duration::seconds(1));
    refused!(
        world.err(
            Actor::System,
            auto_reclaim(customer, RuleKind::ClaimedNotContacted, due)
        ),
        DomainError::NotDue {
            action: "auto_reclaim",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn automatic_reclaim_is_not_due_once_a_follow_up_moved_the_deadline() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let customer = world.owned_by(pool, ALICE);
    let old_due = world.now + days(5);
    world.advance(days(4));
    world.follow_up(ALICE, customer);
    assert_eq!(
        deadline(&world, customer),
        Some((world.now + days(5), RuleKind::NoContact))
    );
    world.advance(days(1));
    refused!(
        world.err(
            Actor::Rule(RuleKind::ClaimedNotContacted),
            auto_reclaim(customer, RuleKind::ClaimedNotContacted, old_due)
        ),
        DomainError::NotDue { due_at, .. } if *due_at == old_due,
        FailedPrecondition
    );
    assert_eq!(world.owner(customer), Some(ALICE));
}

#[test]
fn automatic_reclaim_naming_another_rule_is_not_due() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let customer = world.owned_by(pool, ALICE);
    let due = world.now + days(5);
    world.advance(days(5));
    refused!(
        world.err(Actor::System, auto_reclaim(customer, RuleKind::NotWon, due)),
        DomainError::NotDue { .. },
        FailedPrecondition
    );
}

#[test]
fn automatic_reclaim_of_an_unowned_customer_is_refused() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let customer = world.customer_in(pool);
    let due = world.now;
    refused!(
        world.err(
            Actor::System,
            auto_reclaim(customer, RuleKind::ClaimedNotContacted, due)
        ),
        DomainError::WrongState {
            action: "auto_reclaim",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn expiring_protection_with_a_recent_follow_up_is_extended_not_reclaimed() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            protection: Some(ProtectionRule {
                default_days: Limit::uniform(7),
                max_days: 10,
                extension: Some(ProtectionExtension {
                    contact_within_days: 3,
                    extend_by_days: 5,
                }),
            }),
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    let start = world.now;
    world.advance(days(6));
    world.follow_up(ALICE, customer);
    world.advance(days(1));
    let events = world.ok(
        Actor::Rule(RuleKind::ProtectionExpired),
        auto_reclaim(customer, RuleKind::ProtectionExpired, start + days(7)),
    );
    let extended = only!(events, ProtectionExtended);
    assert_eq!(extended.previous_until, start + days(7));
    // 7 + 5 would pass the 10-day maximum.
    assert_eq!(extended.until, start + days(10));
    assert_eq!(extended.max_until, Some(start + days(10)));
    assert_eq!(world.owner(customer), Some(ALICE));
    assert_eq!(
        deadline(&world, customer),
        Some((start + days(10), RuleKind::ProtectionExpired))
    );
}

#[test]
fn the_system_reminds_the_owner_before_a_reclaim_once() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, Some(24));
    let customer = world.owned_by(pool, ALICE);
    let due = world.now + days(5);
    assert_eq!(
        world.model.customers[&customer].reminder_at,
        Some(due - days(1))
    );
    world.advance(days(3));
    refused!(
        world.err(Actor::System, remind(customer, due)),
        DomainError::NotDue {
            action: "remind_reclaim",
            ..
        },
        FailedPrecondition
    );
    world.advance(days(1));
    let events = world.ok(
        Actor::Rule(RuleKind::ClaimedNotContacted),
        remind(customer, due),
    );
    let reminded = only!(events, ReclaimReminded);
    assert_eq!(
        (reminded.owner, reminded.rule, reminded.due_at),
        (ALICE, RuleKind::ClaimedNotContacted, due)
    );
    assert_eq!(world.model.customers[&customer].reminded_for, Some(due));
    assert_eq!(world.model.customers[&customer].reminder_at, None);
    // Once is enough.
    refused!(
        world.err(Actor::System, remind(customer, due)),
        DomainError::NotDue { .. },
        FailedPrecondition
    );
}

#[test]
fn a_reminder_for_a_deadline_that_changed_is_not_due() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, Some(24));
    let customer = world.owned_by(pool, ALICE);
    let due = world.now + days(5);
    world.advance(days(4));
    world.follow_up(ALICE, customer);
    refused!(
        world.err(Actor::System, remind(customer, due)),
        DomainError::NotDue { .. },
        FailedPrecondition
    );
}

#[test]
fn per_user_reclaim_threshold_sets_that_owners_deadline() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            claimed_not_contacted: limit_with(5, BOB, 2),
            ..no_rules()
        },
    );
    let alices = world.owned_by(pool, ALICE);
    let bobs = world.owned_by(pool, BOB);
    let now = world.now;
    assert_eq!(
        deadline(&world, alices),
        Some((now + days(5), RuleKind::ClaimedNotContacted))
    );
    assert_eq!(
        deadline(&world, bobs),
        Some((now + days(2), RuleKind::ClaimedNotContacted))
    );
    world.advance(days(2));
    let events = world.ok(
        Actor::Rule(RuleKind::ClaimedNotContacted),
        auto_reclaim(bobs, RuleKind::ClaimedNotContacted, now + days(2)),
    );
    assert_eq!(only!(events, CustomerAutoReclaimed).threshold_days, 2);
    refused!(
        world.err(
            Actor::Rule(RuleKind::ClaimedNotContacted),
            auto_reclaim(alices, RuleKind::ClaimedNotContacted, now + days(2))
        ),
        DomainError::NotDue { .. },
        FailedPrecondition
    );
}

#[test]
fn a_new_owner_is_reminded_even_of_a_deadline_the_previous_owner_was_reminded_of() {
    let mut world = World::standard();
    let rules = PoolRules {
        protection: Some(ProtectionRule {
            default_days: Limit::uniform(30),
            max_days: 60,
            extension: None,
        }),
        reminder_hours: Some(24),
        ..no_rules()
    };
    let pool = world.pool(PoolMode::AssignOnly, rules);
    let customer = world.customer_in(pool);
    let window = ProtectionWindow {
        start: t0(),
        end: t0() + Duration::days(10),
    };
    world.ok(
        as_user(KEEPER),
        CommandBody::Assign {
            customer_id: customer,
            assignee: ALICE,
            protection: Some(window),
        },
    );
    world.advance(Duration::days(9));
    assert_eq!(types(&world.run_scheduler()), ["customer.reclaim_reminded"]);
    // Reassigned with the very same window end: Bob must be reminded too.
    world.ok(
        as_user(KEEPER),
        CommandBody::Reclaim {
            customer_id: customer,
            reason: None,
        },
    );
    world.ok(
        as_user(KEEPER),
        CommandBody::Assign {
            customer_id: customer,
            assignee: BOB,
            protection: Some(window),
        },
    );
    let reminded = world.run_scheduler();
    assert!(
        matches!(&reminded[..], [event] if matches!(&event.body, EventBody::ReclaimReminded(r) if r.owner == BOB)),
        "{reminded:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Transfer
// ---------------------------------------------------------------------------------------

#[test]
fn owner_transfers_a_customer_to_a_colleague() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.advance(days(2));
    let events = world.ok(as_user(ALICE), transfer(customer, BOB));
    let transferred = only!(events, CustomerTransferred);
    assert_eq!(
        (transferred.customer_id, transferred.pool_id),
        (customer, pool)
    );
    assert_eq!((transferred.from, transferred.to), (ALICE, BOB));
    assert_eq!(transferred.reason.as_deref(), Some("工作调整"));
    let owned = ownership(&world, customer);
    assert_eq!((owned.owner, owned.since), (BOB, world.now));
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 0);
    assert_eq!(world.model.owned_in_pool(BOB, pool), 1);
}

#[test]
fn pool_admin_may_transfer() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(KEEPER), transfer(customer, CAROL));
    assert_eq!(world.owner(customer), Some(CAROL));
}

#[test]
fn owners_superior_may_transfer() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let events = world.ok(as_user(MANAGER), transfer(customer, BOB));
    assert_eq!(events[0].actor, as_user(MANAGER));
    assert_eq!(world.owner(customer), Some(BOB));
}

#[test]
fn superior_of_superior_may_transfer() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world.ok(as_user(DIRECTOR), transfer(customer, CAROL));
    assert_eq!(world.owner(customer), Some(CAROL));
}

#[test]
fn peer_cannot_transfer() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    for actor in [BOB, CAROL] {
        refused!(
            world.err(as_user(actor), transfer(customer, actor)),
            DomainError::NotOwnerOrSuperior { customer: c, .. } if *c == customer,
            PermissionDenied
        );
    }
}

#[test]
fn subordinate_cannot_transfer_their_superiors_customer() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, MANAGER);
    refused!(
        world.err(as_user(ALICE), transfer(customer, ALICE)),
        DomainError::NotOwnerOrSuperior { .. },
        PermissionDenied
    );
}

#[test]
fn transfer_respects_the_new_owners_cap() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit(1),
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    world.owned_by(pool, BOB);
    refused!(
        world.err(as_user(ALICE), transfer(customer, BOB)),
        DomainError::CapReached {
            user,
            scope: CapScope::Pool(p),
            ..
        } if *user == BOB && *p == pool,
        ResourceExhausted
    );
    assert_eq!(world.owner(customer), Some(ALICE));
}

#[test]
fn transfer_to_the_current_owner_is_nothing_to_do() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    refused!(
        world.err(as_user(MANAGER), transfer(customer, ALICE)),
        DomainError::NothingToDo(_),
        FailedPrecondition
    );
}

#[test]
fn transfer_goes_only_to_an_active_member_of_the_pool() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    refused!(
        world.err(as_user(ALICE), transfer(customer, MANAGER)),
        DomainError::NotPoolMember { user, .. } if *user == MANAGER,
        PermissionDenied
    );
    world.ok(as_user(ADMIN), deactivate(CAROL, None));
    refused!(
        world.err(as_user(ALICE), transfer(customer, CAROL)),
        DomainError::DeactivatedUser(user) if *user == CAROL,
        FailedPrecondition
    );
    refused!(
        world.err(as_user(ALICE), transfer(customer, DAVE)),
        DomainError::UnknownUser(user) if *user == DAVE,
        NotFound
    );
}

#[test]
fn an_unclaimed_customer_cannot_be_transferred() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    refused!(
        world.err(as_user(ADMIN), transfer(customer, BOB)),
        DomainError::WrongState {
            action: "transfer",
            actual: "in_pool",
            ..
        },
        FailedPrecondition
    );
}

// ---------------------------------------------------------------------------------------
// Freeze and unfreeze
// ---------------------------------------------------------------------------------------

#[test]
fn pool_admin_freezes_an_owned_customer_ending_the_ownership() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let customer = world.owned_by(pool, ALICE);
    assert!(deadline(&world, customer).is_some());
    let events = world.ok(as_user(KEEPER), freeze(customer));
    let frozen = only!(events, CustomerFrozen);
    assert_eq!((frozen.customer_id, frozen.pool_id), (customer, pool));
    assert_eq!(frozen.former_owner, Some(ALICE));
    assert_eq!(frozen.reason.as_deref(), Some("签订一年合同"));
    assert_eq!(world.state(customer), &CustomerState::Frozen);
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 0);
    assert_eq!(deadline(&world, customer), None);
}

#[test]
fn unclaimed_and_pending_customers_can_be_frozen() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let unclaimed = world.customer_in(pool);
    let pending = world.customer_in(pool);
    world.ok(as_user(ALICE), request(pending));
    for customer in [unclaimed, pending] {
        let events = world.ok(as_user(KEEPER), freeze(customer));
        assert_eq!(only!(events, CustomerFrozen).former_owner, None);
        assert_eq!(world.state(customer), &CustomerState::Frozen);
    }
}

#[test]
fn a_frozen_customer_can_be_neither_claimed_nor_frozen_again() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    world.ok(as_user(ADMIN), freeze(customer));
    refused!(
        world.err(as_user(ALICE), claim(customer)),
        DomainError::WrongState {
            actual: "frozen",
            ..
        },
        FailedPrecondition
    );
    refused!(
        world.err(as_user(ADMIN), freeze(customer)),
        DomainError::WrongState {
            action: "freeze",
            actual: "frozen",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn member_cannot_freeze_or_unfreeze() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    refused!(
        world.err(as_user(ALICE), freeze(customer)),
        DomainError::NotPoolAdmin { .. },
        PermissionDenied
    );
    world.ok(as_user(KEEPER), freeze(customer));
    refused!(
        world.err(as_user(MANAGER), unfreeze(customer)),
        DomainError::NotPoolAdmin { .. },
        PermissionDenied
    );
}

#[test]
fn pool_admin_unfreezes_a_customer_back_into_its_pool() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(KEEPER), freeze(customer));
    let events = world.ok(as_user(KEEPER), unfreeze(customer));
    let unfrozen = only!(events, CustomerUnfrozen);
    assert_eq!((unfrozen.customer_id, unfrozen.pool_id), (customer, pool));
    // Unclaimed, not back to the former owner.
    assert_eq!(world.state(customer), &CustomerState::InPool);
    world.ok(as_user(BOB), claim(customer));
}

#[test]
fn only_a_frozen_customer_can_be_unfrozen() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    refused!(
        world.err(as_user(ADMIN), unfreeze(customer)),
        DomainError::WrongState {
            action: "unfreeze",
            expected: "frozen",
            actual: "in_pool",
            ..
        },
        FailedPrecondition
    );
}

// ---------------------------------------------------------------------------------------
// Move pool
// ---------------------------------------------------------------------------------------

#[test]
fn admin_of_both_pools_moves_an_owned_customer_and_its_count_follows() {
    let mut world = World::standard();
    let from = not_contacted_pool(&mut world, None);
    let to = free_pool(&mut world, no_rules());
    let customer = world.owned_by(from, ALICE);
    assert!(deadline(&world, customer).is_some());
    let events = world.ok(as_user(KEEPER), move_pool(customer, to));
    let moved = only!(events, CustomerMoved);
    assert_eq!(
        (moved.customer_id, moved.from_pool, moved.to_pool),
        (customer, from, to)
    );
    assert_eq!(world.pool_of(customer), to);
    assert_eq!(world.owner(customer), Some(ALICE));
    assert_eq!(world.model.owned_in_pool(ALICE, from), 0);
    assert_eq!(world.model.owned_in_pool(ALICE, to), 1);
    assert_eq!(world.model.owned_total(ALICE), 1);
    // The destination's rules now apply: it has no reclaim rule.
    assert_eq!(deadline(&world, customer), None);
}

#[test]
fn moving_needs_admin_rights_on_both_pools() {
    let mut world = World::standard();
    let from = free_pool(&mut world, no_rules());
    let to = free_pool(&mut world, no_rules());
    world.ok(
        as_user(ADMIN),
        CommandBody::SetPoolAdmins {
            pool_id: to,
            admins: BTreeSet::from([MANAGER]),
        },
    );
    let customer = world.customer_in(from);
    refused!(
        world.err(as_user(KEEPER), move_pool(customer, to)),
        DomainError::NotPoolAdmin { pool, .. } if *pool == to,
        PermissionDenied
    );
    refused!(
        world.err(as_user(MANAGER), move_pool(customer, to)),
        DomainError::NotPoolAdmin { pool, .. } if *pool == from,
        PermissionDenied
    );
    world.ok(as_user(ADMIN), move_pool(customer, to));
    assert_eq!(world.pool_of(customer), to);
}

#[test]
fn moving_to_the_same_or_an_unknown_pool_is_refused() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(KEEPER), move_pool(customer, pool)),
        DomainError::Invalid { field, .. } if field == "destination_pool",
        InvalidArgument
    );
    let ghost = PoolId::from_u128(0x6057);
    refused!(
        world.err(as_user(KEEPER), move_pool(customer, ghost)),
        DomainError::UnknownPool(p) if *p == ghost,
        NotFound
    );
}

#[test]
fn a_deleted_customer_cannot_be_moved() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ADMIN), delete(customer));
    refused!(
        world.err(as_user(ADMIN), move_pool(customer, DEFAULT_POOL)),
        DomainError::WrongState {
            action: "move",
            actual: "deleted",
            ..
        },
        FailedPrecondition
    );
}

// ---------------------------------------------------------------------------------------
// Delete and restore
// ---------------------------------------------------------------------------------------

#[test]
fn pool_admin_deletes_an_owned_customer_into_the_recycle_bin() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    let events = world.ok(as_user(KEEPER), delete(customer));
    let deleted = only!(events, CustomerDeleted);
    assert_eq!((deleted.customer_id, deleted.pool_id), (customer, pool));
    assert_eq!(deleted.former_owner, Some(ALICE));
    assert_eq!(
        world.state(customer),
        &CustomerState::Deleted {
            former: FormerState::Owned(ALICE)
        }
    );
    assert_eq!(world.model.owned_total(ALICE), 0);
}

#[test]
fn owners_superior_may_delete_but_the_owner_and_peers_may_not() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    for actor in [ALICE, BOB, CAROL] {
        refused!(
            world.err(as_user(actor), delete(customer)),
            DomainError::NotPoolAdmin { .. },
            PermissionDenied
        );
    }
    world.ok(as_user(DIRECTOR), delete(customer));
    assert!(matches!(
        world.state(customer),
        CustomerState::Deleted { .. }
    ));
}

#[test]
fn a_deleted_customer_cannot_be_deleted_again() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    world.ok(as_user(ADMIN), delete(customer));
    refused!(
        world.err(as_user(ADMIN), delete(customer)),
        DomainError::WrongState {
            action: "delete",
            actual: "deleted",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn restore_returns_the_customer_to_its_former_owner() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(KEEPER), delete(customer));
    world.advance(days(1));
    let events = world.ok(as_user(KEEPER), restore(customer));
    let restored = only!(events, CustomerRestored);
    assert_eq!(restored.restored_to, RestoredTo::FormerOwner);
    assert_eq!(restored.owner, Some(ALICE));
    assert_eq!(restored.note, None);
    let owned = ownership(&world, customer);
    assert_eq!((owned.owner, owned.since), (ALICE, world.now));
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 1);
}

#[test]
fn restore_goes_to_the_pool_when_the_former_owner_was_deactivated() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world.ok(as_user(ADMIN), delete(customer));
    world.ok(as_user(ADMIN), deactivate(ALICE, Some(BOB)));
    let events = world.ok(as_user(ADMIN), restore(customer));
    let restored = only!(events, CustomerRestored);
    assert_eq!(restored.restored_to, RestoredTo::Pool);
    assert_eq!(restored.owner, None);
    assert_eq!(restored.note.as_deref(), Some("former_owner_deactivated"));
    assert_eq!(world.state(customer), &CustomerState::InPool);
}

#[test]
fn restore_goes_to_the_pool_when_the_former_owner_is_at_the_pool_cap() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit(1),
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(KEEPER), delete(customer));
    world.owned_by(pool, ALICE);
    let events = world.ok(as_user(KEEPER), restore(customer));
    let restored = only!(events, CustomerRestored);
    assert_eq!(restored.restored_to, RestoredTo::Pool);
    assert_eq!(restored.note.as_deref(), Some("former_owner_at_pool_cap"));
    assert_eq!(world.state(customer), &CustomerState::InPool);
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 1);
}

#[test]
fn restore_goes_to_the_pool_when_the_former_owner_is_at_the_overall_cap() {
    let mut world = World::standard();
    world.ok(as_user(ADMIN), settings(limit(1), 0));
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(KEEPER), delete(customer));
    world.owned_by(DEFAULT_POOL, ALICE);
    let events = world.ok(as_user(KEEPER), restore(customer));
    let restored = only!(events, CustomerRestored);
    assert_eq!(restored.restored_to, RestoredTo::Pool);
    assert_eq!(
        restored.note.as_deref(),
        Some("former_owner_at_overall_cap")
    );
}

#[test]
fn a_frozen_customer_is_restored_frozen() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world.ok(as_user(ADMIN), freeze(customer));
    world.ok(as_user(ADMIN), delete(customer));
    assert_eq!(
        world.state(customer),
        &CustomerState::Deleted {
            former: FormerState::Frozen
        }
    );
    let events = world.ok(as_user(ADMIN), restore(customer));
    let restored = only!(events, CustomerRestored);
    assert_eq!(
        (restored.restored_to, restored.owner),
        (RestoredTo::Frozen, None)
    );
    assert_eq!(world.state(customer), &CustomerState::Frozen);
}

#[test]
fn an_unclaimed_customer_is_restored_to_its_pool() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), request(customer));
    world.ok(as_user(KEEPER), delete(customer));
    let events = world.ok(as_user(KEEPER), restore(customer));
    let restored = only!(events, CustomerRestored);
    assert_eq!(
        (restored.restored_to, restored.note),
        (RestoredTo::Pool, None)
    );
    assert_eq!(world.state(customer), &CustomerState::InPool);
}

#[test]
fn only_a_pool_admin_restores_and_only_what_is_deleted() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    refused!(
        world.err(as_user(KEEPER), restore(customer)),
        DomainError::WrongState {
            action: "restore",
            expected: "deleted",
            actual: "owned",
            ..
        },
        FailedPrecondition
    );
    world.ok(as_user(MANAGER), delete(customer));
    for actor in [MANAGER, ALICE] {
        refused!(
            world.err(as_user(actor), restore(customer)),
            DomainError::NotPoolAdmin { pool: p, .. } if *p == pool,
            PermissionDenied
        );
    }
}
