//! Claims (`decide/claims.rs`): assigning, claiming, applying for a customer, and
//! approving or rejecting the application.
//!
//! Each test builds its history (given) with the harness in `support`, decides one command
//! (`World::when`) and asserts what came of it (`then`): the exact events (or their types
//! and key fields) and the resulting state, or the `DomainError` and its class, having
//! appended nothing and changed nothing.

mod support;

use chrono::Duration;
use poolkeeper_domain::event::*;
use poolkeeper_domain::*;
use support::*;

// ---------------------------------------------------------------------------------------
// Assign
// ---------------------------------------------------------------------------------------

#[test]
fn pool_admin_assigns_an_unclaimed_customer() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    let now = world.now;
    world
        .when(as_user(KEEPER), assign(customer, ALICE))
        .then([EventBody::CustomerAssigned(CustomerAssigned {
            customer_id: customer,
            pool_id: pool,
            assignee: ALICE,
            overrode_applicant: None,
            protection_start: now,
            protection_until: None,
        })]);
    assert_eq!(world.owner(customer), Some(ALICE));
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 1);
}

#[test]
fn member_cannot_assign() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    world
        .when(as_user(ALICE), assign(customer, ALICE))
        .then_error(
            PermissionDenied,
            |error| matches!(error, DomainError::NotPoolAdmin { pool: p, .. } if *p == pool),
        );
    // A superior of the assignee is no pool admin either.
    world
        .when(as_user(MANAGER), assign(customer, ALICE))
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotPoolAdmin { .. })
        });
}

#[test]
fn assigning_a_pending_customer_overrides_the_application() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), request(customer));
    let events = world
        .when(as_user(KEEPER), assign(customer, BOB))
        .then_accepted();
    let assigned = only!(events, CustomerAssigned);
    assert_eq!(assigned.assignee, BOB);
    assert_eq!(assigned.overrode_applicant, Some(ALICE));
    assert_eq!(world.owner(customer), Some(BOB));
}

#[test]
fn an_owned_customer_cannot_be_assigned() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world
        .when(as_user(ADMIN), assign(customer, BOB))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    action: "assign",
                    actual: "owned",
                    ..
                }
            )
        });
}

#[test]
fn assignee_must_be_an_active_member_of_the_pool() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    world
        .when(as_user(KEEPER), assign(customer, MANAGER))
        .then_error(
            PermissionDenied,
            exactly(DomainError::NotPoolMember {
                user: MANAGER,
                pool,
            }),
        );
    world.ok(as_user(ADMIN), deactivate(BOB, None));
    world
        .when(as_user(KEEPER), assign(customer, BOB))
        .then_error(
            FailedPrecondition,
            exactly(DomainError::DeactivatedUser(BOB)),
        );
}

#[test]
fn assignment_respects_the_assignees_cap() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            cap: limit(1),
            ..no_rules()
        },
    );
    world.owned_by(pool, ALICE);
    let customer = world.customer_in(pool);
    world
        .when(as_user(KEEPER), assign(customer, ALICE))
        .then_error(
            ResourceExhausted,
            exactly(DomainError::CapReached {
                user: ALICE,
                scope: CapScope::Pool(pool),
                cap: 1,
                owned: 1,
            }),
        );
    world.ok(as_user(KEEPER), assign(customer, BOB));
}

#[test]
fn assignment_with_a_protection_window_sets_the_end_of_protection() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            protection: protection(7, 30),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    let start = world.now;
    let events = world
        .when(
            as_user(KEEPER),
            assign_window(customer, ALICE, start, start + days(20)),
        )
        .then_accepted();
    let assigned = only!(events, CustomerAssigned);
    assert_eq!(assigned.protection_start, start);
    assert_eq!(assigned.protection_until, Some(start + days(20)));
    assert_eq!(
        deadline(&world, customer),
        Some((start + days(20), RuleKind::ProtectionExpired))
    );
}

