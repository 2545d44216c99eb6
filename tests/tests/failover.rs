//! Failover between real `poolkeeper serve` processes on one PostgreSQL database (a
//! throwaway cluster): the writer of an organization is killed with SIGKILL, or paused
//! with SIGSTOP past its lease, under load; another node takes the organization over
//! within the lease's time to live, every acknowledged command stays in the log once,
//! positions stay gap-free, and the paused writer, resumed, commits nothing.

use std::time::{Duration, Instant};

use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::audit_service_client::AuditServiceClient;
use poolkeeper_proto::v1::command_service_client::CommandServiceClient;
use poolkeeper_tests::process::{self, ServerProcess};
use poolkeeper_tests::{new_customer, postgres_database};

const EXE: &str = env!("CARGO_BIN_EXE_poolkeeper-under-test");
const LEASE_SECONDS: u64 = 2;

/// A node on `store`, with its own data directory.
async fn node(store: &str) -> (ServerProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = process::cluster_config(dir.path(), store, LEASE_SECONDS);
    let extra = vec!["--config".to_owned(), config.display().to_string()];
    (process::spawn_with(EXE, dir.path(), &extra).await, dir)
}

fn commands(
    node: &ServerProcess,
    user: &str,
) -> CommandServiceClient<poolkeeper_grpc::client::AuthedChannel> {
    CommandServiceClient::new(
        node.credentials
            .acting_as(user)
            .unwrap()
            .on(node.channel.clone()),
    )
}

async fn verified_tail(node: &ServerProcess) -> u64 {
    let report = AuditServiceClient::new(node.credentials.on(node.channel.clone()))
        .verify_log(pb::VerifyLogRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(report.intact, "{report:?}");
    assert_eq!(report.events_checked, report.tail, "gap-free from 1");
    report.tail
}

/// Sends `request` to `node` until it is taken (another node may still hold the lease);
/// the reply and how long it took.
async fn until_taken(
    node: &ServerProcess,
    admin: &str,
    request: pb::CreateCustomerRequest,
) -> (pb::CommandResult, Duration) {
    let started = Instant::now();
    loop {
        match commands(node, admin).create_customer(request.clone()).await {
            Ok(reply) => return (reply.into_inner(), started.elapsed()),
            Err(status) if status.code() == tonic::Code::Unavailable => {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "no takeover: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("refused: {status:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_writer_is_replaced_within_its_lease_and_nothing_acknowledged_is_lost() {
    let Some(store) = postgres_database().await else {
        return;
    };
    let (mut writer, writer_dir) = node(&store).await;
    let mut dirs = vec![writer_dir];
    let admin = writer.admin.clone();
    let mut acknowledged = Vec::new();
    let mut takeovers = Vec::new();
    for round in 0..3 {
        let (standby, standby_dir) = node(&store).await;
        for n in 0..20 {
            let request = new_customer(&format!("round {round} customer {n}"));
            let reply = commands(&writer, &admin)
                .create_customer(request.clone())
                .await
                .unwrap()
                .into_inner();
            acknowledged.push((request, reply));
        }
        writer.kill();
        let (_, took) = until_taken(&standby, &admin, new_customer("after the kill")).await;
        takeovers.push(took);
        writer = standby;
        dirs.push(standby_dir);
    }
    for (request, reply) in &acknowledged {
        let retry = commands(&writer, &admin)
            .create_customer(request.clone())
            .await
            .unwrap()
            .into_inner();
        assert!(retry.duplicate && retry.position == reply.position && retry.name == reply.name);
    }
    verified_tail(&writer).await;
    takeovers.sort();
    eprintln!(
        "takeover after SIGKILL: p50 {:?}, max {:?} (lease {LEASE_SECONDS} s)",
        takeovers[takeovers.len() / 2],
        takeovers.last().unwrap()
    );
    assert!(*takeovers.last().unwrap() < Duration::from_secs(LEASE_SECONDS + 2 + 2));
    writer.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_paused_past_its_lease_commits_nothing_when_it_wakes() {
    let Some(store) = postgres_database().await else {
        return;
    };
    let (writer, _a) = node(&store).await;
    let (standby, _b) = node(&store).await;
    let admin = writer.admin.clone();
    commands(&writer, &admin)
        .create_customer(new_customer("before the pause"))
        .await
        .unwrap();
    let pid = writer.child.id().to_string();
    let signal = |name: &str| {
        let sent = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    signal("-STOP");
    // Sent to the paused writer: it reads and decides this only after it wakes up.
    let stale = new_customer("decided by the paused writer");
    let mut late = commands(&writer, &admin);
    let late_request = stale.clone();
    let late_call = tokio::spawn(async move { late.create_customer(late_request).await });
    let (taken, took) = until_taken(&standby, &admin, new_customer("after the pause")).await;
    eprintln!("takeover of a paused writer after {took:?}");
    signal("-CONT");
    let answer = late_call.await.unwrap();
    assert!(
        answer.is_err(),
        "the woken writer must not commit: {answer:?}"
    );
    // Nothing of the paused writer is in the log: the same command, sent now, is new.
    let fresh = commands(&standby, &admin)
        .create_customer(stale)
        .await
        .unwrap()
        .into_inner();
    assert!(
        !fresh.duplicate,
        "the stale writer's command was not committed"
    );
    assert_eq!(fresh.position, taken.position + 1, "gap-free");
    assert_eq!(verified_tail(&standby).await, fresh.position);
    writer.kill();
    standby.kill();
}
