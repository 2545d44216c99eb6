//! poolkeeper's event log on PostgreSQL: every organization's log in one
//! schema, keyed by `organization`, each with its own gap-free positions, hash
//! chain, command ids and stream versions, appended by one leased and fenced
//! writer. It knows no domain type: it implements
//! [`EventStore`](poolkeeper_eventlog::EventStore) and passes the same
//! conformance suite as the SQLite backend.
//!
//! Start with [`PostgresLogs::connect`], take an organization's writer lease
//! with [`Lease::acquire`], then [`PostgresLogs::open_log`]. README.md gives
//! the schema and the ordering and fencing argument.
//!
//! Module map:
//! - `schema` — migrations, run on connect under an advisory transaction lock.
//! - [`lease`] — [`Lease`] and [`WriterLease`]: the epoch that fences writers.
//! - `writer` — the group-committing writer task of a store.
//! - `plan` — what a group writes, decided in memory (versions, ids, hashes).
//! - `reader` — reads, command outcomes and `verify`.
//! - `hub` — `LISTEN`/`NOTIFY` and in-process wake-ups of subscribers.
//! - `subscription` — catch-up-then-live subscriptions and paged reads.
//! - [`store`] — [`PostgresEventStore`], the `EventStore` of one organization.
//! - `rows` — row decoding and conversions.
//! - [`testing`] (feature `testing`) — throwaway clusters for tests and benches.

mod hub;
mod known;
pub mod lease;
mod plan;
mod reader;
mod rows;
pub mod schema;
pub mod store;
mod subscription;
#[cfg(feature = "testing")]
pub mod testing;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use poolkeeper_eventlog::config::DEFAULT_MAX_PAYLOAD_BYTES;
use poolkeeper_eventlog::{EventLogError, EventStore, Upcasters};
use tokio_postgres::NoTls;

pub use lease::{Lease, WriterLease};
pub use store::PostgresEventStore;

use crate::hub::Hub;
use crate::rows::backend;

/// The longest organization name, in bytes (it travels in `NOTIFY` payloads).
pub const MAX_ORGANIZATION_BYTES: usize = 200;

/// Configuration of [`PostgresLogs`]; `default()` is the production setting.
#[derive(Debug, Clone)]
pub struct PostgresLogConfig {
    /// Connections in the pool shared by every organization's reads and writers.
    pub pool_size: usize,
    /// Largest accepted payload in bytes.
    pub max_payload_bytes: usize,
    /// Upcasters applied on every read.
    pub upcasters: Upcasters,
    /// Events per page of catch-up reads and `read_all_stream`.
    pub page_size: usize,
    /// Upper bound on the events of one group commit (a larger request still
    /// commits whole).
    pub max_group_events: usize,
    /// Append jobs that may wait for a writer before appenders are backpressured.
    pub queue_capacity: usize,
    /// How often an idle subscriber re-reads the table when no notification
    /// came (the fallback for lost notifications).
    pub poll_interval: Duration,
    /// `idle_in_transaction_session_timeout` of every connection: a writer paused
    /// (SIGSTOP, a stall, a cut) between the round trips of an append holds its head
    /// row's lock, which a takeover needs; PostgreSQL ends its session after this long.
    /// Set it to the lease's time to live.
    pub idle_in_transaction_timeout: Duration,
}

impl Default for PostgresLogConfig {
    fn default() -> Self {
        Self {
            pool_size: 16,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            upcasters: Upcasters::new(),
            page_size: 2048,
            max_group_events: 16 * 1024,
            queue_capacity: 4096,
            poll_interval: Duration::from_secs(1),
            idle_in_transaction_timeout: Duration::from_secs(10),
        }
    }
}

/// Every organization's log in one PostgreSQL database. Cheap to clone.
///
/// Holds a connection pool and one listening connection; spawns its tasks on
/// the tokio runtime it is connected from, so use it on that runtime.
#[derive(Clone)]
pub struct PostgresLogs {
    inner: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    hub: Arc<Hub>,
    config: PostgresLogConfig,
}

