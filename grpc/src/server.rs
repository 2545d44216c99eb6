//! The server runtime: opens the data directory and the organizations it hosts
//! (bootstrapping the default one on a fresh directory), keeps them open on demand and
//! closed when idle, and serves every gRPC service (plus health and reflection) until
//! shut down, then drains every open organization's in-flight commands and closes its log.

use std::fs::File;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use poolkeeper_domain::{Clock, ManualClock};
use poolkeeper_eventlog::EventLogError;
use poolkeeper_projections::ProjectionsConfig;
use poolkeeper_proto::v1::admin_service_server::AdminServiceServer;
use poolkeeper_proto::v1::audit_service_server::AuditServiceServer;
use poolkeeper_proto::v1::command_service_server::CommandServiceServer;
use poolkeeper_proto::v1::organization_service_server::OrganizationServiceServer;
use poolkeeper_proto::v1::query_service_server::QueryServiceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use uuid::Uuid;

use crate::auth::{Authenticator, OrganizationGrant, Scope, TokenConfig, generate_token};
use crate::clock::ServiceClock;
use crate::config::Config;
pub use crate::data_dir::{Bootstrap, DataDir, DataDirError};
use crate::organizations::postgres::PostgresOrganizationLogs;
use crate::organizations::{
    LogBackend, OpenLimits, OrganizationId, Organizations, OrganizationsError, PartitionSettings,
    SqliteLogs, log_config,
};
use crate::protocol_errors::ProtocolErrors;
use crate::services::admin::AdminApi;
use crate::services::audit::AuditApi;
use crate::services::command::CommandApi;
use crate::services::organizations::OrganizationApi;
use crate::services::partitions::PartitionFinder;
use crate::services::query::QueryApi;
use crate::telemetry::RpcTelemetry;
use crate::web::Web;
use crate::web::console::Console;
use crate::writer::WriterConfig;
use poolkeeper_eventlog_postgres::PostgresLogConfig;

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory could not be prepared.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The log failed.
    #[error("event log: {0}")]
    Log(#[from] EventLogError),
    /// The organizations could not be opened, or the default one created.
    #[error("organizations: {0}")]
    Organizations(#[from] OrganizationsError),
    /// The listener could not be bound.
    #[error("listen: {0}")]
    Listen(std::io::Error),
    /// TLS files could not be read.
    #[error("tls: {0}")]
    Tls(std::io::Error),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Reflection could not be built.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The server task failed.
    #[error("server task: {0}")]
    Task(String),
    /// The configuration is incomplete.
    #[error("configuration: {0}")]
    Config(String),
}

/// How the server is started.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The configuration.
    pub config: Config,
    /// Run on a manual clock starting at this instant (tests and demos).
    pub manual_clock: Option<DateTime<Utc>>,
}

/// A started service: everything but the transport.
pub struct Runtime {
    data: DataDir,
    _lock: File,
    organizations: Arc<Organizations>,
    upkeep_task: JoinHandle<()>,
    stop: watch::Sender<bool>,
    clock: ServiceClock,
    authenticator: Authenticator,
    tokens: Vec<TokenConfig>,
    bootstrap: Bootstrap,
    config: Config,
}

/// The command that creates the default organization, the same on every fresh directory.
const CREATE_DEFAULT_ORGANIZATION: Uuid =
    Uuid::from_u128(0x0b00_7000_0000_0000_0000_0000_0000_0100);

/// How often idle organizations are looked for and closed.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