#[test]
fn a_protection_window_beyond_the_maximum_is_refused() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            protection: protection(7, 30),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    world.advance(days(10));
    // A window may start in the past; the maximum counts from its start.
    let start = world.now - days(5);
    let (end, max) = (start + days(31), start + days(30));
    world
        .when(as_user(KEEPER), assign_window(customer, ALICE, start, end))
        .then_error(
            FailedPrecondition,
            exactly(DomainError::ProtectionBeyondMaximum {
                requested: end,
                max,
            }),
        );
    assert_eq!(world.state(customer), &CustomerState::InPool);
    let events = world
        .when(as_user(KEEPER), assign_window(customer, ALICE, start, max))
        .then_accepted();
    assert_eq!(only!(events, CustomerAssigned).protection_until, Some(max));
}

#[test]
fn a_protection_window_started_before_the_rule_counts_its_maximum_from_the_rule() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    world.advance(days(10));
    let turned_on = world.now;
    world.ok(
        as_user(ADMIN),
        set_rules(
            pool,
            PoolRules {
                protection: protection(7, 30),
                ..no_rules()
            },
        ),
    );
    // Backdated to before the rule was in force: the maximum is not retroactive either.
    let start = turned_on - days(5);
    let max = turned_on + days(30);
    world
        .when(as_user(KEEPER), assign_window(customer, ALICE, start, max + Duration::seconds(1)))
        .then_error(FailedPrecondition, |error| {
            matches!(error, DomainError::ProtectionBeyondMaximum { max: m, .. } if *m == max)
        });
    world.ok(as_user(KEEPER), assign_window(customer, ALICE, start, max));
    // Assignment and extension agree on the maximum.
    world
        .when(as_user(KEEPER), extend(customer, max + Duration::seconds(1)))
        .then_error(FailedPrecondition, |error| {
            matches!(error, DomainError::ProtectionBeyondMaximum { max: m, .. } if *m == max)
        });
}

#[test]
fn a_protection_window_is_accepted_in_a_pool_without_a_protection_rule() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    let now = world.now;
    let (start, end) = (now - days(1), now + days(3));
    let events = world
        .when(as_user(KEEPER), assign_window(customer, ALICE, start, end))
        .then_accepted();
    let assigned = only!(events, CustomerAssigned);
    assert_eq!(assigned.protection_start, start);
    assert_eq!(assigned.protection_until, Some(end));
    assert_eq!(world.owner(customer), Some(ALICE));
    assert_eq!(ownership(&world, customer).protection_until, Some(end));
    let rules = &world.model.pools[&pool];
    assert_eq!(
        poolkeeper_domain::rules::protection_until(
            &rules.rules,
            &rules.rules_since,
            &ownership(&world, customer)
        ),
        Some(end),
        "the window ends in a pool without the rule too"
    );
    assert_eq!(
        deadline(&world, customer),
        None,
        "without the rule the window sets no automatic reclaim"
    );
}

#[test]
fn a_protection_window_is_bounded_by_the_maximum_only_where_the_pool_has_a_protection_rule() {
    let mut world = World::standard();
    let with_rule = world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            protection: protection(7, 30),
            ..no_rules()
        },
    );
    let without_rule = world.pool(PoolMode::AssignOnly, no_rules());
    let bounded = world.customer_in(with_rule);
    let unbounded = world.customer_in(without_rule);
    let start = world.now;
    let end = start + days(90);
    world
        .when(as_user(KEEPER), assign_window(bounded, ALICE, start, end))
        .then_error(
            FailedPrecondition,
            exactly(DomainError::ProtectionBeyondMaximum {
                requested: end,
                max: start + days(30),
            }),
        );
    let events = world
        .when(as_user(KEEPER), assign_window(unbounded, ALICE, start, end))
        .then_accepted();
    assert_eq!(only!(events, CustomerAssigned).protection_until, Some(end));
}

