//! The `poolkeeper` command line: the service and its operations tools. The binary is a
//! thin wrapper around [`main`], so tests can run the very same program as a child process.
//!
//! - `poolkeeper serve`: runs the service (defaults: `./poolkeeper-data`, 127.0.0.1:50051,
//!   a development token created and printed at first start).
//! - `poolkeeper status | rebuild | verify | export | history`: against a running server
//!   (`--server`, `--token`) or, when none runs, directly on the data directory; each in
//!   one organization (`--organization`, `default` when absent), and `status` in all of
//!   them when none is named.

use std::io::Write;
use std::path::PathBuf;

use crate::client::{self, AuthedChannel, Credentials};
use crate::config::Config;
use crate::organizations::{OrganizationId, log_config};
use crate::server::{DataDir, Runtime, ServeOptions};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use poolkeeper_eventlog::{EventStore, SqliteEventStore};
use poolkeeper_projections::{ProjectionName, Projections};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::admin_service_client::AdminServiceClient;
use poolkeeper_proto::v1::audit_service_client::AuditServiceClient;
use poolkeeper_proto::v1::organization_service_client::OrganizationServiceClient;
use poolkeeper_proto::v1::query_service_client::QueryServiceClient;

#[derive(Parser)]
#[command(
    name = "poolkeeper",
    version,
    about = "The event-sourced customer-pool core"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run the service.
    Serve(ServeArgs),
    /// Each organization's log position, and each projection's checkpoint and lag behind
    /// it (every organization unless --organization names one).
    Status(Target),
    /// Rebuild projections from the log (all when none is named), with a progress bar.
    Rebuild {
        #[command(flatten)]
        target: Target,
        /// `pool_view`, `owner_view`, `abandon_audit`, `ownership_history` or `statistics`.
        projection: Option<String>,
        /// Rebuild beside the live projection on a running server and swap it in.
        #[arg(long)]
        online: bool,
    },
    /// A customer's ownership history, and its owner as of an instant.
    History {
        #[command(flatten)]
        target: Target,
        /// The customer, `customers/{uuid}` or a UUID.
        customer: String,
        /// Who owned it at this RFC 3339 instant.
        #[arg(long)]
        as_of: Option<DateTime<Utc>>,
    },
    /// Re-walk the log's hash chain and report the first break.
    Verify(Target),
    /// Write the log as JSON lines with hashes (to stdout or --output).
    Export {
        #[command(flatten)]
        target: Target,
        /// The file to write; stdout when absent.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// A TOML configuration file.
    #[arg(long, env = "POOLKEEPER_CONFIG")]
    config: Option<PathBuf>,
    /// Where to listen (overrides the file).
    #[arg(long, env = "POOLKEEPER_LISTEN")]
    listen: Option<std::net::SocketAddr>,
    /// The data directory (overrides the file).
    #[arg(long, env = "POOLKEEPER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Run on a manual clock starting at this RFC 3339 instant; it moves only through
    /// AdminService.SetClock (tests and demos).
    #[arg(long)]
    manual_clock: Option<DateTime<Utc>>,
    /// Log lines as JSON.
    #[arg(long)]
    json_logs: bool,
}

/// Where an operations command acts: a running server, or the data directory.
#[derive(Args)]
struct Target {
    /// A running server, e.g. http://127.0.0.1:50051.
    #[arg(long, env = "POOLKEEPER_SERVER")]
    server: Option<String>,
    /// A token with the needed scope, for --server.
    #[arg(long, env = "POOLKEEPER_TOKEN")]
    token: Option<String>,
    /// The data directory, when no server runs.
    #[arg(long, env = "POOLKEEPER_DATA_DIR", default_value = "./poolkeeper-data")]
    data_dir: PathBuf,
    /// The organization (`acme` or `organizations/acme`); `default` when absent.
    #[arg(long, env = "POOLKEEPER_ORGANIZATION")]
    organization: Option<String>,
}

