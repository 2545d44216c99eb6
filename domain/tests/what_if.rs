//! What-if for rules (`what_if.rs`): the dry run predicts exactly what the scheduler then
//! does once the rules are applied, never retroactively, with per-user overrides, and
//! refuses what `SetPoolRules` would refuse.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use poolkeeper_domain::error::ErrorClass;
use poolkeeper_domain::rules::{DeadlineOutcome, Escalation, ProtectionExtension, ProtectionRule};
use poolkeeper_domain::schedule;
use poolkeeper_domain::what_if::{Scenario, Step, StepKind, step_of};
use poolkeeper_domain::*;
use support::*;

/// A pool with no rules yet, MANAGER a member too, and customers owned by ALICE, BOB and
/// CAROL over 20 days, some followed up, one won.
fn history() -> (World, PoolId, Vec<CustomerId>) {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    world.ok(
        as_user(ADMIN),
        CommandBody::SetPoolMembers {
            pool_id: pool,
            members: BTreeSet::from([ALICE, BOB, CAROL, MANAGER]),
            everyone: false,
        },
    );
    let mut customers = Vec::new();
    for i in 0..24 {
        let owner = [ALICE, BOB, CAROL][i % 3];
        let customer = world.owned_by(pool, owner);
        if i % 4 == 1 {
            world.advance(Duration::hours(7));
            world.follow_up(owner, customer);
        }
        if i == 5 {
            world.ok(as_user(owner), mark_won(customer));
        }
        customers.push(customer);
        world.advance(Duration::hours(19));
    }
    world.customer_in(pool);
    (world, pool, customers)
}

fn proposed() -> PoolRules {
    PoolRules {
        claimed_not_contacted: limit(3),
        no_contact: limit(5),
        not_won: limit_with(12, BOB, 2),
        protection: Some(ProtectionRule {
            default_days: Limit::uniform(8),
            max_days: 20,
            extension: Some(ProtectionExtension {
                contact_within_days: 4,
                extend_by_days: 3,
            }),
        }),
        reminder_hours: Some(30),
        escalation: Some(Escalation {
            notify_superior_hours: 10,
            at_deadline: DeadlineOutcome::ReassignToSuperior,
        }),
        ..no_rules()
    }
}

use poolkeeper_domain::rules::Limit;

#[test]
fn the_forecast_is_what_the_scheduler_then_does() {
    let (mut world, pool, customers) = history();
    let horizon = Duration::days(30);
    let forecast = Scenario::prepare(&world.model, pool, &proposed(), world.now)
        .unwrap()
        .run(horizon);
    assert_eq!(forecast.customers.len(), customers.len());

    let start = world.now;
    world.ok(as_user(ADMIN), set_rules(pool, proposed()));
    let mut actual: BTreeMap<CustomerId, Vec<Step>> = BTreeMap::new();
    while let Some(at) = schedule::next_due_at(&world.model).filter(|at| *at <= start + horizon) {
        world.now = world.now.max(at);
        for event in world.run_scheduler() {
            let (customer, step) = step_of(&event.body, event.at).expect("a scheduler event");
            actual.entry(customer).or_default().push(step);
        }
    }
    let predicted: BTreeMap<CustomerId, Vec<Step>> = forecast
        .customers
        .iter()
        .filter(|c| !c.steps.is_empty())
        .map(|c| (c.customer_id, c.steps.clone()))
        .collect();
    assert_eq!(predicted, actual);
    let kinds: BTreeSet<StepKind> = actual.values().flatten().map(|s| s.kind).collect();
    assert!(
        kinds.len() >= 4,
        "the history exercises the ladder: {kinds:?}"
    );

    // The summaries add up to the steps, on every day of the horizon.
    assert_eq!(forecast.days.len(), 31);
    let reclaims: u32 = forecast.days.iter().map(|(_, t)| t.reclaims).sum();
    let by_owner: u32 = forecast.owners.iter().map(|(_, t)| t.reclaims).sum();
    let steps = actual.values().flatten();
    let expected = steps
        .filter(|s| matches!(s.kind, StepKind::ReturnedToPool | StepKind::Reassigned))
        .count();
    assert_eq!((reclaims as usize, by_owner as usize), (expected, expected));
}

#[test]
fn proposed_deadlines_count_from_now_and_honour_per_user_overrides() {
    let (world, pool, _) = history();
    let now = world.now;
    let rules = PoolRules {
        not_won: limit_with(12, BOB, 2),
        ..no_rules()
    };
    let forecast = Scenario::prepare(&world.model, pool, &rules, now)
        .unwrap()
        .run(Duration::days(1));
    for customer in &forecast.customers {
        assert_eq!(customer.current, None, "no rule is in force now");
        let proposed = customer.proposed.map(|d| (d.at, d.threshold_days));
        let expected: u32 = if customer.owner == BOB { 2 } else { 12 };
        let won = world.model.customers[&customer.customer_id].state.clone();
        let CustomerState::Owned(ownership) = won else {
            panic!()
        };
        if ownership.won_at.is_some() {
            assert_eq!(proposed, None);
        } else {
            // Owned for up to 20 days, yet never due before the rule is in force.
            assert_eq!(proposed, Some((now + days(i64::from(expected)), expected)));
        }
    }
    // Earliest first: BOB's customers lead.
    assert_eq!(forecast.customers[0].owner, BOB);
    assert!(forecast.days.iter().all(|(_, tally)| tally.reclaims == 0));
}

#[test]
fn the_dry_run_refuses_what_set_pool_rules_refuses() {
    let (world, pool, _) = history();
    let bad = PoolRules {
        no_contact: limit(0),
        ..no_rules()
    };
    let error = Scenario::prepare(&world.model, pool, &bad, world.now).unwrap_err();
    assert_eq!(error.class(), ErrorClass::InvalidArgument);
    assert!(error.to_string().contains("rules.no_contact"), "{error}");
    let unknown = PoolId::from_u128(0xDEAD);
    assert_eq!(
        Scenario::prepare(&world.model, unknown, &proposed(), world.now).unwrap_err(),
        DomainError::UnknownPool(unknown)
    );
}
