//! Ownership after the claim (`decide/ownership.rs`): abandons, reclaims by hand and by
//! rule, reminders, transfers, freezing, moves between pools, deletes and restores.
//!
//! Each test builds its history (given) with the harness in `support`, decides one command
//! (`World::when`) and asserts what came of it (`then`): the exact events (or their types
//! and key fields) and the resulting state, or the `DomainError` and its class, having
//! appended nothing and changed nothing.

mod support;

use std::collections::BTreeSet;

use chrono::Duration;
use poolkeeper_domain::event::*;
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
    world
        .when(as_user(ALICE), abandon(customer, " 预算不足 ", None))
        .then([EventBody::CustomerAbandoned(CustomerAbandoned {
            customer_id: customer,
            from_pool: pool,
            to_pool: pool,
            abandoner: ALICE,
            reason: "预算不足".into(),
        })]);
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
    world
        .when(as_user(ALICE), abandon(customer, "   ", None))
        .then_error(InvalidArgument, invalid("reason"));
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
    world
        .when(as_user(ALICE), abandon(customer, "不想跟了", None))
        .then_error(
            FailedPrecondition,
            exactly(DomainError::ReasonNotInList {
                reason: "不想跟了".into(),
                pool,
            }),
        );
}

#[test]
fn only_the_owner_may_abandon() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    for actor in [BOB, MANAGER, ADMIN] {
        world
            .when(as_user(actor), abandon(customer, "无意向", None))
            .then_error(PermissionDenied, |error| {
                matches!(error, DomainError::NotOwner { customer: c, .. } if *c == customer)
            });
    }
}

#[test]
fn an_unclaimed_customer_cannot_be_abandoned() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    world
        .when(as_user(ALICE), abandon(customer, "无意向", None))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    action: "abandon",
                    expected: "owned",
                    actual: "in_pool",
                    ..
                }
            )
        });
}

#[test]
fn abandon_returns_to_the_source_pool_and_refuses_another_choice() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world
        .when(
            as_user(ALICE),
            abandon(customer, "无意向", Some(DEFAULT_POOL)),
        )
        .then_error(InvalidArgument, invalid("return_to"));
    // Naming the source pool itself is fine.
    let events = world
        .when(as_user(ALICE), abandon(customer, "无意向", Some(pool)))
        .then_accepted();
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
    let events = world
        .when(
            as_user(ALICE),
            abandon(chosen, "无意向", Some(DEFAULT_POOL)),
        )
        .then_accepted();
    let abandoned = only!(events, CustomerAbandoned);
    assert_eq!(
        (abandoned.from_pool, abandoned.to_pool),
        (pool, DEFAULT_POOL)
    );
    assert_eq!(world.pool_of(chosen), DEFAULT_POOL);
    assert_eq!(world.state(chosen), &CustomerState::InPool);
    // No choice: back where it came from.
    let events = world
        .when(as_user(ALICE), abandon(unchosen, "无意向", None))
        .then_accepted();
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
    world
        .when(as_user(ALICE), abandon(customer, "无意向", Some(ghost)))
        .then_error(NotFound, exactly(DomainError::UnknownPool(ghost)));
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
    world
        .when(
            as_user(ALICE),
            abandon(customer, "无意向", Some(DEFAULT_POOL)),
        )
        .then_error(InvalidArgument, invalid("return_to"));
    let events = world
        .when(as_user(ALICE), abandon(customer, "无意向", None))
        .then_accepted();
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
    let refused = world
        .when(
            as_user(ALICE),
            CommandBody::Abandon {
                customer_id: customer,
                reason: "转区域".into(),
                return_to: Some(foreign),
            },
        )
        .then_refused();
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
    world
        .when(as_user(KEEPER), reclaim(customer))
        .then([EventBody::CustomerReclaimed(CustomerReclaimed {
            customer_id: customer,
            pool_id: pool,
            former_owner: ALICE,
            reason: Some("长期未跟进".into()),
        })]);
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
        world.when(as_user(actor), reclaim(customer)).then_error(
            PermissionDenied,
            |error| matches!(error, DomainError::NotPoolAdmin { pool: p, .. } if *p == pool),
        );
    }
}