impl std::fmt::Debug for PostgresLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresLogs")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl PostgresLogs {
    /// Connects to `url` (a libpq URL or key=value string) with a pool of
    /// `pool_size` connections and the default configuration, and migrates.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self, EventLogError> {
        let config = PostgresLogConfig {
            pool_size,
            ..PostgresLogConfig::default()
        };
        Self::connect_with(url, config).await
    }

    /// Connects with a full configuration and applies pending migrations.
    pub async fn connect_with(url: &str, config: PostgresLogConfig) -> Result<Self, EventLogError> {
        let mut pg = tokio_postgres::Config::from_str(url).map_err(backend)?;
        let options = format!(
            "{} -c idle_in_transaction_session_timeout={}",
            pg.get_options().unwrap_or_default(),
            config.idle_in_transaction_timeout.as_millis().max(1)
        );
        pg.keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .tcp_user_timeout(Duration::from_secs(30))
            .options(options.trim_start());
        let manager = Manager::from_config(
            pg.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(2))
            .build()
            .map_err(backend)?;
        let mut client = pool.get().await.map_err(backend)?;
        let client: &mut tokio_postgres::Client = &mut client;
        schema::migrate(client).await?;
        let hub = Hub::start(pg);
        Ok(Self {
            inner: Arc::new(Shared { pool, hub, config }),
        })
    }

    /// Opens `organization`'s log. With a `writer` lease (of this organization)
    /// the store appends under the lease's epoch and fails with
    /// [`Fenced`](EventLogError::Fenced) once another holder took the lease
    /// (already here, when the epoch is stale); without, it is read-only:
    /// appends fail with [`ReadOnly`](EventLogError::ReadOnly), everything else works.
    pub async fn open_log(
        &self,
        organization: &str,
        writer: Option<WriterLease>,
    ) -> Result<Arc<dyn EventStore>, EventLogError> {
        Ok(Arc::new(self.open_store(organization, writer).await?))
    }

    /// [`open_log`](Self::open_log) returning the concrete store.
    pub async fn open_store(
        &self,
        organization: &str,
        writer: Option<WriterLease>,
    ) -> Result<PostgresEventStore, EventLogError> {
        check_organization(organization)?;
        if let Some(lease) = &writer {
            self.check_lease(organization, lease).await?;
        }
        Ok(PostgresEventStore::new(
            self.clone(),
            organization.into(),
            writer,
        ))
    }

    /// The pool, e.g. for [`Lease::acquire`].
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// The configuration.
    pub fn config(&self) -> &PostgresLogConfig {
        &self.inner.config
    }

    pub(crate) fn hub(&self) -> Arc<Hub> {
        Arc::clone(&self.inner.hub)
    }

    /// Refuses a lease of another organization or one already superseded.
    async fn check_lease(
        &self,
        organization: &str,
        lease: &WriterLease,
    ) -> Result<(), EventLogError> {
        if lease.organization != organization {
            return Err(EventLogError::invalid(
                "writer",
                format!(
                    "the lease is {}'s, not {organization}'s",
                    lease.organization
                ),
            ));
        }
        let client = self.inner.pool.get().await.map_err(backend)?;
        let current = client
            .query_opt(
                "SELECT epoch FROM log_heads WHERE organization = $1",
                &[&organization],
            )
            .await
            .map_err(backend)?;
        match current {
            Some(row) if row.get::<_, i64>(0) == rows::sql_int(lease.epoch) => Ok(()),
            _ => Err(EventLogError::Fenced {
                organization: organization.to_owned(),
                epoch: lease.epoch,
            }),
        }
    }
}

/// An organization name must be 1 to [`MAX_ORGANIZATION_BYTES`] bytes, without NUL.
pub(crate) fn check_organization(organization: &str) -> Result<(), EventLogError> {
    if organization.is_empty()
        || organization.len() > MAX_ORGANIZATION_BYTES
        || organization.contains('\0')
    {
        return Err(EventLogError::invalid(
            "organization",
            format!("must be 1 to {MAX_ORGANIZATION_BYTES} bytes without NUL"),
        ));
    }
    Ok(())
}
