//! The `poolkeeper` command line: the service and its operations tools. The binary is a
//! thin wrapper around [`main`], so tests can run the very same program as a child process.
//!
//! - `poolkeeper serve`: runs the service (defaults: `./poolkeeper-data`, 127.0.0.1:50051,
//!   a development token created and printed at first start).
//! - `poolkeeper simulate-rules`: what-if for a pool's rules (see `what_if.rs`).
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
use crate::telemetry::tracing::Traces;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use poolkeeper_eventlog::{EventStore, SqliteEventStore};
use poolkeeper_projections::{ProjectionName, Projections};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::admin_service_client::AdminServiceClient;
use poolkeeper_proto::v1::audit_service_client::AuditServiceClient;
use poolkeeper_proto::v1::organization_service_client::OrganizationServiceClient;
use poolkeeper_proto::v1::query_service_client::QueryServiceClient;

mod audit;
mod cluster;
mod local;
mod rebuild;
mod remote;
mod rotate;
mod serve;
mod status;
mod what_if;

use audit::{export, history, verify};
use local::{local_organizations, lock_local, open_local, open_local_log, open_local_opened};
use rebuild::rebuild;
use remote::{admin_client, audit_client, credentials, organizations_to_report};
use serve::serve;
use status::status;

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
    /// What-if for a pool's rules: what the reclaim scheduler would do, per day and per
    /// owner, if the rules in the TOML file were set now (nothing is appended).
    SimulateRules {
        #[command(flatten)]
        target: Target,
        /// The pool, `pools/{uuid}` or a UUID.
        #[arg(long)]
        pool: String,
        /// A TOML file of pool rules (e.g. `no_contact = { value = 5 }`).
        #[arg(long)]
        rules: PathBuf,
        /// How far ahead: `30d`, `4w` (1 to 366 days).
        #[arg(long, default_value = "30d")]
        horizon: String,
    },
    /// Rewrap every organization's customer data keys under a new master key (the
    /// server, or every node on --store, stopped); start with the new file afterwards.
    RotateMasterKey {
        #[command(flatten)]
        target: Target,
        /// The file holding the new master key (64 hex digits).
        #[arg(long)]
        new_master_key_file: PathBuf,
    },
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
    /// The logs' PostgreSQL database (`postgres://…`; overrides the file); the data
    /// directory's SQLite files when absent.
    #[arg(long, env = "POOLKEEPER_STORE")]
    store: Option<String>,
    /// Run on a manual clock starting at this RFC 3339 instant; it moves only through
    /// AdminService.SetClock (tests and demos).
    #[arg(long)]
    manual_clock: Option<DateTime<Utc>>,
    /// Log lines as JSON.
    #[arg(long)]
    json_logs: bool,
    /// Serve Prometheus's /metrics (and the console, when on) on this address.
    #[arg(long, env = "POOLKEEPER_HTTP_LISTEN")]
    http_listen: Option<std::net::SocketAddr>,
    /// Serve the read-only audit console (on --http-listen, else 127.0.0.1:8090).
    #[arg(long)]
    console: bool,
    /// Export traces to this OpenTelemetry collector (OTLP/gRPC, e.g. http://127.0.0.1:4317).
    #[arg(long, env = "POOLKEEPER_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// The file holding the master key (64 hex digits) that wraps the customers' data
    /// keys; the data directory's development `master.key` when absent.
    #[arg(long, env = "POOLKEEPER_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
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
    /// The PostgreSQL database of several nodes (`status`: nodes, writers, and with
    /// --token each node's lag).
    #[arg(long, env = "POOLKEEPER_STORE")]
    store: Option<String>,
    /// The master key file the server uses (an offline rebuild opens personal fields
    /// with it); the data directory's `master.key` when absent.
    #[arg(long, env = "POOLKEEPER_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
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
    init_logs_and_traces(json, None);
}

/// Log lines on stderr (`RUST_LOG`, `info` by default) and, given `traces`, the spans
/// exported through it.
fn init_logs_and_traces(json: bool, traces: Option<&Traces>) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = if json {
        lines.json().boxed()
    } else {
        lines.boxed()
    };
    let exported = traces.map(|traces| traces.layer().with_filter(Traces::filter()));
    tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(exported)
        .init();
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
        Commands::SimulateRules {
            target,
            pool,
            rules,
            horizon,
        } => {
            init_logs(false);
            let request = what_if::Request {
                target,
                pool,
                rules,
                horizon,
            };
            what_if::simulate_rules(request).await.map(|()| true)
        }
        Commands::RotateMasterKey {
            target,
            new_master_key_file,
        } => {
            init_logs(false);
            rotate::rotate_master_key(&target, &new_master_key_file)
                .await
                .map(|()| true)
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