#[test]
fn an_unclaimed_customer_cannot_be_reclaimed() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.customer_in(pool);
    world
        .when(as_user(KEEPER), reclaim(customer))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    action: "reclaim",
                    actual: "in_pool",
                    ..
                }
            )
        });
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
    let events = world
        .when(
            Actor::Rule(RuleKind::ClaimedNotContacted),
            auto_reclaim(customer, RuleKind::ClaimedNotContacted, due),
        )
        .then_accepted();
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
    world
        .when(
            as_user(ADMIN),
            auto_reclaim(customer, RuleKind::ClaimedNotContacted, due),
        )
        .then_error(
            PermissionDenied,
            exactly(DomainError::SystemOnly {
                action: "auto_reclaim",
            }),
        );
    world
        .when(as_user(KEEPER), remind(customer, due))
        .then_error(
            PermissionDenied,
            exactly(DomainError::SystemOnly {
                action: "remind_reclaim",
            }),
        );
}

#[test]
fn automatic_reclaim_before_the_deadline_is_not_due() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let customer = world.owned_by(pool, ALICE);
    let due = world.now + days(5);
    world.advance(days(5) - Duration::seconds(1));
    world
        .when(
            Actor::System,
            auto_reclaim(customer, RuleKind::ClaimedNotContacted, due),
        )
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::NotDue {
                    action: "auto_reclaim",
                    ..
                }
            )
        });
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
    world
        .when(
            Actor::Rule(RuleKind::ClaimedNotContacted),
            auto_reclaim(customer, RuleKind::ClaimedNotContacted, old_due),
        )
        .then_error(
            FailedPrecondition,
            |error| matches!(error, DomainError::NotDue { due_at, .. } if *due_at == old_due),
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
    world
        .when(Actor::System, auto_reclaim(customer, RuleKind::NotWon, due))
        .then_error(FailedPrecondition, |error| {
            matches!(error, DomainError::NotDue { .. })
        });
}

#[test]
fn automatic_reclaim_of_an_unowned_customer_is_refused() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let customer = world.customer_in(pool);
    let due = world.now;
    world
        .when(
            Actor::System,
            auto_reclaim(customer, RuleKind::ClaimedNotContacted, due),
        )
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    action: "auto_reclaim",
                    ..
                }
            )
        });
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
    let events = world
        .when(
            Actor::Rule(RuleKind::ProtectionExpired),
            auto_reclaim(customer, RuleKind::ProtectionExpired, start + days(7)),
        )
        .then_accepted();
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
    world
        .when(Actor::System, remind(customer, due))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::NotDue {
                    action: "remind_reclaim",
                    ..
                }
            )
        });
    world.advance(days(1));
    let events = world
        .when(
            Actor::Rule(RuleKind::ClaimedNotContacted),
            remind(customer, due),
        )
        .then_accepted();
    let reminded = only!(events, ReclaimReminded);
    assert_eq!(
        (reminded.owner, reminded.rule, reminded.due_at),
        (ALICE, RuleKind::ClaimedNotContacted, due)
    );
    assert_eq!(world.model.customers[&customer].reminded_for, Some(due));
    assert_eq!(world.model.customers[&customer].reminder_at, None);
    // Once is enough.
    world
        .when(Actor::System, remind(customer, due))
        .then_error(FailedPrecondition, |error| {
            matches!(error, DomainError::NotDue { .. })
        });
}

