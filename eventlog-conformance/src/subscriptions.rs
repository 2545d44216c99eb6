//! Subscriptions: catch-up from the store, then live, never skipping or
//! repeating an event; with concurrent appenders, a subscriber that does not
//! read, at the tail and across closing.

use std::sync::Arc;

use futures::StreamExt;
use poolkeeper_eventlog::Position;

use crate::support::{DEADLINE, TestLog, append_many, collect_until, current_thread, two_workers};
use crate::{LogOptions, LogUnderTest};

/// Subscribers started from the middle and from 0 while four tasks append
/// see every event once, in order, through the switch from catch-up to live;
/// the events delivered live equal the stored ones. Run with the backend's
/// production pages and buffers and with its smallest ones.
pub fn a_subscriber_started_mid_stream_sees_every_event_once_in_order<L: LogUnderTest>(logs: &L) {
    for small_pages in [false, true] {
        let options = LogOptions {
            small_pages,
            ..LogOptions::default()
        };
        two_workers().block_on(async {
            let log = TestLog::create(logs, options).await;
            let store = log.store();
            append_many(store.as_ref(), 0, 300).await;

            // Four appenders run while subscribers start (one from the middle, one from 0).
            let appenders: Vec<_> = (1..=4)
                .map(|t| {
                    let store = Arc::clone(store);
                    tokio::spawn(async move { append_many(store.as_ref(), t, 200).await })
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
            assert_eq!(
                mid_seen,
                (150..=total).collect::<Vec<_>>(),
                "small pages: {small_pages}"
            );
            assert_eq!(
                start_seen,
                (1..=total).collect::<Vec<_>>(),
                "small pages: {small_pages}"
            );

            // Events delivered live equal the stored ones.
            let mut sub = store.subscribe(total - 1);
            let stored = store.read_all(total - 1, 10).await.unwrap();
            let a = sub.next().await.unwrap().unwrap();
            let b = sub.next().await.unwrap().unwrap();
            assert_eq!(vec![a, b], stored);
            drop(sub);
            log.close().await;
        });
    }
}

/// A subscriber that reads nothing while 400 commits happen does not hold
/// them up; read slowly while 300 more commit, it still gets every event once,
/// in order. With the backend's smallest pages and live buffers, so that it
/// falls behind them.
pub fn a_slow_subscriber_gets_everything_without_blocking_appends<L: LogUnderTest>(logs: &L) {
    two_workers().block_on(async {
        let options = LogOptions {
            small_pages: true,
            ..LogOptions::default()
        };
        let log = TestLog::create(logs, options).await;
        let store = log.store();
        let mut slow = store.subscribe(1);
        // Nobody reads `slow` while 400 commits happen: appends must not wait for it.
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let store = Arc::clone(store);
                tokio::spawn(async move { append_many(store.as_ref(), t, 100).await })
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

        // Now consume slowly while more commits arrive, lagging the live buffer.
        let more = {
            let store = Arc::clone(store);
            tokio::spawn(async move { append_many(store.as_ref(), 9, 300).await })
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
        drop(slow);
        log.close().await;
    });
}

/// Subscribing after the tail delivers only the events appended later.
pub fn subscribing_at_the_tail_delivers_only_new_events<L: LogUnderTest>(logs: &L) {
    current_thread().block_on(async {
        let log = TestLog::create(logs, LogOptions::default()).await;
        let store = log.store();
        append_many(store.as_ref(), 0, 5).await;
        let tail = store.tail().await.unwrap();
        let mut sub = store.subscribe(tail + 1);
        append_many(store.as_ref(), 1, 3).await;
        let seen = collect_until(&mut sub, 8).await;
        assert_eq!(seen, vec![6, 7, 8]);
        drop(sub);
        log.close().await;
    });
}

/// Closing the store ends a live subscription once it delivered everything
/// committed; a subscription opened after closing catches up and ends.
pub fn closing_the_store_ends_subscriptions_after_delivering_everything<L: LogUnderTest>(logs: &L) {
    current_thread().block_on(async {
        let log = TestLog::create(logs, LogOptions::default()).await;
        let store = log.store();
        let mut sub = store.subscribe(0);
        append_many(store.as_ref(), 0, 10).await;
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
        let late: Vec<Position> =
            tokio::time::timeout(DEADLINE, store.subscribe(9).collect::<Vec<_>>())
                .await
                .expect("a subscription opened after close did not end")
                .into_iter()
                .map(|e| e.unwrap().position)
                .collect();
        assert_eq!(late, vec![9, 10]);
        log.close().await;
    });
}
