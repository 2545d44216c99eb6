//! What every command is checked for before its own checks (`decide/checks.rs`): an
//! actor who exists and is active, and the expected version of its target; and that a
//! command is decided alike against the same history given as events.
//!
//! Each test builds its history (given) with the harness in `support`, decides one command
//! (`World::when`) and asserts what came of it (`then`): the exact events (or their types
//! and key fields) and the resulting state, or the `DomainError` and its class, having
//! appended nothing and changed nothing.

mod support;

use poolkeeper_domain::event::{CustomerClaimed, EventBody};
use poolkeeper_domain::*;
use support::*;

// ---------------------------------------------------------------------------------------
// Actors and optimistic concurrency (every command)
// ---------------------------------------------------------------------------------------

#[test]
fn deactivated_user_cannot_act() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    world.ok(as_user(ADMIN), deactivate(BOB, None));
    world
        .when(as_user(BOB), claim(customer))
        .then_error(PermissionDenied, exactly(DomainError::InactiveActor(BOB)));
    assert_eq!(world.state(customer), &CustomerState::InPool);
}

#[test]
fn unknown_actor_is_not_found() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    let stranger = UserId::from_u128(0xDEAD);
    world
        .when(as_user(stranger), claim(customer))
        .then_error(NotFound, exactly(DomainError::UnknownUser(stranger)));
}

#[test]
fn expected_version_mismatch_is_a_conflict() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    assert_eq!(world.model.customer_version(customer), 2);
    world
        .when_expecting(as_user(ALICE), 1, transfer(customer, BOB))
        .then_error(
            Conflict,
            exactly(DomainError::VersionConflict {
                expected: 1,
                actual: 2,
            }),
        );
    assert_eq!(world.owner(customer), Some(ALICE));
}

#[test]
fn matching_expected_version_is_accepted() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world
        .when_expecting(as_user(ALICE), 2, transfer(customer, BOB))
        .then_types(&["customer.transferred"]);
    assert_eq!(world.model.customer_version(customer), 3);
}

#[test]
fn expected_version_of_pools_users_and_settings_is_their_stream_version() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let mode = CommandBody::SetPoolMode {
        pool_id: pool,
        mode: PoolMode::AssignOnly,
    };
    world
        .when_expecting(as_user(ADMIN), 1, mode.clone())
        .then_accepted();
    assert_eq!(world.model.pools[&pool].version, 2);
    let back = CommandBody::SetPoolMode {
        pool_id: pool,
        mode: PoolMode::FreeClaim,
    };
    world.when_expecting(as_user(ADMIN), 1, back).then_error(
        Conflict,
        exactly(DomainError::VersionConflict {
            expected: 1,
            actual: 2,
        }),
    );
    world
        .when_expecting(as_user(ADMIN), 7, update_user(ALICE, "A", None))
        .then_error(
            Conflict,
            exactly(DomainError::VersionConflict {
                expected: 7,
                actual: 1,
            }),
        );
    world
        .when_expecting(as_user(ADMIN), 0, settings(limit(10), 0))
        .then_accepted();
    world
        .when_expecting(as_user(ADMIN), 0, settings(limit(11), 0))
        .then_error(
            Conflict,
            exactly(DomainError::VersionConflict {
                expected: 0,
                actual: 1,
            }),
        );
}

#[test]
fn an_import_cannot_carry_an_expected_version() {
    let mut world = World::standard();
    let rows = rows(&mut world, DEFAULT_POOL, 1);
    world
        .when_expecting(as_user(ADMIN), 0, import(rows))
        .then_error(InvalidArgument, invalid("expected_version"));
}

// ---------------------------------------------------------------------------------------
// A history given as events
// ---------------------------------------------------------------------------------------

#[test]
fn a_command_is_decided_alike_against_the_same_history_given_as_events() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit(1),
            ..no_rules()
        },
    );
    world.owned_by(pool, ALICE);
    let customer = world.customer_in(pool);
    let mut replayed = given(world.log.clone());
    assert!(replayed.model == world.model);
    replayed.when(as_user(ALICE), claim(customer)).then_error(
        ResourceExhausted,
        exactly(DomainError::CapReached {
            user: ALICE,
            scope: CapScope::Pool(pool),
            cap: 1,
            owned: 1,
        }),
    );
    replayed
        .when(as_user(BOB), claim(customer))
        .then([EventBody::CustomerClaimed(CustomerClaimed {
            customer_id: customer,
            pool_id: pool,
            owner: BOB,
        })]);
}