#[test]
fn a_reminder_for_a_deadline_that_changed_is_not_due() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, Some(24));
    let customer = world.owned_by(pool, ALICE);
    let due = world.now + days(5);
    world.advance(days(4));
    world.follow_up(ALICE, customer);
    world
        .when(Actor::System, remind(customer, due))
        .then_error(FailedPrecondition, |error| {
            matches!(error, DomainError::NotDue { .. })
        });
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
    let events = world
        .when(
            Actor::Rule(RuleKind::ClaimedNotContacted),
            auto_reclaim(bobs, RuleKind::ClaimedNotContacted, now + days(2)),
        )
        .then_accepted();
    assert_eq!(only!(events, CustomerAutoReclaimed).threshold_days, 2);
    world
        .when(
            Actor::Rule(RuleKind::ClaimedNotContacted),
            auto_reclaim(alices, RuleKind::ClaimedNotContacted, now + days(2)),
        )
        .then_error(FailedPrecondition, |error| {
            matches!(error, DomainError::NotDue { .. })
        });
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
    world
        .when(as_user(ALICE), transfer(customer, BOB))
        .then([EventBody::CustomerTransferred(CustomerTransferred {
            customer_id: customer,
            pool_id: pool,
            from: ALICE,
            to: BOB,
            reason: Some("工作调整".into()),
        })]);
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
    let events = world
        .when(as_user(MANAGER), transfer(customer, BOB))
        .then_accepted();
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
        world
            .when(as_user(actor), transfer(customer, actor))
            .then_error(PermissionDenied, |error| {
                matches!(
                    error,
                    DomainError::NotOwnerOrSuperior { customer: c, .. } if *c == customer
                )
            });
    }
}

#[test]
fn subordinate_cannot_transfer_their_superiors_customer() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, MANAGER);
    world
        .when(as_user(ALICE), transfer(customer, ALICE))
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotOwnerOrSuperior { .. })
        });
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
    world
        .when(as_user(ALICE), transfer(customer, BOB))
        .then_error(ResourceExhausted, |error| {
            matches!(
                error,
                DomainError::CapReached { user, scope: CapScope::Pool(p), .. } if *user == BOB && *p == pool
            )
        });
    assert_eq!(world.owner(customer), Some(ALICE));
}

#[test]
fn transfer_to_the_current_owner_is_nothing_to_do() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world
        .when(as_user(MANAGER), transfer(customer, ALICE))
        .then_error(FailedPrecondition, |error| {
            matches!(error, DomainError::NothingToDo(_))
        });
}

#[test]
fn transfer_goes_only_to_an_active_member_of_the_pool() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world
        .when(as_user(ALICE), transfer(customer, MANAGER))
        .then_error(
            PermissionDenied,
            |error| matches!(error, DomainError::NotPoolMember { user, .. } if *user == MANAGER),
        );
    world.ok(as_user(ADMIN), deactivate(CAROL, None));
    world
        .when(as_user(ALICE), transfer(customer, CAROL))
        .then_error(
            FailedPrecondition,
            exactly(DomainError::DeactivatedUser(CAROL)),
        );
    world
        .when(as_user(ALICE), transfer(customer, DAVE))
        .then_error(NotFound, exactly(DomainError::UnknownUser(DAVE)));
}

#[test]
fn an_unclaimed_customer_cannot_be_transferred() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    world
        .when(as_user(ADMIN), transfer(customer, BOB))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    action: "transfer",
                    actual: "in_pool",
                    ..
                }
            )
        });
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
    world
        .when(as_user(KEEPER), freeze(customer))
        .then([EventBody::CustomerFrozen(CustomerFrozen {
            customer_id: customer,
            pool_id: pool,
            former_owner: Some(ALICE),
            reason: Some("签订一年合同".into()),
        })]);
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
        let events = world
            .when(as_user(KEEPER), freeze(customer))
            .then_accepted();
        assert_eq!(only!(events, CustomerFrozen).former_owner, None);
        assert_eq!(world.state(customer), &CustomerState::Frozen);
    }
}

#[test]
fn a_frozen_customer_can_be_neither_claimed_nor_frozen_again() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    world.ok(as_user(ADMIN), freeze(customer));
    world
        .when(as_user(ALICE), claim(customer))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    actual: "frozen",
                    ..
                }
            )
        });
    world
        .when(as_user(ADMIN), freeze(customer))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    action: "freeze",
                    actual: "frozen",
                    ..
                }
            )
        });
}

#[test]
fn member_cannot_freeze_or_unfreeze() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world
        .when(as_user(ALICE), freeze(customer))
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotPoolAdmin { .. })
        });
    world.ok(as_user(KEEPER), freeze(customer));
    world
        .when(as_user(MANAGER), unfreeze(customer))
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotPoolAdmin { .. })
        });
}