impl Runtime {
    /// Opens the data directory and its catalog of organizations (folding no
    /// organization's log but, on a fresh directory, the default one's as it is created).
    pub async fn open(options: ServeOptions) -> Result<Self, ServerError> {
        let config = options.config;
        let data = DataDir::new(&config.data_dir);
        let lock = data.open_locked()?;
        data.adopt_single_organization()?;
        let clock = match options.manual_clock {
            Some(start) => ServiceClock::Manual(Arc::new(ManualClock::new(start))),
            None => ServiceClock::System,
        };
        let shared_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let logs = open_logs(&data, &config).await?;
        let organizations = Arc::new(
            Organizations::open(
                data.layout(),
                logs,
                partition_settings(&config),
                shared_clock,
                OpenLimits {
                    max_open: config.max_open_organizations.max(1),
                    idle_after: Duration::from_secs(config.organization_idle_seconds),
                },
            )
            .await?,
        );
        let bootstrap = bootstrap_default(&data, &organizations).await?;
        let tokens = tokens(&data, &config)?;
        let (stop, stopped) = watch::channel(false);
        let upkeep_task = tokio::spawn(Arc::clone(&organizations).maintain(UPKEEP_EVERY, stopped));
        Ok(Self {
            data,
            _lock: lock,
            organizations,
            upkeep_task,
            stop,
            clock,
            authenticator: Authenticator::new(&tokens),
            tokens,
            bootstrap,
            config,
        })
    }

    /// The data directory.
    pub fn data(&self) -> &DataDir {
        &self.data
    }

    /// The tokens in force.
    pub fn tokens(&self) -> &[TokenConfig] {
        &self.tokens
    }

    /// What the default organization's first start created.
    pub fn bootstrap(&self) -> &Bootstrap {
        &self.bootstrap
    }

    /// The organizations this node hosts.
    pub fn organizations(&self) -> &Arc<Organizations> {
        &self.organizations
    }

    /// Where the configuration puts the HTTP listener (metrics, console), if anywhere.
    pub fn http_address(&self) -> Option<SocketAddr> {
        self.config.http_address()
    }

    /// Whether the audit console is on.
    pub fn console_on(&self) -> bool {
        self.config.console
    }

    /// Serves on `listener` until `shutdown` completes, then drains and closes.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        self.serve_with(listener, None, shutdown).await
    }

    /// Serves gRPC on `listener`, and metrics (and the console, when on) on `http`, until
    /// `shutdown` completes; then drains and closes.
    pub async fn serve_with(
        self,
        listener: TcpListener,
        http: Option<TcpListener>,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        let max = self.config.max_request_bytes;
        let auth = &self.authenticator;
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        health_reporter
            .set_serving::<CommandServiceServer<CommandApi>>()
            .await;
        health_reporter
            .set_serving::<QueryServiceServer<QueryApi>>()
            .await;
        health_reporter
            .set_serving::<AuditServiceServer<AuditApi>>()
            .await;
        health_reporter
            .set_serving::<AdminServiceServer<AdminApi>>()
            .await;
        health_reporter
            .set_serving::<OrganizationServiceServer<OrganizationApi>>()
            .await;
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(poolkeeper_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(poolkeeper_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;

        let partitions = PartitionFinder::new(Arc::clone(&self.organizations));
        let lease = Duration::from_secs(self.config.lease_seconds.max(1));
        let command = CommandApi::new(partitions.clone(), self.config.max_import, lease);
        let command = CommandServiceServer::new(command).max_decoding_message_size(max);
        let audit_api = AuditApi::new(partitions.clone());
        let audit = AuditServiceServer::new(audit_api.clone()).max_decoding_message_size(max);
        let query_api = QueryApi::new(
            partitions.clone(),
            self.clock.clone(),
            Duration::from_secs(self.config.max_read_wait_seconds.max(1)),
        );
        let query = QueryServiceServer::new(query_api.clone()).max_decoding_message_size(max);
        let web = http.map(|http| {
            let console = self.config.console.then(|| {
                Console::new(
                    auth.clone(),
                    query_api.clone(),
                    audit_api.clone(),
                    partitions.clone(),
                    self.clock.clone(),
                )
            });
            let router = Web::new(Arc::clone(&self.organizations)).router(console);
            let (stop, stopped) = watch::channel(false);
            (stop, tokio::spawn(crate::web::serve(http, router, stopped)))
        });
        let admin = AdminServiceServer::new(AdminApi::new(self.clock.clone(), partitions))
            .max_decoding_message_size(max);
        let organizations =
            OrganizationServiceServer::new(OrganizationApi::new(Arc::clone(&self.organizations)))
                .max_decoding_message_size(max);

        let mut builder = Server::builder().layer(RpcTelemetry).layer(ProtocolErrors);
        if let Some(tls) = &self.config.tls {
            let cert = std::fs::read(&tls.cert).map_err(ServerError::Tls)?;
            let key = std::fs::read(&tls.key).map_err(ServerError::Tls)?;
            builder = builder
                .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))?;
        }
        let address = listener.local_addr().ok();
        tracing::info!(?address, "poolkeeper serving");
        let served = builder
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(auth.guard(Scope::Command, command))
            .add_service(auth.guard(Scope::Query, query))
            .add_service(auth.guard(Scope::Audit, audit))
            .add_service(auth.guard(Scope::Admin, admin))
            .add_service(auth.guard(Scope::Platform, organizations))
            .serve_with_incoming_shutdown(incoming(listener), shutdown)
            .await;
        if let Some((stop, web)) = web {
            stop.send_replace(true);
            let _ = web.await;
        }
        self.shutdown().await;
        served.map_err(ServerError::from)
    }

    /// Stops the upkeep, then drains and closes every open organization (recording when
    /// each next needs its scheduler).
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        let _ = self.upkeep_task.await;
        self.organizations.close_all().await;
        if let Err(error) = self.organizations.catalog().store().close().await {
            tracing::error!(%error, "closing the platform log");
        }
        tracing::info!("poolkeeper stopped");
    }
}

