//! The data directory's files: the real `poolkeeper` process, stopped with SIGTERM, leaves
//! no WAL behind (no `*-wal` file larger than 0 bytes) and a small directory; a fresh
//! directory after its first start and stop stays under the bound README.md states; and
//! an idle server truncates its WALs while it keeps running.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use poolkeeper_grpc::client;
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::audit_service_client::AuditServiceClient;
use poolkeeper_proto::v1::command_service_client::CommandServiceClient;
use poolkeeper_proto::v1::query_service_client::QueryServiceClient;
use poolkeeper_tests::command_id;
use poolkeeper_tests::process::{self, ServerProcess};

/// A fresh data directory after its first start and a clean stop is smaller than this
/// (README.md, "Running the service"; measured: 262,363 bytes with the platform log).
const FRESH_BOUND: u64 = 512 * 1024;

/// After the 327 commands below and a clean stop (measured: about 760 KB).
const AFTER_COMMANDS_BOUND: u64 = 2 << 20;

type Server = ServerProcess;

async fn spawn(dir: &Path) -> Server {
    process::spawn(env!("CARGO_BIN_EXE_poolkeeper-under-test"), dir).await
}

/// Clients of the server in the default organization.
trait DefaultOrganization {
    fn commands(&self, user: &str) -> CommandServiceClient<client::AuthedChannel>;
    async fn tail(&self) -> u64;
}

impl DefaultOrganization for Server {
    fn commands(&self, user: &str) -> CommandServiceClient<client::AuthedChannel> {
        CommandServiceClient::new(
            self.credentials
                .acting_as(user)
                .unwrap()
                .on(self.channel.clone()),
        )
    }

    async fn tail(&self) -> u64 {
        AuditServiceClient::new(self.credentials.on(self.channel.clone()))
            .verify_log(pb::VerifyLogRequest {})
            .await
            .unwrap()
            .into_inner()
            .tail
    }
}

/// Every file under `dir`, with its size.
fn files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                found.push((entry.path(), meta.len()));
            }
        }
    }
    found.sort();
    found
}