#[test]
fn a_protection_window_without_a_protection_rule_must_still_end_after_it_starts_and_in_the_future()
{
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    let now = world.now;
    world
        .when(as_user(KEEPER), assign_window(customer, ALICE, now, now))
        .then_error(InvalidArgument, invalid("protection.end"));
    world
        .when(
            as_user(KEEPER),
            assign_window(customer, ALICE, now - days(10), now - days(1)),
        )
        .then_error(InvalidArgument, invalid("protection.end"));
}

#[test]
fn with_the_protection_rule_on_an_unwon_customer_is_reclaimed_at_the_end_of_its_window() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            protection: protection(7, 30),
            ..no_rules()
        },
    );
    let unwon = world.customer_in(pool);
    let won = world.customer_in(pool);
    let start = world.now;
    let end = start + days(20);
    world.ok(as_user(KEEPER), assign_window(unwon, ALICE, start, end));
    world.ok(as_user(KEEPER), assign_window(won, BOB, start, end));
    world.ok(as_user(BOB), mark_won(won));
    world.advance(days(20) - Duration::seconds(1));
    assert!(
        world.run_scheduler().is_empty(),
        "not before the window's end"
    );
    world.advance(Duration::seconds(1));
    let events = world.run_scheduler();
    let reclaimed = only!(events, CustomerAutoReclaimed);
    assert_eq!(reclaimed.customer_id, unwon);
    assert_eq!(reclaimed.rule, RuleKind::ProtectionExpired);
    assert_eq!(reclaimed.due_at, end);
    assert_eq!(reclaimed.threshold_days, 20);
    assert_eq!(reclaimed.evidence.protection_until, Some(end));
    assert_eq!(world.state(unwon), &CustomerState::InPool);
    assert_eq!(world.owner(won), Some(BOB), "a won customer is kept");
}

#[test]
fn with_the_protection_rule_off_nothing_is_due_at_the_end_of_a_window() {
    let mut world = World::standard();
    // Another reclaim rule is on, so the customer has a deadline: the window is not it.
    let pool = world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            not_won: limit(60),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    let start = world.now;
    let end = start + days(5);
    world.ok(as_user(KEEPER), assign_window(customer, ALICE, start, end));
    assert_eq!(
        deadline(&world, customer),
        Some((start + days(60), RuleKind::NotWon))
    );
    for at in [end, end + days(1), end + days(30)] {
        world.now = at;
        assert_eq!(
            schedule::due(&world.model, world.now, 100),
            vec![],
            "nothing is due at {at}"
        );
    }
    assert!(world.run_scheduler().is_empty());
    assert_eq!(world.owner(customer), Some(ALICE));
    assert_eq!(ownership(&world, customer).protection_until, Some(end));
}

#[test]
fn a_window_that_ended_before_the_protection_rule_was_turned_on_is_due_when_the_rule_comes_into_force()
 {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let expired = world.customer_in(pool);
    let running = world.customer_in(pool);
    let start = world.now;
    world.ok(
        as_user(KEEPER),
        assign_window(expired, ALICE, start, start + days(5)),
    );
    world.ok(
        as_user(KEEPER),
        assign_window(running, BOB, start, start + days(20)),
    );
    world.advance(days(10));
    let turned_on = world.now;
    world.ok(
        as_user(ADMIN),
        set_rules(
            pool,
            PoolRules {
                protection: protection(7, 30),
                ..no_rules()
            },
        ),
    );
    // Never retroactive: not due at the window's end, five days before the rule existed.
    assert_eq!(
        deadline(&world, expired),
        Some((turned_on, RuleKind::ProtectionExpired))
    );
    // A window still running keeps its end.
    assert_eq!(
        deadline(&world, running),
        Some((start + days(20), RuleKind::ProtectionExpired))
    );
    let events = world.run_scheduler();
    let reclaimed = only!(events, CustomerAutoReclaimed);
    assert_eq!(reclaimed.customer_id, expired);
    assert_eq!(reclaimed.due_at, turned_on);
    assert_eq!(reclaimed.evidence.counted_from, turned_on);
    assert_eq!(reclaimed.evidence.protection_until, Some(start + days(5)));
    assert_eq!(world.owner(running), Some(BOB));
}

