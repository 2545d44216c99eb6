//! Users (`decide/users.rs`): creating, updating and deactivating them.
//!
//! Each test builds its history (given) with the harness in `support`, decides one command
//! (`World::when`) and asserts what came of it (`then`): the exact events (or their types
//! and key fields) and the resulting state, or the `DomainError` and its class, having
//! appended nothing and changed nothing.

mod support;

use poolkeeper_domain::event::*;
use poolkeeper_domain::*;
use support::*;

// ---------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------

#[test]
fn admin_creates_a_user_with_superior_and_department() {
    let mut world = World::standard();
    let events = world
        .when(
            as_user(ADMIN),
            CommandBody::CreateUser {
                user_id: DAVE,
                name: "  Dave ".into(),
                superior: Some(MANAGER),
                department: Some("市场部".into()),
                admin: false,
            },
        )
        .then_accepted();
    let created = only!(events, UserCreated);
    assert_eq!(created.user_id, DAVE);
    assert_eq!(created.name, "Dave");
    assert_eq!(created.superior, Some(MANAGER));
    assert_eq!(created.department.as_deref(), Some("市场部"));
    let user = &world.model.users[&DAVE];
    assert!(user.active && !user.admin);
    assert_eq!(user.version, 1);
    assert!(world.model.is_superior_of(DIRECTOR, DAVE));
}

#[test]
fn member_cannot_create_a_user() {
    let mut world = World::standard();
    world
        .when(
            as_user(MANAGER),
            CommandBody::CreateUser {
                user_id: DAVE,
                name: "Dave".into(),
                superior: None,
                department: None,
                admin: false,
            },
        )
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotAdmin { .. })
        });
}

#[test]
fn creating_an_existing_user_is_refused() {
    let mut world = World::standard();
    world
        .when(
            as_user(ADMIN),
            CommandBody::CreateUser {
                user_id: ALICE,
                name: "Alice again".into(),
                superior: None,
                department: None,
                admin: false,
            },
        )
        .then_error(AlreadyExists, |error| {
            matches!(error, DomainError::AlreadyExists { kind: "user", .. })
        });
}

#[test]
fn user_with_blank_name_is_invalid() {
    let mut world = World::standard();
    world
        .when(
            as_user(ADMIN),
            CommandBody::CreateUser {
                user_id: DAVE,
                name: "   ".into(),
                superior: None,
                department: None,
                admin: false,
            },
        )
        .then_error(InvalidArgument, invalid("name"));
}

#[test]
fn user_under_an_unknown_superior_is_refused() {
    let mut world = World::standard();
    let ghost = UserId::from_u128(0x6057);
    world
        .when(
            as_user(ADMIN),
            CommandBody::CreateUser {
                user_id: DAVE,
                name: "Dave".into(),
                superior: Some(ghost),
                department: None,
                admin: false,
            },
        )
        .then_error(NotFound, exactly(DomainError::UnknownUser(ghost)));
}

#[test]
fn admin_updates_a_users_profile() {
    let mut world = World::standard();
    let events = world
        .when(
            as_user(ADMIN),
            CommandBody::UpdateUser {
                user_id: CAROL,
                name: "Carol Li".into(),
                superior: Some(MANAGER),
                department: Some("华北销售部".into()),
                admin: false,
            },
        )
        .then_accepted();
    let updated = only!(events, UserUpdated);
    assert_eq!(updated.user_id, CAROL);
    assert_eq!(updated.superior, Some(MANAGER));
    let user = &world.model.users[&CAROL];
    assert_eq!(user.name, "Carol Li");
    assert_eq!(user.department.as_deref(), Some("华北销售部"));
    assert_eq!(user.version, 2);
    assert!(world.model.is_superior_of(MANAGER, CAROL));
}

#[test]
fn updating_a_user_to_the_same_profile_emits_nothing() {
    let mut world = World::standard();
    world
        .when(as_user(ADMIN), update_user(ALICE, "Alice", Some(MANAGER)))
        .then_nothing();
    assert_eq!(world.model.users[&ALICE].version, 1);
}

#[test]
fn user_cannot_be_their_own_superior() {
    let mut world = World::standard();
    world
        .when(as_user(ADMIN), update_user(ALICE, "Alice", Some(ALICE)))
        .then_error(InvalidArgument, invalid("superior"));
}

#[test]
fn superior_cycle_is_refused() {
    let mut world = World::standard();
    // MANAGER is ALICE's superior: making ALICE MANAGER's superior closes a loop.
    world
        .when(
            as_user(ADMIN),
            update_user(MANAGER, "销售经理", Some(ALICE)),
        )
        .then_error(InvalidArgument, invalid("superior"));
    // Two levels up: DIRECTOR > MANAGER > ALICE.
    world
        .when(as_user(ADMIN), update_user(DIRECTOR, "总监", Some(ALICE)))
        .then_error(InvalidArgument, invalid("superior"));
    // Moving ALICE under a peer is no cycle.
    world.ok(as_user(ADMIN), update_user(ALICE, "Alice", Some(BOB)));
    assert!(world.model.is_superior_of(BOB, ALICE));
}

#[test]
fn member_cannot_update_a_user() {
    let mut world = World::standard();
    world
        .when(as_user(MANAGER), update_user(ALICE, "Alice", None))
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotAdmin { .. })
        });
}

#[test]
fn updating_an_unknown_user_is_not_found() {
    let mut world = World::standard();
    world
        .when(as_user(ADMIN), update_user(DAVE, "Dave", None))
        .then_error(NotFound, exactly(DomainError::UnknownUser(DAVE)));
}

