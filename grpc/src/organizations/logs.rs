//! Where the logs live: one per organization, and the platform log of the catalog.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use poolkeeper_eventlog::{EventLogConfig, EventLogError, EventStore, SqliteEventStore};
use poolkeeper_vault::{KeyStore, Keys, MasterKey};

use super::id::OrganizationId;

/// An organization's log as this node opened it.
pub enum PartitionLog {
    /// This node writes it.
    Writer(Arc<dyn EventStore>),
    /// This node writes it under its writer lease of this epoch (PostgreSQL).
    Leased {
        /// The log.
        store: Arc<dyn EventStore>,
        /// The lease's epoch.
        epoch: u64,
    },
    /// Another node writes it (`holder`); this node reads and follows it.
    Follower {
        /// The log, read-only here.
        store: Arc<dyn EventStore>,
        /// The node that holds its writer lease.
        holder: String,
    },
}

/// Opens the log of a partition. A backend keeps every organization's log apart: its own
/// positions from 1, its own hash chain, its own command ids.
#[async_trait]
pub trait LogBackend: Send + Sync + 'static {
    /// The log of organization `id`, created empty if it has none yet.
    async fn open_log(&self, id: &OrganizationId) -> Result<Arc<dyn EventStore>, EventLogError>;

    /// The log of organization `id` for a partition: written by this node, or followed
    /// when another node writes it. A backend with one node always writes.
    async fn open_partition_log(&self, id: &OrganizationId) -> Result<PartitionLog, EventLogError> {
        Ok(PartitionLog::Writer(self.open_log(id).await?))
    }

    /// The address other nodes forward `holder`'s organizations' commands to, if known.
    async fn node_address(&self, _holder: &str) -> Result<Option<String>, EventLogError> {
        Ok(None)
    }

    /// Whether organization `id` is no longer written by `holder`, the node this node's
    /// partition follows: its lease lapsed (this node may take it) or another node took
    /// it (this node must follow that one). Either way the partition is reopened.
    async fn writer_changed(
        &self,
        _id: &OrganizationId,
        _holder: &str,
    ) -> Result<bool, EventLogError> {
        Ok(false)
    }

    /// The platform log, which holds the catalog of organizations.
    async fn open_platform_log(&self) -> Result<Arc<dyn EventStore>, EventLogError>;

    /// Organization `id`'s customer data keys, kept outside its log.
    async fn open_keys(&self, id: &OrganizationId) -> Result<Arc<dyn Keys>, EventLogError>;
}

/// The files of a data directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The data directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where organization `id` keeps its log and projections.
    pub fn organization(&self, id: &OrganizationId) -> PathBuf {
        self.root.join("organizations").join(id.as_str())
    }

    /// Organization `id`'s log.
    pub fn organization_log(&self, id: &OrganizationId) -> PathBuf {
        self.organization(id).join("events.db")
    }

    /// Organization `id`'s customer data keys.
    pub fn organization_keys(&self, id: &OrganizationId) -> PathBuf {
        self.organization(id).join("keys.db")
    }

    /// Organization `id`'s projections.
    pub fn organization_projections(&self, id: &OrganizationId) -> PathBuf {
        self.organization(id).join("projections")
    }

    /// The platform log.
    pub fn platform_log(&self) -> PathBuf {
        self.root.join("platform").join("events.db")
    }

    /// When each closed organization next needs its scheduler.
    pub fn wakeups(&self) -> PathBuf {
        self.root.join("platform").join("wakeups.json")
    }
}

/// How an organization's log is opened: the default settings, with the codec's
/// upcasters applied on every read.
pub fn log_config() -> EventLogConfig {
    EventLogConfig {
        upcasters: poolkeeper_codec::upcasters(),
        ..EventLogConfig::default()
    }
}

/// The embedded default: a SQLite file per organization under the data directory
/// (`organizations/{id}/events.db`), so organizations commit and fsync independently,
/// and one can be backed up, moved or removed as a directory.
pub struct SqliteLogs {
    layout: Layout,
    config: EventLogConfig,
    master: MasterKey,
}

impl SqliteLogs {
    /// Logs under `layout`, each opened with `config`, their keys wrapped by `master`.
    pub fn new(layout: Layout, config: EventLogConfig, master: MasterKey) -> Self {
        Self {
            layout,
            config,
            master,
        }
    }

    /// Opens the SQLite log at `path` off the async threads (opening reads the file).
    async fn open_at(&self, path: PathBuf) -> Result<Arc<dyn EventStore>, EventLogError> {
        let config = self.config.clone();
        let opened = tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|error| EventLogError::Io(Arc::new(error)))?;
            }
            SqliteEventStore::open(path, config)
        })
        .await
        .map_err(|error| EventLogError::Io(Arc::new(std::io::Error::other(error))))??;
        Ok(Arc::new(opened))
    }
}

#[async_trait]
impl LogBackend for SqliteLogs {
    async fn open_log(&self, id: &OrganizationId) -> Result<Arc<dyn EventStore>, EventLogError> {
        self.open_at(self.layout.organization_log(id)).await
    }

    async fn open_platform_log(&self) -> Result<Arc<dyn EventStore>, EventLogError> {
        self.open_at(self.layout.platform_log()).await
    }

    async fn open_keys(&self, id: &OrganizationId) -> Result<Arc<dyn Keys>, EventLogError> {
        let path = self.layout.organization_keys(id);
        let master = self.master.clone();
        let keys = tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            KeyStore::open(&path, master)
        })
        .await
        .map_err(|error| EventLogError::Io(Arc::new(std::io::Error::other(error))))?
        .map_err(|error| EventLogError::Backend(Arc::new(error)))?;
        Ok(Arc::new(keys))
    }
}