#[test]
fn turning_the_protection_rule_off_stops_the_automatic_reclaim_but_keeps_a_windows_end() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            protection: protection(7, 30),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    let start = world.now;
    let end = start + days(10);
    world.ok(as_user(KEEPER), assign_window(customer, ALICE, start, end));
    world.ok(as_user(ADMIN), set_rules(pool, no_rules()));
    assert_eq!(deadline(&world, customer), None);
    world.advance(days(11));
    assert!(world.run_scheduler().is_empty());
    assert_eq!(ownership(&world, customer).protection_until, Some(end));
}

#[test]
fn a_protection_window_must_end_after_it_starts_and_in_the_future() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            protection: protection(7, 30),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    let now = world.now;
    world
        .when(as_user(KEEPER), assign_window(customer, ALICE, now, now))
        .then_error(InvalidArgument, invalid("protection.end"));
    world
        .when(
            as_user(KEEPER),
            assign_window(customer, ALICE, now - days(10), now - days(1)),
        )
        .then_error(InvalidArgument, invalid("protection.end"));
}

// ---------------------------------------------------------------------------------------
// Claim
// ---------------------------------------------------------------------------------------

#[test]
fn member_claims_in_a_free_claim_pool() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.customer_in(pool);
    let events = world
        .when(as_user(ALICE), claim(customer))
        .then([EventBody::CustomerClaimed(CustomerClaimed {
            customer_id: customer,
            pool_id: pool,
            owner: ALICE,
        })]);
    assert_eq!(events[0].actor, as_user(ALICE));
    let owned = ownership(&world, customer);
    assert_eq!((owned.owner, owned.since), (ALICE, world.now));
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 1);
    assert_eq!(world.model.claims_on_day(ALICE, pool, world.now), 1);
}

#[test]
fn member_cannot_claim_in_assign_only_pool() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    world.when(as_user(ALICE), claim(customer)).then_error(
        FailedPrecondition,
        exactly(DomainError::WrongMode {
            pool,
            mode: PoolMode::AssignOnly,
            action: "claim",
        }),
    );
}

#[test]
fn member_cannot_claim_directly_in_an_approval_pool() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world
        .when(as_user(ALICE), claim(customer))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongMode {
                    mode: PoolMode::ClaimWithApproval,
                    action: "claim",
                    ..
                }
            )
        });
}

#[test]
fn non_member_cannot_claim() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.customer_in(pool);
    world.when(as_user(MANAGER), claim(customer)).then_error(
        PermissionDenied,
        exactly(DomainError::NotPoolMember {
            user: MANAGER,
            pool,
        }),
    );
}

#[test]
fn an_owned_customer_cannot_be_claimed() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world
        .when(as_user(BOB), claim(customer))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    action: "claim",
                    expected: "in_pool",
                    actual: "owned",
                    ..
                }
            )
        });
    assert_eq!(world.owner(customer), Some(ALICE));
}

#[test]
fn claiming_an_unknown_customer_is_not_found() {
    let mut world = World::standard();
    let ghost = CustomerId::from_u128(0x6057);
    world
        .when(as_user(ALICE), claim(ghost))
        .then_error(NotFound, exactly(DomainError::UnknownCustomer(ghost)));
}

#[test]
fn the_system_cannot_claim() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    world
        .when(Actor::System, claim(customer))
        .then_error(InvalidArgument, invalid("actor"));
}

#[test]
fn claim_respects_the_pool_cap() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit(1),
            ..no_rules()
        },
    );
    let first = world.customer_in(pool);
    let second = world.customer_in(pool);
    world.ok(as_user(ALICE), claim(first));
    world.when(as_user(ALICE), claim(second)).then_error(
        ResourceExhausted,
        exactly(DomainError::CapReached {
            user: ALICE,
            scope: CapScope::Pool(pool),
            cap: 1,
            owned: 1,
        }),
    );
    // Customers of other pools do not count against this pool's cap.
    world.owned_by(DEFAULT_POOL, BOB);
    world.ok(as_user(BOB), claim(second));
}

