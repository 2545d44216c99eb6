//! The end-to-end harness: starts the real server on a loopback port (a manual clock, a
//! temporary data directory) and hands out generated tonic clients acting as given users.

use std::collections::HashMap;

pub mod http;
pub mod process;
pub mod raw;
pub mod workload;

use chrono::{DateTime, TimeZone, Utc};
use poolkeeper_grpc::client::{self, AuthedChannel, Credentials};
use poolkeeper_grpc::config::Config;
use poolkeeper_grpc::server::{RunningServer, ServeOptions};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::admin_service_client::AdminServiceClient;
use poolkeeper_proto::v1::audit_service_client::AuditServiceClient;
use poolkeeper_proto::v1::command_service_client::CommandServiceClient;
use poolkeeper_proto::v1::organization_service_client::OrganizationServiceClient;
use poolkeeper_proto::v1::query_service_client::QueryServiceClient;
use tonic::transport::Channel;

/// 2026-01-01 09:00 UTC: where every test's manual clock starts.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0)
        .single()
        .expect("valid instant")
}

/// A fresh command id.
pub fn command_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A fresh, empty database on this test process's throwaway PostgreSQL cluster (started
/// on first use, stopped when the process exits): its URL. `None`, said loudly on
/// stderr, on a machine without PostgreSQL's binaries outside CI.
pub async fn postgres_database() -> Option<String> {
    use poolkeeper_eventlog_postgres::testing::{TestCluster, skip_reason};
    if let Some(reason) = skip_reason() {
        eprintln!("{reason}");
        return None;
    }
    let cluster = tokio::task::spawn_blocking(TestCluster::shared)
        .await
        .expect("starting the cluster");
    let name = format!("poolkeeper_{}", uuid::Uuid::now_v7().simple());
    Some(create_database(cluster, &name).await)
}

/// Creates database `name` on `cluster`; its URL.
pub async fn create_database(
    cluster: &poolkeeper_eventlog_postgres::testing::TestCluster,
    name: &str,
) -> String {
    let (client, connection) = tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls)
        .await
        .expect("the throwaway cluster accepts connections");
    let connection = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("a fresh database");
    drop(client);
    let _ = connection.await;
    format!("postgresql://postgres@127.0.0.1:{}/{name}", cluster.port())
}

