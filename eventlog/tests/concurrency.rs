//! The SQLite writer's group commit: concurrent appenders share transactions.
//! (Racing appenders and gapless positions under concurrency are checked for
//! every backend by the conformance suite, `tests/conformance.rs`.)

mod common;

use common::one;
use poolkeeper_eventlog::{EventLogConfig, EventStore, ExpectedVersion, SqliteEventStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_share_group_commits() {
    const TASKS: u64 = 64;
    const PER_TASK: u64 = 20;
    let store = SqliteEventStore::open_temporary(EventLogConfig::default()).unwrap();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..PER_TASK {
                    let expected = if i == 0 {
                        ExpectedVersion::NoStream
                    } else {
                        ExpectedVersion::Exact(i)
                    };
                    store
                        .append(one(&format!("own-{t}"), expected, i))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.tail().await.unwrap(), TASKS * PER_TASK);
    let stats = store.writer_stats();
    assert_eq!(stats.events, TASKS * PER_TASK);
    assert_eq!(stats.commands, TASKS * PER_TASK);
    // 64 appenders waiting on fsyncs share transactions.
    assert!(
        stats.groups < stats.commands,
        "no group commit happened: {stats:?}"
    );
}
