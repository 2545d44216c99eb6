//! Concurrency: many tasks racing on one stream with expected versions, and
//! many tasks appending to their own streams through the group commit.

mod common;

use std::collections::BTreeMap;

use common::{one, sid};
use poolkeeper_eventlog::{EventLogConfig, EventStore, ExpectedVersion, SqliteEventStore};

const TASKS: u64 = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_appenders_get_exactly_one_winner_per_version() {
    const ROUNDS: u64 = 25;
    let store = SqliteEventStore::open_temporary(EventLogConfig::default()).unwrap();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(TASKS as usize));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let mut wins = Vec::new();
                let mut conflicts = 0u64;
                barrier.wait().await;
                // Every task tries every version once, in order.
                for v in 0..ROUNDS {
                    let expected = if v == 0 {
                        ExpectedVersion::NoStream
                    } else {
                        ExpectedVersion::Exact(v)
                    };
                    match store.append(one("race", expected, t * 1000 + v)).await {
                        Ok(out) => {
                            assert_eq!(out.stream_versions, vec![(sid("race"), v + 1)]);
                            wins.push((v + 1, t * 1000 + v));
                        }
                        Err(e) => {
                            let poolkeeper_eventlog::EventLogError::WrongExpectedVersion {
                                actual,
                                ..
                            } = e
                            else {
                                panic!("unexpected error {e:?}");
                            };
                            assert!(actual.unwrap_or(0) > v, "conflict at {v} with {actual:?}");
                            conflicts += 1;
                        }
                    }
                }
                (wins, conflicts)
            })
        })
        .collect();
    let mut winners = BTreeMap::new();
    let mut conflicts = 0;
    for task in tasks {
        let (wins, c) = task.await.unwrap();
        conflicts += c;
        for (version, n) in wins {
            assert!(
                winners.insert(version, n).is_none(),
                "two winners for version {version}"
            );
        }
    }
    assert_eq!(
        winners.keys().copied().collect::<Vec<_>>(),
        (1..=ROUNDS).collect::<Vec<_>>()
    );
    assert_eq!(conflicts, TASKS * ROUNDS - ROUNDS);
    // The stream holds exactly the winners, gapless, at gapless positions.
    let events = store.read_stream(&sid("race"), 1, 1000).await.unwrap();
    assert_eq!(events.len() as u64, ROUNDS);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.stream_version, i as u64 + 1);
        assert_eq!(e.position, i as u64 + 1);
        assert_eq!(
            e.payload,
            format!("{{\"n\":{}}}", winners[&e.stream_version])
        );
    }
    assert_eq!(store.tail().await.unwrap(), ROUNDS);
    assert!(store.verify().await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_are_group_committed_without_gaps() {
    const PER_TASK: u64 = 20;
    let store = SqliteEventStore::open_temporary(EventLogConfig::default()).unwrap();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut positions = Vec::new();
                for i in 0..PER_TASK {
                    let expected = if i == 0 {
                        ExpectedVersion::NoStream
                    } else {
                        ExpectedVersion::Exact(i)
                    };
                    let out = store
                        .append(one(&format!("own-{t}"), expected, i))
                        .await
                        .unwrap();
                    positions.push(out.first_position);
                }
                positions
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        let positions = task.await.unwrap();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "a task's appends are ordered"
        );
        all.extend(positions);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=TASKS * PER_TASK).collect::<Vec<_>>());
    let stats = store.writer_stats();
    assert_eq!(stats.events, TASKS * PER_TASK);
    assert_eq!(stats.commands, TASKS * PER_TASK);
    // 64 appenders waiting on fsyncs share transactions.
    assert!(
        stats.groups < stats.commands,
        "no group commit happened: {stats:?}"
    );
    for t in 0..TASKS {
        let id = sid(&format!("own-{t}"));
        assert_eq!(store.stream_version(&id).await.unwrap(), Some(PER_TASK));
    }
    assert!(store.verify().await.unwrap().is_intact());
}