#[test]
fn pool_admin_unfreezes_a_customer_back_into_its_pool() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(KEEPER), freeze(customer));
    world
        .when(as_user(KEEPER), unfreeze(customer))
        .then([EventBody::CustomerUnfrozen(CustomerUnfrozen {
            customer_id: customer,
            pool_id: pool,
        })]);
    // Unclaimed, not back to the former owner.
    assert_eq!(world.state(customer), &CustomerState::InPool);
    world.ok(as_user(BOB), claim(customer));
}

#[test]
fn only_a_frozen_customer_can_be_unfrozen() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    world
        .when(as_user(ADMIN), unfreeze(customer))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    action: "unfreeze",
                    expected: "frozen",
                    actual: "in_pool",
                    ..
                }
            )
        });
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
    world
        .when(as_user(KEEPER), move_pool(customer, to))
        .then([EventBody::CustomerMoved(CustomerMoved {
            customer_id: customer,
            from_pool: from,
            to_pool: to,
        })]);
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
    world
        .when(as_user(KEEPER), move_pool(customer, to))
        .then_error(
            PermissionDenied,
            |error| matches!(error, DomainError::NotPoolAdmin { pool, .. } if *pool == to),
        );
    world
        .when(as_user(MANAGER), move_pool(customer, to))
        .then_error(
            PermissionDenied,
            |error| matches!(error, DomainError::NotPoolAdmin { pool, .. } if *pool == from),
        );
    world.ok(as_user(ADMIN), move_pool(customer, to));
    assert_eq!(world.pool_of(customer), to);
}

#[test]
fn moving_to_the_same_or_an_unknown_pool_is_refused() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.customer_in(pool);
    world
        .when(as_user(KEEPER), move_pool(customer, pool))
        .then_error(InvalidArgument, invalid("destination_pool"));
    let ghost = PoolId::from_u128(0x6057);
    world
        .when(as_user(KEEPER), move_pool(customer, ghost))
        .then_error(NotFound, exactly(DomainError::UnknownPool(ghost)));
}

#[test]
fn a_deleted_customer_cannot_be_moved() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ADMIN), delete(customer));
    world
        .when(as_user(ADMIN), move_pool(customer, DEFAULT_POOL))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    action: "move",
                    actual: "deleted",
                    ..
                }
            )
        });
}

// ---------------------------------------------------------------------------------------
// Delete and restore
// ---------------------------------------------------------------------------------------

#[test]
fn pool_admin_deletes_an_owned_customer_into_the_recycle_bin() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world
        .when(as_user(KEEPER), delete(customer))
        .then([EventBody::CustomerDeleted(CustomerDeleted {
            customer_id: customer,
            pool_id: pool,
            former_owner: Some(ALICE),
        })]);
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
        world
            .when(as_user(actor), delete(customer))
            .then_error(PermissionDenied, |error| {
                matches!(error, DomainError::NotPoolAdmin { .. })
            });
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
    world
        .when(as_user(ADMIN), delete(customer))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    action: "delete",
                    actual: "deleted",
                    ..
                }
            )
        });
}

#[test]
fn restore_returns_the_customer_to_its_former_owner() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(KEEPER), delete(customer));
    world.advance(days(1));
    let events = world
        .when(as_user(KEEPER), restore(customer))
        .then_accepted();
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
    let events = world
        .when(as_user(ADMIN), restore(customer))
        .then_accepted();
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
    let events = world
        .when(as_user(KEEPER), restore(customer))
        .then_accepted();
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
    let events = world
        .when(as_user(KEEPER), restore(customer))
        .then_accepted();
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
    let events = world
        .when(as_user(ADMIN), restore(customer))
        .then_accepted();
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
    let events = world
        .when(as_user(KEEPER), restore(customer))
        .then_accepted();
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
    world
        .when(as_user(KEEPER), restore(customer))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    action: "restore",
                    expected: "deleted",
                    actual: "owned",
                    ..
                }
            )
        });
    world.ok(as_user(MANAGER), delete(customer));
    for actor in [MANAGER, ALICE] {
        world.when(as_user(actor), restore(customer)).then_error(
            PermissionDenied,
            |error| matches!(error, DomainError::NotPoolAdmin { pool: p, .. } if *p == pool),
        );
    }
}
