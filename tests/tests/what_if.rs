//! What-if for rules over gRPC (`QueryService.SimulatePoolRules`): the answer equals what
//! the scheduler then does. The test simulates proposed rules, applies them, advances the
//! manual clock day by day for the horizon, and compares every reminder, escalation and
//! reclaim in the log with the forecast; paging, permissions and bad input too.

use std::collections::BTreeMap;

use futures::StreamExt;
use poolkeeper_proto::v1 as pb;
use poolkeeper_tests::{Harness, command_id, reason};
use tonic::Code;

const DAY: i64 = 86_400;

/// Rules whose steps of one customer never share a day: reminded 72 h and escalated 24 h
/// before deadlines at least four days away, back to the pool at the deadline.
fn proposed(bob: &str) -> pb::PoolRules {
    let limit = |value| pb::Limit {
        value,
        ..Default::default()
    };
    pb::PoolRules {
        claimed_not_contacted_days: Some(limit(4)),
        no_contact_days: Some(limit(5)),
        not_won_days: Some(pb::Limit {
            value: 6,
            per_user: [(bob.to_owned(), 9)].into(),
        }),
        reminder_hours: Some(72),
        escalation: Some(pb::Escalation {
            notify_superior_hours: 24,
            at_deadline: pb::DeadlineOutcome::ReturnToPool as i32,
        }),
        ..Default::default()
    }
}

/// A pool of twelve customers owned by Alice and Bob over eleven days, some followed up.
async fn history(h: &Harness) -> (String, String, String, String) {
    let manager = h.user("经理", None).await;
    let alice = h.user("Alice", Some(&manager)).await;
    let bob = h.user("Bob", Some(&manager)).await;
    let members = [alice.as_str(), bob.as_str(), manager.as_str()];
    let pool = h.free_pool(&members).await;
    for i in 0..12 {
        let owner = if i % 3 == 0 { &bob } else { &alice };
        let customer = h.customer(&pool, &format!("客户{i}")).await;
        h.claim(owner, &customer).await;
        if i % 4 == 1 {
            h.advance(3 * 3_600).await;
            h.commands(owner)
                .log_follow_up(pb::LogFollowUpRequest {
                    command_id: command_id(),
                    customer: customer.clone(),
                    kind: pb::FollowUpKind::Call as i32,
                    note: "电话沟通".into(),
                    ..Default::default()
                })
                .await
                .expect("follow-up");
        }
        h.advance(22 * 3_600 + 17 * 60).await;
    }
    (manager, alice, bob, pool)
}

/// Every page of the simulation, `page_size` customers at a time.
async fn simulate_all(
    h: &Harness,
    user: &str,
    request: pb::SimulatePoolRulesRequest,
) -> (Vec<pb::SimulatedCustomer>, pb::SimulatePoolRulesResponse) {
    let mut customers = Vec::new();
    let mut token = String::new();
    loop {
        let page = h
            .queries(user)
            .simulate_pool_rules(pb::SimulatePoolRulesRequest {
                page_token: token.clone(),
                ..request.clone()
            })
            .await
            .expect("simulate")
            .into_inner();
        customers.extend(page.customers.iter().cloned());
        if page.next_page_token.is_empty() {
            return (customers, page);
        }
        token = page.next_page_token.clone();
    }
}

/// Every scheduler step in the log from `from` on: customer → (seconds, kind, owner).
async fn logged_steps(h: &Harness, from: u64) -> BTreeMap<String, Vec<(i64, String, String)>> {
    let tail = h.tail().await;
    let mut events = h
        .audit()
        .stream_events(pb::StreamEventsRequest {
            from_position: from,
            event_types: Vec::new(),
            ..Default::default()
        })
        .await
        .expect("stream")
        .into_inner();
    let mut steps: BTreeMap<String, Vec<(i64, String, String)>> = BTreeMap::new();
    while let Some(event) = events.next().await {
        let event = event.expect("an event");
        let payload: serde_json::Value = serde_json::from_str(&event.payload_json).unwrap();
        let (kind, owner) = match event.event_type.as_str() {
            "customer.reclaim_reminded" => ("reminded", &payload["owner"]),
            "customer.reclaim_escalated" => ("escalated", &payload["owner"]),
            "customer.auto_reclaimed" => ("returned_to_pool", &payload["former_owner"]),
            "customer.protection_extended" => ("extended", &payload["owner"]),
            "customer.reclaim_reassigned" => ("reassigned", &payload["former_owner"]),
            _ => ("", &serde_json::Value::Null),
        };
        if !kind.is_empty() {
            let customer = format!("customers/{}", payload["customer_id"].as_str().unwrap());
            let owner = format!("users/{}", owner.as_str().unwrap());
            let seconds = event.recorded_at.unwrap().seconds;
            steps
                .entry(customer)
                .or_default()
                .push((seconds, kind.into(), owner));
        }
        if event.position >= tail {
            break;
        }
    }
    steps
}