impl Target {
    /// The organization it names, `default` when none.
    fn organization(&self) -> Result<OrganizationId, Failure> {
        match &self.organization {
            None => Ok(OrganizationId::default_organization()),
            Some(text) => Ok(OrganizationId::parse(text)?),
        }
    }

    /// The token's credentials in the organization it names.
    fn credentials(&self) -> Result<Credentials, Failure> {
        Ok(credentials(self.token.as_deref())?.in_organization(self.organization()?.as_str())?)
    }
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(data_dir) = args.data_dir {
        config.data_dir = data_dir;
    }
    config.json_logs |= args.json_logs;
    init_logs(config.json_logs);
    // Listen only once the service can answer: the log is folded and the token written.
    let listen = config.listen;
    let runtime = Runtime::open(ServeOptions {
        config,
        manual_clock: args.manual_clock,
    })
    .await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    if runtime.tokens().iter().any(|t| t.name == "development") {
        let token = &runtime.tokens()[0].token;
        eprintln!("development token (every scope): {token}");
        eprintln!("  saved in {}", runtime.data().dev_token().display());
    }
    let bootstrap = runtime.bootstrap();
    eprintln!(
        "admin user: {}   default pool: {}   (organization `default`)",
        bootstrap.admin_user, bootstrap.default_pool
    );
    eprintln!("listening on {address}; Ctrl-C to stop");
    runtime.serve(listener, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down: draining in-flight commands");
}

fn credentials(token: Option<&str>) -> Result<Credentials, Failure> {
    Ok(Credentials::new(token.ok_or(
        "--token (or POOLKEEPER_TOKEN) is needed with --server",
    )?)?)
}

async fn admin_client(
    server: &str,
    credentials: &Credentials,
) -> Result<AdminServiceClient<AuthedChannel>, Failure> {
    Ok(AdminServiceClient::new(
        credentials.on(client::connect(server).await?),
    ))
}

fn progress_bar(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>18} [{bar:40}] {pos}/{len} events, {per_sec}, eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

async fn status(target: Target) -> Result<(), Failure> {
    println!(
        "{:<24} {:<18} {:>12} {:>12} {:>10} {:>10}  state",
        "organization", "projection", "checkpoint", "tail", "lag", "lag_s"
    );
    match &target.server {
        Some(server) => status_remote(&target, server).await,
        None => status_local(&target).await,
    }
}

/// The organizations `status` reports on: the one named, or every one the token may see
/// (just `default` for a token without the platform scope).
async fn organizations_to_report(target: &Target, server: &str) -> Result<Vec<String>, Failure> {
    if target.organization.is_some() {
        return Ok(vec![target.organization()?.as_str().to_owned()]);
    }
    let mut catalog = OrganizationServiceClient::new(
        credentials(target.token.as_deref())?.on(client::connect(server).await?),
    );
    let mut ids = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListOrganizationsRequest {
            page_size: 500,
            page_token: page_token.clone(),
        };
        let page = match catalog.list_organizations(request).await {
            Ok(page) => page.into_inner(),
            Err(status) if status.code() == tonic::Code::PermissionDenied => {
                return Ok(vec![
                    OrganizationId::default_organization().as_str().to_owned(),
                ]);
            }
            Err(status) => return Err(status.into()),
        };
        ids.extend(page.organizations.into_iter().map(|o| {
            o.name
                .strip_prefix("organizations/")
                .unwrap_or(&o.name)
                .to_owned()
        }));
        if page.next_page_token.is_empty() {
            return Ok(ids);
        }
        page_token = page.next_page_token;
    }
}

async fn status_remote(target: &Target, server: &str) -> Result<(), Failure> {
    for organization in organizations_to_report(target, server).await? {
        let credentials = credentials(target.token.as_deref())?.in_organization(&organization)?;
        let list = admin_client(server, &credentials)
            .await?
            .get_projection_status(pb::GetProjectionStatusRequest {})
            .await?
            .into_inner();
        for p in list.projections {
            let state = if !p.error.is_empty() {
                p.error
            } else if p.rebuilding {
                "rebuilding".into()
            } else {
                "ok".into()
            };
            println!(
                "{organization:<24} {:<18} {:>12} {:>12} {:>10} {:>10.1}  {state}",
                p.projection, p.checkpoint, p.tail, p.lag_positions, p.lag_seconds
            );
        }
    }
    Ok(())
}