/// Where the organizations' logs live: the data directory's SQLite files, or the
/// PostgreSQL database of `config.store`, written under this node's leases.
async fn open_logs(data: &DataDir, config: &Config) -> Result<Arc<dyn LogBackend>, ServerError> {
    let Some(url) = &config.store else {
        let master = data.master_key(config.master_key_file.as_deref())?;
        return Ok(Arc::new(SqliteLogs::new(
            data.layout(),
            log_config(),
            master,
        )));
    };
    let Some(master_key_file) = &config.master_key_file else {
        return Err(ServerError::Config(
            "with a PostgreSQL store, set master_key_file (--master-key-file): every node must \
             wrap the customers' keys with the same master key"
                .into(),
        ));
    };
    let master = data.master_key(Some(master_key_file))?;
    let node = match &config.node_id {
        Some(node) => node.clone(),
        None => data.node_id()?,
    };
    let ttl = Duration::from_secs(config.lease_seconds.max(1));
    let settings = PostgresLogConfig {
        upcasters: poolkeeper_codec::upcasters(),
        idle_in_transaction_timeout: ttl,
        ..PostgresLogConfig::default()
    };
    let address = config
        .advertise
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen));
    let logs = PostgresOrganizationLogs::connect(url, node, address, ttl, settings, master).await?;
    Ok(Arc::new(logs))
}

/// How every organization's partition runs.
fn partition_settings(config: &Config) -> PartitionSettings {
    PartitionSettings {
        writer: WriterConfig {
            max_batch: config.max_batch,
            ..WriterConfig::default()
        },
        projections: ProjectionsConfig {
            commit_every: Duration::from_millis(config.projection_commit_ms),
            snapshot_every: Duration::from_secs(config.projection_snapshot_seconds),
            ..ProjectionsConfig::default()
        },
        scheduler_max_sleep: Duration::from_secs(config.scheduler_max_sleep_seconds.max(1)),
    }
}

