//! The `poolkeeper` command line: the service and its operations tools. The binary is a
//! thin wrapper around [`main`], so tests can run the very same program as a child process.
//!
//! - `poolkeeper serve`: runs the service (defaults: `./poolkeeper-data`, 127.0.0.1:50051,
//!   a development token created and printed at first start).
//! - `poolkeeper verify | export`: against a running server (`--server`, `--token`) or,
//!   when none runs, directly on the data directory.

use std::io::Write;
use std::path::PathBuf;

use crate::client::{self, AuthedChannel, Credentials};
use crate::config::Config;
use crate::server::{DataDir, Runtime, ServeOptions};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use poolkeeper_eventlog::{EventLogConfig, EventStore, SqliteEventStore};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::audit_service_client::AuditServiceClient;

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
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let runtime = Runtime::open(ServeOptions {
        config,
        manual_clock: args.manual_clock,
    })
    .await?;
    let address = listener.local_addr()?;
    if runtime.tokens().iter().any(|t| t.name == "development") {
        let token = &runtime.tokens()[0].token;
        eprintln!("development token (every scope): {token}");
        eprintln!("  saved in {}", runtime.data().dev_token().display());
    }
    if let Some(bootstrap) = runtime.bootstrap() {
        eprintln!(
            "admin user: {}   default pool: {}",
            bootstrap.admin_user, bootstrap.default_pool
        );
    }
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

async fn audit_client(
    server: &str,
    token: Option<&str>,
) -> Result<AuditServiceClient<AuthedChannel>, Failure> {
    let channel = client::connect(server).await?;
    let credentials = Credentials::new(token.unwrap_or_default())?;
    Ok(AuditServiceClient::new(credentials.on(channel)))
}

/// Opens the log of a data directory no server holds.
async fn open_local(data_dir: &PathBuf) -> Result<(std::fs::File, SqliteEventStore), Failure> {
    let data = DataDir::new(data_dir);
    let lock = data
        .open_locked()
        .map_err(|error| format!("{error} (or pass --server to ask the running server)"))?;
    let store = SqliteEventStore::open(data.log(), EventLogConfig::default())?;
    Ok((lock, store))
}

async fn verify(target: Target) -> Result<bool, Failure> {
    if let Some(server) = &target.server {
        let mut client = audit_client(server, target.token.as_deref()).await?;
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
    let (_lock, store) = open_local(&target.data_dir).await?;
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
        let mut client = audit_client(server, target.token.as_deref()).await?;
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
    let (_lock, store) = open_local(&target.data_dir).await?;
    let (summary, mut out) = store.export_jsonl(out).await?;
    out.flush()?;
    eprintln!("exported {} events, tail {}", summary.events, summary.tail);
    store.close().await?;
    Ok(())
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
        Err(error) => {
            eprintln!("poolkeeper: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
