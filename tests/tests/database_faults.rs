//! The real `poolkeeper` process on PostgreSQL while the database misbehaves under load:
//! its connections are terminated (`pg_terminate_backend`) again and again during group
//! commits, or the whole database crashes (`pg_ctl -m immediate`) and comes back. Every
//! acknowledged command stays in the log once; a command whose reply was an error has a
//! known outcome (re-sent, it is either its first reply or committed once now); chains
//! verify; projections equal an offline rebuild.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poolkeeper_eventlog_postgres::testing::{TestCluster, skip_reason};
use poolkeeper_tests::process::{self, ServerProcess};
use poolkeeper_tests::workload::{
    Acked, Driver, ORGANIZATIONS, Rng, assert_every_chain_verifies, assert_kept,
    assert_projections_equal_a_rebuild, catch_up, commands_of, send, staff,
};

/// One test at a time: each runs a server and a database on two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn spawn(dir: &Path, store: &str) -> ServerProcess {
    let extra = vec!["--store".to_owned(), store.to_owned()];
    process::spawn_with(env!("CARGO_BIN_EXE_poolkeeper-under-test"), dir, &extra).await
}

/// A server on `store` with nine clients in three organizations, running while `fault`
/// runs; then every check of this file.
async fn under_load<F: Future<Output = ()>>(store: &str, fault: impl FnOnce() -> F) {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(dir.path(), store).await;
    let staffed = staff(&server, dir.path()).await;
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Acked>();
    let failed = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut rng = Rng(0xdb_fa17_2026_1204);
    let mut drivers = Vec::new();
    for worker in 0..9 {
        let driver = Driver {
            channel: server.channel.clone(),
            credentials: server.credentials.clone(),
            staff: staffed[worker % staffed.len()].clone(),
            rng: Rng(rng.below(u64::MAX - 1) + 1),
        };
        let failed = failed.clone();
        let task = driver.drive_keeping_failures(sender.clone(), stop.clone(), failed);
        drivers.push(tokio::spawn(task));
    }
    drop(sender);
    tokio::time::sleep(Duration::from_millis(300)).await;
    fault().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for driver in drivers {
        driver.await.unwrap();
    }
    let mut acked = Vec::new();
    while let Some(one) = receiver.recv().await {
        acked.push(one);
    }
    let failed = std::mem::take(&mut *failed.lock().unwrap());
    assert_outcomes_known(&server, &acked, &failed).await;
    server.kill();
    for organization in ORGANIZATIONS {
        assert_projections_equal_a_rebuild(dir.path(), organization, &Some(store.into())).await;
    }
}

/// Acknowledged commands are kept once; a command that failed (UNAVAILABLE, never
/// INTERNAL), re-sent twice, is either refused both times for a business reason or answered twice
/// at one position (its outcome was decided once).
async fn assert_outcomes_known(
    server: &ServerProcess,
    acked: &[Acked],
    failed: &[(Acked, tonic::Code)],
) {
    for one in acked {
        assert_kept(server, one, "after the fault").await;
    }
    assert_every_chain_verifies(server, "after the fault").await;
    let mut resolved = 0;
    for (one, code) in failed {
        assert_eq!(
            *code,
            tonic::Code::Unavailable,
            "a database fault is retryable"
        );
        let again = || send(commands_of(server, one.organization, &one.user), &one.sent);
        let (first, second) = (again().await, again().await);
        match (first, second) {
            (Ok(a), Ok(b)) => {
                assert!(
                    b.duplicate && a.position == b.position,
                    "{one:?}: {a:?} {b:?}"
                );
                resolved += 1;
            }
            (Err(a), Err(b)) => assert!(
                a.code() == b.code() && a.code() != tonic::Code::Internal,
                "{one:?}: {a:?} then {b:?}"
            ),
            (a, b) => panic!("{one:?}: re-sent twice, {a:?} then {b:?}"),
        }
    }
    let tails = assert_every_chain_verifies(server, "after the re-sends").await;
    catch_up(server, &tails).await;
    eprintln!(
        "{} acknowledged commands kept; {} failed during the fault, {resolved} of them \
         committed once when re-sent; tails {tails:?}",
        acked.len(),
        failed.len()
    );
    assert!(!acked.is_empty(), "the load acknowledged nothing");
}

/// Terminates every connection of the server to its database, every 50 ms for 2 s:
/// group commits, subscriptions and lease renewals lose their connection mid-flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_connections_lose_nothing_and_leave_no_unknown_outcome() {
    let Some(store) = poolkeeper_tests::postgres_database().await else {
        return;
    };
    let _alone = ONE_AT_A_TIME.lock().await;
    let database = store.rsplit('/').next().unwrap().to_owned();
    let admin_url = TestCluster::shared().url();
    under_load(&store, || async move {
        let (db, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let connection = tokio::spawn(connection);
        let mut terminated = 0;
        for _ in 0..40 {
            let rows = db
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&database],
                )
                .await
                .unwrap();
            terminated += rows.len();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!("{terminated} connections terminated");
        assert!(terminated > 0);
        drop(db);
        let _ = connection.await;
    })
    .await;
}

/// Crashes the database (`pg_ctl -m immediate stop`: no checkpoint) under load and
/// starts it again after a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_crash_under_load_loses_nothing_acknowledged() {
    if let Some(reason) = skip_reason() {
        eprintln!("{reason}");
        return;
    }
    let _alone = ONE_AT_A_TIME.lock().await;
    let cluster = tokio::task::spawn_blocking(TestCluster::start)
        .await
        .unwrap()
        .expect("a throwaway cluster of this test's own");
    let store = cluster.url();
    let cluster = Arc::new(cluster);
    let crashed = cluster.clone();
    under_load(&store, || async move {
        tokio::task::spawn_blocking(move || {
            crashed.crash().expect("the database crashes");
            std::thread::sleep(Duration::from_secs(1));
            crashed.restart().expect("the database starts again");
        })
        .await
        .unwrap();
    })
    .await;
    drop(cluster);
}
