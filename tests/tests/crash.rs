//! Crash safety of the whole service: the real `poolkeeper` process is killed with SIGKILL
//! while clients drive commands in three organizations; after a restart every
//! acknowledged command is in its own organization's log (re-sending it with the same
//! command id returns it as a duplicate at the same position; in another organization
//! what it names does not exist), and each organization's chain verifies on its own,
//! gap-free from position 1.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use poolkeeper_tests::process::{self, ServerProcess};
use poolkeeper_tests::workload::{
    Acked, Driver, ORGANIZATIONS, Rng, assert_every_chain_verifies, assert_kept,
    assert_projections_equal_a_rebuild, catch_up, commands_of, send, staff,
};

type Server = ServerProcess;

async fn spawn(dir: &Path, store: &Option<String>) -> Server {
    let extra: Vec<String> = match store {
        Some(url) => vec!["--store".into(), url.clone()],
        None => Vec::new(),
    };
    process::spawn_with(env!("CARGO_BIN_EXE_poolkeeper-under-test"), dir, &extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_commands_survive_sigkill_in_every_organization() {
    survive_six_kills(None).await;
}

/// The same with the logs in PostgreSQL (a throwaway cluster): the killed node's leases
/// are taken again by the restarted one, and nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_commands_survive_sigkill_on_postgresql() {
    let Some(store) = poolkeeper_tests::postgres_database().await else {
        return;
    };
    survive_six_kills(Some(store)).await;
}

/// Six rounds of load in three organizations, each ended by SIGKILL, then the checks.
async fn survive_six_kills(store: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let staffed = {
        let server = spawn(dir.path(), &store).await;
        let staffed = staff(&server, dir.path()).await;
        server.kill();
        staffed
    };

    let mut rng = Rng(0x5eed_1234_abcd_9876);
    let mut all_acked: Vec<Acked> = Vec::new();
    for round in 0..6 {
        let server = spawn(dir.path(), &store).await;
        // Everything acknowledged before earlier crashes is still there, in its own
        // organization.
        let when = format!("round {round}");
        for acked in &all_acked {
            assert_kept(&server, acked, &when).await;
        }
        assert_every_chain_verifies(&server, &when).await;

        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Acked>();
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for worker in 0..9u64 {
            let driver = Driver {
                channel: server.channel.clone(),
                credentials: server.credentials.clone(),
                staff: staffed[worker as usize % staffed.len()].clone(),
                rng: Rng(rng.below(u64::MAX - 1) + worker + 1),
            };
            tasks.push(tokio::spawn(driver.drive(sender.clone(), stop.clone())));
        }
        drop(sender);
        tokio::time::sleep(Duration::from_millis(150 + rng.below(350))).await;
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            let _ = task.await;
        }
        let before = all_acked.len();
        while let Some(acked) = receiver.recv().await {
            all_acked.push(acked);
        }
        for organization in ORGANIZATIONS {
            assert!(
                all_acked[before..]
                    .iter()
                    .any(|a| a.organization == organization),
                "round {round}: the load acknowledged nothing in {organization} before the kill"
            );
        }
    }
    let server = spawn(dir.path(), &store).await;
    for acked in &all_acked {
        assert_kept(&server, acked, "after the last crash").await;
        // In another organization its user and customer do not exist.
        let elsewhere = ORGANIZATIONS
            .iter()
            .find(|o| **o != acked.organization)
            .unwrap();
        let status = send(commands_of(&server, elsewhere, &acked.user), &acked.sent)
            .await
            .expect_err("an acknowledged command re-sent in another organization");
        assert_eq!(
            status.code(),
            tonic::Code::NotFound,
            "{acked:?} in {elsewhere}: {status:?}"
        );
    }
    let tails = assert_every_chain_verifies(&server, "after the last crash").await;
    eprintln!(
        "{} acknowledged commands in {} organizations survived 6 kills",
        all_acked.len(),
        ORGANIZATIONS.len()
    );

    // The projections, killed with the server six times, converge on the rebuild result.
    catch_up(&server, &tails).await;
    server.kill();
    for organization in ORGANIZATIONS {
        assert_projections_equal_a_rebuild(dir.path(), organization, &store).await;
    }
}
