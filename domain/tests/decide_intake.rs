//! Intake (`decide/intake.rs`): creating and importing customers, and auto-assigning them.
//!
//! Each test builds its history (given) with the harness in `support`, decides one command
//! (`World::when`) and asserts what came of it (`then`): the exact events (or their types
//! and key fields) and the resulting state, or the `DomainError` and its class, having
//! appended nothing and changed nothing.

mod support;

use std::collections::BTreeMap;

use poolkeeper_domain::event::*;
use poolkeeper_domain::rules::{AssignStrategy, Condition};
use poolkeeper_domain::*;
use support::*;

// ---------------------------------------------------------------------------------------
// Create customer
// ---------------------------------------------------------------------------------------

#[test]
fn member_creates_an_unclaimed_customer_in_the_default_pool() {
    let mut world = World::standard();
    let customer_id = CustomerId::from_u128(world.fresh());
    let mut new = new_customer(customer_id, None, "  深圳XX科技有限公司 ");
    new.source = Some("web".into());
    new.fields = BTreeMap::from([("region".into(), " 华南 ".into())]);
    let events = world
        .when(as_user(ALICE), CommandBody::CreateCustomer(new))
        .then_accepted();
    let created = only!(events, CustomerCreated);
    assert_eq!(created.customer_id, customer_id);
    assert_eq!(created.pool_id, DEFAULT_POOL);
    assert_eq!(created.name, "深圳XX科技有限公司");
    assert_eq!(created.source.as_deref(), Some("web"));
    assert_eq!(created.fields["region"], "华南");
    assert_eq!(created.created_by, ALICE);
    assert_eq!(created.owner, None);
    assert_eq!(world.state(customer_id), &CustomerState::InPool);
    assert_eq!(world.model.customer_version(customer_id), 1);
    assert_eq!(world.model.owned_total(ALICE), 0);
}

#[test]
fn creator_keeps_the_customer_when_asked() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer_id = CustomerId::from_u128(world.fresh());
    let mut new = new_customer(customer_id, Some(pool), "张先生");
    new.keep = true;
    let events = world
        .when(as_user(ALICE), CommandBody::CreateCustomer(new))
        .then_accepted();
    let created = only!(events, CustomerCreated);
    assert_eq!(created.owner, Some(ALICE));
    let owned = ownership(&world, customer_id);
    assert_eq!((owned.owner, owned.since), (ALICE, world.now));
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 1);
}

#[test]
fn non_member_cannot_create_a_customer_in_a_pool() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer_id = CustomerId::from_u128(world.fresh());
    world
        .when(
            as_user(MANAGER),
            CommandBody::CreateCustomer(new_customer(customer_id, Some(pool), "黄小姐")),
        )
        .then_error(
            PermissionDenied,
            exactly(DomainError::NotPoolMember {
                user: MANAGER,
                pool,
            }),
        );
    assert!(!world.model.customers.contains_key(&customer_id));
}

#[test]
fn customer_with_a_blank_name_is_invalid() {
    let mut world = World::standard();
    let customer_id = CustomerId::from_u128(world.fresh());
    world
        .when(
            as_user(ALICE),
            CommandBody::CreateCustomer(new_customer(customer_id, None, "  ")),
        )
        .then_error(InvalidArgument, invalid("name"));
}

#[test]
fn customer_with_a_taken_id_is_refused() {
    let mut world = World::standard();
    let existing = world.customer_in(DEFAULT_POOL);
    world
        .when(
            as_user(ALICE),
            CommandBody::CreateCustomer(new_customer(existing, None, "重复客户")),
        )
        .then_error(
            AlreadyExists,
            exactly(DomainError::AlreadyExists {
                kind: "customer",
                id: existing.to_string(),
            }),
        );
}

#[test]
fn customer_in_an_unknown_pool_is_not_found() {
    let mut world = World::standard();
    let ghost = PoolId::from_u128(0x6057);
    let customer_id = CustomerId::from_u128(world.fresh());
    world
        .when(
            as_user(ALICE),
            CommandBody::CreateCustomer(new_customer(customer_id, Some(ghost), "某公司")),
        )
        .then_error(NotFound, exactly(DomainError::UnknownPool(ghost)));
}