/// A request creating a customer named `name` in the default pool, with a fresh command id.
pub fn new_customer(name: &str) -> pb::CreateCustomerRequest {
    pb::CreateCustomerRequest {
        command_id: command_id(),
        customer: Some(pb::NewCustomer {
            display_name: name.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A running server and clients for it.
pub struct Harness {
    /// The server.
    pub server: RunningServer,
    /// Its data directory (removed when the harness drops).
    pub dir: tempfile::TempDir,
    /// A connected channel.
    pub channel: Channel,
    /// A token with every scope.
    pub credentials: Credentials,
    /// The bootstrap admin, `users/{uuid}`.
    pub admin: String,
    /// The default pool, `pools/{uuid}`.
    pub default_pool: String,
}

impl Harness {
    /// Starts a server on a manual clock at [`t0`].
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `configure` adjusts its configuration.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("loopback"),
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        configure(&mut config);
        if config.store.is_some() && config.master_key_file.is_none() {
            config.master_key_file = Some(shared_master_key_file());
        }
        Self::serve(dir, config, t0()).await
    }

    /// Starts a server whose logs live in a fresh database of this test process's
    /// throwaway PostgreSQL cluster ([`postgres_database`]); `None` where that is skipped.
    pub async fn start_on_postgres() -> Option<Self> {
        let store = postgres_database().await?;
        Some(Self::start_with(|config| config.store = Some(store)).await)
    }

    /// Stops the server gracefully and starts a new one on the same data directory (its
    /// manual clock at `now`).
    pub async fn restart(self, now: DateTime<Utc>) -> Self {
        let (dir, config) = self.stop().await;
        Self::resume(dir, config, now).await
    }

    /// Stops the server gracefully; its data directory and configuration, to
    /// [`resume`](Self::resume) it.
    pub async fn stop(self) -> (tempfile::TempDir, Config) {
        let config = self.server.config.clone();
        self.server.stop().await.expect("a clean stop");
        (self.dir, config)
    }

    /// Starts a server on a stopped one's data directory with `config` (its manual clock
    /// at `now`).
    pub async fn resume(dir: tempfile::TempDir, config: Config, now: DateTime<Utc>) -> Self {
        Self::serve(dir, config, now).await
    }

    async fn serve(dir: tempfile::TempDir, config: Config, now: DateTime<Utc>) -> Self {
        let server = RunningServer::start(ServeOptions {
            config,
            manual_clock: Some(now),
        })
        .await
        .expect("the server starts");
        let channel = client::connect(&server.endpoint())
            .await
            .expect("the server accepts connections");
        let credentials = Credentials::new(&server.token).expect("ascii token");
        let bootstrap = server
            .bootstrap
            .clone()
            .expect("a fresh data directory is bootstrapped");
        Self {
            server,
            dir,
            channel,
            credentials,
            admin: bootstrap.admin_user,
            default_pool: bootstrap.default_pool,
        }
    }

    /// Creates organization `id` (with the platform token) and acts in it from now on: its
    /// first admin and default pool replace the default organization's.
    pub async fn in_new_organization(self, id: &str) -> Self {
        let created = self
            .organizations()
            .create_organization(pb::CreateOrganizationRequest {
                command_id: command_id(),
                organization_id: id.into(),
                display_name: format!("{id} Ltd."),
            })
            .await
            .expect("the organization is created")
            .into_inner();
        self.in_organization(id, &created)
    }

    /// Acts in organization `id`, which `created` describes (created elsewhere, e.g. on
    /// another node).
    pub fn in_organization(mut self, id: &str, created: &pb::Organization) -> Self {
        self.credentials = self
            .credentials
            .in_organization(id)
            .expect("an ascii organization id");
        self.admin = created.admin_user.clone();
        self.default_pool = created.default_pool.clone();
        self
    }

    /// OrganizationService, with the server's platform token.
    pub fn organizations(&self) -> OrganizationServiceClient<AuthedChannel> {
        let platform = Credentials::new(&self.server.token).expect("ascii token");
        OrganizationServiceClient::new(platform.on(self.channel.clone()))
    }

    fn as_user(&self, user: &str) -> AuthedChannel {
        self.credentials
            .acting_as(user)
            .expect("ascii user")
            .on(self.channel.clone())
    }

    /// CommandService acting as `user`.
    pub fn commands(&self, user: &str) -> CommandServiceClient<AuthedChannel> {
        CommandServiceClient::new(self.as_user(user))
    }

    /// QueryService acting as `user`.
    pub fn queries(&self, user: &str) -> QueryServiceClient<AuthedChannel> {
        QueryServiceClient::new(self.as_user(user))
    }

    /// One customer as `user` sees it, once the projections reached `position`.
    pub async fn customer_as(&self, user: &str, customer: &str, position: u64) -> pb::Customer {
        self.queries(user)
            .get_customer(pb::GetCustomerRequest {
                name: customer.into(),
                min_position: position,
            })
            .await
            .expect("get customer")
            .into_inner()
    }

    /// AuditService.
    pub fn audit(&self) -> AuditServiceClient<AuthedChannel> {
        AuditServiceClient::new(self.credentials.on(self.channel.clone()))
    }

    /// AdminService.
    pub fn admin_service(&self) -> AdminServiceClient<AuthedChannel> {
        AdminServiceClient::new(self.credentials.on(self.channel.clone()))
    }

    /// The log's tail, from the hash-chain verification.
    pub async fn tail(&self) -> u64 {
        let report = self
            .audit()
            .verify_log(pb::VerifyLogRequest {})
            .await
            .expect("verify")
            .into_inner();
        assert!(report.intact, "the chain must verify: {report:?}");
        report.tail
    }

    /// Moves the manual clock forward and runs whatever became due.
    pub async fn advance(&self, seconds: i64) -> pb::ClockState {
        self.admin_service()
            .set_clock(pb::SetClockRequest {
                change: Some(pb::set_clock_request::Change::AdvanceSeconds(seconds)),
            })
            .await
            .expect("the manual clock moves")
            .into_inner()
    }

    /// Creates a user (by the admin); returns `users/{uuid}`.
    pub async fn user(&self, name: &str, superior: Option<&str>) -> String {
        let result = self
            .commands(&self.admin)
            .create_user(pb::CreateUserRequest {
                command_id: command_id(),
                display_name: name.into(),
                superior: superior.unwrap_or_default().into(),
                department: "销售部".into(),
                ..Default::default()
            })
            .await
            .expect("create user")
            .into_inner();
        result.name
    }

    /// Creates a pool with `mode`, `rules`, `admins` and `members`; returns `pools/{uuid}`.
    pub async fn pool(
        &self,
        mode: pb::PoolMode,
        rules: pb::PoolRules,
        admins: &[&str],
        members: &[&str],
    ) -> String {
        let result = self
            .commands(&self.admin)
            .create_pool(pb::CreatePoolRequest {
                command_id: command_id(),
                display_name: "华北区客户".into(),
                mode: mode as i32,
                admins: admins.iter().map(|s| s.to_string()).collect(),
                members: members.iter().map(|s| s.to_string()).collect(),
                rules: Some(rules),
                ..Default::default()
            })
            .await
            .expect("create pool")
            .into_inner();
        result.name
    }

    /// Creates a free-claim pool with no rules whose members are `members`; returns
    /// `pools/{uuid}`.
    pub async fn free_pool(&self, members: &[&str]) -> String {
        self.pool(
            pb::PoolMode::FreeClaim,
            pb::PoolRules::default(),
            &[],
            members,
        )
        .await
    }

    /// `user` claims `customer`; the command's result.
    pub async fn claim(&self, user: &str, customer: &str) -> pb::CommandResult {
        self.commands(user)
            .claim_customer(pb::ClaimCustomerRequest {
                command_id: command_id(),
                customer: customer.into(),
                ..Default::default()
            })
            .await
            .expect("claim")
            .into_inner()
    }

    /// Creates an unclaimed customer in `pool` (by the admin); returns `customers/{uuid}`.
    pub async fn customer(&self, pool: &str, name: &str) -> String {
        let result = self
            .commands(&self.admin)
            .create_customer(pb::CreateCustomerRequest {
                command_id: command_id(),
                parent: pool.into(),
                customer: Some(pb::NewCustomer {
                    display_name: name.into(),
                    fields: HashMap::from([("region".into(), "华北".into())]),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .expect("create customer")
            .into_inner();
        result.name
    }
}

/// The `ErrorInfo.reason` of a status.
pub fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

/// The master key file every node of this test process shares (nodes on one PostgreSQL
/// database must wrap customers' keys with the same key), created once.
pub fn shared_master_key_file() -> std::path::PathBuf {
    static FILE: std::sync::OnceLock<(tempfile::TempDir, std::path::PathBuf)> =
        std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("master.key");
        poolkeeper_vault::MasterKey::load_or_create(&path).expect("a master key file");
        (dir, path)
    })
    .1
    .clone()
}
