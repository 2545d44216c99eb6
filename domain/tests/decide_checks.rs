//! What every command is checked for before its own checks (`decide/checks.rs`): an
//! actor who exists and is active, and the expected version of its target.
//!
//! Each test drives the pure domain through the given/when/then harness in `support` and
//! asserts the exact events (type and key fields) and the resulting state, or the exact
//! `DomainError` and its class. A refused command is checked by `World::err` to have
//! appended nothing and changed nothing.

mod support;

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
    refused!(
        world.err(as_user(BOB), claim(customer)),
        DomainError::InactiveActor(user) if *user == BOB,
        PermissionDenied
    );
    assert_eq!(world.state(customer), &CustomerState::InPool);
}

#[test]
fn unknown_actor_is_not_found() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    let stranger = UserId::from_u128(0xDEAD);
    refused!(
        world.err(as_user(stranger), claim(customer)),
        DomainError::UnknownUser(user) if *user == stranger,
        NotFound
    );
}

#[test]
fn expected_version_mismatch_is_a_conflict() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    assert_eq!(world.model.customer_version(customer), 2);
    let error = submit_expecting(&mut world, as_user(ALICE), 1, transfer(customer, BOB))
        .expect_err("a stale version must be refused");
    refused!(
        error,
        DomainError::VersionConflict {
            expected: 1,
            actual: 2
        },
        Conflict
    );
    assert_eq!(world.owner(customer), Some(ALICE));
}

#[test]
fn matching_expected_version_is_accepted() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let events = submit_expecting(&mut world, as_user(ALICE), 2, transfer(customer, BOB))
        .expect("the current version must be accepted");
    assert_eq!(types(&events), ["customer.transferred"]);
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
    submit_expecting(&mut world, as_user(ADMIN), 1, mode.clone()).unwrap();
    assert_eq!(world.model.pools[&pool].version, 2);
    let back = CommandBody::SetPoolMode {
        pool_id: pool,
        mode: PoolMode::FreeClaim,
    };
    refused!(
        submit_expecting(&mut world, as_user(ADMIN), 1, back).unwrap_err(),
        DomainError::VersionConflict {
            expected: 1,
            actual: 2
        },
        Conflict
    );
    refused!(
        submit_expecting(&mut world, as_user(ADMIN), 7, update_user(ALICE, "A", None)).unwrap_err(),
        DomainError::VersionConflict {
            expected: 7,
            actual: 1
        },
        Conflict
    );
    submit_expecting(&mut world, as_user(ADMIN), 0, settings(limit(10), 0)).unwrap();
    refused!(
        submit_expecting(&mut world, as_user(ADMIN), 0, settings(limit(11), 0)).unwrap_err(),
        DomainError::VersionConflict {
            expected: 0,
            actual: 1
        },
        Conflict
    );
}

#[test]
fn an_import_cannot_carry_an_expected_version() {
    let mut world = World::standard();
    let rows = rows(&mut world, DEFAULT_POOL, 1);
    refused!(
        submit_expecting(&mut world, as_user(ADMIN), 0, import(rows)).unwrap_err(),
        DomainError::Invalid { field, .. } if field == "expected_version",
        InvalidArgument
    );
}
