//! The escalation ladder before an automatic reclaim (`decide/ladder.rs`): the owner is
//! reminded, the superior notified, and at the deadline the customer goes back to the
//! pool, to the superior or to an auto-assignee; a follow-up in between stops the ladder.
//!
//! Every test drives the scheduler as the service does (`World::run_scheduler` at each
//! instant something falls due) with the manual clock, through each branch.

mod support;

use std::collections::BTreeSet;

use chrono::Duration;
use poolkeeper_domain::error::ErrorClass::{FailedPrecondition, PermissionDenied};
use poolkeeper_domain::event::*;
use poolkeeper_domain::rules::{AssignStrategy, Condition, DeadlineOutcome, Escalation, Limit};
use poolkeeper_domain::schedule;
use poolkeeper_domain::*;
use support::*;

fn hours(n: i64) -> Duration {
    Duration::hours(n)
}

/// A not-won pool (10 days) reminding 72 h and escalating 24 h before, with `outcome` at
/// the deadline; KEEPER admin, ALICE, BOB, CAROL and MANAGER members.
fn ladder_pool(world: &mut World, outcome: DeadlineOutcome, cap: Option<Limit>) -> PoolId {
    let pool = world.pool(
        PoolMode::FreeClaim,
        PoolRules {
            not_won: limit(10),
            reminder_hours: Some(72),
            escalation: Some(Escalation {
                notify_superior_hours: 24,
                at_deadline: outcome,
            }),
            cap,
            ..no_rules()
        },
    );
    world.ok(
        as_user(ADMIN),
        CommandBody::SetPoolMembers {
            pool_id: pool,
            members: BTreeSet::from([ALICE, BOB, CAROL, MANAGER]),
            everyone: false,
        },
    );
    pool
}

/// Moves the clock to the next instant something is due and runs the scheduler there.
fn next_step(world: &mut World) -> Vec<Event> {
    let at = schedule::next_due_at(&world.model).expect("something is due");
    world.now = world.now.max(at);
    world.run_scheduler()
}

/// The escalation fallback of the one automatic reclaim in `events`.
fn fallback(events: &[Event]) -> Option<String> {
    only!(events, CustomerAutoReclaimed).escalation_fallback
}

#[test]
fn the_owner_is_reminded_the_superior_notified_and_the_customer_reassigned_to_the_superior() {
    let mut world = World::standard();
    let pool = ladder_pool(&mut world, DeadlineOutcome::ReassignToSuperior, None);
    let customer = world.owned_by(pool, ALICE);
    let owned_at = world.now;
    let due = owned_at + days(10);

    let reminded = next_step(&mut world);
    assert_eq!(world.now, due - hours(72));
    assert_eq!(only!(reminded, ReclaimReminded).owner, ALICE);

    let escalated = next_step(&mut world);
    assert_eq!(world.now, due - hours(24));
    let escalated = only!(escalated, ReclaimEscalated);
    assert_eq!(
        (
            escalated.owner,
            escalated.superior,
            escalated.rule,
            escalated.due_at
        ),
        (ALICE, Some(MANAGER), RuleKind::NotWon, due)
    );
    assert_eq!(escalated.rules_version, 1);
    assert_eq!(escalated.evidence.owned_since, owned_at);
    assert_eq!(escalated.evidence.counted_from, owned_at);

    let reassigned = next_step(&mut world);
    assert_eq!(world.now, due);
    let reassigned = only!(reassigned, CustomerReclaimReassigned);
    assert_eq!(
        (
            reassigned.former_owner,
            reassigned.new_owner,
            reassigned.via
        ),
        (ALICE, MANAGER, ReassignedVia::Superior)
    );
    assert_eq!(
        (reassigned.rule, reassigned.threshold_days),
        (RuleKind::NotWon, 10)
    );
    assert_eq!((reassigned.due_at, reassigned.rules_version), (due, 1));
    assert_eq!(reassigned.assignment, None);
    assert_eq!(world.owner(customer), Some(MANAGER));
    // ALICE lost it as to a reclaim: a related person, in cooldown; MANAGER starts afresh.
    assert_eq!(world.model.customers[&customer].related, vec![ALICE]);
    assert_eq!(world.model.losses.get(&(ALICE, customer)), Some(&due));
    assert_eq!(world.model.owned_in_pool(MANAGER, pool), 1);
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 0);
    assert_eq!(
        deadline(&world, customer),
        Some((due + days(10), RuleKind::NotWon))
    );
}

