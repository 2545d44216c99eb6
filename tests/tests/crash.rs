//! Crash safety of the whole service: the real `poolkeeper` process is killed with SIGKILL
//! while clients drive commands in three organizations; after a restart every
//! acknowledged command is in its own organization's log (re-sending it with the same
//! command id returns it as a duplicate at the same position; in another organization
//! what it names does not exist), and each organization's chain verifies on its own,
//! gap-free from position 1.

use std::path::Path;
use std::time::Duration;

use poolkeeper_grpc::client::{AuthedChannel, Credentials};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::audit_service_client::AuditServiceClient;
use poolkeeper_proto::v1::command_service_client::CommandServiceClient;
use poolkeeper_proto::v1::organization_service_client::OrganizationServiceClient;
use poolkeeper_proto::v1::query_service_client::QueryServiceClient;
use poolkeeper_tests::command_id;
use poolkeeper_tests::process::{self, ServerProcess};
use tonic::transport::Channel;

type Server = ServerProcess;

async fn spawn(dir: &Path, store: &Option<String>) -> Server {
    let extra: Vec<String> = match store {
        Some(url) => vec!["--store".into(), url.clone()],
        None => Vec::new(),
    };
    process::spawn_with(env!("CARGO_BIN_EXE_poolkeeper-under-test"), dir, &extra).await
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

/// The organizations the load runs in, side by side.
const ORGANIZATIONS: [&str; 3] = ["default", "acme", "globex"];

/// What was sent.
#[derive(Clone, Debug)]
enum Sent {
    Claim(pb::ClaimCustomerRequest),
    FollowUp(pb::LogFollowUpRequest),
    Abandon(pb::AbandonCustomerRequest),
}

/// An acknowledged command, kept to be re-sent after the crash.
#[derive(Clone, Debug)]
struct Acked {
    organization: &'static str,
    user: String,
    sent: Sent,
    position: u64,
}

/// One organization's users and customers.
#[derive(Clone)]
struct Workforce {
    organization: &'static str,
    users: Vec<String>,
    customers: Vec<String>,
}

/// Clients of the server in an organization.
trait InOrganization {
    fn commands(&self, organization: &str, user: &str) -> CommandServiceClient<AuthedChannel>;
    fn audit(&self, organization: &str) -> AuditServiceClient<AuthedChannel>;
}

impl InOrganization for Server {
    fn commands(&self, organization: &str, user: &str) -> CommandServiceClient<AuthedChannel> {
        CommandServiceClient::new(
            as_user(&self.credentials, organization, user).on(self.channel.clone()),
        )
    }

    fn audit(&self, organization: &str) -> AuditServiceClient<AuthedChannel> {
        AuditServiceClient::new(
            as_user(&self.credentials, organization, "system").on(self.channel.clone()),
        )
    }
}

fn as_user(credentials: &Credentials, organization: &str, user: &str) -> Credentials {
    credentials
        .in_organization(organization)
        .and_then(|c| c.acting_as(user))
        .expect("ascii credentials")
}

async fn send(
    mut commands: CommandServiceClient<AuthedChannel>,
    sent: &Sent,
) -> Result<pb::CommandResult, tonic::Status> {
    let result = match sent.clone() {
        Sent::Claim(request) => commands.claim_customer(request).await,
        Sent::FollowUp(request) => commands.log_follow_up(request).await,
        Sent::Abandon(request) => commands.abandon_customer(request).await,
    };
    result.map(tonic::Response::into_inner)
}

/// Re-sends `acked` in its own organization: a duplicate at the same position. In another
/// organization the customer does not exist.
async fn assert_kept(server: &Server, acked: &Acked, when: &str) {
    let commands = server.commands(acked.organization, &acked.user);
    let result = send(commands, &acked.sent)
        .await
        .unwrap_or_else(|status| panic!("{when}: re-sending {acked:?} failed: {status:?}"));
    assert!(result.duplicate, "{when}: {acked:?} was lost");
    assert_eq!(result.position, acked.position, "{when}: {acked:?} moved");
}

/// Each organization's chain verifies on its own, every position from 1 to its tail.
async fn assert_every_chain_verifies(server: &Server, when: &str) -> Vec<u64> {
    let mut tails = Vec::new();
    for organization in ORGANIZATIONS {
        let report = server
            .audit(organization)
            .verify_log(pb::VerifyLogRequest {})
            .await
            .unwrap()
            .into_inner();
        assert!(report.intact, "{when}, {organization}: {report:?}");
        assert_eq!(
            report.events_checked, report.tail,
            "{when}, {organization}: gap-free from 1"
        );
        tails.push(report.tail);
    }
    tails
}

/// Creates the organizations (but `default`), and in each eight users and 120 customers.
async fn staff(server: &Server, dir: &Path) -> Vec<Workforce> {
    let platform = OrganizationServiceClient::new(server.credentials.on(server.channel.clone()));
    let bootstrap: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("bootstrap.json")).unwrap()).unwrap();
    let mut staffed = Vec::new();
    for organization in ORGANIZATIONS {
        let admin = if organization == "default" {
            bootstrap["admin_user"].as_str().unwrap().to_owned()
        } else {
            platform
                .clone()
                .create_organization(pb::CreateOrganizationRequest {
                    command_id: command_id(),
                    organization_id: organization.into(),
                    display_name: organization.into(),
                })
                .await
                .unwrap()
                .into_inner()
                .admin_user
        };
        let mut commands = server.commands(organization, &admin);
        let mut users = Vec::new();
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
        staffed.push(Workforce {
            organization,
            users,
            customers: imported.names,
        });
    }
    staffed
}