#[test]
fn customer_without_a_pool_needs_a_default_pool() {
    let mut world = World::empty();
    let customer_id = CustomerId::from_u128(world.fresh());
    world
        .when(
            Actor::System,
            CommandBody::CreateCustomer(new_customer(customer_id, None, "某公司")),
        )
        .then_error(FailedPrecondition, exactly(DomainError::NoDefaultPool));
}

#[test]
fn only_a_user_can_keep_a_customer() {
    let mut world = World::standard();
    let customer_id = CustomerId::from_u128(world.fresh());
    let mut new = new_customer(customer_id, None, "某公司");
    new.keep = true;
    world
        .when(Actor::System, CommandBody::CreateCustomer(new))
        .then_error(InvalidArgument, invalid("keep"));
}

#[test]
fn a_new_unclaimed_customer_is_auto_assigned_by_the_pools_rule() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![assign_rule(
            "全部给Bob",
            vec![],
            vec![BOB],
            AssignStrategy::RoundRobin,
        )],
        None,
    );
    let customer = world.customer_in(pool);
    let events = &world.log[world.log.len() - 2..];
    assert_eq!(
        types(events),
        ["customer.created", "customer.auto_assigned"]
    );
    let assigned = body!(events[1], CustomerAutoAssigned);
    assert_eq!((assigned.customer_id, assigned.assignee), (customer, BOB));
    assert_eq!(assigned.rule_name, "全部给Bob");
    assert_eq!(world.owner(customer), Some(BOB));
    assert_eq!(world.model.owned_in_pool(BOB, pool), 1);
}

#[test]
fn a_kept_customer_is_not_auto_assigned() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![assign_rule(
            "全部给Bob",
            vec![],
            vec![BOB],
            AssignStrategy::RoundRobin,
        )],
        None,
    );
    let customer_id = CustomerId::from_u128(world.fresh());
    let mut new = new_customer(customer_id, Some(pool), "自建客户");
    new.keep = true;
    world
        .when(as_user(ALICE), CommandBody::CreateCustomer(new))
        .then_types(&["customer.created"]);
    assert_eq!(world.owner(customer_id), Some(ALICE));
}

// ---------------------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------------------

#[test]
fn import_creates_every_row_unclaimed() {
    let mut world = World::standard();
    let rows = rows(&mut world, DEFAULT_POOL, 3);
    let ids: Vec<CustomerId> = rows.iter().map(|row| row.customer_id).collect();
    let events = world
        .when(as_user(ADMIN), import(rows))
        .then_types(&["customer.created"; 3]);
    for (event, id) in events.iter().zip(&ids) {
        let created = body!(event, CustomerCreated);
        assert_eq!((created.customer_id, created.owner), (*id, None));
        assert_eq!(world.state(*id), &CustomerState::InPool);
    }
}

#[test]
fn import_is_atomic_and_names_the_failing_row() {
    let mut world = World::standard();
    let mut rows = rows(&mut world, DEFAULT_POOL, 4);
    rows[2].name = " ".into();
    let error = world
        .when(as_user(ADMIN), import(rows.clone()))
        .then_error(InvalidArgument, invalid("customers[2].name"));
    assert_eq!(error.code(), "invalid_argument");
    for row in &rows {
        assert!(!world.model.customers.contains_key(&row.customer_id));
    }
}

#[test]
fn import_names_the_row_of_an_overlong_field() {
    let mut world = World::standard();
    let mut rows = rows(&mut world, DEFAULT_POOL, 2);
    rows[1].fields.insert("备注".into(), "长".repeat(501));
    world
        .when(as_user(ADMIN), import(rows))
        .then_error(InvalidArgument, invalid("customers[1].fields.备注"));
}

#[test]
fn import_refuses_an_id_repeated_within_the_batch_or_already_taken() {
    let mut world = World::standard();
    let mut batch = rows(&mut world, DEFAULT_POOL, 3);
    batch[2].customer_id = batch[0].customer_id;
    world
        .when(as_user(ADMIN), import(batch.clone()))
        .then_error(AlreadyExists, |error| {
            matches!(
                error,
                DomainError::AlreadyExists {
                    kind: "customer",
                    ..
                }
            )
        });
    let existing = world.customer_in(DEFAULT_POOL);
    let mut batch = rows(&mut world, DEFAULT_POOL, 2);
    batch[1].customer_id = existing;
    world
        .when(as_user(ADMIN), import(batch))
        .then_error(AlreadyExists, |error| {
            matches!(
                error,
                DomainError::AlreadyExists {
                    kind: "customer",
                    ..
                }
            )
        });
}