#[test]
fn per_user_cap_override_applies_to_that_user_only() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit_with(1, ALICE, 2),
            ..no_rules()
        },
    );
    let customers: Vec<_> = (0..4).map(|_| world.customer_in(pool)).collect();
    world.ok(as_user(ALICE), claim(customers[0]));
    world.ok(as_user(ALICE), claim(customers[1]));
    world.ok(as_user(BOB), claim(customers[2]));
    world
        .when(as_user(ALICE), claim(customers[3]))
        .then_error(ResourceExhausted, |error| {
            matches!(
                error,
                DomainError::CapReached {
                    cap: 2,
                    owned: 2,
                    ..
                }
            )
        });
    world
        .when(as_user(BOB), claim(customers[3]))
        .then_error(ResourceExhausted, |error| {
            matches!(
                error,
                DomainError::CapReached {
                    cap: 1,
                    owned: 1,
                    ..
                }
            )
        });
}

#[test]
fn overall_cap_counts_customers_across_pools() {
    let mut world = World::standard();
    world.ok(as_user(ADMIN), settings(limit(2), 0));
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit(5),
            ..no_rules()
        },
    );
    world.owned_by(DEFAULT_POOL, ALICE);
    world.owned_by(pool, ALICE);
    let customer = world.customer_in(pool);
    world.when(as_user(ALICE), claim(customer)).then_error(
        ResourceExhausted,
        exactly(DomainError::CapReached {
            user: ALICE,
            scope: CapScope::Overall,
            cap: 2,
            owned: 2,
        }),
    );
    world.ok(as_user(BOB), claim(customer));
}

#[test]
fn pool_cap_is_reported_before_the_overall_cap() {
    let mut world = World::standard();
    world.ok(as_user(ADMIN), settings(limit(1), 0));
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit(1),
            ..no_rules()
        },
    );
    world.owned_by(pool, ALICE);
    let customer = world.customer_in(pool);
    world
        .when(as_user(ALICE), claim(customer))
        .then_error(ResourceExhausted, |error| {
            matches!(error, DomainError::CapReached { scope: CapScope::Pool(p), .. } if *p == pool)
        });
}

#[test]
fn per_user_overall_cap_override() {
    let mut world = World::standard();
    world.ok(as_user(ADMIN), settings(limit_with(1, BOB, 2), 0));
    world.owned_by(DEFAULT_POOL, ALICE);
    world.owned_by(DEFAULT_POOL, BOB);
    let customer = world.customer_in(DEFAULT_POOL);
    world
        .when(as_user(ALICE), claim(customer))
        .then_error(ResourceExhausted, |error| {
            matches!(
                error,
                DomainError::CapReached {
                    scope: CapScope::Overall,
                    cap: 1,
                    ..
                }
            )
        });
    world.ok(as_user(BOB), claim(customer));
    assert_eq!(world.model.owned_total(BOB), 2);
}

#[test]
fn claim_is_refused_while_the_cooldown_runs() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cooldown_days: limit(3),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), claim(customer));
    world.advance(Duration::hours(2));
    let abandoned_at = world.now;
    world.ok(as_user(ALICE), abandon(customer, "暂无需求", None));
    world.advance(days(3) - Duration::seconds(1));
    world.when(as_user(ALICE), claim(customer)).then_error(
        FailedPrecondition,
        exactly(DomainError::CooldownActive {
            user: ALICE,
            customer,
            until: abandoned_at + days(3),
        }),
    );
    world.advance(Duration::seconds(1));
    world.ok(as_user(ALICE), claim(customer));
    assert_eq!(world.owner(customer), Some(ALICE));
}

#[test]
fn the_cooldown_binds_only_the_user_who_lost_the_customer() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cooldown_days: limit(3),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), claim(customer));
    world.ok(as_user(ALICE), abandon(customer, "暂无需求", None));
    world.ok(as_user(BOB), claim(customer));
    assert_eq!(world.owner(customer), Some(BOB));
}

