//! Seed 004 §8.1 over gRPC: the admin assigns a customer with a protection start and end
//! date in any pool, and the admin-only 已过期 (expired) view lists the customers whose
//! protection ended. With the pool's protection-expiry rule on, the system reclaims an
//! unwon customer at the window's end; with it off nothing is reclaimed automatically and
//! the customer stays in the expired view until it is reclaimed, transferred,
//! re-protected or won.

use std::collections::BTreeSet;

use poolkeeper_proto::v1 as pb;
use poolkeeper_tests::{Harness, command_id, reason, t0};

const DAY: i64 = 86_400;

fn at(seconds_after_t0: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t0().timestamp() + seconds_after_t0,
        nanos: 0,
    })
}

/// Assigns `customer` to `assignee` with the protection window `[start, end)` (seconds after t0).
async fn assign_with_window(
    h: &Harness,
    admin: &str,
    customer: &str,
    assignee: &str,
    start: i64,
    end: i64,
) -> Result<pb::CommandResult, tonic::Status> {
    h.commands(admin)
        .assign_customer(pb::AssignCustomerRequest {
            command_id: command_id(),
            customer: customer.into(),
            assignee: assignee.into(),
            protection_start: at(start),
            protection_end: at(end),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

/// The names of the pool's expired view as `admin` lists it, once the projections reached
/// `position`; every row listed says it is expired.
async fn expired(h: &Harness, admin: &str, pool: &str, position: u64) -> BTreeSet<String> {
    let page = h
        .queries(admin)
        .list_pool_customers(pb::ListPoolCustomersRequest {
            pool: pool.into(),
            view: pb::PoolView::Expired as i32,
            min_position: position,
            ..Default::default()
        })
        .await
        .expect("the admin lists the expired view")
        .into_inner();
    assert!(page.next_page_token.is_empty());
    for customer in &page.customers {
        assert!(customer.expired, "{customer:?}");
        assert_eq!(customer.state(), pb::CustomerState::Owned);
    }
    page.customers.into_iter().map(|c| c.name).collect()
}

fn names(customers: &[&String]) -> BTreeSet<String> {
    customers.iter().map(|c| c.to_string()).collect()
}

#[tokio::test]
async fn without_the_protection_rule_a_window_is_accepted_and_listed_as_expired_until_the_admin_acts()
 {
    let h = Harness::start().await;
    let keeper = h.user("客户池管理员", None).await;
    let alice = h.user("Alice", None).await;
    let bob = h.user("Bob", None).await;
    let pool = h
        .pool(
            pb::PoolMode::AssignOnly,
            pb::PoolRules::default(),
            &[&keeper],
            &[&alice, &bob],
        )
        .await;
    let reclaimed = h.customer(&pool, "北京某某科技").await;
    let transferred = h.customer(&pool, "天津某某贸易").await;
    let re_protected = h.customer(&pool, "石家庄某某制造").await;
    let won = h.customer(&pool, "太原某某能源").await;
    let no_window = h.customer(&pool, "济南某某物流").await;

    // The admin picks the dates: accepted although the pool has no protection rule, and
    // longer than any maximum would allow, since there is none.
    let mut position = 0;
    for customer in [&reclaimed, &transferred, &re_protected, &won] {
        let assigned = assign_with_window(&h, &keeper, customer, &alice, -DAY, 5 * DAY)
            .await
            .expect("a window needs no protection rule");
        assert_eq!(assigned.event_types, ["customer.assigned"]);
        position = assigned.position;
    }
    let long = h.customer(&pool, "郑州某某农业").await;
    assign_with_window(&h, &keeper, &long, &bob, 0, 400 * DAY)
        .await
        .expect("no rule, no maximum");
    h.commands(&keeper)
        .assign_customer(pb::AssignCustomerRequest {
            command_id: command_id(),
            customer: no_window.clone(),
            assignee: alice.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let seen = h.customer_as(&keeper, &reclaimed, position).await;
    assert_eq!(seen.owner, alice);
    assert_eq!(seen.protection_end, at(5 * DAY));
    assert_eq!(
        seen.next_reclaim_time, None,
        "nothing reclaims it automatically"
    );
    assert!(!seen.expired);
    assert!(expired(&h, &keeper, &pool, h.tail().await).await.is_empty());

    // The window ends: nothing is reclaimed, the admin sees them in 已过期.
    let clock = h.advance(5 * DAY).await;
    assert_eq!(clock.actions_run, 0);
    let all = names(&[&reclaimed, &transferred, &re_protected, &won]);
    assert_eq!(expired(&h, &keeper, &pool, clock.position).await, all);
    let clock = h.advance(30 * DAY).await;
    assert_eq!(clock.actions_run, 0, "still nothing is due");
    assert_eq!(expired(&h, &keeper, &pool, clock.position).await, all);
    assert_eq!(
        h.customer_as(&keeper, &won, clock.position).await.owner,
        alice
    );
    // The view is the admin's: a member may not list it.
    let denied = h
        .queries(&alice)
        .list_pool_customers(pb::ListPoolCustomersRequest {
            pool: pool.clone(),
            view: pb::PoolView::Expired as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    // Each way out: reclaimed, transferred, re-protected, won.
    let result = h
        .commands(&keeper)
        .reclaim_customer(pb::ReclaimCustomerRequest {
            command_id: command_id(),
            customer: reclaimed.clone(),
            reason: "保护期已过".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        expired(&h, &keeper, &pool, result.position).await,
        names(&[&transferred, &re_protected, &won])
    );
    let result = h
        .commands(&keeper)
        .transfer_customer(pb::TransferCustomerRequest {
            command_id: command_id(),
            customer: transferred.clone(),
            new_owner: bob.clone(),
            reason: "重新分配".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        expired(&h, &keeper, &pool, result.position).await,
        names(&[&re_protected, &won])
    );
    // Re-protecting extends the explicit window, without a maximum but into the future.
    let past = h
        .commands(&keeper)
        .extend_protection(pb::ExtendProtectionRequest {
            command_id: command_id(),
            customer: re_protected.clone(),
            protection_end: at(6 * DAY),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(past.code(), tonic::Code::InvalidArgument);
    let result = h
        .commands(&keeper)
        .extend_protection(pb::ExtendProtectionRequest {
            command_id: command_id(),
            customer: re_protected.clone(),
            protection_end: at(95 * DAY),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(result.event_types, ["customer.protection_extended"]);
    assert_eq!(
        expired(&h, &keeper, &pool, result.position).await,
        names(&[&won])
    );
    let seen = h.customer_as(&keeper, &re_protected, result.position).await;
    assert_eq!(seen.protection_end, at(95 * DAY));
    assert!(!seen.expired);
    let result = h
        .commands(&alice)
        .mark_won(pb::MarkWonRequest {
            command_id: command_id(),
            customer: won.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        expired(&h, &keeper, &pool, result.position)
            .await
            .is_empty()
    );

    // A customer without a window has no protection to extend in this pool.
    let refused = h
        .commands(&keeper)
        .extend_protection(pb::ExtendProtectionRequest {
            command_id: command_id(),
            customer: no_window.clone(),
            protection_end: at(60 * DAY),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert_eq!(reason(&refused), "no_protection_rule");

    // The re-protected window ends in its turn, again without an automatic reclaim.
    let clock = h.advance(60 * DAY).await;
    assert_eq!(clock.actions_run, 0);
    assert_eq!(
        expired(&h, &keeper, &pool, clock.position).await,
        names(&[&re_protected])
    );
}

#[tokio::test]
async fn with_the_protection_rule_a_window_is_bounded_by_the_maximum_and_its_end_reclaims_an_unwon_customer()
 {
    let h = Harness::start().await;
    let keeper = h.user("客户池管理员", None).await;
    let alice = h.user("Alice", None).await;
    let rules = pb::PoolRules {
        protection: Some(pb::ProtectionRule {
            default_days: Some(pb::Limit {
                value: 7,
                ..Default::default()
            }),
            max_days: 30,
            ..Default::default()
        }),
        ..Default::default()
    };
    let pool = h
        .pool(pb::PoolMode::AssignOnly, rules, &[&keeper], &[&alice])
        .await;
    let unwon = h.customer(&pool, "上海某某金融").await;
    let won = h.customer(&pool, "苏州某某电子").await;

    let beyond = assign_with_window(&h, &keeper, &unwon, &alice, 0, 31 * DAY)
        .await
        .unwrap_err();
    assert_eq!(beyond.code(), tonic::Code::FailedPrecondition);
    assert_eq!(reason(&beyond), "protection_beyond_maximum");
    assign_with_window(&h, &keeper, &unwon, &alice, 0, 5 * DAY)
        .await
        .unwrap();
    let assigned = assign_with_window(&h, &keeper, &won, &alice, 0, 5 * DAY)
        .await
        .unwrap();
    let seen = h.customer_as(&keeper, &unwon, assigned.position).await;
    assert_eq!(seen.protection_end, at(5 * DAY));
    assert_eq!(seen.next_reclaim_time, at(5 * DAY));
    assert_eq!(seen.next_reclaim_rule(), pb::ReclaimRule::ProtectionExpired);
    let result = h
        .commands(&alice)
        .mark_won(pb::MarkWonRequest {
            command_id: command_id(),
            customer: won.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        expired(&h, &keeper, &pool, result.position)
            .await
            .is_empty()
    );

    let clock = h.advance(5 * DAY - 1).await;
    assert_eq!(clock.actions_run, 0, "not before the window's end");
    let clock = h.advance(1).await;
    assert_eq!(clock.actions_run, 1, "the unwon customer is reclaimed");
    let seen = h.customer_as(&keeper, &unwon, clock.position).await;
    assert_eq!(seen.state(), pb::CustomerState::InPool);
    let reclaim = seen.last_reclaim.expect("reclaimed by the rule");
    assert_eq!(reclaim.rule(), pb::ReclaimRule::ProtectionExpired);
    assert_eq!(reclaim.former_owner, alice);
    assert_eq!(
        h.customer_as(&keeper, &won, clock.position).await.owner,
        alice
    );
    assert!(
        expired(&h, &keeper, &pool, clock.position).await.is_empty(),
        "nothing is left for the admin to reclaim by hand"
    );
}
