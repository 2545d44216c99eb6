//! Shared helpers: generated histories appended to a real event log, canonical dumps.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use poolkeeper_codec as codec;
use poolkeeper_domain::Event;
use poolkeeper_eventlog::{EventLogConfig, EventStore, Position, SqliteEventStore};
use poolkeeper_projections::{ProjectionName, Projections, TableDump, dump};
use poolkeeper_simulate::{Simulation, Step};
use proptest::prelude::*;

/// A multi-threaded runtime for tests that drive async code from proptest bodies.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Random steps for the simulation.
pub fn steps(max: usize) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (any::<u8>(), any::<u32>(), any::<u32>(), 0u16..1_500).prop_map(
            |(action, pick, other, minutes)| Step {
                action,
                pick,
                other,
                minutes,
            },
        ),
        1..max,
    )
}

/// `count` fixed, varied steps (the same every run).
pub fn fixed_steps(count: u32) -> Vec<Step> {
    (0..count)
        .map(|n| Step {
            action: (n % 256) as u8,
            pick: n * 7919,
            other: n * 104_729,
            minutes: (n % 90) as u16,
        })
        .collect()
}

/// A history: setup, `customers` imported, then `steps`; one entry per command.
pub fn history(seed: u64, customers: usize, steps: &[Step]) -> (Simulation, Vec<Vec<Event>>) {
    let (mut simulation, mut log) = Simulation::new(seed, 8);
    log.extend(simulation.import(customers));
    for step in steps {
        log.extend(simulation.step(*step));
    }
    (simulation, log)
}

/// Opens (or creates) an event log file.
pub fn open_log(path: &Path) -> Arc<SqliteEventStore> {
    Arc::new(SqliteEventStore::open(path, EventLogConfig::default()).expect("open the log"))
}

/// A log at `dir/log.db` that seals personal fields with keys in `dir/keys.db` and shreds
/// a purged customer's key, as the service's partitions do.
pub fn open_sealed_log(dir: &Path) -> Arc<dyn EventStore> {
    let keys = poolkeeper_vault::KeyStore::open(
        &dir.join("keys.db"),
        poolkeeper_vault::MasterKey::generate(),
    )
    .expect("open the key store");
    let personal = poolkeeper_vault::PersonalData::new(Arc::new(keys));
    let log: Arc<dyn EventStore> = open_log(&dir.join("log.db"));
    Arc::new(poolkeeper_vault::SealingStore::opening(log, personal))
}

/// Appends commands, `chunk` commands per batch; returns the tail.
pub async fn append(store: &SqliteEventStore, commands: &[Vec<Event>], chunk: usize) -> Position {
    append_to(store, commands, chunk).await
}

/// [`append`] to any log.
pub async fn append_to(store: &dyn EventStore, commands: &[Vec<Event>], chunk: usize) -> Position {
    for part in commands.chunks(chunk.max(1)) {
        let requests = part
            .iter()
            .map(|events| codec::encode(events).expect("one command"))
            .collect();
        for result in store.append_batch(requests).await.expect("append") {
            result.expect("appended");
        }
    }
    store.tail().await.expect("tail")
}

/// Runs a runner over `store` until every projection has applied `tail`, then stops it.
pub async fn follow_to(projections: &Projections, store: &Arc<SqliteEventStore>, tail: Position) {
    let runner = projections.spawn_runner(store.clone());
    projections.wait_for(tail, WAIT).await.expect("caught up");
    runner.shutdown().await;
}

/// Every projection's canonical dump from a live `Projections`.
pub async fn dump_all(projections: &Projections) -> Vec<(ProjectionName, Vec<TableDump>)> {
    let mut dumps = Vec::new();
    for name in ProjectionName::ALL {
        dumps.push((name, projections.dump(name).await.expect("dump")));
    }
    dumps
}

/// Every projection's canonical dump from the files of a directory.
pub fn dump_dir(dir: &Path) -> Vec<(ProjectionName, Vec<TableDump>)> {
    ProjectionName::ALL
        .into_iter()
        .map(|name| {
            let path = poolkeeper_projections::projection_path(dir, name);
            (name, dump::dump_file(&path).expect("dump"))
        })
        .collect()
}

/// Asserts two sets of dumps are equal, table by table, with a readable first difference.
#[track_caller]
pub fn assert_same(
    left: &[(ProjectionName, Vec<TableDump>)],
    right: &[(ProjectionName, Vec<TableDump>)],
) {
    assert_eq!(left.len(), right.len());
    for ((name, left), (_, right)) in left.iter().zip(right) {
        assert_eq!(left.len(), right.len(), "{name}: tables differ");
        for (a, b) in left.iter().zip(right) {
            assert_eq!(a.table, b.table, "{name}: tables differ");
            if a.rows != b.rows {
                let only_left: Vec<_> = a
                    .rows
                    .iter()
                    .filter(|r| !b.rows.contains(r))
                    .take(3)
                    .collect();
                let only_right: Vec<_> = b
                    .rows
                    .iter()
                    .filter(|r| !a.rows.contains(r))
                    .take(3)
                    .collect();
                panic!(
                    "{name}.{}: {} vs {} rows\nonly left: {only_left:#?}\nonly right: {only_right:#?}",
                    a.table,
                    a.rows.len(),
                    b.rows.len()
                );
            }
        }
    }
}

/// Rebuilds every projection offline from `store` into `dir` and dumps them.
pub async fn rebuild_dump(
    dir: &Path,
    store: Arc<dyn EventStore>,
) -> Vec<(ProjectionName, Vec<TableDump>)> {
    Projections::rebuild_offline(dir, &ProjectionName::ALL, store, |_| {})
        .await
        .expect("rebuild");
    dump_dir(dir)
}

/// A generous wait for the runner in tests.
pub const WAIT: Duration = Duration::from_secs(60);