async fn status_local(target: &Target) -> Result<(), Failure> {
    let data = DataDir::new(&target.data_dir);
    let _lock = lock_local(&data)?;
    let organizations = match &target.organization {
        Some(_) => vec![target.organization()?],
        None => local_organizations(&data)?,
    };
    for organization in organizations {
        let store = open_local_log(&data, &organization)?;
        let tail = store.tail().await?;
        let projections =
            Projections::open(&data.layout().organization_projections(&organization))?;
        for p in projections.status() {
            let lag = tail.saturating_sub(p.checkpoint);
            let state = p.error.unwrap_or_else(|| "ok".into());
            println!(
                "{:<24} {:<18} {:>12} {:>12} {:>10} {:>10}  {state}",
                organization.as_str(),
                p.name.as_str(),
                p.checkpoint,
                tail,
                lag,
                "-"
            );
        }
        store.close().await?;
    }
    Ok(())
}

/// The organizations with a log in the data directory, by id.
fn local_organizations(data: &DataDir) -> Result<Vec<OrganizationId>, Failure> {
    let root = data.root().join("organizations");
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(&root)? {
        let entry = entry?;
        if let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|name| OrganizationId::parse(name).ok())
            && data.layout().organization_log(&id).exists()
        {
            ids.push(id);
        }
    }
    ids.sort();
    Ok(ids)
}

fn projection_names(projection: Option<&str>) -> Result<Vec<ProjectionName>, Failure> {
    match projection {
        None => Ok(ProjectionName::ALL.to_vec()),
        Some(name) => Ok(vec![ProjectionName::parse(name).ok_or_else(|| {
            format!("unknown projection {name:?}: pool_view, owner_view, abandon_audit, ownership_history or statistics")
        })?]),
    }
}

async fn rebuild(target: Target, projection: Option<String>, online: bool) -> Result<(), Failure> {
    let names = projection_names(projection.as_deref())?;
    if online {
        let server = target
            .server
            .as_deref()
            .ok_or("--online rebuilds on a running server: pass --server")?;
        let mut admin = admin_client(server, &target.credentials()?).await?;
        let mut stream = admin
            .rebuild_projection(pb::RebuildProjectionRequest {
                projection: projection.unwrap_or_default(),
            })
            .await?
            .into_inner();
        let bar = progress_bar(0);
        while let Some(progress) = stream.message().await? {
            bar.set_length(progress.events_total);
            bar.set_position(progress.events_done);
            bar.set_message(format!("{} {}", progress.projection, progress.phase));
            if !progress.error.is_empty() {
                bar.abandon();
                return Err(format!(
                    "rebuilding {} failed: {}",
                    progress.projection, progress.error
                )
                .into());
            }
            if progress.done {
                bar.suspend(|| {
                    println!(
                        "{} rebuilt to position {} and swapped in",
                        progress.projection, progress.events_done
                    )
                });
            }
        }
        bar.finish();
        return Ok(());
    }
    if target.server.is_some() {
        return Err("an offline rebuild works on the data directory of a stopped server; use --online with --server".into());
    }
    let data = DataDir::new(&target.data_dir);
    let _lock = lock_local(&data)?;
    let organization = target.organization()?;
    let store = std::sync::Arc::new(open_local_log(&data, &organization)?);
    let bar = progress_bar(store.tail().await?);
    let done = Projections::rebuild_offline(
        &data.layout().organization_projections(&organization),
        &names,
        store.clone(),
        |progress| {
            bar.set_length(progress.events_total);
            bar.set_position(progress.events_done);
            bar.set_message(format!("{:?}", progress.phase).to_lowercase());
        },
    )
    .await?;
    bar.finish();
    for (name, position) in done {
        println!("{} rebuilt to position {position}", name.as_str());
    }
    store.close().await?;
    Ok(())
}

