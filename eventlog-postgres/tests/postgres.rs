//! What the PostgreSQL backend adds to the conformance suite: partitions,
//! fencing, read-only stores, subscribers on another node, concurrent
//! migrations and a crash. "Nodes" are separate `PostgresLogs` (their own
//! pools and listening connections) on one throwaway cluster.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use poolkeeper_eventlog::{
    AppendRequest, EventLogError, EventStore, ExpectedVersion, NewEvent, StreamAppend, StreamId,
};
use poolkeeper_eventlog_postgres::testing::TestCluster;
use poolkeeper_eventlog_postgres::{Lease, PostgresLogConfig, PostgresLogs};
use uuid::Uuid;

const TTL: Duration = Duration::from_secs(60);

fn request(stream: &str, n: u64) -> AppendRequest {
    AppendRequest {
        command_id: Uuid::now_v7(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        actor: "user:test".into(),
        recorded_at: Utc::now(),
        streams: vec![StreamAppend {
            stream_id: StreamId::new(stream).unwrap(),
            expected: ExpectedVersion::Any,
            events: vec![NewEvent {
                event_id: Uuid::now_v7(),
                event_type: "test.appended".into(),
                schema_version: 1,
                payload: format!("{{\"n\":{n}}}"),
            }],
        }],
    }
}

/// Whether this machine has no PostgreSQL to test with (said loudly; never in CI).
fn skipped() -> bool {
    let reason = poolkeeper_eventlog_postgres::testing::skip_reason();
    if let Some(reason) = &reason {
        eprintln!("{reason}");
    }
    reason.is_some()
}

fn organization() -> String {
    format!("org-{}", Uuid::new_v4())
}

async fn node(url: &str) -> PostgresLogs {
    PostgresLogs::connect(url, 4).await.unwrap()
}

/// A writable store of `org` on `logs`, under a fresh lease held by `holder`.
async fn writer(logs: &PostgresLogs, org: &str, holder: &str) -> (Lease, Arc<dyn EventStore>) {
    let lease = Lease::acquire(logs.pool(), org, holder, TTL)
        .await
        .unwrap()
        .expect("a free lease");
    let store = logs.open_log(org, Some(lease.writer())).await.unwrap();
    (lease, store)
}

async fn positions(store: &dyn EventStore) -> Vec<u64> {
    let events = store.read_all(1, usize::MAX).await.unwrap();
    events.iter().map(|e| e.position).collect()
}

#[tokio::test]
async fn partitions_have_their_own_positions_chains_and_command_ids() {
    if skipped() {
        return;
    }
    let logs = node(&TestCluster::shared().url()).await;
    let (a, b) = (organization(), organization());
    let (_la, store_a) = writer(&logs, &a, "node").await;
    let (_lb, store_b) = writer(&logs, &b, "node").await;
    for n in 0..5 {
        store_a.append(request("s", n)).await.unwrap();
        store_b.append(request("s", n + 100)).await.unwrap();
    }
    // One command id in both organizations: two commands, neither a duplicate.
    let shared = request("t", 7);
    let in_a = store_a.append(shared.clone()).await.unwrap();
    let in_b = store_b.append(shared).await.unwrap();
    assert!(!in_a.duplicate && !in_b.duplicate);
    assert_eq!((in_a.first_position, in_b.first_position), (6, 6));
    assert_eq!(
        positions(store_a.as_ref()).await,
        (1..=6).collect::<Vec<_>>()
    );
    assert_eq!(
        positions(store_b.as_ref()).await,
        (1..=6).collect::<Vec<_>>()
    );
    let (va, vb) = (
        store_a.verify().await.unwrap(),
        store_b.verify().await.unwrap(),
    );
    assert!(va.is_intact() && vb.is_intact());
    assert_eq!((va.events_checked, vb.events_checked), (6, 6));
    assert_ne!(
        va.tail_hash, vb.tail_hash,
        "each chain starts from its own genesis"
    );
    assert_eq!(
        store_a
            .stream_version(&StreamId::new("s").unwrap())
            .await
            .unwrap(),
        Some(5)
    );
}

#[tokio::test]
async fn a_writer_whose_lease_was_taken_over_is_fenced() {
    if skipped() {
        return;
    }
    let url = TestCluster::shared().url();
    let (node_a, node_b) = (node(&url).await, node(&url).await);
    let org = organization();
    let ttl = Duration::from_millis(300);
    let lease_a = Lease::acquire(node_a.pool(), &org, "node-a", ttl)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease_a.epoch(), 1);
    let store_a = node_a.open_log(&org, Some(lease_a.writer())).await.unwrap();
    for n in 0..3 {
        store_a.append(request("s", n)).await.unwrap();
    }
    assert!(
        Lease::acquire(node_b.pool(), &org, "node-b", ttl)
            .await
            .unwrap()
            .is_none()
    );
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let lease_b = Lease::acquire(node_b.pool(), &org, "node-b", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease_b.epoch(), 2);

    let refused = store_a.append(request("s", 3)).await.unwrap_err();
    assert!(
        matches!(&refused, EventLogError::Fenced { organization, epoch: 1 } if *organization == org),
        "{refused:?}"
    );
    let batch = store_a
        .append_batch(vec![request("s", 4)])
        .await
        .unwrap_err();
    assert!(matches!(batch, EventLogError::Fenced { .. }), "{batch:?}");
    assert!(matches!(
        lease_a.renew().await,
        Err(EventLogError::Fenced { .. })
    ));
    assert!(matches!(
        node_a.open_log(&org, Some(lease_a.writer())).await.err(),
        Some(EventLogError::Fenced { .. })
    ));
    assert_eq!(
        store_a.tail().await.unwrap(),
        3,
        "the fenced appends wrote nothing"
    );

    let store_b = node_b.open_log(&org, Some(lease_b.writer())).await.unwrap();
    let outcome = store_b.append(request("s", 5)).await.unwrap();
    assert_eq!(outcome.first_position, 4);
    assert_eq!(positions(store_b.as_ref()).await, vec![1, 2, 3, 4]);
    assert!(store_b.verify().await.unwrap().is_intact());
    lease_b.renew().await.unwrap();
    lease_b.release().await.unwrap();
    let lease_c = Lease::acquire(node_a.pool(), &org, "node-a", TTL)
        .await
        .unwrap();
    assert_eq!(
        lease_c.map(|l| l.epoch()),
        Some(3),
        "a released lease is free at once"
    );
}