fn listing(files: &[(PathBuf, u64)], root: &Path) -> String {
    files
        .iter()
        .map(|(path, size)| format!("{size:>10} {}", path.strip_prefix(root).unwrap().display()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `*-wal` files larger than 0 bytes.
fn nonempty_wals(files: &[(PathBuf, u64)]) -> Vec<&(PathBuf, u64)> {
    files
        .iter()
        .filter(|(path, size)| path.to_string_lossy().ends_with("-wal") && *size > 0)
        .collect()
}

/// Asserts a clean stop left no WAL and at most `bound` bytes; returns the total.
#[track_caller]
fn assert_clean(dir: &Path, bound: u64) -> u64 {
    let files = files(dir);
    let total: u64 = files.iter().map(|(_, size)| size).sum();
    eprintln!(
        "{} bytes in the data directory:\n{}",
        total,
        listing(&files, dir)
    );
    assert!(
        nonempty_wals(&files).is_empty(),
        "WAL files left after a clean stop:\n{}",
        listing(&files, dir)
    );
    assert!(
        total < bound,
        "the data directory holds {total} bytes (bound {bound}):\n{}",
        listing(&files, dir)
    );
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_data_directory_is_small_after_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(dir.path()).await;
    // The bootstrap (organization, admin, default pool) is in the log.
    assert!(server.tail().await > 0);
    let status = server.terminate();
    assert!(status.success(), "exit after SIGTERM: {status}");
    assert_clean(dir.path(), FRESH_BOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_after_commands_leaves_no_wal_and_an_idle_server_truncates_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(dir.path()).await;
    let mut admin = server.commands(&server.admin);
    let (users, customers) = poolkeeper_tests::workload::hire(&mut admin, 6, 300).await;
    // Four users claim customers concurrently and log follow-ups on them.
    let mut tasks = Vec::new();
    for (k, user) in users.iter().take(4).enumerate() {
        let mut commands = server.commands(user);
        let mine: Vec<String> = customers
            .iter()
            .skip(k)
            .step_by(4)
            .take(40)
            .cloned()
            .collect();
        tasks.push(tokio::spawn(async move {
            for customer in mine {
                commands
                    .claim_customer(pb::ClaimCustomerRequest {
                        command_id: command_id(),
                        customer: customer.clone(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                commands
                    .log_follow_up(pb::LogFollowUpRequest {
                        command_id: command_id(),
                        customer,
                        kind: pb::FollowUpKind::Call as i32,
                        note: "电话回访".into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // The projections catch up and are read.
    let tail = server.tail().await;
    let pools = QueryServiceClient::new(
        server
            .credentials
            .acting_as(&server.admin)
            .unwrap()
            .on(server.channel.clone()),
    )
    .list_pools(pb::ListPoolsRequest { min_position: tail })
    .await
    .unwrap()
    .into_inner();
    assert!(!pools.pools.is_empty());
    let wals_while_serving = files(dir.path());
    assert!(
        !nonempty_wals(&wals_while_serving).is_empty(),
        "the commits are in WALs while serving:\n{}",
        listing(&wals_while_serving, dir.path())
    );

    // Idle (5 s without a commit by default): the running server truncates every WAL.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !nonempty_wals(&files(dir.path())).is_empty() {
        assert!(
            Instant::now() < deadline,
            "an idle server keeps its WALs:\n{}",
            listing(&files(dir.path()), dir.path())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.tail().await, tail, "the server still answers");

    let status = server.terminate();
    assert!(status.success(), "exit after SIGTERM: {status}");
    assert_clean(dir.path(), AFTER_COMMANDS_BOUND);

    // Nothing was lost: a restart finds the same, intact log.
    let server = spawn(dir.path()).await;
    let verified = AuditServiceClient::new(server.credentials.on(server.channel.clone()))
        .verify_log(pb::VerifyLogRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(verified.intact && verified.tail == tail, "{verified:?}");
    let status = server.terminate();
    assert!(status.success(), "exit after SIGTERM: {status}");
    assert_clean(dir.path(), AFTER_COMMANDS_BOUND);
}

/// A directory written before organizations: one log and `projections/` at its root.
/// The first start moves them into `organizations/default/` and serves the same data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_organization_directory_becomes_the_default_organization() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn(dir.path()).await;
    let admin = server.admin.clone();
    let customer = server
        .commands(&admin)
        .create_customer(pb::CreateCustomerRequest {
            command_id: command_id(),
            customer: Some(pb::NewCustomer {
                display_name: "老客户".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let tail = server.tail().await;
    assert!(server.terminate().success());
    // Put the files back where a single-organization server kept them.
    let root = dir.path();
    let default = root.join("organizations").join("default");
    for name in ["events.db", "events.db-wal", "events.db-shm", "projections"] {
        if default.join(name).exists() {
            std::fs::rename(default.join(name), root.join(name)).unwrap();
        }
    }
    std::fs::remove_dir_all(root.join("organizations")).unwrap();
    std::fs::remove_dir_all(root.join("platform")).unwrap();

    let server = spawn(root).await;
    assert_eq!(server.admin, admin, "bootstrap.json still names the admin");
    assert!(!root.join("events.db").exists(), "the old log moved");
    assert_eq!(server.tail().await, tail, "the same log, nothing appended");
    let read = QueryServiceClient::new(
        server
            .credentials
            .acting_as(&admin)
            .unwrap()
            .on(server.channel.clone()),
    )
    .get_customer(pb::GetCustomerRequest {
        name: customer.name.clone(),
        min_position: tail,
    })
    .await
    .expect("the adopted organization serves its customer")
    .into_inner();
    assert_eq!(read.display_name, "老客户");
    // Its admin still acts: the catalog records the default organization with it.
    server
        .commands(&admin)
        .create_customer(pb::CreateCustomerRequest {
            command_id: command_id(),
            customer: Some(pb::NewCustomer {
                display_name: "新客户".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("the admin of the adopted organization acts");
    assert!(server.terminate().success());
}
