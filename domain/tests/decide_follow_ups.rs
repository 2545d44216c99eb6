//! What happens to an owned customer (`decide/follow_ups.rs`): follow-ups and comments,
//! the deal, protection extensions and shares.
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
// Follow-ups and comments
// ---------------------------------------------------------------------------------------

#[test]
fn owner_logs_a_follow_up_which_resets_the_contact_timers() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let customer = world.owned_by(pool, ALICE);
    assert_eq!(
        deadline(&world, customer),
        Some((world.now + days(5), RuleKind::ClaimedNotContacted))
    );
    world.advance(days(2));
    let follow_up_id = FollowUpId::from_u128(world.fresh());
    world
        .when(
            as_user(ALICE),
            log_follow_up(customer, follow_up_id, " 上门拜访，客户有意向 "),
        )
        .then([EventBody::FollowUpLogged(FollowUpLogged {
            customer_id: customer,
            follow_up_id,
            author: ALICE,
            kind: FollowUpKind::Visit,
            note: "上门拜访，客户有意向".into(),
        })]);
    assert_eq!(ownership(&world, customer).last_contact_at, Some(world.now));
    assert_eq!(
        deadline(&world, customer),
        Some((world.now + days(5), RuleKind::NoContact))
    );
}

#[test]
fn only_the_owner_logs_follow_ups() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    for actor in [MANAGER, BOB, ADMIN] {
        let follow_up_id = FollowUpId::from_u128(world.fresh());
        world
            .when(
                as_user(actor),
                log_follow_up(customer, follow_up_id, "电话"),
            )
            .then_error(PermissionDenied, |error| {
                matches!(error, DomainError::NotOwner { .. })
            });
    }
}

#[test]
fn a_blank_follow_up_note_is_invalid() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up_id = FollowUpId::from_u128(world.fresh());
    world
        .when(as_user(ALICE), log_follow_up(customer, follow_up_id, "\n "))
        .then_error(InvalidArgument, invalid("note"));
}

#[test]
fn a_follow_up_id_cannot_be_reused() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up_id = world.follow_up(ALICE, customer);
    world
        .when(
            as_user(ALICE),
            log_follow_up(customer, follow_up_id, "再次"),
        )
        .then_error(AlreadyExists, |error| {
            matches!(
                error,
                DomainError::AlreadyExists {
                    kind: "follow_up",
                    ..
                }
            )
        });
}

#[test]
fn a_follow_up_needs_an_owned_customer() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    let follow_up_id = FollowUpId::from_u128(world.fresh());
    world
        .when(
            as_user(ALICE),
            log_follow_up(customer, follow_up_id, "电话"),
        )
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    action: "log_follow_up",
                    actual: "in_pool",
                    ..
                }
            )
        });
}

#[test]
fn superiors_of_the_author_comment_on_a_follow_up() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up = world.follow_up(ALICE, customer);
    let version = world.model.customer_version(customer);
    world
        .when(
            as_user(MANAGER),
            comment(customer, follow_up, " 下次带上报价单 "),
        )
        .then([EventBody::FollowUpCommented(FollowUpCommented {
            customer_id: customer,
            follow_up_id: follow_up,
            author: MANAGER,
            comment: "下次带上报价单".into(),
        })]);
    assert_eq!(world.model.customer_version(customer), version + 1);
    // Two levels up counts too.
    let events = world
        .when(as_user(DIRECTOR), comment(customer, follow_up, "同意"))
        .then_accepted();
    assert_eq!(only!(events, FollowUpCommented).author, DIRECTOR);
}

#[test]
fn pool_admin_comments_on_a_follow_up() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, CAROL);
    let follow_up = world.follow_up(CAROL, customer);
    let events = world
        .when(as_user(KEEPER), comment(customer, follow_up, "跟进及时"))
        .then_accepted();
    assert_eq!(only!(events, FollowUpCommented).author, KEEPER);
}

#[test]
fn peer_cannot_comment_nor_the_author_on_their_own() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up = world.follow_up(ALICE, customer);
    for actor in [BOB, CAROL, ALICE] {
        world
            .when(as_user(actor), comment(customer, follow_up, "点评"))
            .then_error(PermissionDenied, |error| {
                matches!(error, DomainError::NotSuperior { follow_up: f, .. } if *f == follow_up)
            });
    }
}