/// A random claim, follow-up or abandon by a random user of `staff` on a random customer.
fn next_command(staff: &Workforce, rng: &mut Rng) -> (String, Sent) {
    let user = staff.users[rng.below(staff.users.len() as u64) as usize].clone();
    let customer = staff.customers[rng.below(staff.customers.len() as u64) as usize].clone();
    let sent = match rng.below(3) {
        0 => Sent::Claim(pb::ClaimCustomerRequest {
            command_id: command_id(),
            customer,
            ..Default::default()
        }),
        1 => Sent::FollowUp(pb::LogFollowUpRequest {
            command_id: command_id(),
            customer,
            kind: pb::FollowUpKind::Call as i32,
            note: "电话回访".into(),
            ..Default::default()
        }),
        _ => Sent::Abandon(pb::AbandonCustomerRequest {
            command_id: command_id(),
            customer,
            reason: "无意向".into(),
            ..Default::default()
        }),
    };
    (user, sent)
}

/// Drives commands in `staff`'s organization until the server goes away.
async fn drive(
    channel: Channel,
    credentials: Credentials,
    staff: Workforce,
    mut rng: Rng,
    sender: tokio::sync::mpsc::UnboundedSender<Acked>,
) {
    loop {
        let (user, sent) = next_command(&staff, &mut rng);
        let commands = CommandServiceClient::new(
            as_user(&credentials, staff.organization, &user).on(channel.clone()),
        );
        match send(commands, &sent).await {
            Ok(result) => {
                let acked = Acked {
                    organization: staff.organization,
                    user,
                    sent,
                    position: result.position,
                };
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
        let mut tasks = Vec::new();
        for worker in 0..9u64 {
            let staff = staffed[worker as usize % staffed.len()].clone();
            let worker_rng = Rng(rng.below(u64::MAX - 1) + worker + 1);
            tasks.push(tokio::spawn(drive(
                server.channel.clone(),
                server.credentials.clone(),
                staff,
                worker_rng,
                sender.clone(),
            )));
        }
        drop(sender);
        tokio::time::sleep(Duration::from_millis(150 + rng.below(350))).await;
        server.kill();
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
        let status = send(server.commands(elsewhere, &acked.user), &acked.sent)
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
    for (organization, tail) in ORGANIZATIONS.iter().zip(&tails) {
        let mut queries = QueryServiceClient::new(
            as_user(&server.credentials, organization, "system").on(server.channel.clone()),
        );
        queries
            .list_pools(pb::ListPoolsRequest {
                min_position: *tail,
            })
            .await
            .expect("the projections catch up with the log");
    }
    server.kill();
    for organization in ORGANIZATIONS {
        assert_projections_equal_a_rebuild(dir.path(), organization, &store).await;
    }
}

/// Compares every live projection, table by table, with an offline rebuild from the log.
async fn assert_projections_equal_a_rebuild(
    data: &Path,
    organization: &str,
    store: &Option<String>,
) {
    use poolkeeper_eventlog::{EventLogConfig, EventStore, SqliteEventStore};
    use poolkeeper_projections::{ProjectionName, Projections};
    let id = organization;
    let organization = data.join("organizations").join(organization);
    let store: std::sync::Arc<dyn EventStore> = match store {
        Some(url) => poolkeeper_eventlog_postgres::PostgresLogs::connect(url, 2)
            .await
            .unwrap()
            .open_log(id, None)
            .await
            .unwrap(),
        None => {
            let log = organization.join("events.db");
            assert!(log.exists(), "the organization's log is at {log:?}");
            std::sync::Arc::new(SqliteEventStore::open(log, EventLogConfig::default()).unwrap())
        }
    };
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
