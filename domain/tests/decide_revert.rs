//! Undo by compensation (`decide/revert.rs`): each revertible ownership change comes back
//! as `customer.change_reverted` linked to it; a change that was followed by another, a
//! change that is no ownership change, a revert without a reason or by a non-admin is
//! refused; caps and membership hold for the owner it returns to, cooldowns do not; several
//! changes revert all or none.

mod support;

use std::collections::BTreeSet;

use poolkeeper_domain::command::RecordedChange;
use poolkeeper_domain::error::ErrorClass::{
    FailedPrecondition, InvalidArgument, PermissionDenied, ResourceExhausted,
};
use poolkeeper_domain::event::*;
use poolkeeper_domain::rules::Limit;
use poolkeeper_domain::*;
use support::*;

/// The recorded form of the world's latest event of `event_type`.
fn latest(world: &World, event_type: &str) -> RecordedChange {
    recorded(&world.log)
        .into_iter()
        .rev()
        .find(|r| r.event.body.event_type() == event_type)
        .unwrap_or_else(|| panic!("no {event_type} in the log"))
}

fn revert(changes: Vec<RecordedChange>, reason: &str) -> CommandBody {
    CommandBody::RevertChanges {
        changes,
        reason: reason.into(),
    }
}

/// Reverts the latest `event_type` as KEEPER and returns the compensation.
fn revert_latest(world: &mut World, event_type: &str) -> (RecordedChange, Vec<Event>) {
    let original = latest(world, event_type);
    let events = world
        .when(as_user(KEEPER), revert(vec![original.clone()], "误操作"))
        .then_accepted();
    (original, events)
}

fn compensation(events: &[Event]) -> &CustomerChangeReverted {
    let last = events.last().expect("an event");
    let EventBody::CustomerChangeReverted(reverted) = &last.body else {
        panic!("not a compensation: {:?}", types(events))
    };
    reverted
}

#[test]
fn a_reverted_claim_puts_the_customer_back_in_the_pool_linked_to_the_claim() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), claim(customer));
    world.follow_up(ALICE, customer);
    let (original, events) = revert_latest(&mut world, "customer.claimed");
    assert_eq!(
        compensation(&events),
        &CustomerChangeReverted {
            customer_id: customer,
            pool_id: pool,
            compensates: original.event.event_id,
            compensates_position: original.position,
            reverted_type: "customer.claimed".into(),
            former_owner: Some(ALICE),
            reverted_to: RevertedTo::InPool,
            reason: "误操作".into(),
        }
    );
    assert_eq!(world.state(customer), &CustomerState::InPool);
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 0);
}

#[test]
fn a_reverted_approval_makes_the_application_pending_again() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), request(customer));
    world.ok(as_user(KEEPER), approve(customer));
    let (_, events) = revert_latest(&mut world, "customer.claim_approved");
    assert_eq!(
        compensation(&events).reverted_to,
        RevertedTo::Pending { applicant: ALICE }
    );
    assert!(matches!(
        world.state(customer),
        CustomerState::Pending {
            applicant: ALICE,
            ..
        }
    ));
}

#[test]
fn a_reverted_transfer_returns_the_customer_to_the_first_owner_within_their_cap() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit(1),
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(ALICE), transfer(customer, BOB));
    let at_cap = world.owned_by(pool, ALICE);
    let original = latest(&world, "customer.transferred");
    world
        .when(as_user(KEEPER), revert(vec![original.clone()], "转错人了"))
        .then_error(ResourceExhausted, |e| {
            matches!(e, DomainError::CapReached { user: ALICE, .. })
        });
    world.ok(as_user(ALICE), abandon(at_cap, "无意向", None));
    let events = world
        .when(as_user(KEEPER), revert(vec![original], "转错人了"))
        .then_accepted();
    assert_eq!(
        compensation(&events).reverted_to,
        RevertedTo::Owned { owner: ALICE }
    );
    assert_eq!(compensation(&events).former_owner, Some(BOB));
    assert_eq!(world.owner(customer), Some(ALICE));
}

#[test]
fn a_reverted_abandon_returns_the_customer_to_the_abandoner_without_a_cooldown() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cooldown_days: limit(7),
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(ALICE), abandon(customer, "无意向", None));
    assert!(world.model.losses.contains_key(&(ALICE, customer)));
    let (_, events) = revert_latest(&mut world, "customer.abandoned");
    assert_eq!(types(&events), ["customer.change_reverted"]);
    assert_eq!(world.owner(customer), Some(ALICE));
    assert!(!world.model.losses.contains_key(&(ALICE, customer)));
}