#[test]
fn deactivation_hands_customers_and_rejects_applications() {
    let mut world = World::standard();
    let first = world.owned_by(DEFAULT_POOL, ALICE);
    let second = world.owned_by(DEFAULT_POOL, ALICE);
    let approval = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let applied = world.customer_in(approval);
    world.ok(as_user(ALICE), request(applied));

    let events = world
        .when(as_user(ADMIN), deactivate(ALICE, Some(BOB)))
        .then_types(&[
            "user.deactivated",
            "customer.transferred",
            "customer.transferred",
            "customer.claim_rejected",
        ]);
    let deactivated = body!(events[0], UserDeactivated);
    assert_eq!(deactivated.user_id, ALICE);
    assert_eq!(deactivated.successor, Some(BOB));
    assert_eq!(deactivated.customers_transferred, 2);
    assert_eq!(deactivated.customers_returned, 0);
    assert_eq!(deactivated.applications_rejected, 1);
    let moved = body!(events[1], CustomerTransferred);
    assert_eq!(
        (moved.customer_id, moved.from, moved.to),
        (first, ALICE, BOB)
    );
    let rejected = body!(events[3], ClaimRejected);
    assert_eq!((rejected.customer_id, rejected.applicant), (applied, ALICE));
    assert_eq!(rejected.reason.as_deref(), Some("applicant deactivated"));

    assert!(!world.model.users[&ALICE].active);
    assert_eq!(world.owner(first), Some(BOB));
    assert_eq!(world.owner(second), Some(BOB));
    assert_eq!(world.state(applied), &CustomerState::InPool);
    assert_eq!(world.model.owned_total(ALICE), 0);
    assert_eq!(world.model.owned_total(BOB), 2);
}

#[test]
fn deactivation_without_successor_returns_customers_to_their_pools() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let here = world.owned_by(DEFAULT_POOL, ALICE);
    let there = world.owned_by(pool, ALICE);

    let events = world
        .when(as_user(ADMIN), deactivate(ALICE, None))
        .then_types(&[
            "user.deactivated",
            "customer.reclaimed",
            "customer.reclaimed",
        ]);
    let deactivated = body!(events[0], UserDeactivated);
    assert_eq!(deactivated.successor, None);
    assert_eq!(
        (
            deactivated.customers_transferred,
            deactivated.customers_returned
        ),
        (0, 2)
    );
    let returned = body!(events[2], CustomerReclaimed);
    assert_eq!(
        (
            returned.customer_id,
            returned.pool_id,
            returned.former_owner
        ),
        (there, pool, ALICE)
    );
    assert_eq!(returned.reason.as_deref(), Some("owner deactivated"));
    for customer in [here, there] {
        assert_eq!(world.state(customer), &CustomerState::InPool);
        assert_eq!(world.model.customers[&customer].related, vec![ALICE]);
    }
    assert_eq!(world.pool_of(there), pool);
    assert_eq!(world.model.owned_total(ALICE), 0);
}

#[test]
fn deactivation_respects_the_successors_cap_across_the_whole_handover() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit(2),
            ..no_rules()
        },
    );
    world.owned_by(pool, ALICE);
    world.owned_by(pool, ALICE);
    world.owned_by(pool, BOB);
    // BOB owns 1 of 2: the first handover fits, the second would be his third.
    world
        .when(as_user(ADMIN), deactivate(ALICE, Some(BOB)))
        .then_error(
            ResourceExhausted,
            exactly(DomainError::CapReached {
                user: BOB,
                scope: CapScope::Pool(pool),
                cap: 2,
                owned: 2,
            }),
        );
    assert!(world.model.users[&ALICE].active);
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 2);
}

#[test]
fn successor_must_be_another_active_known_user() {
    let mut world = World::standard();
    world.owned_by(DEFAULT_POOL, ALICE);
    world
        .when(as_user(ADMIN), deactivate(ALICE, Some(ALICE)))
        .then_error(InvalidArgument, invalid("successor"));
    world
        .when(as_user(ADMIN), deactivate(ALICE, Some(DAVE)))
        .then_error(NotFound, exactly(DomainError::UnknownUser(DAVE)));
    world.ok(as_user(ADMIN), deactivate(CAROL, None));
    world
        .when(as_user(ADMIN), deactivate(ALICE, Some(CAROL)))
        .then_error(
            FailedPrecondition,
            exactly(DomainError::DeactivatedUser(CAROL)),
        );
}

#[test]
fn deactivating_a_deactivated_user_is_refused() {
    let mut world = World::standard();
    world.ok(as_user(ADMIN), deactivate(CAROL, None));
    world
        .when(as_user(ADMIN), deactivate(CAROL, None))
        .then_error(
            FailedPrecondition,
            exactly(DomainError::DeactivatedUser(CAROL)),
        );
}

#[test]
fn only_an_admin_may_deactivate_a_user() {
    let mut world = World::standard();
    world
        .when(as_user(MANAGER), deactivate(ALICE, Some(MANAGER)))
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotAdmin { .. })
        });
    assert!(world.model.users[&ALICE].active);
}

#[test]
fn the_nil_uuid_is_not_a_user_id() {
    let mut world = World::standard();
    let refused = world
        .when(
            as_user(ADMIN),
            CommandBody::CreateUser {
                user_id: UserId::from_u128(0),
                name: "nobody".into(),
                superior: None,
                department: None,
                admin: false,
            },
        )
        .then_refused();
    assert!(matches!(refused, DomainError::Invalid { ref field, .. } if field == "user_id"));
}
