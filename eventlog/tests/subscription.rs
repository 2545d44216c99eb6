//! Live subscriptions: catch-up then live with no gap and no duplicate, a slow
//! subscriber that lags behind a tiny broadcast, and closing.

mod common;

use std::time::Duration;

use common::one;
use futures::StreamExt;
use poolkeeper_eventlog::{
    EventLogConfig, EventStore, ExpectedVersion, Position, SqliteEventStore, Subscription,
};

/// Generous bound so a bug fails the test instead of hanging it.
const DEADLINE: Duration = Duration::from_secs(60);

async fn append_many(store: &SqliteEventStore, task: u64, n: u64) {
    for i in 0..n {
        store
            .append(one(
                &format!("s-{task}"),
                ExpectedVersion::Any,
                task * 1_000_000 + i,
            ))
            .await
            .unwrap();
    }
}

/// Collects positions until `last` has been seen.
async fn collect_until(sub: &mut Subscription, last: Position) -> Vec<Position> {
    let mut seen = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        while seen.last() != Some(&last) {
            let e = sub.next().await.expect("subscription ended early").unwrap();
            seen.push(e.position);
        }
    })
    .await
    .expect("subscriber did not reach the tail in time");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_started_mid_stream_sees_every_event_once_in_order() {
    let config = EventLogConfig {
        page_size: 7,
        ..EventLogConfig::default()
    };
    let store = SqliteEventStore::open_temporary(config).unwrap();
    append_many(&store, 0, 300).await;

    // Four appenders run while subscribers start (one from the middle, one from 0).
    let appenders: Vec<_> = (1..=4)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move { append_many(&store, t, 200).await })
        })
        .collect();
    let mut mid = store.subscribe(150);
    let mut from_start = store.subscribe(0);
    let total = 300 + 4 * 200;
    let mid_seen = tokio::spawn(async move { collect_until(&mut mid, total).await });
    let start_seen = collect_until(&mut from_start, total).await;
    for a in appenders {
        a.await.unwrap();
    }
    let mid_seen = mid_seen.await.unwrap();
    assert_eq!(mid_seen, (150..=total).collect::<Vec<_>>());
    assert_eq!(start_seen, (1..=total).collect::<Vec<_>>());

    // Events delivered live equal the stored ones.
    let mut sub = store.subscribe(total - 1);
    let stored = store.read_all(total - 1, 10).await.unwrap();
    let a = sub.next().await.unwrap().unwrap();
    let b = sub.next().await.unwrap().unwrap();
    assert_eq!(vec![a, b], stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_gets_everything_without_blocking_appends() {
    let config = EventLogConfig {
        subscription_capacity: 1,
        page_size: 16,
        ..EventLogConfig::default()
    };
    let store = SqliteEventStore::open_temporary(config).unwrap();
    let mut slow = store.subscribe(1);
    // Nobody reads `slow` while 400 commits happen: the writer must not wait for it.
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move { append_many(&store, t, 100).await })
        })
        .collect();
    tokio::time::timeout(DEADLINE, async {
        for w in writers {
            w.await.unwrap();
        }
    })
    .await
    .expect("appends were blocked by a subscriber that does not read");
    assert_eq!(store.tail().await.unwrap(), 400);

    // Now consume slowly while more commits arrive, lagging the 1-slot broadcast.
    let more = {
        let store = store.clone();
        tokio::spawn(async move { append_many(&store, 9, 300).await })
    };
    let mut seen = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        while seen.last() != Some(&700) {
            let e = slow.next().await.unwrap().unwrap();
            seen.push(e.position);
            for _ in 0..5 {
                tokio::task::yield_now().await;
            }
        }
    })
    .await
    .expect("slow subscriber did not finish");
    more.await.unwrap();
    assert_eq!(seen, (1..=700).collect::<Vec<_>>());
}

#[tokio::test]
async fn subscribing_at_the_tail_delivers_only_new_events() {
    let store = SqliteEventStore::open_temporary(EventLogConfig::default()).unwrap();
    append_many(&store, 0, 5).await;
    let tail = store.tail().await.unwrap();
    let mut sub = store.subscribe(tail + 1);
    append_many(&store, 1, 3).await;
    let seen = collect_until(&mut sub, 8).await;
    assert_eq!(seen, vec![6, 7, 8]);
}

#[tokio::test]
async fn closing_the_store_ends_subscriptions_after_delivering_everything() {
    let store = SqliteEventStore::open_temporary(EventLogConfig::default()).unwrap();
    let mut sub = store.subscribe(0);
    append_many(&store, 0, 10).await;
    store.close().await.unwrap();
    let seen: Vec<Position> = tokio::time::timeout(DEADLINE, async {
        let mut seen = Vec::new();
        while let Some(e) = sub.next().await {
            seen.push(e.unwrap().position);
        }
        seen
    })
    .await
    .expect("subscription did not end after close");
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    // A subscription opened after close catches up and ends.
    let late: Vec<_> = store.subscribe(9).collect().await;
    assert_eq!(late.len(), 2);
}
