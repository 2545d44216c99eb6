//! A random workload of claims, follow-ups and abandons in several organizations, for the
//! tests that kill servers (or their database) under load: what was acknowledged is
//! kept, re-sent afterwards and compared with the log; live projections are compared
//! with an offline rebuild.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poolkeeper_grpc::client::{AuthedChannel, Credentials};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::audit_service_client::AuditServiceClient;
use poolkeeper_proto::v1::command_service_client::CommandServiceClient;
use poolkeeper_proto::v1::organization_service_client::OrganizationServiceClient;
use poolkeeper_proto::v1::query_service_client::QueryServiceClient;
use tokio::sync::mpsc::UnboundedSender;
use tonic::transport::Channel;

use crate::command_id;
use crate::process::ServerProcess;

/// The organizations a workload runs in, side by side.
pub const ORGANIZATIONS: [&str; 3] = ["default", "acme", "globex"];

/// A tiny deterministic generator.
pub struct Rng(pub u64);

impl Rng {
    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What was sent.
#[derive(Clone, Debug)]
pub enum Sent {
    /// A claim.
    Claim(pb::ClaimCustomerRequest),
    /// A follow-up.
    FollowUp(pb::LogFollowUpRequest),
    /// An abandon.
    Abandon(pb::AbandonCustomerRequest),
}

/// An acknowledged command, kept to be re-sent later.
#[derive(Clone, Debug)]
pub struct Acked {
    /// Where it was sent.
    pub organization: &'static str,
    /// Who sent it.
    pub user: String,
    /// The request.
    pub sent: Sent,
    /// Its last event's position.
    pub position: u64,
    /// When its reply arrived.
    pub at: Instant,
}

/// One organization's users and customers.
#[derive(Clone)]
pub struct Workforce {
    /// The organization.
    pub organization: &'static str,
    /// `users/{uuid}` of its salespeople.
    pub users: Vec<String>,
    /// `customers/{uuid}` of its customers.
    pub customers: Vec<String>,
}

/// `credentials` in `organization`, acting as `user`.
pub fn as_user(credentials: &Credentials, organization: &str, user: &str) -> Credentials {
    credentials
        .in_organization(organization)
        .and_then(|c| c.acting_as(user))
        .expect("ascii credentials")
}

/// A command client of `server` in `organization`, acting as `user`.
pub fn commands_of(
    server: &ServerProcess,
    organization: &str,
    user: &str,
) -> CommandServiceClient<AuthedChannel> {
    CommandServiceClient::new(
        as_user(&server.credentials, organization, user).on(server.channel.clone()),
    )
}

/// A query client of `server` in `organization`, acting as `user`.
pub fn queries_of(
    server: &ServerProcess,
    organization: &str,
    user: &str,
) -> QueryServiceClient<AuthedChannel> {
    QueryServiceClient::new(
        as_user(&server.credentials, organization, user).on(server.channel.clone()),
    )
}

/// An audit client of `server` in `organization`.
pub fn audit_of(server: &ServerProcess, organization: &str) -> AuditServiceClient<AuthedChannel> {
    AuditServiceClient::new(
        as_user(&server.credentials, organization, "system").on(server.channel.clone()),
    )
}

/// Sends `sent`.
pub async fn send(
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

/// Re-sends `acked` in its own organization through `server`: a duplicate at the same
/// position.
pub async fn assert_kept(server: &ServerProcess, acked: &Acked, when: &str) {
    let commands = commands_of(server, acked.organization, &acked.user);
    let result = send(commands, &acked.sent)
        .await
        .unwrap_or_else(|status| panic!("{when}: re-sending {acked:?} failed: {status:?}"));
    assert!(result.duplicate, "{when}: {acked:?} was lost");
    assert_eq!(result.position, acked.position, "{when}: {acked:?} moved");
}

/// Each organization's chain verifies on its own, every position from 1 to its tail;
/// the tails.
pub async fn assert_every_chain_verifies(server: &ServerProcess, when: &str) -> Vec<u64> {
    let mut tails = Vec::new();
    for organization in ORGANIZATIONS {
        let report = audit_of(server, organization)
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

/// Creates the organizations (but `default`, whose admin is in `dir`'s
/// `bootstrap.json`), and in each eight users and 120 customers.
pub async fn staff(server: &ServerProcess, dir: &Path) -> Vec<Workforce> {
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
        staffed.push(workforce(server, organization, &admin).await);
    }
    staffed
}

/// Eight users and 120 customers created by `admin` in `organization`.
async fn workforce(server: &ServerProcess, organization: &'static str, admin: &str) -> Workforce {
    let mut commands = commands_of(server, organization, admin);
    let (users, customers) = hire(&mut commands, 8, 120).await;
    Workforce {
        organization,
        users,
        customers,
    }
}

/// `users` salespeople (`sales 0`, `sales 1`, …): their names.
pub async fn hire_users(
    commands: &mut CommandServiceClient<AuthedChannel>,
    users: usize,
) -> Vec<String> {
    let mut hired = Vec::new();
    for n in 0..users {
        let user = commands
            .create_user(pb::CreateUserRequest {
                command_id: command_id(),
                display_name: format!("sales {n}"),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        hired.push(user.name);
    }
    hired
}

/// `users` salespeople (`sales {n}`) and `customers` customers (`客户{n}`, one import)
/// created through `commands` (acting as an admin): their names.
pub async fn hire(
    commands: &mut CommandServiceClient<AuthedChannel>,
    users: usize,
    customers: usize,
) -> (Vec<String>, Vec<String>) {
    let hired = hire_users(commands, users).await;
    let imported = commands
        .import_customers(pb::ImportCustomersRequest {
            command_id: command_id(),
            customers: (0..customers)
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
    (hired, imported.names)
}

/// A random claim, follow-up or abandon by a random user of `staff` on a random customer.
pub fn next_command(staff: &Workforce, rng: &mut Rng) -> (String, Sent) {
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

/// A client driving commands in one organization through one channel.
pub struct Driver {
    /// The server's channel.
    pub channel: Channel,
    /// Credentials with every scope in the organization.
    pub credentials: Credentials,
    /// Who sends, about whom.
    pub staff: Workforce,
    /// What is sent next.
    pub rng: Rng,
}

impl Driver {
    /// Sends commands until `stop` is set, each acknowledgement to `acked`. Refusals are
    /// skipped, unavailability (a server killed, a lease being taken over) after a short
    /// pause: only acknowledged commands count.
    pub async fn drive(self, acked: UnboundedSender<Acked>, stop: Arc<AtomicBool>) {
        self.drive_keeping_failures(acked, stop, Arc::default())
            .await
    }

    /// [`drive`](Self::drive), keeping in `failed` (at position 0, with the status code)
    /// the commands that failed for a reason of the server's, not a business refusal:
    /// their outcome is for the caller to find out.
    pub async fn drive_keeping_failures(
        mut self,
        acked: UnboundedSender<Acked>,
        stop: Arc<AtomicBool>,
        failed: Arc<Mutex<Vec<(Acked, tonic::Code)>>>,
    ) {
        while !stop.load(Ordering::Relaxed) {
            let (user, sent) = next_command(&self.staff, &mut self.rng);
            let commands = CommandServiceClient::new(
                as_user(&self.credentials, self.staff.organization, &user).on(self.channel.clone()),
            );
            let result = send(commands, &sent).await;
            let mut one = Acked {
                organization: self.staff.organization,
                user,
                sent,
                position: 0,
                at: Instant::now(),
            };
            match result {
                Ok(result) => {
                    one.position = result.position;
                    if acked.send(one).is_err() {
                        return;
                    }
                }
                Err(status) if is_server_fault(&status) => {
                    failed
                        .lock()
                        .expect("not poisoned")
                        .push((one, status.code()));
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                Err(_) => {}
            }
        }
    }
}

/// The server, its writer or its database failed the call: not the command's fault.
fn is_server_fault(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable
            | tonic::Code::Unknown
            | tonic::Code::Cancelled
            | tonic::Code::Internal
            | tonic::Code::DeadlineExceeded
    )
}

/// Waits until `server`'s projections of each organization have read its log up to its
/// tail (`tails`, in the order of [`ORGANIZATIONS`]).
pub async fn catch_up(server: &ServerProcess, tails: &[u64]) {
    for (organization, tail) in ORGANIZATIONS.iter().zip(tails) {
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
}

/// Compares every live projection of `organization` under `data` (a node's data
/// directory, the node stopped or killed), table by table, with an offline rebuild from
/// the log (`store`: a PostgreSQL URL, or the organization's SQLite log under `data`).
/// The node's files are first caught up with the log as a restarted node would catch
/// them up: the pool and owner views' files are snapshots, which a kill leaves up to
/// `snapshot_every` behind.
pub async fn assert_projections_equal_a_rebuild(
    data: &Path,
    organization: &str,
    store: &Option<String>,
) {
    use poolkeeper_eventlog::{EventLogConfig, EventStore, SqliteEventStore};
    use poolkeeper_projections::{ProjectionName, Projections};
    let id = organization;
    let organization = data.join("organizations").join(organization);
    // Read as the node reads it: personal fields opened with the organization's keys.
    let (store, keys): (Arc<dyn EventStore>, Arc<dyn poolkeeper_vault::Keys>) = match store {
        Some(url) => {
            let logs = poolkeeper_eventlog_postgres::PostgresLogs::connect(url, 2)
                .await
                .unwrap();
            let master =
                poolkeeper_vault::MasterKey::load_or_create(&crate::shared_master_key_file())
                    .unwrap();
            let keys = poolkeeper_grpc::organizations::postgres_keys::PostgresKeys::new(
                logs.pool().clone(),
                id.to_owned(),
                master,
            );
            (logs.open_log(id, None).await.unwrap(), Arc::new(keys))
        }
        None => {
            let log = organization.join("events.db");
            assert!(log.exists(), "the organization's log is at {log:?}");
            let master =
                poolkeeper_vault::MasterKey::load_or_create(&data.join("master.key")).unwrap();
            let keys =
                poolkeeper_vault::KeyStore::open(&organization.join("keys.db"), master).unwrap();
            let log = SqliteEventStore::open(log, EventLogConfig::default()).unwrap();
            (Arc::new(log), Arc::new(keys))
        }
    };
    let store: Arc<dyn EventStore> = Arc::new(poolkeeper_vault::SealingStore::opening(
        store,
        poolkeeper_vault::PersonalData::new(keys),
    ));
    assert!(
        store.tail().await.unwrap() > 0,
        "the log holds the workload"
    );
    let rebuilt = tempfile::tempdir().unwrap();
    Projections::rebuild_offline(
        rebuilt.path(),
        &ProjectionName::ALL,
        Arc::clone(&store),
        |_| {},
    )
    .await
    .unwrap();
    let live = Projections::open(&organization.join("projections")).unwrap();
    let tail = store.tail().await.unwrap();
    let runner = live.spawn_runner(Arc::clone(&store));
    live.wait_for(tail, std::time::Duration::from_secs(120))
        .await
        .expect("the node's projections catch up with the log");
    runner.shutdown().await;
    let fresh = Projections::open(rebuilt.path()).unwrap();
    for name in ProjectionName::ALL {
        let live_tables = live.dump(name).await.unwrap();
        let fresh_tables = fresh.dump(name).await.unwrap();
        assert_eq!(live_tables.len(), fresh_tables.len(), "{name}");
        for (live_table, fresh_table) in live_tables.iter().zip(&fresh_tables) {
            assert!(
                live_table == fresh_table,
                "{data:?} {id}: {name}.{} differs from its rebuild",
                live_table.table
            );
        }
    }
}
