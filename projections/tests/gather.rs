//! The runner gathers events for `commit_every` before it commits them, unless a reader
//! waits for one of them, `batch_max` are gathered, or it is stopped.

mod support;

use std::time::Duration;

use poolkeeper_projections::simulate::Step;
use poolkeeper_projections::{Projections, ProjectionsConfig};
use support::*;

fn steps() -> Vec<Step> {
    (0..200u32)
        .map(|n| Step {
            action: (n % 256) as u8,
            pick: n * 7919,
            other: n * 104_729,
            minutes: (n % 90) as u16,
        })
        .collect()
}

/// A gather far longer than any test: only a reader, a full batch or a stop commits.
fn gathering_for_an_hour() -> ProjectionsConfig {
    ProjectionsConfig {
        commit_every: Duration::from_secs(3_600),
        batch_max: 100_000,
        ..ProjectionsConfig::default()
    }
}

/// Waits (bounded) until the runner has seen `tail`: it then holds the events gathered.
async fn until_seen(projections: &Projections, tail: u64) {
    for _ in 0..6_000 {
        if projections.status().iter().all(|s| s.tail >= tail) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the runner never saw position {tail}");
}

#[test]
fn gathered_events_wait_until_a_reader_asks_for_them_then_commit_at_once() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = open_log(&dir.path().join("events.db"));
        let (_, commands) = history(3, 30, &steps());
        let tail = append(&store, &commands, 16).await;
        assert!(tail > 100, "a long enough log: {tail}");
        let projections =
            Projections::open_with(&dir.path().join("projections"), gathering_for_an_hour())
                .unwrap();
        let runner = projections.spawn_runner(store.clone());
        until_seen(&projections, tail).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            projections.status().iter().all(|s| s.checkpoint == 0),
            "nothing is committed while the runner gathers: {:?}",
            projections.status()
        );
        // The gather lasts an hour; the reader's wait makes the runner commit now.
        projections
            .wait_for(tail, Duration::from_secs(30))
            .await
            .unwrap();
        assert!(projections.status().iter().all(|s| s.checkpoint == tail));
        runner.shutdown().await;
    });
}

#[test]
fn without_readers_the_gather_ends_in_a_commit() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = open_log(&dir.path().join("events.db"));
        let (_, commands) = history(4, 30, &steps());
        let tail = append(&store, &commands, 16).await;
        let config = ProjectionsConfig {
            commit_every: Duration::from_millis(20),
            batch_max: 100_000,
            ..ProjectionsConfig::default()
        };
        let projections = Projections::open_with(&dir.path().join("projections"), config).unwrap();
        let runner = projections.spawn_runner(store.clone());
        // No `wait_for`: only the end of the gather can commit.
        let mut committed = false;
        for _ in 0..6_000 {
            if projections.status().iter().all(|s| s.checkpoint == tail) {
                committed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(committed, "{:?}", projections.status());
        runner.shutdown().await;
    });
}

#[test]
fn stopping_the_runner_commits_what_it_gathered_and_a_rebuild_agrees() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = open_log(&dir.path().join("events.db"));
        let (_, commands) = history(5, 30, &steps());
        let tail = append(&store, &commands, 16).await;
        let projections_dir = dir.path().join("projections");
        let projections =
            Projections::open_with(&projections_dir, gathering_for_an_hour()).unwrap();
        let runner = projections.spawn_runner(store.clone());
        until_seen(&projections, tail).await;
        runner.shutdown().await;
        assert!(
            projections.status().iter().all(|s| s.checkpoint == tail),
            "{:?}",
            projections.status()
        );
        let live = dump_all(&projections).await;
        assert_same(
            &live,
            &rebuild_dump(&dir.path().join("rebuilt"), store.clone()).await,
        );
    });
}

#[test]
fn a_gather_larger_than_a_batch_commits_in_batches_and_equals_the_rebuild() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = open_log(&dir.path().join("events.db"));
        let (_, commands) = history(6, 30, &steps());
        let tail = append(&store, &commands, 16).await;
        let config = ProjectionsConfig {
            commit_every: Duration::from_secs(3_600),
            batch_max: 7,
            cache_rows: 0,
            ..ProjectionsConfig::default()
        };
        let projections = Projections::open_with(&dir.path().join("projections"), config).unwrap();
        let runner = projections.spawn_runner(store.clone());
        projections
            .wait_for(tail, Duration::from_secs(30))
            .await
            .unwrap();
        runner.shutdown().await;
        let live = dump_all(&projections).await;
        assert_same(
            &live,
            &rebuild_dump(&dir.path().join("rebuilt"), store.clone()).await,
        );
    });
}
