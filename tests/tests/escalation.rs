//! The escalation ladder over gRPC with the manual clock: the owner reminded, the
//! superior notified, the customer reassigned to the superior at the deadline (history
//! and abandon records say so), and a follow-up after the reminder stopping the ladder.

use poolkeeper_proto::v1 as pb;
use poolkeeper_tests::{Harness, command_id};

const HOUR: i64 = 3_600;

/// Event types of the log after `from`, in order.
async fn types_since(h: &Harness, from: u64) -> Vec<String> {
    use futures::StreamExt;
    let tail = h.tail().await;
    let mut types = Vec::new();
    if tail <= from {
        return types;
    }
    let mut events = h
        .audit()
        .stream_events(pb::StreamEventsRequest {
            from_position: from + 1,
            event_types: Vec::new(),
            ..Default::default()
        })
        .await
        .expect("stream")
        .into_inner();
    while let Some(event) = events.next().await {
        let event = event.expect("event");
        types.push(event.event_type);
        if event.position >= tail {
            break;
        }
    }
    types
}

async fn claimed(h: &Harness, pool: &str, owner: &str, name: &str) -> (String, u64) {
    let customer = h.customer(pool, name).await;
    let position = h.claim(owner, &customer).await.position;
    (customer, position)
}

#[tokio::test]
async fn the_ladder_reminds_escalates_and_hands_the_customer_to_the_superior() {
    let h = Harness::start().await;
    let manager = h.user("经理", None).await;
    let alice = h.user("Alice", Some(&manager)).await;
    let rules = pb::PoolRules {
        not_won_days: Some(pb::Limit {
            value: 5,
            ..Default::default()
        }),
        reminder_hours: Some(48),
        escalation: Some(pb::Escalation {
            notify_superior_hours: 12,
            at_deadline: pb::DeadlineOutcome::ReassignToSuperior as i32,
        }),
        ..Default::default()
    };
    let pool = h
        .pool(pb::PoolMode::FreeClaim, rules, &[], &[&alice, &manager])
        .await;
    let (kept, _) = claimed(&h, &pool, &alice, "甲公司").await;
    let (stopped, start) = claimed(&h, &pool, &alice, "乙公司").await;

    h.advance(5 * 24 * HOUR - 48 * HOUR).await;
    assert_eq!(
        types_since(&h, start).await,
        ["customer.reclaim_reminded", "customer.reclaim_reminded"]
    );
    let follow_up = h
        .commands(&alice)
        .log_follow_up(pb::LogFollowUpRequest {
            command_id: command_id(),
            customer: stopped.clone(),
            kind: pb::FollowUpKind::Call as i32,
            note: "在谈".into(),
            ..Default::default()
        })
        .await
        .expect("follow-up")
        .into_inner();
    h.advance(36 * HOUR).await;
    assert_eq!(
        types_since(&h, follow_up.position).await,
        ["customer.reclaim_escalated"],
        "only the customer without a follow-up is escalated"
    );
    let at_deadline = h.advance(12 * HOUR).await;
    let history = h
        .queries(&h.admin)
        .get_ownership_history(pb::GetOwnershipHistoryRequest {
            customer: kept.clone(),
            min_position: at_deadline.position,
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner();
    let last = history.intervals.last().unwrap();
    assert_eq!(
        (
            last.owner.as_str(),
            last.began_by.as_str(),
            last.began_actor.as_str()
        ),
        (manager.as_str(), "reclaim_reassigned", "rule:not_won")
    );
    let records = h
        .queries(&h.admin)
        .list_abandon_records(pb::ListAbandonRecordsRequest {
            pool: pool.clone(),
            min_position: at_deadline.position,
            ..Default::default()
        })
        .await
        .expect("records")
        .into_inner()
        .records;
    let mut reasons: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.customer.as_str(), r.reason.as_str()))
        .collect();
    reasons.sort();
    let mut expected = vec![
        (kept.as_str(), "reassigned_to_superior"),
        (stopped.as_str(), "ladder_stopped_by_follow_up"),
    ];
    expected.sort();
    assert_eq!(reasons, expected);
    assert!(records.iter().all(|r| r.kind == "auto_reclaimed"));
}
