//! Online rebuild under concurrent appends: readers keep answering, and the swapped-in
//! projection equals an offline rebuild.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use poolkeeper_eventlog::EventStore;
use poolkeeper_projections::{
    PoolFilter, PoolQuery, ProjectionName, Projections, ProjectionsConfig, RebuildPhase,
};
use poolkeeper_simulate::Step;
use support::*;

#[test]
fn online_rebuilds_swap_in_a_copy_equal_to_an_offline_rebuild() {
    runtime().block_on(async {
        let temp = tempfile::tempdir().unwrap();
        let steps: Vec<Step> = (0..2_500u32)
            .map(|i| Step {
                action: (i.wrapping_mul(2_654_435_761) >> 9) as u8,
                pick: i.wrapping_mul(40_503),
                other: i.wrapping_mul(69_069) >> 5,
                minutes: (i % 5 * 45) as u16,
            })
            .collect();
        let (simulation, commands) = history(21, 300, &steps);
        let store = open_log(&temp.path().join("log.db"));
        let split = commands.len() / 2;
        append(&store, &commands[..split], 50).await;
        let config = ProjectionsConfig {
            rebuild_page: 97,
            rebuild_commit_events: 300,
            swap_within: 20,
            ..ProjectionsConfig::default()
        };
        let projections = Projections::open_with(&temp.path().join("live"), config).unwrap();
        let runner = projections.spawn_runner(store.clone());

        // Appends keep coming during the rebuild.
        let appending = {
            let store = store.clone();
            let rest = commands[split..].to_vec();
            tokio::spawn(async move {
                let mut tail = 0;
                for chunk in rest.chunks(5) {
                    tail = append(&store, chunk, 5).await;
                    tokio::task::yield_now().await;
                }
                tail
            })
        };
        // Readers keep reading.
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let reader = {
            let projections = projections.clone();
            let stop = Arc::clone(&stop);
            let reads = Arc::clone(&reads);
            let pool = simulation.pools[0];
            let customer = simulation.customers[0];
            tokio::spawn(async move {
                while !stop.load(Ordering::Acquire) {
                    projections
                        .pool_view()
                        .list(PoolQuery::new(pool, PoolFilter::All))
                        .await
                        .expect("the pool view answers during the rebuild");
                    projections
                        .history()
                        .timeline(customer)
                        .await
                        .expect("the history answers during the rebuild");
                    reads.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            })
        };

        for name in [ProjectionName::PoolView, ProjectionName::OwnershipHistory] {
            let mut progress = projections
                .rebuild_online(name, store.clone())
                .await
                .unwrap();
            assert!(matches!(
                projections.rebuild_online(name, store.clone()).await,
                Err(poolkeeper_projections::ProjectionError::RebuildRunning(_))
            ));
            let mut phases = Vec::new();
            loop {
                let phase = progress.borrow_and_update().phase.clone();
                if phases.last() != Some(&phase) {
                    phases.push(phase.clone());
                }
                match phase {
                    RebuildPhase::Done => break,
                    RebuildPhase::Failed(error) => panic!("{name}: {error}"),
                    _ => {}
                }
                progress.changed().await.unwrap();
            }
            assert!(phases.contains(&RebuildPhase::Swapping), "{phases:?}");
            let status = projections.status();
            let rebuilt = &status[name as usize];
            assert!(
                rebuilt
                    .rebuilding
                    .as_ref()
                    .is_some_and(|p| p.phase == RebuildPhase::Done)
            );
            assert!(rebuilt.error.is_none());
        }
        let tail = appending.await.unwrap();
        projections.wait_for(tail, WAIT).await.unwrap();
        stop.store(true, Ordering::Release);
        reader.await.unwrap();
        assert!(reads.load(Ordering::Relaxed) > 0);
        runner.shutdown().await;

        let live = dump_all(&projections).await;
        let offline = rebuild_dump(
            &temp.path().join("offline"),
            store.clone() as Arc<dyn EventStore>,
        )
        .await;
        assert_same(&live, &offline);
        for status in projections.status() {
            assert_eq!(status.checkpoint, tail);
            assert_eq!(status.lag_positions, 0);
        }
    });
}