/// A writer stopped between the round trips of an append holds its head row's lock in
/// an open transaction; a takeover needs that lock. PostgreSQL ends the stopped
/// session after `idle_in_transaction_timeout`, so the takeover waits no longer.
#[tokio::test]
async fn a_writer_stopped_inside_a_transaction_does_not_block_a_takeover() {
    if skipped() {
        return;
    }
    let url = TestCluster::shared().url();
    let config = PostgresLogConfig {
        pool_size: 2,
        idle_in_transaction_timeout: Duration::from_millis(500),
        ..PostgresLogConfig::default()
    };
    let stopped = PostgresLogs::connect_with(&url, config).await.unwrap();
    let org = organization();
    let ttl = Duration::from_millis(300);
    let lease = Lease::acquire(stopped.pool(), &org, "stopped", ttl)
        .await
        .unwrap()
        .unwrap();
    // What the stopped writer did before it stopped: BEGIN and lock the head row.
    let client = stopped.pool().get().await.unwrap();
    client
        .batch_execute(&format!(
            "BEGIN; SELECT head FROM log_heads WHERE organization = '{org}' \
             AND epoch = {} FOR UPDATE",
            lease.epoch()
        ))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let other = node(&url).await;
    let taken = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(lease) = Lease::acquire(other.pool(), &org, "other", TTL)
                .await
                .unwrap()
            {
                return lease;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the takeover is not blocked by the stopped writer's lock");
    assert_eq!(taken.epoch(), 2);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        client.batch_execute("COMMIT").await.is_err(),
        "the stopped writer's session was ended"
    );
}