#[test]
fn a_follow_up_after_the_reminder_stops_the_ladder_and_the_customer_returns_to_the_pool() {
    let mut world = World::standard();
    let pool = ladder_pool(&mut world, DeadlineOutcome::ReassignToSuperior, None);
    let customer = world.owned_by(pool, ALICE);
    let due = world.now + days(10);
    types_are(&next_step(&mut world), &["customer.reclaim_reminded"]);
    world.advance(hours(1));
    world.follow_up(ALICE, customer);
    // Not-won does not move with a follow-up: the deadline stands, the ladder does not.
    assert_eq!(deadline(&world, customer), Some((due, RuleKind::NotWon)));
    let at_deadline = next_step(&mut world);
    assert_eq!(world.now, due, "no escalation was due in between");
    assert_eq!(
        fallback(&at_deadline).as_deref(),
        Some("ladder_stopped_by_follow_up")
    );
    assert_eq!(world.state(customer), &CustomerState::InPool);
}

#[test]
fn a_follow_up_after_the_escalation_stops_the_ladder_too() {
    let mut world = World::standard();
    let pool = ladder_pool(&mut world, DeadlineOutcome::ReassignToSuperior, None);
    let customer = world.owned_by(pool, ALICE);
    next_step(&mut world);
    types_are(&next_step(&mut world), &["customer.reclaim_escalated"]);
    world.follow_up(ALICE, customer);
    assert_eq!(
        fallback(&next_step(&mut world)).as_deref(),
        Some("ladder_stopped_by_follow_up")
    );
}

#[test]
fn a_follow_up_before_the_reminder_leaves_the_ladder_as_it_is() {
    let mut world = World::standard();
    let pool = ladder_pool(&mut world, DeadlineOutcome::ReassignToSuperior, None);
    let customer = world.owned_by(pool, ALICE);
    world.advance(days(1));
    world.follow_up(ALICE, customer);
    let kinds: Vec<_> = (0..3).map(|_| types(&next_step(&mut world))).collect();
    assert_eq!(
        kinds.concat(),
        [
            "customer.reclaim_reminded",
            "customer.reclaim_escalated",
            "customer.reclaim_reassigned"
        ]
    );
}

#[test]
fn a_contact_rule_moved_by_a_follow_up_starts_a_new_ladder_for_the_new_deadline() {
    let mut world = World::standard();
    let pool = ladder_pool(&mut world, DeadlineOutcome::ReassignToSuperior, None);
    world.ok(
        as_user(ADMIN),
        set_rules(
            pool,
            PoolRules {
                no_contact: limit(5),
                claimed_not_contacted: limit(5),
                reminder_hours: Some(72),
                escalation: Some(Escalation {
                    notify_superior_hours: 24,
                    at_deadline: DeadlineOutcome::ReassignToSuperior,
                }),
                ..no_rules()
            },
        ),
    );
    let customer = world.owned_by(pool, ALICE);
    types_are(&next_step(&mut world), &["customer.reclaim_reminded"]);
    types_are(&next_step(&mut world), &["customer.reclaim_escalated"]);
    world.follow_up(ALICE, customer);
    let new_due = world.now + days(5);
    assert_eq!(
        deadline(&world, customer),
        Some((new_due, RuleKind::NoContact))
    );
    types_are(&next_step(&mut world), &["customer.reclaim_reminded"]);
    types_are(&next_step(&mut world), &["customer.reclaim_escalated"]);
    let reassigned = next_step(&mut world);
    assert_eq!(world.now, new_due);
    assert_eq!(
        only!(reassigned, CustomerReclaimReassigned).new_owner,
        MANAGER
    );
}