/// The default organization, created with its first admin and default pool on a fresh
/// directory (or adopted with those of a single-organization directory), and recorded in
/// `bootstrap.json` for the README's first steps.
async fn bootstrap_default(
    data: &DataDir,
    organizations: &Organizations,
) -> Result<Bootstrap, ServerError> {
    let id = OrganizationId::default_organization();
    let record = match organizations.catalog().get(&id) {
        Some(record) => record,
        None => {
            let (record, _) = organizations
                .create(
                    CREATE_DEFAULT_ORGANIZATION,
                    id,
                    "Default organization".into(),
                )
                .await?;
            tracing::warn!(admin = %record.admin_user, pool = %record.default_pool, "bootstrapped the default organization");
            record
        }
    };
    let bootstrap = Bootstrap {
        admin_user: format!("users/{}", record.admin_user),
        default_pool: format!("pools/{}", record.default_pool),
    };
    if !data.bootstrap().exists() {
        data.write_bootstrap(&bootstrap)?;
    }
    Ok(bootstrap)
}

/// Accepted connections with `TCP_NODELAY` (a reply is never held back waiting for an
/// acknowledgement: without it small responses stall ~40 ms on delayed ACKs) and TCP
/// keepalive.
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)))
}

/// The tokens in force: the configured ones, or the data directory's development token
/// (created on first use).
fn tokens(data: &DataDir, config: &Config) -> Result<Vec<TokenConfig>, ServerError> {
    if !config.tokens.is_empty() {
        return Ok(config.tokens.clone());
    }
    let path = data.dev_token();
    let token = match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => token.trim().to_owned(),
        _ => {
            let token = generate_token();
            // Written aside and renamed into place, so a reader never sees half of it.
            let aside = path.with_extension("tmp");
            std::fs::write(&aside, format!("{token}\n")).map_err(|e| data.io(e))?;
            std::fs::rename(&aside, &path).map_err(|e| data.io(e))?;
            tracing::warn!(path = %path.display(), "created a development token with every scope");
            token
        }
    };
    Ok(vec![TokenConfig {
        name: "development".into(),
        token,
        scopes: Scope::ALL.to_vec(),
        organizations: vec![OrganizationGrant::All],
    }])
}

/// A server started in the background, for tests and tools.
pub struct RunningServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where its HTTP listener (metrics, console) listens, when configured.
    pub http_addr: Option<SocketAddr>,
    /// A token with every scope (the first configured one).
    pub token: String,
    /// What the first start created.
    pub bootstrap: Option<Bootstrap>,
    /// The configuration it was started with.
    pub config: Config,
    trigger: Option<tokio::sync::oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    /// Opens, binds `options.config.listen` (port 0 picks one) and serves in the background.
    pub async fn start(options: ServeOptions) -> Result<Self, ServerError> {
        let listener = TcpListener::bind(options.config.listen)
            .await
            .map_err(ServerError::Listen)?;
        let addr = listener.local_addr().map_err(ServerError::Listen)?;
        let mut options = options;
        options
            .config
            .advertise
            .get_or_insert_with(|| format!("http://{addr}"));
        let config = options.config.clone();
        let runtime = Runtime::open(options).await?;
        let http = match runtime.http_address() {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .map_err(ServerError::Listen)?,
            ),
            None => None,
        };
        let http_addr = match &http {
            Some(http) => Some(http.local_addr().map_err(ServerError::Listen)?),
            None => None,
        };
        let token = runtime
            .tokens()
            .first()
            .map(|t| t.token.clone())
            .unwrap_or_default();
        let bootstrap = Some(runtime.bootstrap().clone());
        let (trigger, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(runtime.serve_with(listener, http, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            http_addr,
            token,
            bootstrap,
            config,
            trigger: Some(trigger),
            task,
        })
    }

    /// `http://addr`, for clients.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts down gracefully and waits.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        if let Some(trigger) = self.trigger.take() {
            let _ = trigger.send(());
        }
        match self.task.await {
            Ok(result) => result,
            Err(error) => Err(ServerError::Task(error.to_string())),
        }
    }
}
