//! Crash safety of the whole service: the real `poolkeeper` process is killed with SIGKILL
//! while clients drive commands; after a restart every acknowledged command is in the log
//! (re-sending it with the same command id returns it as a duplicate at the same
//! position) and the hash chain verifies.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use poolkeeper_grpc::client::{self, Credentials};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::audit_service_client::AuditServiceClient;
use poolkeeper_proto::v1::command_service_client::CommandServiceClient;
use poolkeeper_tests::command_id;
use tonic::transport::Channel;

struct Server {
    child: Child,
    channel: Channel,
    credentials: Credentials,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn spawn(dir: &Path) -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_poolkeeper-under-test"))
        .args([
            "serve",
            "--manual-clock",
            "2026-01-01T09:00:00Z",
            "--listen",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    let channel = loop {
        match client::connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(channel) => break channel,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(error) => panic!("the server never listened: {error}"),
        }
    };
    let token = std::fs::read_to_string(dir.join("dev-token")).expect("the development token");
    Server {
        child,
        channel,
        credentials: Credentials::new(token.trim()).expect("ascii token"),
    }
}

/// A tiny deterministic generator.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// An acknowledged command, kept to be re-sent after the crash.
#[derive(Clone, Debug)]
enum Acked {
    Claim(String, pb::ClaimCustomerRequest, u64),
    FollowUp(String, pb::LogFollowUpRequest, u64),
    Abandon(String, pb::AbandonCustomerRequest, u64),
}

async fn resend(server: &Server, acked: &Acked) -> pb::CommandResult {
    let commands = |user: &str| {
        CommandServiceClient::new(
            server
                .credentials
                .acting_as(user)
                .unwrap()
                .on(server.channel.clone()),
        )
    };
    let result = match acked {
        Acked::Claim(user, request, _) => commands(user).claim_customer(request.clone()).await,
        Acked::FollowUp(user, request, _) => commands(user).log_follow_up(request.clone()).await,
        Acked::Abandon(user, request, _) => commands(user).abandon_customer(request.clone()).await,
    };
    result
        .unwrap_or_else(|status| panic!("re-sending acknowledged {acked:?} failed: {status:?}"))
        .into_inner()
}

fn position(acked: &Acked) -> u64 {
    match acked {
        Acked::Claim(_, _, p) | Acked::FollowUp(_, _, p) | Acked::Abandon(_, _, p) => *p,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_commands_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let (users, customers) = {
        let mut server = spawn(dir.path()).await;
        let bootstrap: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("bootstrap.json")).unwrap())
                .unwrap();
        let mut users = Vec::new();
        let admin = bootstrap["admin_user"].as_str().unwrap().to_owned();
        let mut commands = CommandServiceClient::new(
            server
                .credentials
                .acting_as(&admin)
                .unwrap()
                .on(server.channel.clone()),
        );
        for n in 0..8 {
            let user = commands
                .create_user(pb::CreateUserRequest {
                    command_id: command_id(),
                    display_name: format!("sales {n}"),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            users.push(user.name);
        }
        let imported = commands
            .import_customers(pb::ImportCustomersRequest {
                command_id: command_id(),
                customers: (0..120)
                    .map(|n| pb::NewCustomer {
                        display_name: format!("客户{n}"),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        (users, imported.names)
    };

    let mut rng = Rng(0x5eed_1234_abcd_9876);
    let mut all_acked: Vec<Acked> = Vec::new();
    for round in 0..6 {
        let mut server = spawn(dir.path()).await;
        // Everything acknowledged before earlier crashes is still there.
        for acked in &all_acked {
            let result = resend(&server, acked).await;
            assert!(result.duplicate, "round {round}: {acked:?} was lost");
            assert_eq!(
                result.position,
                position(acked),
                "round {round}: {acked:?} moved"
            );
        }
        let verified = AuditServiceClient::new(server.credentials.on(server.channel.clone()))
            .verify_log(pb::VerifyLogRequest {})
            .await
            .unwrap()
            .into_inner();
        assert!(verified.intact, "round {round}: {verified:?}");

        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Acked>();
        let mut tasks = Vec::new();
        for worker in 0..8u64 {
            let sender = sender.clone();
            let channel = server.channel.clone();
            let credentials = server.credentials.clone();
            let users = users.clone();
            let customers = customers.clone();
            let mut rng = Rng(rng.below(u64::MAX - 1) + worker + 1);
            tasks.push(tokio::spawn(async move {
                loop {
                    let user = users[rng.below(users.len() as u64) as usize].clone();
                    let customer = customers[rng.below(customers.len() as u64) as usize].clone();
                    let mut commands = CommandServiceClient::new(
                        credentials.acting_as(&user).unwrap().on(channel.clone()),
                    );
                    let acked = match rng.below(3) {
                        0 => {
                            let request = pb::ClaimCustomerRequest {
                                command_id: command_id(),
                                customer,
                                ..Default::default()
                            };
                            commands
                                .claim_customer(request.clone())
                                .await
                                .map(|r| Acked::Claim(user, request, r.into_inner().position))
                        }
                        1 => {
                            let request = pb::LogFollowUpRequest {
                                command_id: command_id(),
                                customer,
                                kind: pb::FollowUpKind::Call as i32,
                                note: "电话回访".into(),
                                ..Default::default()
                            };
                            commands
                                .log_follow_up(request.clone())
                                .await
                                .map(|r| Acked::FollowUp(user, request, r.into_inner().position))
                        }
                        _ => {
                            let request = pb::AbandonCustomerRequest {
                                command_id: command_id(),
                                customer,
                                reason: "无意向".into(),
                                ..Default::default()
                            };
                            commands
                                .abandon_customer(request.clone())
                                .await
                                .map(|r| Acked::Abandon(user, request, r.into_inner().position))
                        }
                    };
                    match acked {
                        Ok(acked) => {
                            if sender.send(acked).is_err() {
                                return;
                            }
                        }
                        Err(status)
                            if status.code() == tonic::Code::Unavailable
                                || status.code() == tonic::Code::Unknown =>
                        {
                            return;
                        }
                        Err(_) => {}
                    }
                }
            }));
        }
        drop(sender);
        tokio::time::sleep(Duration::from_millis(150 + rng.below(350))).await;
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        for task in tasks {
            let _ = task.await;
        }
        let before = all_acked.len();
        while let Some(acked) = receiver.recv().await {
            all_acked.push(acked);
        }
        assert!(
            all_acked.len() > before,
            "round {round}: the load acknowledged nothing before the kill"
        );
    }
    let server = spawn(dir.path()).await;
    for acked in &all_acked {
        let result = resend(&server, acked).await;
        assert!(
            result.duplicate && result.position == position(acked),
            "{acked:?} lost after the last crash"
        );
    }
    eprintln!("{} acknowledged commands survived 6 kills", all_acked.len());

    // The projections, killed with the server six times, converge on the rebuild result.
    let tail = AuditServiceClient::new(server.credentials.on(server.channel.clone()))
        .verify_log(pb::VerifyLogRequest {})
        .await
        .unwrap()
        .into_inner()
        .tail;
    let mut queries = poolkeeper_proto::v1::query_service_client::QueryServiceClient::new(
        server
            .credentials
            .acting_as("system")
            .unwrap()
            .on(server.channel.clone()),
    );
    queries
        .list_pools(pb::ListPoolsRequest { min_position: tail })
        .await
        .expect("the projections catch up with the log");
    let mut child = server.child;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_projections_equal_a_rebuild(dir.path()).await;
}

/// Compares every live projection, table by table, with an offline rebuild from the log.
async fn assert_projections_equal_a_rebuild(data: &Path) {
    use poolkeeper_eventlog::{EventLogConfig, EventStore, SqliteEventStore};
    use poolkeeper_projections::{ProjectionName, Projections};
    let organization = data.join("organizations").join("default");
    let log = organization.join("events.db");
    assert!(log.exists(), "the default organization's log is at {log:?}");
    let store: std::sync::Arc<dyn EventStore> =
        std::sync::Arc::new(SqliteEventStore::open(log, EventLogConfig::default()).unwrap());
    assert!(
        store.tail().await.unwrap() > 0,
        "the log holds the workload"
    );
    let rebuilt = tempfile::tempdir().unwrap();
    Projections::rebuild_offline(rebuilt.path(), &ProjectionName::ALL, store, |_| {})
        .await
        .unwrap();
    let live = Projections::open(&organization.join("projections")).unwrap();
    let fresh = Projections::open(rebuilt.path()).unwrap();
    for name in ProjectionName::ALL {
        let live_tables = live.dump(name).await.unwrap();
        let fresh_tables = fresh.dump(name).await.unwrap();
        assert_eq!(live_tables.len(), fresh_tables.len(), "{name}");
        for (live_table, fresh_table) in live_tables.iter().zip(&fresh_tables) {
            assert!(
                live_table == fresh_table,
                "{name}.{} differs from its rebuild",
                live_table.table
            );
        }
    }
}