#[test]
fn return_to_pool_escalates_and_then_reclaims_as_without_a_ladder() {
    let mut world = World::standard();
    let pool = ladder_pool(&mut world, DeadlineOutcome::ReturnToPool, None);
    let customer = world.owned_by(pool, ALICE);
    next_step(&mut world);
    types_are(&next_step(&mut world), &["customer.reclaim_escalated"]);
    assert_eq!(fallback(&next_step(&mut world)), None);
    assert_eq!(world.state(customer), &CustomerState::InPool);
}

/// Runs the whole ladder of `customer` and returns the deadline's event.
fn at_the_deadline(world: &mut World, customer: CustomerId) -> Event {
    let mut seen = Vec::new();
    loop {
        let mut step = next_step(world);
        assert_eq!(step.len(), 1, "{:?}", types(&step));
        let event = step.remove(0);
        assert_eq!(event.stream(), StreamRef::Customer(customer));
        match event.body {
            EventBody::ReclaimReminded(_) | EventBody::ReclaimEscalated(_) => {
                seen.push(event.body.event_type());
            }
            _ => {
                assert!(seen.contains(&"customer.reclaim_escalated"), "{seen:?}");
                return event;
            }
        }
    }
}

#[test]
fn without_a_superior_the_escalation_names_nobody_and_the_customer_returns_to_the_pool() {
    let mut world = World::standard();
    let pool = ladder_pool(&mut world, DeadlineOutcome::ReassignToSuperior, None);
    let customer = world.owned_by(pool, CAROL);
    next_step(&mut world);
    let escalated = next_step(&mut world);
    assert_eq!(only!(escalated, ReclaimEscalated).superior, None);
    assert_eq!(
        fallback(&next_step(&mut world)).as_deref(),
        Some("no_superior")
    );
    assert_eq!(world.state(customer), &CustomerState::InPool);
}

#[test]
fn a_superior_who_is_no_member_or_at_the_cap_cannot_take_it() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::FreeClaim,
        PoolRules {
            not_won: limit(10),
            escalation: Some(Escalation {
                notify_superior_hours: 24,
                at_deadline: DeadlineOutcome::ReassignToSuperior,
            }),
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    let event = at_the_deadline(&mut world, customer);
    assert_eq!(fallback(&[event]).as_deref(), Some("superior_not_member"));

    let capped = ladder_pool(&mut world, DeadlineOutcome::ReassignToSuperior, limit(1));
    // MANAGER's own customer, won so that no ladder of its own runs.
    let managers = world.owned_by(capped, MANAGER);
    world.ok(as_user(MANAGER), mark_won(managers));
    let customer = world.owned_by(capped, ALICE);
    let event = at_the_deadline(&mut world, customer);
    assert_eq!(fallback(&[event]).as_deref(), Some("superior_at_pool_cap"));
    assert_eq!(world.state(customer), &CustomerState::InPool);
}

#[test]
fn a_deactivated_superior_is_neither_notified_nor_given_the_customer() {
    let mut world = World::standard();
    let pool = ladder_pool(&mut world, DeadlineOutcome::ReassignToSuperior, None);
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(ADMIN), deactivate(MANAGER, None));
    next_step(&mut world);
    let escalated = next_step(&mut world);
    assert_eq!(only!(escalated, ReclaimEscalated).superior, None);
    assert_eq!(
        fallback(&next_step(&mut world)).as_deref(),
        Some("superior_deactivated")
    );
    assert_eq!(world.state(customer), &CustomerState::InPool);
}

