//! The server's configuration: a TOML file, overridden by flags and environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::TokenConfig;

/// Files for TLS (rustls).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Everything the server needs; every field has a working default.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Where the log, the projections and the development token live.
    pub data_dir: PathBuf,
    /// Calling services' tokens. When empty, a development token with every scope is
    /// created in the data directory at first start and printed.
    pub tokens: Vec<TokenConfig>,
    /// TLS; plaintext when absent.
    pub tls: Option<TlsConfig>,
    /// The largest request accepted, in bytes (imports are the largest).
    pub max_request_bytes: usize,
    /// The most customers one import may hold.
    pub max_import: usize,
    /// The most commands decided and committed together.
    pub max_batch: usize,
    /// The longest the reclaim scheduler sleeps between checks, in seconds.
    pub scheduler_max_sleep_seconds: u64,
    /// The longest a query waits for the projections to reach its `min_position`, in
    /// seconds (the call's own deadline may be shorter).
    pub max_read_wait_seconds: u64,
    /// How long the projections gather events before they commit them, in milliseconds,
    /// unless a query waits for one of them (see `min_position`) or a batch fills first.
    /// Longer: fewer and larger projection transactions, staler reads without
    /// `min_position`.
    pub projection_commit_ms: u64,
    /// How often the pool and owner views, served from memory, write what changed to
    /// their files (their snapshots), in seconds, while events arrive; they also do when
    /// idle and at a clean stop. After a crash, what came after the last snapshot is
    /// re-applied from the log at start.
    pub projection_snapshot_seconds: u64,
    /// The most organizations open at once (each open one has its log, write model,
    /// projections and scheduler); the least recently used idle ones are closed beyond it.
    pub max_open_organizations: usize,
    /// An organization no call used for this many seconds is closed (its next reclaim
    /// still opens it on time).
    pub organization_idle_seconds: u64,
    /// Where the logs live: the data directory's SQLite files when absent, or a
    /// PostgreSQL database (`postgres://user@host:5432/db`) shared by every node.
    pub store: Option<String>,
    /// This node's name in the writer leases (PostgreSQL); a stable id kept in the data
    /// directory (`node-id`) when absent.
    pub node_id: Option<String>,
    /// How long a writer lease lasts without renewal, in seconds (PostgreSQL): after a
    /// node dies, another takes its organizations within this time.
    pub lease_seconds: u64,
    /// Where the other nodes reach this one to forward commands (PostgreSQL);
    /// `http://{listen}` when absent.
    pub advertise: Option<String>,
    /// Log lines as JSON instead of text.
    pub json_logs: bool,
    /// Where the HTTP listener serves Prometheus's `/metrics` (and the console, when
    /// on); no HTTP listener when absent.
    pub http_listen: Option<SocketAddr>,
    /// The read-only audit console on the HTTP listener (`127.0.0.1:8090` when
    /// `http_listen` is absent).
    pub console: bool,
    /// Where traces go: an OpenTelemetry collector's OTLP/gRPC endpoint
    /// (`http://127.0.0.1:4317`); no traces are exported when absent.
    pub otlp_endpoint: Option<String>,
    /// The file holding the master key (64 hexadecimal digits) that wraps every
    /// customer's data key; the data directory's `master.key`, created on first start,
    /// when absent. Required with `store` (every node must share it).
    pub master_key_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            data_dir: PathBuf::from("./poolkeeper-data"),
            tokens: Vec::new(),
            tls: None,
            max_request_bytes: 64 * 1024 * 1024,
            max_import: 50_000,
            max_batch: 1_024,
            scheduler_max_sleep_seconds: 30,
            max_read_wait_seconds: 10,
            projection_commit_ms: 50,
            projection_snapshot_seconds: 5,
            max_open_organizations: 64,
            organization_idle_seconds: 300,
            store: None,
            node_id: None,
            lease_seconds: 10,
            advertise: None,
            json_logs: false,
            http_listen: None,
            console: false,
            otlp_endpoint: None,
            master_key_file: None,
        }
    }
}

/// Where the HTTP listener goes when only the console is asked for.
pub const DEFAULT_CONSOLE_LISTEN: ([u8; 4], u16) = ([127, 0, 0, 1], 8090);

impl Config {
    /// The HTTP listener's address: `http_listen`, or the default one when the console
    /// is on; none otherwise.
    pub fn http_address(&self) -> Option<SocketAddr> {
        self.http_listen.or_else(|| {
            self.console
                .then(|| SocketAddr::from(DEFAULT_CONSOLE_LISTEN))
        })
    }

    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid configuration.
    #[error("invalid configuration in {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: toml::de::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scope;

    #[test]
    fn a_toml_file_overrides_defaults_and_unknown_keys_are_refused() {
        let config: Config = toml::from_str(
            r#"
            listen = "0.0.0.0:6000"
            [[tokens]]
            name = "crm-web"
            token = "t1"
            scopes = ["command", "query"]
            "#,
        )
        .unwrap();
        assert_eq!(config.listen.port(), 6000);
        assert_eq!(config.tokens[0].scopes, vec![Scope::Command, Scope::Query]);
        assert_eq!(config.max_import, Config::default().max_import);
        assert!(toml::from_str::<Config>("lisen = \"x\"").is_err());
    }
}
