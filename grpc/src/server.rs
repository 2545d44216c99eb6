//! The server runtime: opens the data directory, restores the write model, bootstraps a
//! fresh organization, starts the writer and the reclaim scheduler, and serves every gRPC
//! service (plus health and reflection) until shut down, then drains in-flight commands
//! and closes the log.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use poolkeeper_domain::{
    Actor, Clock, Command, CommandBody, CommandId, ManualClock, PoolId, PoolMode, PoolRules, UserId,
};
use poolkeeper_eventlog::{EventLogConfig, EventLogError, EventStore, SqliteEventStore};
use poolkeeper_projections::{
    ProjectionError, ProjectionName, Projections, ProjectionsConfig, RunnerHandle,
};
use poolkeeper_proto::v1::admin_service_server::AdminServiceServer;
use poolkeeper_proto::v1::audit_service_server::AuditServiceServer;
use poolkeeper_proto::v1::command_service_server::CommandServiceServer;
use poolkeeper_proto::v1::query_service_server::QueryServiceServer;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::auth::{Authenticator, OrganizationGrant, Scope, TokenConfig, generate_token};
use crate::clock::ServiceClock;
use crate::config::Config;
use crate::protocol_errors::ProtocolErrors;
use crate::scheduler::Scheduler;
use crate::services::admin::AdminApi;
use crate::services::audit::AuditApi;
use crate::services::command::CommandApi;
use crate::services::query::QueryApi;
use crate::writer::{CommandWriter, WriteError, WriterConfig};

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory could not be prepared.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another server holds the data directory.
    #[error("another poolkeeper holds {0}; stop it first")]
    Locked(PathBuf),
    /// The log failed.
    #[error("event log: {0}")]
    Log(#[from] EventLogError),
    /// The write model could not be restored from the log.
    #[error("restoring the write model: {0}")]
    Restore(#[from] crate::writer::RestoreError),
    /// The projections could not be opened.
    #[error("projections: {0}")]
    Projections(#[from] ProjectionError),
    /// Bootstrapping a new organization failed.
    #[error("bootstrap: {0}")]
    Bootstrap(#[from] WriteError),
    /// TLS files could not be read.
    #[error("tls: {0}")]
    Tls(std::io::Error),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Reflection could not be built.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// The files of a data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The event log.
    pub fn log(&self) -> PathBuf {
        self.root.join("events.db")
    }

    /// The projections' directory.
    pub fn projections(&self) -> PathBuf {
        self.root.join("projections")
    }

    /// The development token.
    pub fn dev_token(&self) -> PathBuf {
        self.root.join("dev-token")
    }

    /// What the first start created.
    pub fn bootstrap(&self) -> PathBuf {
        self.root.join("bootstrap.json")
    }

    fn lock(&self) -> PathBuf {
        self.root.join("LOCK")
    }

    fn io(&self, source: std::io::Error) -> ServerError {
        ServerError::DataDir {
            path: self.root.clone(),
            source,
        }
    }

    /// Creates the directory and takes its exclusive lock (held until the file is dropped).
    pub fn open_locked(&self) -> Result<File, ServerError> {
        std::fs::create_dir_all(&self.root).map_err(|e| self.io(e))?;
        let lock = File::create(self.lock()).map_err(|e| self.io(e))?;
        match lock.try_lock() {
            Ok(()) => Ok(lock),
            Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::Locked(self.root.clone())),
            Err(std::fs::TryLockError::Error(error)) => Err(self.io(error)),
        }
    }
}

/// What the first start of a data directory created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// The first organization admin, `users/{uuid}`.
    pub admin_user: String,
    /// The default pool, `pools/{uuid}`.
    pub default_pool: String,
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
    store: Arc<SqliteEventStore>,
    projections: Projections,
    runner: RunnerHandle,
    writer: CommandWriter,
    writer_task: JoinHandle<()>,
    scheduler: Scheduler,
    scheduler_task: JoinHandle<()>,
    stop: watch::Sender<bool>,
    clock: ServiceClock,
    authenticator: Authenticator,
    tokens: Vec<TokenConfig>,
    bootstrap: Option<Bootstrap>,
    config: Config,
}

/// A fixed, memorable id for things created by a bootstrap command.
fn bootstrap_command(n: u128) -> CommandId {
    CommandId::from_u128(0x0b00_7000_0000_0000_0000_0000_0000_0000 | n)
}

impl Runtime {
    /// Opens the data directory and starts the writer and the scheduler.
    pub async fn open(options: ServeOptions) -> Result<Self, ServerError> {
        let config = options.config;
        let data = DataDir::new(&config.data_dir);
        let lock = data.open_locked()?;
        let clock = match options.manual_clock {
            Some(start) => ServiceClock::Manual(Arc::new(ManualClock::new(start))),
            None => ServiceClock::System,
        };
        let store = Arc::new(SqliteEventStore::open(
            data.log(),
            EventLogConfig::default(),
        )?);
        let dyn_store: Arc<dyn EventStore> = store.clone();
        let writer_config = WriterConfig {
            max_batch: config.max_batch,
            ..WriterConfig::default()
        };
        let shared_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let (writer, writer_task) =
            CommandWriter::start(dyn_store, Arc::clone(&shared_clock), writer_config).await?;
        let bootstrap = bootstrap(&data, &writer).await?;
        let projections = open_projections(&data, &store, &config).await?;
        let runner = projections.spawn_runner(store.clone());
        let tokens = tokens(&data, &config)?;
        let scheduler = Scheduler::new(writer.clone(), shared_clock);
        let (stop, stopped) = watch::channel(false);
        let max_sleep = Duration::from_secs(config.scheduler_max_sleep_seconds.max(1));
        let scheduler_task = tokio::spawn(scheduler.clone().run(max_sleep, stopped));
        Ok(Self {
            data,
            _lock: lock,
            store,
            projections,
            runner,
            writer,
            writer_task,
            scheduler,
            scheduler_task,
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

    /// What the first start created, if known.
    pub fn bootstrap(&self) -> Option<&Bootstrap> {
        self.bootstrap.as_ref()
    }

    /// The command writer.
    pub fn writer(&self) -> &CommandWriter {
        &self.writer
    }

    /// The projections.
    pub fn projections(&self) -> &Projections {
        &self.projections
    }

    /// Serves on `listener` until `shutdown` completes, then drains and closes.
    pub async fn serve(
        self,
        listener: TcpListener,
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
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(poolkeeper_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(poolkeeper_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;

        let command =
            CommandServiceServer::new(CommandApi::new(self.writer.clone(), self.config.max_import))
                .max_decoding_message_size(max);
        let audit = AuditServiceServer::new(AuditApi::new(Arc::clone(&self.store)))
            .max_decoding_message_size(max);
        let query = QueryServiceServer::new(QueryApi::new(
            self.projections.clone(),
            self.writer.clone(),
            self.clock.clone(),
            Duration::from_secs(self.config.max_read_wait_seconds.max(1)),
        ))
        .max_decoding_message_size(max);
        let dyn_store: Arc<dyn EventStore> = self.store.clone();
        let admin = AdminServiceServer::new(AdminApi::new(
            self.clock.clone(),
            self.scheduler.clone(),
            self.projections.clone(),
            dyn_store,
        ))
        .max_decoding_message_size(max);

        let mut builder = Server::builder().layer(ProtocolErrors);
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
            .serve_with_incoming_shutdown(incoming(listener), shutdown)
            .await;
        self.shutdown().await;
        served.map_err(ServerError::from)
    }

    /// Stops the scheduler, drains the writer, stops the projections' runner and closes
    /// the log.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        let _ = self.scheduler_task.await;
        self.writer.shutdown();
        let _ = self.writer_task.await;
        self.runner.shutdown().await;
        if let Err(error) = self.projections.close().await {
            tracing::error!(%error, "closing the projections");
        }
        let stats = self.store.writer_stats();
        tracing::info!(
            groups = stats.groups,
            commands = stats.commands,
            events = stats.events,
            busy_ms = stats.busy_micros / 1000,
            "event log writer"
        );
        if let Err(error) = self.store.close().await {
            tracing::error!(%error, "closing the event log");
        }
        tracing::info!("poolkeeper stopped");
    }
}

/// How far behind the log a projection may be and still catch up live at start; further
/// behind (a new schema, files discarded after a machine crash) it is rebuilt in bulk first.
const LIVE_CATCH_UP_LIMIT: u64 = 50_000;

/// Opens the projections, first rebuilding in bulk those too far behind the log.
async fn open_projections(
    data: &DataDir,
    store: &Arc<SqliteEventStore>,
    config: &Config,
) -> Result<Projections, ServerError> {
    let dir = data.projections();
    let tail = store.tail().await?;
    let settings = ProjectionsConfig {
        commit_every: Duration::from_millis(config.projection_commit_ms),
        ..ProjectionsConfig::default()
    };
    let projections = Projections::open_with(&dir, settings.clone())?;
    let behind: Vec<ProjectionName> = projections
        .status()
        .into_iter()
        .filter(|status| tail.saturating_sub(status.checkpoint) > LIVE_CATCH_UP_LIMIT)
        .map(|status| status.name)
        .collect();
    if behind.is_empty() {
        return Ok(projections);
    }
    // The offline rebuild takes the directory's lock: release it, rebuild, reopen.
    drop(projections);
    tracing::warn!(
        ?behind,
        tail,
        "projections far behind the log: rebuilding them before serving"
    );
    let dyn_store: Arc<dyn EventStore> = store.clone();
    Projections::rebuild_offline(&dir, &behind, dyn_store, |_| {}).await?;
    Ok(Projections::open_with(&dir, settings)?)
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
            std::fs::write(&path, format!("{token}\n")).map_err(|e| data.io(e))?;
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

/// On an empty log: creates the first admin and the default pool (free claim, everyone a
/// member), and records them in `bootstrap.json`.
async fn bootstrap(
    data: &DataDir,
    writer: &CommandWriter,
) -> Result<Option<Bootstrap>, ServerError> {
    let path = data.bootstrap();
    if writer.last_position() > 0 {
        return Ok(std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()));
    }
    let admin = UserId(uuid::Uuid::now_v7());
    let pool = PoolId(uuid::Uuid::now_v7());
    writer
        .submit(
            Command::new(
                bootstrap_command(1),
                Actor::System,
                CommandBody::CreateUser {
                    user_id: admin,
                    name: "admin".into(),
                    superior: None,
                    department: None,
                    admin: true,
                },
            ),
            None,
        )
        .await?;
    writer
        .submit(
            Command::new(
                bootstrap_command(2),
                Actor::System,
                CommandBody::CreatePool {
                    pool_id: pool,
                    name: "默认公海".into(),
                    mode: PoolMode::FreeClaim,
                    admins: Default::default(),
                    members: Default::default(),
                    everyone: true,
                    default: true,
                    rules: PoolRules::default(),
                },
            ),
            None,
        )
        .await?;
    let bootstrap = Bootstrap {
        admin_user: format!("users/{admin}"),
        default_pool: format!("pools/{pool}"),
    };
    let json = serde_json::to_vec_pretty(&bootstrap).unwrap_or_default();
    std::fs::write(&path, json).map_err(|e| data.io(e))?;
    tracing::warn!(admin = %bootstrap.admin_user, pool = %bootstrap.default_pool, "bootstrapped a new organization");
    Ok(Some(bootstrap))
}

/// A server started in the background, for tests and tools.
pub struct RunningServer {
    /// Where it listens.
    pub addr: SocketAddr,
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
            .map_err(|source| ServerError::DataDir {
                path: options.config.data_dir.clone(),
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServerError::DataDir {
                path: options.config.data_dir.clone(),
                source,
            })?;
        let config = options.config.clone();
        let runtime = Runtime::open(options).await?;
        let token = runtime
            .tokens()
            .first()
            .map(|t| t.token.clone())
            .unwrap_or_default();
        let bootstrap = runtime.bootstrap().cloned();
        let (trigger, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(runtime.serve(listener, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
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
            Err(error) => Err(ServerError::DataDir {
                path: PathBuf::new(),
                source: std::io::Error::other(error.to_string()),
            }),
        }
    }
}