#[tokio::test]
async fn a_store_without_a_lease_reads_but_refuses_appends() {
    if skipped() {
        return;
    }
    let logs = node(&TestCluster::shared().url()).await;
    let org = organization();
    let (_lease, store) = writer(&logs, &org, "node").await;
    store.append(request("s", 1)).await.unwrap();
    let reader = logs.open_log(&org, None).await.unwrap();
    let refused = reader.append(request("s", 2)).await.unwrap_err();
    assert!(
        matches!(refused, EventLogError::ReadOnly { .. }),
        "{refused:?}"
    );
    assert_eq!(positions(reader.as_ref()).await, vec![1]);
    assert!(reader.verify().await.unwrap().is_intact());
}

#[tokio::test]
async fn a_subscriber_sees_appends_made_through_another_node() {
    if skipped() {
        return;
    }
    let url = TestCluster::shared().url();
    // Polling once a minute: only the notification can deliver in time.
    let config = PostgresLogConfig {
        pool_size: 4,
        poll_interval: Duration::from_secs(60),
        ..PostgresLogConfig::default()
    };
    let reading = PostgresLogs::connect_with(&url, config).await.unwrap();
    let writing = node(&url).await;
    let org = organization();
    let (_lease, store) = writer(&writing, &org, "node-w").await;
    store.append(request("s", 0)).await.unwrap();
    let follower = reading.open_log(&org, None).await.unwrap();
    let mut sub = follower.subscribe(1);
    let first = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .unwrap();
    assert_eq!(first.unwrap().unwrap().position, 1);
    for n in 1..20 {
        store.append(request("s", n)).await.unwrap();
        let next = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("the other node's commit was not delivered");
        assert_eq!(next.unwrap().unwrap().position, n + 1);
    }
}

#[tokio::test]
async fn two_nodes_migrating_at_once_both_succeed() {
    if skipped() {
        return;
    }
    let cluster = TestCluster::shared();
    let admin = node(&cluster.url()).await;
    let client = admin.pool().get().await.unwrap();
    let database = format!("fresh_{}", Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .await
        .unwrap();
    let url = format!(
        "postgresql://postgres@127.0.0.1:{}/{database}",
        cluster.port()
    );
    let (a, b) = tokio::join!(node(&url), node(&url));
    let org = organization();
    let (_lease, store) = writer(&a, &org, "node").await;
    store.append(request("s", 1)).await.unwrap();
    assert_eq!(
        b.open_log(&org, None).await.unwrap().tail().await.unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loses_no_acknowledged_append() {
    if skipped() {
        return;
    }
    let cluster = TestCluster::start().unwrap();
    let org = organization();
    let logs = node(&cluster.url()).await;
    let (_lease, store) = writer(&logs, &org, "node").await;
    let appenders: Vec<_> = (0..8)
        .map(|task| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for n in 0.. {
                    let req = request(&format!("s{task}"), n);
                    match store.append(req.clone()).await {
                        Ok(outcome) => acked.push((req.command_id, outcome)),
                        Err(_) => return acked,
                    }
                }
                acked
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    cluster.crash().unwrap();
    let mut acked = Vec::new();
    for task in appenders {
        acked.extend(task.await.unwrap());
    }
    assert!(
        acked.len() > 8,
        "only {} appends before the crash",
        acked.len()
    );
    drop((store, logs));
    cluster.restart().unwrap();

    let logs = node(&cluster.url()).await;
    let store = logs.open_log(&org, None).await.unwrap();
    for (command_id, outcome) in &acked {
        let stored = store.command_outcome(*command_id).await.unwrap();
        assert_eq!(stored.as_ref(), Some(outcome), "acknowledged command lost");
    }
    let tail = store.tail().await.unwrap();
    assert_eq!(
        positions(store.as_ref()).await,
        (1..=tail).collect::<Vec<_>>()
    );
    assert!(store.verify().await.unwrap().is_intact());
}

#[tokio::test]
async fn what_postgresql_cannot_store_fails_only_its_own_request() {
    if skipped() {
        return;
    }
    let logs = node(&TestCluster::shared().url()).await;
    let org = organization();
    let (_lease, store) = writer(&logs, &org, "node").await;
    let mut bad = request("s", 1);
    bad.actor = "user:\0".into();
    let results = store
        .append_batch(vec![bad, request("s", 2)])
        .await
        .unwrap();
    assert!(
        matches!(results[0], Err(EventLogError::InvalidInput { .. })),
        "{results:?}"
    );
    assert_eq!(results[1].as_ref().unwrap().first_position, 1);
}
