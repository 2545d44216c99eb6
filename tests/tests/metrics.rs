//! Prometheus's `/metrics` after a scripted workload: every counter moved by exactly what
//! the workload did (commands by outcome, RPCs, scheduled actions), the gauges say where
//! the log and the projections are, and no label names a customer.

use poolkeeper_proto::v1 as pb;
use poolkeeper_tests::http::{Scrape, get};
use poolkeeper_tests::{Harness, command_id, reason};

const DAY: i64 = 86_400;

/// How much a series moved between two scrapes. The registry is the process's, shared
/// by this file's tests running at once: the other two only bootstrap organizations and
/// create users, so none of the series asserted exactly here (customers, claims,
/// abandons, scheduled actions, ClaimCustomer calls) moves but by this test's workload.
fn delta(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.value(name, labels) - before.value(name, labels)
}

#[tokio::test]
async fn metrics_count_what_a_scripted_workload_did() {
    let h = Harness::start_with(|config| {
        config.http_listen = Some("127.0.0.1:0".parse().expect("loopback"));
    })
    .await;
    let http = h.server.http_addr.expect("the HTTP listener is on");
    let before = Scrape::of(http).await;

    let alice = h.user("Alice", None).await;
    let rules = pb::PoolRules {
        not_won_days: Some(pb::Limit {
            value: 5,
            ..Default::default()
        }),
        reminder_hours: Some(24),
        ..Default::default()
    };
    let pool = h.pool(pb::PoolMode::FreeClaim, rules, &[], &[&alice]).await;
    let mut customers = Vec::new();
    for name in ["甲公司", "乙公司", "丙公司"] {
        customers.push(h.customer(&pool, name).await);
    }
    let mut claims = Vec::new();
    for customer in &customers {
        let claim = pb::ClaimCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            ..Default::default()
        };
        h.commands(&alice)
            .claim_customer(claim.clone())
            .await
            .expect("claim");
        claims.push(claim);
    }
    // The same command again is a duplicate; a fresh claim of an owned customer is refused.
    h.commands(&alice)
        .claim_customer(claims[0].clone())
        .await
        .expect("a retried claim answers its first outcome");
    let refusal = h
        .commands(&alice)
        .claim_customer(pb::ClaimCustomerRequest {
            command_id: command_id(),
            customer: customers[0].clone(),
            ..Default::default()
        })
        .await
        .expect_err("an owned customer cannot be claimed");
    let refused_as = reason(&refusal);
    h.commands(&alice)
        .abandon_customer(pb::AbandonCustomerRequest {
            command_id: command_id(),
            customer: customers[2].clone(),
            reason: "no_budget".into(),
            ..Default::default()
        })
        .await
        .expect("abandon");
    // Two customers stay owned: each is reminded a day before its deadline, then
    // reclaimed by the rule.
    h.advance(4 * DAY + DAY / 2).await;
    h.advance(DAY).await;
    let tail = h.tail().await;

    let after = Scrape::of(http).await;
    let commands = "poolkeeper_commands_total";
    let d = |name, labels: &[(&str, &str)]| delta(&before, &after, name, labels);
    assert_eq!(
        d(
            commands,
            &[("command", "create_customer"), ("outcome", "ok")]
        ),
        3.0
    );
    assert_eq!(d(commands, &[("command", "claim"), ("outcome", "ok")]), 3.0);
    assert_eq!(
        d(commands, &[("command", "claim"), ("outcome", "duplicate")]),
        1.0
    );
    assert_eq!(
        d(commands, &[("command", "claim"), ("outcome", &refused_as)]),
        1.0
    );
    assert_eq!(
        d(commands, &[("command", "abandon"), ("outcome", "ok")]),
        1.0
    );
    assert_eq!(
        d(commands, &[("command", "auto_reclaim"), ("outcome", "ok")]),
        2.0
    );
    assert_eq!(
        d(
            commands,
            &[("command", "remind_reclaim"), ("outcome", "ok")]
        ),
        2.0
    );
    let scheduled = "poolkeeper_scheduler_actions_total";
    assert_eq!(d(scheduled, &[("action", "remind")]), 2.0);
    assert_eq!(d(scheduled, &[("action", "reclaim")]), 2.0);
    let claim_rpc = [("service", "CommandService"), ("method", "ClaimCustomer")];
    assert_eq!(d("poolkeeper_rpc_duration_seconds_count", &claim_rpc), 5.0);
    assert_eq!(
        d(
            "poolkeeper_command_duration_seconds_count",
            &[("command", "claim")]
        ),
        5.0
    );
    assert!(d("poolkeeper_writer_batch_commands_count", &[]) >= 1.0);
    assert!(
        d(
            "poolkeeper_log_commit_duration_seconds_count",
            &[("backend", "sqlite")]
        ) >= 1.0
    );
    assert!(d("poolkeeper_log_append_duration_seconds_count", &[]) >= 1.0);

    let organization = [("organization", "default")];
    assert_eq!(
        after.value("poolkeeper_log_position", &organization),
        tail as f64
    );
    assert!(after.value("poolkeeper_open_organizations", &[]) >= 1.0);
    assert_eq!(after.value("poolkeeper_scheduler_due", &organization), 0.0);
    assert!(after.has(
        "poolkeeper_writer_lease",
        &[("organization", "default"), ("holder", "this_node")]
    ));
    for projection in [
        "pool_view",
        "owner_view",
        "abandon_audit",
        "ownership_history",
        "statistics",
    ] {
        let labels = [("organization", "default"), ("projection", projection)];
        assert!(
            after.has("poolkeeper_projection_lag_events", &labels),
            "{projection}: {}",
            after.text
        );
        assert!(after.has("poolkeeper_projection_lag_seconds", &labels));
    }
    for customer in &customers {
        let id = customer.trim_start_matches("customers/");
        assert!(!after.text.contains(id), "a customer id became a label");
    }
    let (status, _) = get(http, "/nowhere").await;
    assert_eq!(status, 404);
    h.server.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn without_an_http_listener_nothing_is_served() {
    let h = Harness::start().await;
    assert_eq!(h.server.http_addr, None);
    h.server.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn on_postgresql_the_lease_epoch_and_the_group_transactions_are_measured() {
    let Some(store) = poolkeeper_tests::postgres_database().await else {
        return;
    };
    let h = Harness::start_with(|config| {
        config.store = Some(store);
        config.http_listen = Some("127.0.0.1:0".parse().expect("loopback"));
    })
    .await;
    let http = h.server.http_addr.expect("the HTTP listener is on");
    h.user("Alice", None).await;
    let scrape = Scrape::of(http).await;
    let organization = [("organization", "default")];
    assert!(scrape.value("poolkeeper_writer_lease_epoch", &organization) >= 1.0);
    assert!(scrape.has(
        "poolkeeper_writer_lease",
        &[("organization", "default"), ("holder", "this_node")]
    ));
    assert!(
        scrape.value(
            "poolkeeper_log_commit_duration_seconds_count",
            &[("backend", "postgres")]
        ) >= 1.0
    );
    h.server.stop().await.expect("a clean stop");
}