#[test]
fn an_abandon_to_another_pool_is_reverted_by_moving_it_back_first() {
    let mut world = World::standard();
    let home = free_pool(
        &mut world,
        PoolRules {
            return_target: rules::ReturnTarget::Fixed { pool: DEFAULT_POOL },
            ..no_rules()
        },
    );
    let customer = world.owned_by(home, ALICE);
    world.ok(as_user(ALICE), abandon(customer, "无意向", None));
    assert_eq!(world.pool_of(customer), DEFAULT_POOL);
    // KEEPER administers only the home pool.
    let original = latest(&world, "customer.abandoned");
    world
        .when(as_user(KEEPER), revert(vec![original.clone()], "误操作"))
        .then_error(PermissionDenied, |_| true);
    let events = world
        .when(as_user(ADMIN), revert(vec![original], "误操作"))
        .then_accepted();
    assert_eq!(
        types(&events),
        ["customer.moved", "customer.change_reverted"]
    );
    assert_eq!(compensation(&events).pool_id, home);
    assert_eq!(
        (world.pool_of(customer), world.owner(customer)),
        (home, Some(ALICE))
    );
    assert_eq!(world.model.owned_in_pool(ALICE, home), 1);
}

#[test]
fn reverted_reclaims_by_hand_and_by_rule_return_the_customer_to_its_owner() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let by_hand = world.owned_by(pool, ALICE);
    world.ok(as_user(KEEPER), reclaim(by_hand));
    revert_latest(&mut world, "customer.reclaimed");
    assert_eq!(world.owner(by_hand), Some(ALICE));

    let by_rule = world.owned_by(pool, BOB);
    world.advance(days(5));
    let reclaimed = world.run_scheduler();
    assert!(types(&reclaimed).contains(&"customer.auto_reclaimed"));
    let (_, events) = revert_latest(&mut world, "customer.auto_reclaimed");
    assert_eq!(
        compensation(&events).reverted_to,
        RevertedTo::Owned { owner: BOB }
    );
    assert_eq!(world.owner(by_rule), Some(BOB));
    assert!(!world.model.losses.contains_key(&(BOB, by_rule)));
    // The owner it returns to has a fresh ownership: a new deadline from the revert.
    assert_eq!(
        deadline(&world, by_rule),
        Some((world.now + days(5), RuleKind::ClaimedNotContacted))
    );
}

#[test]
fn a_reverted_move_moves_the_customer_back_in_the_same_state() {
    let mut world = World::standard();
    let north = free_pool(&mut world, no_rules());
    let customer = world.owned_by(north, ALICE);
    world.ok(as_user(ADMIN), move_pool(customer, DEFAULT_POOL));
    let original = latest(&world, "customer.moved");
    let events = world
        .when(as_user(ADMIN), revert(vec![original], "移错池了"))
        .then_accepted();
    assert_eq!(
        types(&events),
        ["customer.moved", "customer.change_reverted"]
    );
    assert_eq!(compensation(&events).reverted_to, RevertedTo::Moved);
    assert_eq!(
        (world.pool_of(customer), world.owner(customer)),
        (north, Some(ALICE))
    );
    assert_eq!(world.model.owned_in_pool(ALICE, north), 1);
    assert_eq!(world.model.owned_in_pool(ALICE, DEFAULT_POOL), 0);
}

#[test]
fn a_reverted_freeze_returns_the_customer_to_its_owner_or_its_pool() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let owned = world.owned_by(pool, ALICE);
    world.ok(as_user(KEEPER), freeze(owned));
    revert_latest(&mut world, "customer.frozen");
    assert_eq!(world.owner(owned), Some(ALICE));
    let unclaimed = world.customer_in(pool);
    world.ok(as_user(KEEPER), freeze(unclaimed));
    revert_latest(&mut world, "customer.frozen");
    assert_eq!(world.state(unclaimed), &CustomerState::InPool);
}

#[test]
fn a_change_followed_by_another_cannot_be_reverted_and_the_error_says_since_when() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    let assigned = latest(&world, "customer.assigned");
    world.ok(as_user(ALICE), transfer(customer, BOB));
    let error = world
        .when(as_user(KEEPER), revert(vec![assigned.clone()], "误操作"))
        .then_error(FailedPrecondition, |e| {
            matches!(e, DomainError::ChangedSince { .. })
        });
    assert_eq!(
        error,
        DomainError::ChangedSince {
            customer,
            original: assigned.event.event_id,
            changed_version: assigned.stream_version + 1,
        }
    );
    // Reverting the transfer works once, and only once.
    revert_latest(&mut world, "customer.transferred");
    let transferred = latest(&world, "customer.transferred");
    world
        .when(as_user(KEEPER), revert(vec![transferred], "误操作"))
        .then_error(FailedPrecondition, |e| {
            matches!(e, DomainError::ChangedSince { .. })
        });
}