async fn history(
    target: Target,
    customer: String,
    as_of: Option<DateTime<Utc>>,
) -> Result<(), Failure> {
    let customer_id = crate::convert::customer("customer", &customer)
        .map_err(|status| status.message().to_owned())?;
    let intervals = if let Some(server) = &target.server {
        let credentials = target.credentials()?.acting_as("system")?;
        let mut queries = QueryServiceClient::new(credentials.on(client::connect(server).await?));
        let history = queries
            .get_ownership_history(pb::GetOwnershipHistoryRequest {
                customer: format!("customers/{customer_id}"),
                as_of: as_of.map(crate::convert::timestamp),
                ..Default::default()
            })
            .await?
            .into_inner();
        if let Some(owner) = history.owner_as_of {
            println!(
                "owner as of {}: {}",
                as_of.map(|t| t.to_rfc3339()).unwrap_or_default(),
                owner.owner
            );
        } else if as_of.is_some() {
            println!(
                "not owned as of {}",
                as_of.map(|t| t.to_rfc3339()).unwrap_or_default()
            );
        }
        history
            .intervals
            .into_iter()
            .map(|i| {
                let start = i.start_time.map(|t| t.seconds).unwrap_or_default();
                let end = i.end_time.map(|t| t.seconds);
                (
                    i.owner,
                    start,
                    i.began_by,
                    end,
                    i.ended_by,
                    i.end_reason,
                    i.end_actor,
                )
            })
            .collect::<Vec<_>>()
    } else {
        let data = DataDir::new(&target.data_dir);
        let _lock = lock_local(&data)?;
        let projections = Projections::open(
            &data
                .layout()
                .organization_projections(&target.organization()?),
        )?;
        let reader = projections.history();
        if let Some(at) = as_of {
            match reader
                .owner_at(customer_id, poolkeeper_projections::AsOf::Instant(at))
                .await?
            {
                Some(period) => println!(
                    "owner as of {}: users/{}",
                    at.to_rfc3339(),
                    period.user.map(|u| u.to_string()).unwrap_or_default()
                ),
                None => println!("not owned as of {}", at.to_rfc3339()),
            }
        }
        reader
            .ownership(customer_id)
            .await?
            .into_iter()
            .map(|p| {
                (
                    p.user.map(|u| format!("users/{u}")).unwrap_or_default(),
                    p.from.at.timestamp(),
                    p.began.as_str().to_owned(),
                    p.to.map(|m| m.at.timestamp()),
                    p.ended.map(|c| c.as_str().to_owned()).unwrap_or_default(),
                    p.end_reason.unwrap_or_default(),
                    p.ended_by.map(|a| a.to_string()).unwrap_or_default(),
                )
            })
            .collect()
    };
    println!(
        "{:<44} {:<20} {:<14} {:<20} {:<14} reason / by",
        "owner", "from", "began", "to", "ended"
    );
    let show = |seconds: i64| {
        DateTime::from_timestamp(seconds, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default()
    };
    for (owner, start, began, end, ended, reason, by) in intervals {
        println!(
            "{owner:<44} {:<20} {began:<14} {:<20} {ended:<14} {reason} {by}",
            show(start),
            end.map(show).unwrap_or_else(|| "(now)".into())
        );
    }
    Ok(())
}

async fn audit_client(
    target: &Target,
    server: &str,
) -> Result<AuditServiceClient<AuthedChannel>, Failure> {
    let channel = client::connect(server).await?;
    Ok(AuditServiceClient::new(target.credentials()?.on(channel)))
}

/// Takes the lock of a data directory no server holds (adopting a single-organization
/// layout as the default organization's, as the server would).
fn lock_local(data: &DataDir) -> Result<std::fs::File, Failure> {
    let lock = data
        .open_locked()
        .map_err(|error| format!("{error} (or pass --server to ask the running server)"))?;
    data.adopt_single_organization()?;
    Ok(lock)
}

/// Opens organization `id`'s log in `data` (whose lock the caller holds).
fn open_local_log(data: &DataDir, id: &OrganizationId) -> Result<SqliteEventStore, Failure> {
    let path = data.layout().organization_log(id);
    if !path.exists() {
        return Err(format!("{} has no log in {}", id.name(), data.root().display()).into());
    }
    Ok(SqliteEventStore::open(path, log_config())?)
}

/// Opens the log of the target's organization in a data directory no server holds.
fn open_local(target: &Target) -> Result<(std::fs::File, SqliteEventStore), Failure> {
    let data = DataDir::new(&target.data_dir);
    let lock = lock_local(&data)?;
    let store = open_local_log(&data, &target.organization()?)?;
    Ok((lock, store))
}

async fn verify(target: Target) -> Result<bool, Failure> {
    if let Some(server) = &target.server {
        let mut client = audit_client(&target, server).await?;
        let report = client
            .verify_log(pb::VerifyLogRequest {})
            .await?
            .into_inner();
        println!(
            "events checked: {}  tail: {}",
            report.events_checked, report.tail
        );
        if report.intact {
            println!("chain intact");
        } else {
            println!(
                "chain broken at position {}: {}",
                report.first_broken_position, report.reason
            );
        }
        return Ok(report.intact);
    }
    let (_lock, store) = open_local(&target)?;
    let report = store.verify().await?;
    println!(
        "events checked: {}  tail: {}",
        report.events_checked, report.tail
    );
    match &report.first_break {
        None => println!("chain intact"),
        Some(chain_break) => println!(
            "chain broken at position {}: {:?}",
            chain_break.position, chain_break.reason
        ),
    }
    store.close().await?;
    Ok(report.first_break.is_none())
}

async fn export(target: Target, output: Option<PathBuf>) -> Result<(), Failure> {
    let mut out: Box<dyn Write + Send> = match &output {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    if let Some(server) = &target.server {
        let mut client = audit_client(&target, server).await?;
        let mut chunks = client
            .export_log(pb::ExportLogRequest { from_position: 1 })
            .await?
            .into_inner();
        while let Some(chunk) = chunks.message().await? {
            out.write_all(&chunk.jsonl)?;
        }
        out.flush()?;
        return Ok(());
    }
    let (_lock, store) = open_local(&target)?;
    let (summary, mut out) = store.export_jsonl(out).await?;
    out.flush()?;
    eprintln!("exported {} events, tail {}", summary.events, summary.tail);
    store.close().await?;
    Ok(())
}

/// A reader of our output went away (e.g. `poolkeeper export | head`): not a failure.
fn is_broken_pipe(error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        if let Some(poolkeeper_eventlog::EventLogError::Io(inner)) = current.downcast_ref()
            && inner.kind() == std::io::ErrorKind::BrokenPipe
        {
            return true;
        }
        source = current.source();
    }
    false
}

/// Parses the command line and runs the chosen command.
pub fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("poolkeeper: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(Cli::parse()))
}

async fn run(cli: Cli) -> std::process::ExitCode {
    let result = match cli.command {
        Commands::Serve(args) => serve(args).await.map(|()| true),
        Commands::Status(target) => {
            init_logs(false);
            status(target).await.map(|()| true)
        }
        Commands::Rebuild {
            target,
            projection,
            online,
        } => {
            init_logs(false);
            rebuild(target, projection, online).await.map(|()| true)
        }
        Commands::History {
            target,
            customer,
            as_of,
        } => {
            init_logs(false);
            history(target, customer, as_of).await.map(|()| true)
        }
        Commands::Verify(target) => {
            init_logs(false);
            verify(target).await
        }
        Commands::Export { target, output } => {
            init_logs(false);
            export(target, output).await.map(|()| true)
        }
    };
    match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(2),
        Err(error) if is_broken_pipe(error.as_ref()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("poolkeeper: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