#[test]
fn auto_assign_hands_the_customer_to_an_assignee_of_an_unfiltered_rule_other_than_the_owner() {
    let mut world = World::standard();
    let pool = ladder_pool(&mut world, DeadlineOutcome::AutoAssign, None);
    let customer = world.owned_by(pool, ALICE);
    let mut rules = world.model.pools[&pool].rules.clone();
    rules.auto_assign = vec![
        assign_rule(
            "华东",
            vec![Condition::Equals {
                field: "region".into(),
                value: "华东".into(),
            }],
            vec![CAROL],
            AssignStrategy::RoundRobin,
        ),
        assign_rule("兜底", vec![], vec![ALICE, BOB], AssignStrategy::RoundRobin),
    ];
    world.ok(as_user(ADMIN), set_rules(pool, rules));
    let event = at_the_deadline(&mut world, customer);
    let EventBody::CustomerReclaimReassigned(reassigned) = event.body else {
        panic!("not reassigned: {event:?}")
    };
    assert_eq!(
        (reassigned.new_owner, reassigned.via),
        (BOB, ReassignedVia::AutoAssign)
    );
    let choice = reassigned.assignment.expect("the choice is recorded");
    assert_eq!((choice.rule_index, choice.rule_name.as_str()), (1, "兜底"));
    assert_eq!(
        choice.candidates[0].skipped.as_deref(),
        Some("former_owner")
    );
    assert_eq!((choice.pointer_before, choice.pointer_after), (0, 0));
    assert_eq!(world.owner(customer), Some(BOB));
    assert_eq!(world.model.pools[&pool].rotation, vec![0, 0]);
}

#[test]
fn auto_assign_with_nobody_eligible_returns_the_customer_to_the_pool_saying_so() {
    let mut world = World::standard();
    let pool = ladder_pool(&mut world, DeadlineOutcome::AutoAssign, None);
    let customer = world.owned_by(pool, ALICE);
    let mut rules = world.model.pools[&pool].rules.clone();
    rules.auto_assign = vec![assign_rule(
        "只有我",
        vec![],
        vec![ALICE],
        AssignStrategy::LeastLoaded,
    )];
    world.ok(as_user(ADMIN), set_rules(pool, rules));
    let event = at_the_deadline(&mut world, customer);
    assert_eq!(fallback(&[event]).as_deref(), Some("no_assignee"));
}

#[test]
fn only_the_system_escalates_and_only_when_due() {
    let mut world = World::standard();
    let pool = ladder_pool(&mut world, DeadlineOutcome::ReassignToSuperior, None);
    let customer = world.owned_by(pool, ALICE);
    let due = world.now + days(10);
    let escalate = |due_at| CommandBody::EscalateReclaim {
        customer_id: customer,
        due_at,
    };
    world
        .when(as_user(MANAGER), escalate(due))
        .then_error(PermissionDenied, |_| true);
    world
        .when(Actor::System, escalate(due))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::NotDue {
                    action: "escalate_reclaim",
                    ..
                }
            )
        });
    world.now = due - hours(24);
    world
        .when(Actor::System, escalate(due + hours(1)))
        .then_error(FailedPrecondition, |_| true);
    world
        .when(Actor::System, escalate(due))
        .then_types(&["customer.reclaim_escalated"]);
    world
        .when(Actor::System, escalate(due))
        .then_error(FailedPrecondition, |_| true);
}

#[test]
fn the_superior_notice_must_come_at_least_an_hour_before() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let rules = PoolRules {
        not_won: limit(10),
        escalation: Some(Escalation {
            notify_superior_hours: 0,
            at_deadline: DeadlineOutcome::ReturnToPool,
        }),
        ..no_rules()
    };
    world
        .when(as_user(ADMIN), set_rules(pool, rules))
        .then_error(
            ErrorClass::InvalidArgument,
            invalid("rules.escalation.notify_superior_hours"),
        );
}

fn types_are(events: &[Event], expected: &[&str]) {
    assert_eq!(types(events), expected);
}