#[test]
fn comment_on_an_unknown_follow_up_is_not_found() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let other = world.owned_by(DEFAULT_POOL, ALICE);
    let elsewhere = world.follow_up(ALICE, other);
    let ghost = FollowUpId::from_u128(0x6057);
    world
        .when(as_user(MANAGER), comment(customer, ghost, "点评"))
        .then_error(NotFound, exactly(DomainError::UnknownFollowUp(ghost)));
    // A follow-up of another customer is unknown on this one.
    world
        .when(as_user(MANAGER), comment(customer, elsewhere, "点评"))
        .then_error(NotFound, exactly(DomainError::UnknownFollowUp(elsewhere)));
}

#[test]
fn a_blank_comment_is_invalid() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up = world.follow_up(ALICE, customer);
    world
        .when(as_user(MANAGER), comment(customer, follow_up, " "))
        .then_error(InvalidArgument, invalid("comment"));
}

// ---------------------------------------------------------------------------------------
// Mark won
// ---------------------------------------------------------------------------------------

#[test]
fn owner_marks_a_customer_won_which_stops_the_not_won_timer() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            not_won: limit(30),
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    assert_eq!(
        deadline(&world, customer).map(|(_, rule)| rule),
        Some(RuleKind::NotWon)
    );
    world.advance(days(3));
    world
        .when(as_user(ALICE), mark_won(customer))
        .then([EventBody::CustomerWon(CustomerWon {
            customer_id: customer,
            owner: ALICE,
        })]);
    assert_eq!(ownership(&world, customer).won_at, Some(world.now));
    assert_eq!(deadline(&world, customer), None);
}

#[test]
fn marking_won_twice_is_refused() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world.ok(as_user(ALICE), mark_won(customer));
    world
        .when(as_user(ALICE), mark_won(customer))
        .then_error(FailedPrecondition, |error| {
            matches!(error, DomainError::NothingToDo(_))
        });
}

#[test]
fn only_the_owner_marks_won() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world
        .when(as_user(MANAGER), mark_won(customer))
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotOwner { .. })
        });
    let unclaimed = world.customer_in(DEFAULT_POOL);
    world
        .when(as_user(ALICE), mark_won(unclaimed))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    action: "mark_won",
                    ..
                }
            )
        });
}

// ---------------------------------------------------------------------------------------
// Extend protection
// ---------------------------------------------------------------------------------------

fn protected_pool(world: &mut World) -> PoolId {
    free_pool(
        world,
        PoolRules {
            protection: protection(7, 30),
            ..no_rules()
        },
    )
}

#[test]
fn pool_admin_extends_protection_up_to_the_maximum() {
    let mut world = World::standard();
    let pool = protected_pool(&mut world);
    let customer = world.owned_by(pool, ALICE);
    let start = world.now;
    let events = world
        .when(as_user(KEEPER), extend(customer, start + days(30)))
        .then_accepted();
    let extended = only!(events, ProtectionExtended);
    assert_eq!(extended.owner, ALICE);
    assert_eq!(extended.previous_until, start + days(7));
    assert_eq!(extended.until, start + days(30));
    assert_eq!(extended.max_until, Some(start + days(30)));
    assert_eq!(
        ownership(&world, customer).protection_until,
        Some(start + days(30))
    );
    assert_eq!(
        deadline(&world, customer),
        Some((start + days(30), RuleKind::ProtectionExpired))
    );
}

#[test]
fn protection_cannot_be_extended_beyond_the_maximum() {
    let mut world = World::standard();
    let pool = protected_pool(&mut world);
    let customer = world.owned_by(pool, ALICE);
    let start = world.now;
    world
        .when(as_user(KEEPER), extend(customer, start + days(31)))
        .then_error(
            FailedPrecondition,
            exactly(DomainError::ProtectionBeyondMaximum {
                requested: start + days(31),
                max: start + days(30),
            }),
        );
}

