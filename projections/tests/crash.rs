//! Kill the runner at random points (a child process, SIGKILL); on restart every
//! projection converges to the rebuild result and no event is applied twice.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use poolkeeper_eventlog::EventStore;
use poolkeeper_projections::{Projections, ProjectionsConfig};
use poolkeeper_simulate::Step;
use support::*;

const CHILD_DIR: &str = "PROJECTIONS_CRASH_DIR";

fn config() -> ProjectionsConfig {
    ProjectionsConfig {
        batch_max: 3,
        cache_rows: 0,
        ..ProjectionsConfig::default()
    }
}

/// The child: follows the log until caught up, then exits. The parent kills it first.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    runtime().block_on(async {
        let store = open_log(&dir.join("log.db"));
        let tail = store.tail().await.unwrap();
        let projections = Projections::open_with(&dir.join("projections"), config()).unwrap();
        let runner = projections.spawn_runner(store.clone());
        projections.wait_for(tail, WAIT).await.unwrap();
        runner.shutdown().await;
    });
}

#[test]
fn killed_runners_converge_to_the_rebuild() {
    if std::env::var(CHILD_DIR).is_ok() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let runtime = runtime();
    let (store, tail) = runtime.block_on(async {
        let steps: Vec<Step> = (0..3_000u32)
            .map(|i| Step {
                action: (i.wrapping_mul(2_654_435_761) >> 7) as u8,
                pick: i.wrapping_mul(40_503),
                other: i.wrapping_mul(69_069) >> 3,
                minutes: (i % 7 * 60) as u16,
            })
            .collect();
        let (_, commands) = history(11, 200, &steps);
        let store = open_log(&dir.join("log.db"));
        let tail = append(&store, &commands, 100).await;
        store.close().await.unwrap();
        (store, tail)
    });
    drop(store);
    assert!(tail > 2_000, "a long enough log: {tail}");

    let exe = std::env::current_exe().unwrap();
    let mut random: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut kills = 0;
    let mut checkpoints = Vec::new();
    for _ in 0..16 {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, &dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + random % 60));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        // Read the checkpoints the killed child left.
        let projections = Projections::open_with(&dir.join("projections"), config()).unwrap();
        checkpoints.push(
            projections
                .status()
                .iter()
                .map(|s| s.checkpoint)
                .min()
                .unwrap(),
        );
    }
    assert!(
        kills >= 10,
        "only {kills} children were killed mid-way: {checkpoints:?}"
    );

    runtime.block_on(async {
        let store = open_log(&dir.join("log.db"));
        let projections = Projections::open_with(&dir.join("projections"), config()).unwrap();
        let runner = projections.spawn_runner(store.clone());
        projections.wait_for(tail, WAIT).await.unwrap();
        runner.shutdown().await;
        // `meta.events_applied` == `meta.checkpoint` == tail in the live files: no event
        // was applied twice, and the dumps (which include meta) equal the rebuild's.
        let live = dump_all(&projections).await;
        for (name, tables) in &live {
            let meta = tables.iter().find(|t| t.table == "meta").unwrap();
            assert!(
                meta.rows.contains(&format!("'checkpoint'|{tail}")),
                "{name}: {:?}",
                meta.rows
            );
            assert!(
                meta.rows.contains(&format!("'events_applied'|{tail}")),
                "{name}: {:?}",
                meta.rows
            );
        }
        let rebuilt =
            rebuild_dump(&dir.join("rebuilt"), store.clone() as Arc<dyn EventStore>).await;
        assert_same(&live, &rebuilt);
    });
    assert!(
        checkpoints.windows(2).all(|w| w[0] <= w[1]),
        "progress is never lost: {checkpoints:?}"
    );
}
