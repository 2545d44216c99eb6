//! Purging a customer (`decide/purge.rs`): only an organization admin, only from the
//! recycle bin unless forced, always with a reason; the event carries no personal data,
//! ownership stays as it was, and a purged customer records nothing personal again.

mod support;

use poolkeeper_domain::error::ErrorClass::{FailedPrecondition, InvalidArgument, PermissionDenied};
use poolkeeper_domain::event::*;
use poolkeeper_domain::*;
use support::*;

fn purge(customer_id: CustomerId, reason: &str, force: bool) -> CommandBody {
    CommandBody::PurgeCustomer {
        customer_id,
        reason: reason.into(),
        force,
    }
}

#[test]
fn a_live_customer_is_purged_only_with_force() {
    let mut world = World::standard();
    let c = world.owned_by(DEFAULT_POOL, ALICE);
    let refused = world.err(as_user(ADMIN), purge(c, "erasure request", false));
    assert_eq!(refused.class(), FailedPrecondition);
    assert_eq!(refused.code(), "wrong_state");
    let events = world.ok(as_user(ADMIN), purge(c, "court order", true));
    let purged = only!(&events, CustomerPurged);
    assert_eq!(
        (purged.reason.as_str(), purged.forced),
        ("court order", true)
    );
    assert_eq!(
        world.owner(c),
        Some(ALICE),
        "ownership is not personal data"
    );
    assert!(world.model.customers[&c].purged);
}

#[test]
fn a_customer_in_the_recycle_bin_is_purged_by_an_admin_with_a_reason() {
    let mut world = World::standard();
    let c = world.customer_in(DEFAULT_POOL);
    world.ok(as_user(ADMIN), CommandBody::Delete { customer_id: c });
    let not_admin = world.err(as_user(MANAGER), purge(c, "erasure request", false));
    assert_eq!(not_admin.class(), PermissionDenied);
    let blank = world.err(as_user(ADMIN), purge(c, " ", false));
    assert_eq!(blank.class(), InvalidArgument);
    let events = world.ok(as_user(ADMIN), purge(c, "erasure request", false));
    assert!(!only!(&events, CustomerPurged).forced);
    assert!(matches!(world.state(c), CustomerState::Deleted { .. }));
    let twice = world.err(as_user(ADMIN), purge(c, "again", false));
    assert_eq!(
        (twice.class(), twice.code()),
        (FailedPrecondition, "purged")
    );
}

#[test]
fn a_purged_customer_takes_no_follow_up_or_comment_but_changes_hands() {
    let mut world = World::standard();
    let c = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up = world.follow_up(ALICE, c);
    world.ok(as_user(ADMIN), purge(c, "erasure request", true));
    let next = FollowUpId::from_u128(world.fresh());
    let note = world.err(
        as_user(ALICE),
        CommandBody::LogFollowUp {
            customer_id: c,
            follow_up_id: next,
            kind: FollowUpKind::Call,
            note: "called again".into(),
        },
    );
    assert_eq!((note.class(), note.code()), (FailedPrecondition, "purged"));
    let comment = world.err(
        as_user(MANAGER),
        CommandBody::CommentFollowUp {
            customer_id: c,
            follow_up_id: follow_up,
            comment: "good".into(),
        },
    );
    assert_eq!(comment.code(), "purged");
    world.ok(
        as_user(ALICE),
        CommandBody::Transfer {
            customer_id: c,
            new_owner: BOB,
            reason: None,
        },
    );
    assert_eq!(world.owner(c), Some(BOB));
}