#[test]
fn an_extension_must_end_later_than_the_current_protection() {
    let mut world = World::standard();
    let pool = protected_pool(&mut world);
    let customer = world.owned_by(pool, ALICE);
    let start = world.now;
    world.ok(as_user(KEEPER), extend(customer, start + days(10)));
    world
        .when(as_user(KEEPER), extend(customer, start + days(10)))
        .then_error(InvalidArgument, invalid("until"));
    world
        .when(as_user(KEEPER), extend(customer, start + days(8)))
        .then_error(InvalidArgument, invalid("until"));
}

#[test]
fn protection_cannot_be_extended_without_a_protection_rule() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    // Assigned without a window: there is no protection to extend.
    let customer = world.owned_by(pool, ALICE);
    let until = world.now + days(3);
    world
        .when(as_user(KEEPER), extend(customer, until))
        .then_error(
            FailedPrecondition,
            exactly(DomainError::NoProtectionRule(pool)),
        );
}

#[test]
fn an_expired_window_is_re_protected_without_a_maximum_in_a_pool_without_a_protection_rule() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    let start = world.now;
    let end = start + days(5);
    world.ok(as_user(KEEPER), assign_window(customer, ALICE, start, end));
    world.advance(days(10));
    let until = world.now + days(90);
    let events = world
        .when(as_user(KEEPER), extend(customer, until))
        .then_accepted();
    let extended = only!(events, ProtectionExtended);
    assert_eq!(extended.owner, ALICE);
    assert_eq!(extended.previous_until, end);
    assert_eq!(extended.until, until);
    assert_eq!(extended.max_until, None, "no rule, no maximum");
    assert_eq!(ownership(&world, customer).protection_until, Some(until));
    assert_eq!(deadline(&world, customer), None);
}

#[test]
fn without_a_protection_rule_a_window_is_re_protected_only_to_a_later_end_in_the_future() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    let start = world.now;
    let end = start + days(5);
    world.ok(as_user(KEEPER), assign_window(customer, ALICE, start, end));
    world
        .when(as_user(KEEPER), extend(customer, end))
        .then_error(InvalidArgument, invalid("until"));
    world.advance(days(10));
    // Later than the old end, but already past: the customer would stay expired.
    world
        .when(as_user(KEEPER), extend(customer, end + days(1)))
        .then_error(InvalidArgument, invalid("until"));
    world
        .when(as_user(ALICE), extend(customer, world.now + days(1)))
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotPoolAdmin { .. })
        });
}

#[test]
fn member_cannot_extend_protection() {
    let mut world = World::standard();
    let pool = protected_pool(&mut world);
    let customer = world.owned_by(pool, ALICE);
    let until = world.now + days(10);
    for actor in [ALICE, MANAGER] {
        world
            .when(as_user(actor), extend(customer, until))
            .then_error(PermissionDenied, |error| {
                matches!(error, DomainError::NotPoolAdmin { .. })
            });
    }
}

// ---------------------------------------------------------------------------------------
// Share
// ---------------------------------------------------------------------------------------

#[test]
fn owner_shares_a_customer_with_a_department_once() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world
        .when(as_user(ALICE), share(customer, " 市场部 "))
        .then([EventBody::CustomerShared(CustomerShared {
            customer_id: customer,
            department: "市场部".into(),
        })]);
    assert_eq!(world.model.customers[&customer].shared_with, ["市场部"]);
    world
        .when(as_user(ALICE), share(customer, "市场部"))
        .then_nothing();
}

#[test]
fn pool_admin_may_share_but_a_peer_may_not() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world
        .when(as_user(BOB), share(customer, "市场部"))
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotOwner { .. })
        });
    world.ok(as_user(KEEPER), share(customer, "市场部"));
}

#[test]
fn sharing_needs_a_department_and_a_live_customer() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world
        .when(as_user(ALICE), share(customer, " "))
        .then_error(InvalidArgument, invalid("department"));
    world.ok(as_user(ADMIN), delete(customer));
    world
        .when(as_user(ADMIN), share(customer, "市场部"))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongState {
                    action: "share",
                    actual: "deleted",
                    ..
                }
            )
        });
}
