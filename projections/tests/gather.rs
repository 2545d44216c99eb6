//! The runner gathers events for `commit_every` before it commits them, unless a reader
//! waits for one of them, `batch_max` are gathered, or it is stopped.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use poolkeeper_eventlog::SqliteEventStore;
use poolkeeper_projections::{Projections, ProjectionsConfig};
use support::*;

/// A log of a fixed history (seeded by `seed`) and its tail.
async fn log_of(seed: u64, dir: &Path) -> (Arc<SqliteEventStore>, u64) {
    let store = open_log(&dir.join("events.db"));
    let (_, commands) = history(seed, 30, &fixed_steps(200));
    let tail = append(&store, &commands, 16).await;
    assert!(tail > 100, "a long enough log: {tail}");
    (store, tail)
}

/// Every projection's checkpoint has reached `tail`.
fn all_at(projections: &Projections, tail: u64) -> bool {
    projections.status().iter().all(|s| s.checkpoint == tail)
}

/// A gather far longer than any test: only a reader, a full batch or a stop commits.
fn gathering_for_an_hour() -> ProjectionsConfig {
    ProjectionsConfig {
        commit_every: Duration::from_secs(3_600),
        batch_max: 100_000,
        ..ProjectionsConfig::default()
    }
}

/// Polls `done` every 5 ms for up to 30 s; whether it came true.
async fn eventually(done: impl Fn() -> bool) -> bool {
    for _ in 0..6_000 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

/// Waits (bounded) until the runner has seen `tail`: it then holds the events gathered.
async fn until_seen(projections: &Projections, tail: u64) {
    let seen = eventually(|| projections.status().iter().all(|s| s.tail >= tail)).await;
    assert!(seen, "the runner never saw position {tail}");
}

#[test]
fn gathered_events_wait_until_a_reader_asks_for_them_then_commit_at_once() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (store, tail) = log_of(3, dir.path()).await;
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
        assert!(all_at(&projections, tail));
        runner.shutdown().await;
    });
}

#[test]
fn without_readers_the_gather_ends_in_a_commit() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (store, tail) = log_of(4, dir.path()).await;
        let config = ProjectionsConfig {
            commit_every: Duration::from_millis(20),
            batch_max: 100_000,
            ..ProjectionsConfig::default()
        };
        let projections = Projections::open_with(&dir.path().join("projections"), config).unwrap();
        let runner = projections.spawn_runner(store.clone());
        // No `wait_for`: only the end of the gather can commit.
        let committed = eventually(|| all_at(&projections, tail)).await;
        assert!(committed, "{:?}", projections.status());
        runner.shutdown().await;
    });
}

#[test]
fn stopping_the_runner_commits_what_it_gathered_and_a_rebuild_agrees() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (store, tail) = log_of(5, dir.path()).await;
        let projections_dir = dir.path().join("projections");
        let projections =
            Projections::open_with(&projections_dir, gathering_for_an_hour()).unwrap();
        let runner = projections.spawn_runner(store.clone());
        until_seen(&projections, tail).await;
        runner.shutdown().await;
        assert!(all_at(&projections, tail), "{:?}", projections.status());
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
        let (store, tail) = log_of(6, dir.path()).await;
        let config = ProjectionsConfig {
            commit_every: Duration::from_secs(3_600),
            batch_max: 7,
            cache_rows: 0,
            ..ProjectionsConfig::default()
        };
        let projections = Projections::open_with(&dir.path().join("projections"), config).unwrap();
        follow_to(&projections, &store, tail).await;
        let live = dump_all(&projections).await;
        assert_same(
            &live,
            &rebuild_dump(&dir.path().join("rebuilt"), store.clone()).await,
        );
    });
}