#[test]
fn an_empty_import_is_invalid() {
    let mut world = World::standard();
    world
        .when(as_user(ADMIN), import(vec![]))
        .then_error(InvalidArgument, invalid("customers"));
}

#[test]
fn import_into_a_pool_the_importer_is_not_a_member_of_is_refused() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let mut batch = rows(&mut world, DEFAULT_POOL, 2);
    batch[1].pool_id = Some(pool);
    world.when(as_user(MANAGER), import(batch)).then_error(
        PermissionDenied,
        exactly(DomainError::NotPoolMember {
            user: MANAGER,
            pool,
        }),
    );
}

#[test]
fn round_robin_auto_assignment_takes_turns() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![assign_rule(
            "轮流",
            vec![],
            vec![ALICE, BOB, CAROL],
            AssignStrategy::RoundRobin,
        )],
        None,
    );
    let batch = rows(&mut world, pool, 4);
    let events = world
        .when(as_user(ADMIN), import(batch.clone()))
        .then_accepted();
    assert_eq!(events.len(), 8);
    let assigned = auto_assigned(&events);
    assert_eq!(
        assigned.iter().map(|a| a.assignee).collect::<Vec<_>>(),
        [ALICE, BOB, CAROL, ALICE]
    );
    assert_eq!(
        assigned
            .iter()
            .map(|a| (a.pointer_before, a.pointer_after))
            .collect::<Vec<_>>(),
        [(0, 1), (1, 2), (2, 0), (0, 1)]
    );
    assert!(
        assigned
            .iter()
            .all(|a| a.rule_index == 0 && a.strategy == AssignStrategy::RoundRobin)
    );
    assert_eq!(world.owner(batch[3].customer_id), Some(ALICE));
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 2);
    assert_eq!(world.model.pools[&pool].rotation, vec![1]);
}

#[test]
fn the_rotation_pointer_is_carried_across_imports() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![assign_rule(
            "轮流",
            vec![],
            vec![ALICE, BOB, CAROL],
            AssignStrategy::RoundRobin,
        )],
        None,
    );
    let first = rows(&mut world, pool, 1);
    let events = world.when(as_user(ADMIN), import(first)).then_accepted();
    assert_eq!(auto_assigned(&events)[0].assignee, ALICE);
    let second = rows(&mut world, pool, 1);
    let events = world.when(as_user(ADMIN), import(second)).then_accepted();
    let assigned = &auto_assigned(&events)[0];
    assert_eq!(assigned.assignee, BOB);
    assert_eq!((assigned.pointer_before, assigned.pointer_after), (1, 2));
    assert_eq!(world.model.pools[&pool].rotation, vec![2]);
}

#[test]
fn least_loaded_auto_assignment_picks_the_lightest_and_breaks_ties_in_rotation_order() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![assign_rule(
            "平均分配",
            vec![],
            vec![ALICE, BOB, CAROL],
            AssignStrategy::LeastLoaded,
        )],
        None,
    );
    // Pre-load through direct assignments (bypassing auto-assignment by assigning owned rows).
    for owner in [ALICE, ALICE, CAROL] {
        let customer_id = CustomerId::from_u128(world.fresh());
        let mut new = new_customer(customer_id, Some(pool), "已有客户");
        new.keep = true;
        world.ok(as_user(owner), CommandBody::CreateCustomer(new));
    }
    let batch = rows(&mut world, pool, 2);
    let events = world.when(as_user(ADMIN), import(batch)).then_accepted();
    let assigned = auto_assigned(&events);
    // Loads 2/0/1: BOB. Then 2/1/1 from pointer 2 (CAROL, ALICE, BOB): CAROL wins the tie.
    assert_eq!(assigned[0].assignee, BOB);
    assert_eq!(
        assigned[0]
            .candidates
            .iter()
            .map(|c| c.owned_in_pool)
            .collect::<Vec<_>>(),
        [2, 0, 1]
    );
    assert_eq!(assigned[1].assignee, CAROL);
    assert_eq!(
        assigned[1]
            .candidates
            .iter()
            .map(|c| c.owned_in_pool)
            .collect::<Vec<_>>(),
        [2, 1, 1]
    );
}

