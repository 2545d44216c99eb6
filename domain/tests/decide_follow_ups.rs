//! What happens to an owned customer (`decide/follow_ups.rs`): follow-ups and comments,
//! the deal, protection extensions and shares.
//!
//! Each test drives the pure domain through the given/when/then harness in `support` and
//! asserts the exact events (type and key fields) and the resulting state, or the exact
//! `DomainError` and its class. A refused command is checked by `World::err` to have
//! appended nothing and changed nothing.

mod support;

use poolkeeper_domain::event::{EventBody, FollowUpKind};
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
    let events = world.ok(
        as_user(ALICE),
        log_follow_up(customer, follow_up_id, " 上门拜访，客户有意向 "),
    );
    let logged = only!(events, FollowUpLogged);
    assert_eq!(
        (logged.customer_id, logged.follow_up_id, logged.author),
        (customer, follow_up_id, ALICE)
    );
    assert_eq!(logged.kind, FollowUpKind::Visit);
    assert_eq!(logged.note, "上门拜访，客户有意向");
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
        refused!(
            world.err(
                as_user(actor),
                log_follow_up(customer, follow_up_id, "电话")
            ),
            DomainError::NotOwner { .. },
            PermissionDenied
        );
    }
}

#[test]
fn a_blank_follow_up_note_is_invalid() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up_id = FollowUpId::from_u128(world.fresh());
    refused!(
        world.err(as_user(ALICE), log_follow_up(customer, follow_up_id, "\n ")),
        DomainError::Invalid { field, .. } if field == "note",
        InvalidArgument
    );
}

#[test]
fn a_follow_up_id_cannot_be_reused() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up_id = world.follow_up(ALICE, customer);
    refused!(
        world.err(
            as_user(ALICE),
            log_follow_up(customer, follow_up_id, "再次")
        ),
        DomainError::AlreadyExists {
            kind: "follow_up",
            ..
        },
        AlreadyExists
    );
}

#[test]
fn a_follow_up_needs_an_owned_customer() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    let follow_up_id = FollowUpId::from_u128(world.fresh());
    refused!(
        world.err(
            as_user(ALICE),
            log_follow_up(customer, follow_up_id, "电话")
        ),
        DomainError::WrongState {
            action: "log_follow_up",
            actual: "in_pool",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn superiors_of_the_author_comment_on_a_follow_up() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up = world.follow_up(ALICE, customer);
    let version = world.model.customer_version(customer);
    let events = world.ok(
        as_user(MANAGER),
        comment(customer, follow_up, " 下次带上报价单 "),
    );
    let commented = only!(events, FollowUpCommented);
    assert_eq!(
        (
            commented.customer_id,
            commented.follow_up_id,
            commented.author
        ),
        (customer, follow_up, MANAGER)
    );
    assert_eq!(commented.comment, "下次带上报价单");
    assert_eq!(world.model.customer_version(customer), version + 1);
    // Two levels up counts too.
    let events = world.ok(as_user(DIRECTOR), comment(customer, follow_up, "同意"));
    assert_eq!(only!(events, FollowUpCommented).author, DIRECTOR);
}

#[test]
fn pool_admin_comments_on_a_follow_up() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, CAROL);
    let follow_up = world.follow_up(CAROL, customer);
    let events = world.ok(as_user(KEEPER), comment(customer, follow_up, "跟进及时"));
    assert_eq!(only!(events, FollowUpCommented).author, KEEPER);
}

#[test]
fn peer_cannot_comment_nor_the_author_on_their_own() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up = world.follow_up(ALICE, customer);
    for actor in [BOB, CAROL, ALICE] {
        refused!(
            world.err(as_user(actor), comment(customer, follow_up, "点评")),
            DomainError::NotSuperior { follow_up: f, .. } if *f == follow_up,
            PermissionDenied
        );
    }
}

#[test]
fn comment_on_an_unknown_follow_up_is_not_found() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let other = world.owned_by(DEFAULT_POOL, ALICE);
    let elsewhere = world.follow_up(ALICE, other);
    let ghost = FollowUpId::from_u128(0x6057);
    refused!(
        world.err(as_user(MANAGER), comment(customer, ghost, "点评")),
        DomainError::UnknownFollowUp(f) if *f == ghost,
        NotFound
    );
    // A follow-up of another customer is unknown on this one.
    refused!(
        world.err(as_user(MANAGER), comment(customer, elsewhere, "点评")),
        DomainError::UnknownFollowUp(f) if *f == elsewhere,
        NotFound
    );
}

#[test]
fn a_blank_comment_is_invalid() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up = world.follow_up(ALICE, customer);
    refused!(
        world.err(as_user(MANAGER), comment(customer, follow_up, " ")),
        DomainError::Invalid { field, .. } if field == "comment",
        InvalidArgument
    );
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
    let events = world.ok(as_user(ALICE), mark_won(customer));
    let won = only!(events, CustomerWon);
    assert_eq!((won.customer_id, won.owner), (customer, ALICE));
    assert_eq!(ownership(&world, customer).won_at, Some(world.now));
    assert_eq!(deadline(&world, customer), None);
}

