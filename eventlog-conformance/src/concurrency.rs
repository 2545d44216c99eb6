//! Concurrency: many tasks racing for each version of one stream, and many
//! tasks appending to their own streams at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use poolkeeper_eventlog::{EventLogError, ExpectedVersion};

use crate::support::{TestLog, one, sid, two_workers};
use crate::{LogOptions, LogUnderTest};

/// Appending tasks in each check.
const TASKS: u64 = 64;

/// 64 tasks each try to append every version of one stream, with the exact
/// expected version: exactly one wins each version, every other attempt is a
/// conflict that found a later version, and the stream holds exactly the
/// winners at gapless positions.
pub fn racing_appenders_get_exactly_one_winner_per_version<L: LogUnderTest>(logs: &L) {
    const ROUNDS: u64 = 25;
    two_workers().block_on(async {
        let log = TestLog::create(logs, LogOptions::default()).await;
        let store = log.store();
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS as usize));
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let store = Arc::clone(store);
                let barrier = Arc::clone(&barrier);
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
                            Err(EventLogError::WrongExpectedVersion { actual, .. }) => {
                                assert!(actual.unwrap_or(0) > v, "conflict at {v} with {actual:?}");
                                conflicts += 1;
                            }
                            Err(e) => panic!("unexpected error {e:?}"),
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
        log.close().await;
    });
}

/// 64 tasks append 20 events each to their own streams at once: together
/// they get every position from 1 exactly once, each task's in increasing
/// order, and every stream ends at version 20.
pub fn concurrent_appenders_get_gapless_positions<L: LogUnderTest>(logs: &L) {
    const PER_TASK: u64 = 20;
    two_workers().block_on(async {
        let log = TestLog::create(logs, LogOptions::default()).await;
        let store = log.store();
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let store = Arc::clone(store);
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
        for t in 0..TASKS {
            let id = sid(&format!("own-{t}"));
            assert_eq!(store.stream_version(&id).await.unwrap(), Some(PER_TASK));
        }
        assert!(store.verify().await.unwrap().is_intact());
        log.close().await;
    });
}