#[test]
fn auto_assignment_skips_deactivated_and_capped_users() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![assign_rule(
            "轮流",
            vec![],
            vec![ALICE, BOB, CAROL],
            AssignStrategy::RoundRobin,
        )],
        limit(1),
    );
    let mut kept = new_customer(CustomerId::from_u128(world.fresh()), Some(pool), "已有客户");
    kept.keep = true;
    world.ok(as_user(ALICE), CommandBody::CreateCustomer(kept));
    world.ok(as_user(ADMIN), deactivate(BOB, None));

    let customer = world.customer_in(pool);
    let assigned = auto_assigned(&world.log[world.log.len() - 1..]);
    let assigned = &assigned[0];
    assert_eq!(assigned.assignee, CAROL);
    let skipped: Vec<_> = assigned
        .candidates
        .iter()
        .map(|c| (c.user_id, c.skipped.as_deref()))
        .collect();
    assert_eq!(
        skipped,
        [
            (ALICE, Some("pool_cap")),
            (BOB, Some("deactivated")),
            (CAROL, None)
        ]
    );
    assert_eq!((assigned.pointer_before, assigned.pointer_after), (0, 0));
    assert_eq!(world.owner(customer), Some(CAROL));
}

#[test]
fn auto_assignment_skips_users_at_the_overall_cap() {
    let mut world = World::standard();
    world.ok(as_user(ADMIN), settings(limit(1), 0));
    world.owned_by(DEFAULT_POOL, ALICE);
    let pool = auto_pool(
        &mut world,
        vec![assign_rule(
            "轮流",
            vec![],
            vec![ALICE, BOB],
            AssignStrategy::RoundRobin,
        )],
        None,
    );
    let customer = world.customer_in(pool);
    let assigned = body!(world.log.last().unwrap(), CustomerAutoAssigned);
    assert_eq!(assigned.assignee, BOB);
    assert_eq!(
        assigned.candidates[0].skipped.as_deref(),
        Some("overall_cap")
    );
    assert_eq!(world.owner(customer), Some(BOB));
}

#[test]
fn caps_hold_within_one_import_and_unassignable_rows_stay_unclaimed() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![assign_rule(
            "轮流",
            vec![],
            vec![ALICE, BOB],
            AssignStrategy::RoundRobin,
        )],
        limit(1),
    );
    let batch = rows(&mut world, pool, 3);
    world
        .when(as_user(ADMIN), import(batch.clone()))
        .then_types(&[
            "customer.created",
            "customer.auto_assigned",
            "customer.created",
            "customer.auto_assigned",
            "customer.created",
        ]);
    assert_eq!(world.owner(batch[0].customer_id), Some(ALICE));
    assert_eq!(world.owner(batch[1].customer_id), Some(BOB));
    assert_eq!(world.state(batch[2].customer_id), &CustomerState::InPool);
}

#[test]
fn the_first_matching_auto_assignment_rule_wins() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![
            assign_rule(
                "市场活动线索",
                vec![Condition::Equals {
                    field: "source".into(),
                    value: "market_event".into(),
                }],
                vec![BOB],
                AssignStrategy::RoundRobin,
            ),
            assign_rule("其余", vec![], vec![CAROL], AssignStrategy::RoundRobin),
        ],
        None,
    );
    let mut batch = rows(&mut world, pool, 2);
    batch[0].source = Some("market_event".into());
    batch[1].source = Some("web".into());
    let events = world.when(as_user(ADMIN), import(batch)).then_accepted();
    let assigned = auto_assigned(&events);
    assert_eq!(
        (
            assigned[0].assignee,
            assigned[0].rule_index,
            assigned[0].rule_name.as_str()
        ),
        (BOB, 0, "市场活动线索")
    );
    assert_eq!((assigned[1].assignee, assigned[1].rule_index), (CAROL, 1));
}

#[test]
fn a_matching_rule_with_nobody_eligible_falls_through_to_the_next_rule() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![
            assign_rule("Alice专属", vec![], vec![ALICE], AssignStrategy::RoundRobin),
            assign_rule("兜底", vec![], vec![BOB], AssignStrategy::RoundRobin),
        ],
        limit(1),
    );
    let first = world.customer_in(pool);
    assert_eq!(world.owner(first), Some(ALICE));
    let second = world.customer_in(pool);
    let assigned = body!(world.log.last().unwrap(), CustomerAutoAssigned);
    assert_eq!((assigned.assignee, assigned.rule_index), (BOB, 1));
    assert_eq!(world.owner(second), Some(BOB));
}