#[test]
fn marking_won_twice_is_refused() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world.ok(as_user(ALICE), mark_won(customer));
    refused!(
        world.err(as_user(ALICE), mark_won(customer)),
        DomainError::NothingToDo(_),
        FailedPrecondition
    );
}

#[test]
fn only_the_owner_marks_won() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    refused!(
        world.err(as_user(MANAGER), mark_won(customer)),
        DomainError::NotOwner { .. },
        PermissionDenied
    );
    let unclaimed = world.customer_in(DEFAULT_POOL);
    refused!(
        world.err(as_user(ALICE), mark_won(unclaimed)),
        DomainError::WrongState {
            action: "mark_won",
            ..
        },
        FailedPrecondition
    );
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
    let events = world.ok(as_user(KEEPER), extend(customer, start + days(30)));
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
    refused!(
        world.err(as_user(KEEPER), extend(customer, start + days(31))),
        DomainError::ProtectionBeyondMaximum { requested, max }
            if *requested == start + days(31) && *max == start + days(30),
        FailedPrecondition
    );
}

#[test]
fn an_extension_must_end_later_than_the_current_protection() {
    let mut world = World::standard();
    let pool = protected_pool(&mut world);
    let customer = world.owned_by(pool, ALICE);
    let start = world.now;
    world.ok(as_user(KEEPER), extend(customer, start + days(10)));
    refused!(
        world.err(as_user(KEEPER), extend(customer, start + days(10))),
        DomainError::Invalid { field, .. } if field == "until",
        InvalidArgument
    );
    refused!(
        world.err(as_user(KEEPER), extend(customer, start + days(8))),
        DomainError::Invalid { field, .. } if field == "until",
        InvalidArgument
    );
}

#[test]
fn protection_cannot_be_extended_without_a_protection_rule() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    // Assigned without a window: there is no protection to extend.
    let customer = world.owned_by(pool, ALICE);
    let until = world.now + days(3);
    refused!(
        world.err(as_user(KEEPER), extend(customer, until)),
        DomainError::NoProtectionRule(p) if *p == pool,
        FailedPrecondition
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
    let events = world.ok(as_user(KEEPER), extend(customer, until));
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
    refused!(
        world.err(as_user(KEEPER), extend(customer, end)),
        DomainError::Invalid { field, .. } if field == "until",
        InvalidArgument
    );
    world.advance(days(10));
    // Later than the old end, but already past: the customer would stay expired.
    refused!(
        world.err(as_user(KEEPER), extend(customer, end + days(1))),
        DomainError::Invalid { field, .. } if field == "until",
        InvalidArgument
    );
    refused!(
        world.err(as_user(ALICE), extend(customer, world.now + days(1))),
        DomainError::NotPoolAdmin { .. },
        PermissionDenied
    );
}

#[test]
fn member_cannot_extend_protection() {
    let mut world = World::standard();
    let pool = protected_pool(&mut world);
    let customer = world.owned_by(pool, ALICE);
    let until = world.now + days(10);
    for actor in [ALICE, MANAGER] {
        refused!(
            world.err(as_user(actor), extend(customer, until)),
            DomainError::NotPoolAdmin { .. },
            PermissionDenied
        );
    }
}

// ---------------------------------------------------------------------------------------
// Share
// ---------------------------------------------------------------------------------------

#[test]
fn owner_shares_a_customer_with_a_department_once() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let events = world.ok(as_user(ALICE), share(customer, " 市场部 "));
    let shared = only!(events, CustomerShared);
    assert_eq!(
        (shared.customer_id, shared.department.as_str()),
        (customer, "市场部")
    );
    assert_eq!(world.model.customers[&customer].shared_with, ["市场部"]);
    assert!(
        world
            .ok(as_user(ALICE), share(customer, "市场部"))
            .is_empty()
    );
}

#[test]
fn pool_admin_may_share_but_a_peer_may_not() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    refused!(
        world.err(as_user(BOB), share(customer, "市场部")),
        DomainError::NotOwner { .. },
        PermissionDenied
    );
    world.ok(as_user(KEEPER), share(customer, "市场部"));
}

#[test]
fn sharing_needs_a_department_and_a_live_customer() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    refused!(
        world.err(as_user(ALICE), share(customer, " ")),
        DomainError::Invalid { field, .. } if field == "department",
        InvalidArgument
    );
    world.ok(as_user(ADMIN), delete(customer));
    refused!(
        world.err(as_user(ADMIN), share(customer, "市场部")),
        DomainError::WrongState {
            action: "share",
            actual: "deleted",
            ..
        },
        FailedPrecondition
    );
}