#[test]
fn a_reclaim_starts_the_former_owners_cooldown() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cooldown_days: limit_with(3, ALICE, 10),
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    let reclaimed_at = world.now;
    world.ok(as_user(KEEPER), reclaim(customer));
    world.advance(days(5));
    // ALICE's override is 10 days, not the pool's 3.
    world
        .when(as_user(ALICE), claim(customer))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::CooldownActive { until, .. } if *until == reclaimed_at + days(10)
            )
        });
}

#[test]
fn daily_claim_quota_resets_on_the_next_organization_day() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            daily_claim_quota: limit(2),
            ..no_rules()
        },
    );
    let customers: Vec<_> = (0..4).map(|_| world.customer_in(pool)).collect();
    world.ok(as_user(ALICE), claim(customers[0]));
    world.ok(as_user(ALICE), claim(customers[1]));
    world.when(as_user(ALICE), claim(customers[2])).then_error(
        ResourceExhausted,
        exactly(DomainError::DailyQuotaReached {
            user: ALICE,
            pool,
            quota: 2,
        }),
    );
    // Others have their own quota.
    world.ok(as_user(BOB), claim(customers[3]));
    // t0 is 09:00 UTC: 23:59 is still the same day, midnight is the next one.
    world.advance(Duration::hours(14) + Duration::minutes(59));
    world
        .when(as_user(ALICE), claim(customers[2]))
        .then_refused();
    world.advance(Duration::minutes(1));
    world.ok(as_user(ALICE), claim(customers[2]));
    assert_eq!(world.model.claims_on_day(ALICE, pool, world.now), 1);
}

#[test]
fn daily_claim_quota_follows_the_organizations_day_offset() {
    for (offset, open_at_utc_16) in [(480, true), (0, false)] {
        let mut world = World::standard();
        world.ok(as_user(ADMIN), settings(None, offset));
        let pool = free_pool(
            &mut world,
            PoolRules {
                daily_claim_quota: limit(1),
                ..no_rules()
            },
        );
        let first = world.customer_in(pool);
        let second = world.customer_in(pool);
        world.ok(as_user(ALICE), claim(first));
        // 15:59 UTC is 23:59 in UTC+8: still the same organization day either way.
        world.advance(Duration::hours(6) + Duration::minutes(59));
        world.when(as_user(ALICE), claim(second)).then_refused();
        // 16:00 UTC is midnight in UTC+8, but still the afternoon in UTC.
        world.advance(Duration::minutes(1));
        let result = world.exec(as_user(ALICE), claim(second));
        assert_eq!(
            result.is_ok(),
            open_at_utc_16,
            "offset {offset}: {result:?}"
        );
    }
}

#[test]
fn per_user_daily_quota_override() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            daily_claim_quota: limit_with(1, BOB, 0),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    world
        .when(as_user(BOB), claim(customer))
        .then_error(ResourceExhausted, |error| {
            matches!(error, DomainError::DailyQuotaReached { quota: 0, .. })
        });
    world.ok(as_user(ALICE), claim(customer));
}

#[test]
fn claim_requests_count_toward_the_daily_quota() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::ClaimWithApproval,
        PoolRules {
            daily_claim_quota: limit(1),
            ..no_rules()
        },
    );
    let first = world.customer_in(pool);
    let second = world.customer_in(pool);
    world.ok(as_user(ALICE), request(first));
    // Even a rejected application used up today's quota.
    world.ok(as_user(KEEPER), reject(first, None));
    world
        .when(as_user(ALICE), request(second))
        .then_error(ResourceExhausted, |error| {
            matches!(error, DomainError::DailyQuotaReached { quota: 1, .. })
        });
}

// ---------------------------------------------------------------------------------------
// Request, approve, reject
// ---------------------------------------------------------------------------------------