#[tokio::test]
async fn the_simulation_is_what_the_scheduler_does_day_by_day_once_the_rules_are_set() {
    let h = Harness::start().await;
    let (_, alice, bob, pool) = history(&h).await;
    let request = pb::SimulatePoolRulesRequest {
        pool: pool.clone(),
        rules: Some(proposed(&bob)),
        horizon_days: 14,
        page_size: 5,
        ..Default::default()
    };
    let before = h.tail().await;
    let (customers, last_page) = simulate_all(&h, &h.admin, request).await;
    assert_eq!(h.tail().await, before, "a simulation appends nothing");
    assert_eq!((customers.len(), last_page.total_customers), (12, 12));
    let start = last_page.simulated_from.unwrap().seconds;
    // Earliest proposed deadline first, none of them before the rules are in force.
    let deadlines: Vec<i64> = customers
        .iter()
        .map(|c| c.proposed.as_ref().unwrap().time.unwrap().seconds)
        .collect();
    assert!(deadlines.windows(2).all(|w| w[0] <= w[1]), "{deadlines:?}");
    assert!(deadlines.iter().all(|d| *d >= start + 4 * DAY));
    assert!(customers.iter().all(|c| c.current.is_none()));
    assert_eq!(last_page.days.len(), 15);

    // Apply the rules, then move the clock a day at a time over the horizon.
    let set = h
        .commands(&h.admin)
        .set_pool_rules(pb::SetPoolRulesRequest {
            command_id: command_id(),
            pool: pool.clone(),
            rules: Some(proposed(&bob)),
            ..Default::default()
        })
        .await
        .expect("set rules")
        .into_inner();
    for _ in 0..14 {
        h.advance(DAY).await;
    }
    let logged = logged_steps(&h, set.position + 1).await;

    // A step due at t runs at the first day boundary at or after it.
    let on_the_day = |t: i64| start + (t - start + DAY - 1).div_euclid(DAY) * DAY;
    let predicted: BTreeMap<String, Vec<(i64, String, String)>> = customers
        .iter()
        .filter(|c| !c.steps.is_empty())
        .map(|c| {
            let steps = c.steps.iter().map(|s| {
                let t = s.time.unwrap().seconds;
                (on_the_day(t), s.kind.clone(), s.owner.clone())
            });
            (c.customer.clone(), steps.collect())
        })
        .collect();
    assert_eq!(predicted, logged);
    assert_eq!(
        logged.len(),
        12,
        "every customer went back within the horizon"
    );

    // The summaries count the same steps, per day and per owner.
    let reclaims: u32 = last_page
        .days
        .iter()
        .map(|d| d.tally.unwrap().reclaims)
        .sum();
    let escalations: u32 = last_page
        .owners
        .iter()
        .map(|o| o.tally.unwrap().escalations)
        .sum();
    assert_eq!((reclaims, escalations), (12, 12));
    let owners: Vec<&str> = last_page.owners.iter().map(|o| o.owner.as_str()).collect();
    let mut expected = vec![alice.as_str(), bob.as_str()];
    expected.sort();
    assert_eq!(owners, expected);
}

#[tokio::test]
async fn only_pool_admins_simulate_and_bad_rules_name_their_field() {
    let h = Harness::start().await;
    let (_, alice, bob, pool) = history(&h).await;
    let tail = h.tail().await;
    let denied = h
        .queries(&alice)
        .simulate_pool_rules(pb::SimulatePoolRulesRequest {
            pool: pool.clone(),
            rules: Some(proposed(&bob)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (denied.code(), reason(&denied).as_str()),
        (Code::PermissionDenied, "not_pool_admin")
    );
    let mut bad = proposed(&bob);
    bad.escalation.as_mut().unwrap().notify_superior_hours = 0;
    let invalid = h
        .queries(&h.admin)
        .simulate_pool_rules(pb::SimulatePoolRulesRequest {
            pool: pool.clone(),
            rules: Some(bad),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let info = tonic_types::StatusExt::get_details_error_info(&invalid).unwrap();
    assert_eq!(
        info.metadata["field"],
        "rules.escalation.notify_superior_hours"
    );
    for (horizon_days, token, field) in [(400, "", "horizon_days"), (0, "x", "page_token")] {
        let status = h
            .queries(&h.admin)
            .simulate_pool_rules(pb::SimulatePoolRulesRequest {
                pool: pool.clone(),
                rules: Some(proposed(&bob)),
                horizon_days,
                page_token: token.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        let info = tonic_types::StatusExt::get_details_error_info(&status).unwrap();
        assert_eq!(
            (status.code(), info.metadata["field"].as_str()),
            (Code::InvalidArgument, field)
        );
    }
    let unknown = h
        .queries(&h.admin)
        .simulate_pool_rules(pb::SimulatePoolRulesRequest {
            pool: "pools/0190c3a0-0000-7000-8000-00000000dead".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(h.tail().await, tail, "refusals append nothing");
}