#[test]
fn only_ownership_changes_by_pool_admins_with_a_reason_are_reverted() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.follow_up(ALICE, customer);
    let follow_up = latest(&world, "customer.follow_up_logged");
    world
        .when(as_user(KEEPER), revert(vec![follow_up.clone()], "误操作"))
        .then_error(FailedPrecondition, |e| {
            matches!(
                e,
                DomainError::NotRevertible {
                    event_type: "customer.follow_up_logged",
                    ..
                }
            )
        });
    let assigned = latest(&world, "customer.assigned");
    world
        .when(as_user(KEEPER), revert(vec![assigned.clone()], "  "))
        .then_error(InvalidArgument, invalid("reason"));
    world
        .when(as_user(ALICE), revert(vec![assigned.clone()], "误操作"))
        .then_error(PermissionDenied, |_| true);
    world
        .when(as_user(KEEPER), revert(Vec::new(), "误操作"))
        .then_error(FailedPrecondition, |e| {
            matches!(e, DomainError::NothingToDo(_))
        });
    // A compensation is no ownership change to revert in its turn.
    revert_latest(&mut world, "customer.assigned");
    let compensation = latest(&world, "customer.change_reverted");
    world
        .when(as_user(KEEPER), revert(vec![compensation], "误操作"))
        .then_error(FailedPrecondition, |e| {
            matches!(e, DomainError::NotRevertible { .. })
        });
}

#[test]
fn a_deactivated_owner_gets_nothing_back() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(KEEPER), reclaim(customer));
    world.ok(as_user(ADMIN), deactivate(ALICE, None));
    let reclaimed = latest(&world, "customer.reclaimed");
    world
        .when(as_user(KEEPER), revert(vec![reclaimed], "误操作"))
        .then_error(FailedPrecondition, |e| {
            matches!(e, DomainError::DeactivatedUser(ALICE))
        });
}

#[test]
fn one_commands_transfers_revert_all_or_none_caps_counted_across_them() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customers: Vec<CustomerId> = (0..5).map(|_| world.owned_by(pool, ALICE)).collect();
    // Alice's deactivation hands all five to Bob in one command.
    world.ok(as_user(ADMIN), deactivate(ALICE, Some(BOB)));
    let command = latest(&world, "customer.transferred").event.command_id;
    let transfers: Vec<RecordedChange> = recorded(&world.log)
        .into_iter()
        .filter(|r| {
            r.event.command_id == command && r.event.body.event_type() == "customer.transferred"
        })
        .collect();
    assert_eq!(transfers.len(), 5);
    // Back to Alice is refused (deactivated): nothing is appended for any of them.
    world
        .when(as_user(ADMIN), revert(transfers.clone(), "离职办错了"))
        .then_error(FailedPrecondition, |e| {
            matches!(e, DomainError::DeactivatedUser(ALICE))
        });
    // Transfers Bob made to Carol, reverted together within Bob's cap of 5 in the pool.
    world.ok(
        as_user(ADMIN),
        set_rules(
            pool,
            PoolRules {
                cap: Some(Limit::uniform(5)),
                ..no_rules()
            },
        ),
    );
    let mut to_carol = Vec::new();
    for customer in &customers {
        world.ok(as_user(BOB), transfer(*customer, CAROL));
        to_carol.push(latest(&world, "customer.transferred"));
    }
    let extra = world.owned_by(pool, BOB);
    let error = world
        .when(as_user(ADMIN), revert(to_carol.clone(), "转错人了"))
        .then_error(ResourceExhausted, |_| true);
    assert!(matches!(
        error,
        DomainError::CapReached {
            user: BOB,
            cap: 5,
            ..
        }
    ));
    world.ok(as_user(BOB), abandon(extra, "无意向", None));
    let events = world
        .when(as_user(ADMIN), revert(to_carol, "转错人了"))
        .then_accepted();
    assert_eq!(events.len(), 5);
    let owners: BTreeSet<Option<UserId>> = customers.iter().map(|c| world.owner(*c)).collect();
    assert_eq!(owners, BTreeSet::from([Some(BOB)]));
    let linked: BTreeSet<EventId> = events
        .iter()
        .map(|e| compensation(std::slice::from_ref(e)).compensates)
        .collect();
    assert_eq!(linked.len(), 5);
}