#[test]
fn member_applies_for_a_customer_in_an_approval_pool() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world
        .when(as_user(ALICE), request(customer))
        .then([EventBody::ClaimRequested(ClaimRequested {
            customer_id: customer,
            pool_id: pool,
            applicant: ALICE,
        })]);
    assert_eq!(
        world.state(customer),
        &CustomerState::Pending {
            applicant: ALICE,
            since: world.now
        }
    );
    assert_eq!(world.model.owned_total(ALICE), 0);
}

#[test]
fn member_cannot_apply_in_a_free_claim_pool() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    world
        .when(as_user(ALICE), request(customer))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongMode {
                    mode: PoolMode::FreeClaim,
                    action: "request_claim",
                    ..
                }
            )
        });
}

#[test]
fn a_pending_customer_cannot_be_applied_for_again() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), request(customer));
    world
        .when(as_user(BOB), request(customer))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    actual: "pending",
                    ..
                }
            )
        });
}

#[test]
fn non_member_cannot_apply() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world.when(as_user(DIRECTOR), request(customer)).then_error(
        PermissionDenied,
        |error| matches!(error, DomainError::NotPoolMember { user, .. } if *user == DIRECTOR),
    );
}

#[test]
fn an_application_is_refused_at_the_cap() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::ClaimWithApproval,
        PoolRules {
            cap: limit(1),
            ..no_rules()
        },
    );
    world.owned_by(pool, ALICE);
    let customer = world.customer_in(pool);
    world
        .when(as_user(ALICE), request(customer))
        .then_error(ResourceExhausted, |error| {
            matches!(error, DomainError::CapReached { .. })
        });
}

#[test]
fn pool_admin_approves_an_application() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), request(customer));
    world.advance(Duration::hours(3));
    let events = world
        .when(as_user(KEEPER), approve(customer))
        .then_accepted();
    let approved = only!(events, ClaimApproved);
    assert_eq!(
        (approved.customer_id, approved.applicant),
        (customer, ALICE)
    );
    let owned = ownership(&world, customer);
    assert_eq!((owned.owner, owned.since), (ALICE, world.now));
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 1);
}

#[test]
fn member_cannot_approve_or_reject() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), request(customer));
    world
        .when(as_user(ALICE), approve(customer))
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotPoolAdmin { .. })
        });
    world
        .when(as_user(MANAGER), reject(customer, None))
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotPoolAdmin { .. })
        });
}

#[test]
fn only_a_pending_customer_can_be_approved_or_rejected() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world
        .when(as_user(KEEPER), approve(customer))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    action: "approve_claim",
                    expected: "pending",
                    actual: "in_pool",
                    ..
                }
            )
        });
    world
        .when(as_user(KEEPER), reject(customer, Some("不合适")))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    action: "reject_claim",
                    actual: "in_pool",
                    ..
                }
            )
        });
}

#[test]
fn approval_respects_the_applicants_cap() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::ClaimWithApproval,
        PoolRules {
            cap: limit(1),
            ..no_rules()
        },
    );
    let first = world.customer_in(pool);
    let second = world.customer_in(pool);
    world.ok(as_user(ALICE), request(first));
    world.ok(as_user(ALICE), request(second));
    world.ok(as_user(KEEPER), approve(first));
    world
        .when(as_user(KEEPER), approve(second))
        .then_error(ResourceExhausted, |error| {
            matches!(
                error,
                DomainError::CapReached { user, cap: 1, owned: 1, .. } if *user == ALICE
            )
        });
    assert!(matches!(
        world.state(second),
        CustomerState::Pending { applicant, .. } if *applicant == ALICE
    ));
}

#[test]
fn pool_admin_rejects_an_application_with_a_reason() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), request(customer));
    let events = world
        .when(as_user(KEEPER), reject(customer, Some("  区域不符 ")))
        .then_accepted();
    let rejected = only!(events, ClaimRejected);
    assert_eq!(
        (rejected.customer_id, rejected.applicant),
        (customer, ALICE)
    );
    assert_eq!(rejected.reason.as_deref(), Some("区域不符"));
    assert_eq!(world.state(customer), &CustomerState::InPool);
    // Someone else may apply now.
    world.ok(as_user(BOB), request(customer));
}
