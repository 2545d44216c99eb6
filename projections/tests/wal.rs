//! File hygiene of the projections' WALs: closing leaves them empty, and an idle runner
//! truncates them while the projections stay open.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use poolkeeper_projections::{ProjectionName, Projections, ProjectionsConfig, projection_path};
use support::*;

/// Each projection's WAL size in bytes (0 when it does not exist).
fn wal_sizes(dir: &Path) -> Vec<(ProjectionName, u64)> {
    ProjectionName::ALL
        .into_iter()
        .map(|name| {
            let mut wal = projection_path(dir, name).into_os_string();
            wal.push("-wal");
            (name, std::fs::metadata(wal).map_or(0, |m| m.len()))
        })
        .collect()
}

fn all_empty(dir: &Path) -> bool {
    wal_sizes(dir).iter().all(|(_, size)| *size == 0)
}

/// Polls `done` every 5 ms; fails after `within`.
async fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads every projection, so each has pooled read connections open.
async fn read_everything(projections: &Projections) {
    for name in ProjectionName::ALL {
        assert!(!projections.dump(name).await.unwrap().is_empty());
    }
}

#[test]
fn closing_leaves_the_wals_empty() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = open_log(&dir.path().join("events.db"));
        let (_, commands) = history(11, 40, &fixed_steps(300));
        let tail = append(&store, &commands, 8).await;
        let config = ProjectionsConfig {
            idle_checkpoint: None,
            ..ProjectionsConfig::default()
        };
        let projections_dir = dir.path().join("projections");
        let projections = Projections::open_with(&projections_dir, config).unwrap();
        follow_to(&projections, &store, tail).await;
        read_everything(&projections).await;
        assert!(
            !all_empty(&projections_dir),
            "the WALs hold the commits before close: {:?}",
            wal_sizes(&projections_dir)
        );
        projections.close().await.unwrap();
        assert!(
            all_empty(&projections_dir),
            "WALs left after close: {:?}",
            wal_sizes(&projections_dir)
        );
        // Still readable, and equal to a rebuild.
        let rebuilt = tempfile::tempdir().unwrap();
        assert_same(
            &dump_all(&projections).await,
            &rebuild_dump(rebuilt.path(), store.clone()).await,
        );
    });
}

#[test]
fn an_idle_runner_truncates_the_wals_and_goes_on() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = open_log(&dir.path().join("events.db"));
        let (_, commands) = history(12, 40, &fixed_steps(400));
        let (first, second) = commands.split_at(commands.len() / 2);
        let config = ProjectionsConfig {
            idle_checkpoint: Some(Duration::from_millis(100)),
            ..ProjectionsConfig::default()
        };
        let projections_dir = dir.path().join("projections");
        let projections = Projections::open_with(&projections_dir, config).unwrap();
        let runner = projections.spawn_runner(store.clone());
        for part in [first, second] {
            let tail = append(&store, part, 8).await;
            projections.wait_for(tail, WAIT).await.unwrap();
            read_everything(&projections).await;
            // Idle: every WAL is truncated while the projections stay open.
            wait_until("the idle truncation", Duration::from_secs(30), || {
                all_empty(&projections_dir)
            })
            .await;
            let rebuilt = tempfile::tempdir().unwrap();
            assert_same(
                &dump_all(&projections).await,
                &rebuild_dump(rebuilt.path(), store.clone()).await,
            );
        }
        runner.shutdown().await;
        projections.close().await.unwrap();
        assert!(all_empty(&projections_dir));
    });
}
