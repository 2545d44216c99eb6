//! Organizations' logs on PostgreSQL (`serve --store postgres://…`): every node's logs
//! in one database, each organization's written only by the node holding its writer
//! lease.
//!
//! Opening an organization's partition tries its lease for this node: taken, the log is
//! opened under the lease's epoch and the lease renewed every third of its time to live;
//! held by another node, the log is opened read-only and followed, and commands are
//! forwarded to the holder's address from the node list. The log refuses (`Fenced`)
//! every append once another node took the lease over: the database fences a writer,
//! never a timer. Closing the log stops the renewals and releases the lease. The
//! platform log (the catalog) is read by every node and appended under a lease taken for
//! each append.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use poolkeeper_eventlog::{
    AppendOutcome, AppendRequest, EventLogError, EventStore, EventStream, Position, RecordedEvent,
    StreamId, StreamVersion, Subscription, VerifyReport,
};
use poolkeeper_eventlog_postgres::{Lease, PostgresLogConfig, PostgresLogs};
use tokio::sync::watch;
use uuid::Uuid;

use super::id::OrganizationId;
use super::logs::{LogBackend, PartitionLog};
use super::postgres_keys::{KEY_TABLES, PostgresKeys, claim_master};
use poolkeeper_vault::{Keys, MasterKey};

/// The organization name of the platform log (the catalog) in the shared tables: not a
/// valid organization id, so no organization can take it.
pub const PLATFORM_LOG: &str = "-platform";

/// The nodes sharing the database: where each takes forwarded commands, and when it last
/// said it was alive.
const NODES_TABLE: &str = "CREATE TABLE IF NOT EXISTS poolkeeper_nodes (\
     id text PRIMARY KEY, address text NOT NULL, heartbeat_at timestamptz NOT NULL)";

/// Every organization's log in one PostgreSQL database, written under this node's leases.
pub struct PostgresOrganizationLogs {
    leases: Leases,
    master: MasterKey,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl Drop for PostgresOrganizationLogs {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// How this node takes writer leases.
#[derive(Clone)]
struct Leases {
    logs: PostgresLogs,
    node: String,
    ttl: Duration,
}

fn backend(error: impl std::error::Error + Send + Sync + 'static) -> EventLogError {
    EventLogError::Backend(Arc::new(error))
}

impl PostgresOrganizationLogs {
    /// Connects to `url` (and migrates); this node takes leases as `node` for `lease_ttl`
    /// and takes forwarded commands at `address`, which it records (and refreshes every
    /// third of `lease_ttl`) in the node list.
    pub async fn connect(
        url: &str,
        node: String,
        address: String,
        lease_ttl: Duration,
        config: PostgresLogConfig,
        master: MasterKey,
    ) -> Result<Self, EventLogError> {
        let logs = PostgresLogs::connect_with(url, config).await?;
        let client = logs.pool().get().await.map_err(backend)?;
        client.batch_execute(NODES_TABLE).await.map_err(backend)?;
        client.batch_execute(KEY_TABLES).await.map_err(backend)?;
        claim_master(&client, &master)
            .await
            .map_err(|e| backend(std::io::Error::other(e)))?;
        drop(client);
        heartbeat(&logs, &node, &address).await?;
        let every = lease_ttl / 3;
        let heartbeat = tokio::spawn(heartbeats(logs.clone(), node.clone(), address, every));
        Ok(Self {
            leases: Leases {
                logs,
                node,
                ttl: lease_ttl,
            },
            master,
            heartbeat,
        })
    }

    /// Which node holds `organization`'s writer lease now, if any.
    async fn holder(&self, organization: &str) -> Result<Option<String>, EventLogError> {
        let client = self.leases.logs.pool().get().await.map_err(backend)?;
        let row = client
            .query_opt(
                "SELECT holder FROM log_heads WHERE organization = $1 \
                 AND lease_expires_at > now() AND holder IS NOT NULL",
                &[&organization],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|row| row.get(0)))
    }
}

impl Leases {
    /// Takes `organization`'s lease, waiting for a lapsed one to expire (at most one time
    /// to live and two seconds).
    async fn take(&self, organization: &str) -> Result<Lease, EventLogError> {
        let give_up = tokio::time::Instant::now() + self.ttl + Duration::from_secs(2);
        loop {
            let pool = self.logs.pool();
            if let Some(lease) = Lease::acquire(pool, organization, &self.node, self.ttl).await? {
                return Ok(lease);
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(backend(std::io::Error::other(format!(
                    "another node holds the writer lease of {organization}"
                ))));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `organization`'s log under `lease`, renewed until the log is closed.
    async fn open(
        &self,
        organization: &str,
        lease: Lease,
    ) -> Result<Arc<dyn EventStore>, EventLogError> {
        let inner = self
            .logs
            .open_log(organization, Some(lease.writer()))
            .await?;
        let (stop, stopped) = watch::channel(false);
        let renewals = tokio::spawn(renew(lease, self.ttl / 3, stopped));
        Ok(Arc::new(LeasedLog {
            inner,
            stop,
            renewals: std::sync::Mutex::new(Some(renewals)),
        }))
    }
}

#[async_trait]
impl LogBackend for PostgresOrganizationLogs {
    async fn open_log(&self, id: &OrganizationId) -> Result<Arc<dyn EventStore>, EventLogError> {
        let lease = self.leases.take(id.as_str()).await?;
        self.leases.open(id.as_str(), lease).await
    }

    async fn open_partition_log(&self, id: &OrganizationId) -> Result<PartitionLog, EventLogError> {
        let organization = id.as_str();
        let leases = &self.leases;
        match Lease::acquire(leases.logs.pool(), organization, &leases.node, leases.ttl).await? {
            Some(lease) => {
                let epoch = lease.epoch();
                let store = leases.open(organization, lease).await?;
                Ok(PartitionLog::Leased { store, epoch })
            }
            None => {
                let store = leases.logs.open_log(organization, None).await?;
                let holder = self.holder(organization).await?.unwrap_or_default();
                Ok(PartitionLog::Follower { store, holder })
            }
        }
    }

    async fn open_platform_log(&self) -> Result<Arc<dyn EventStore>, EventLogError> {
        let reads = self.leases.logs.open_log(PLATFORM_LOG, None).await?;
        Ok(Arc::new(CatalogLog {
            reads,
            leases: self.leases.clone(),
        }))
    }

    async fn open_keys(&self, id: &OrganizationId) -> Result<Arc<dyn Keys>, EventLogError> {
        Ok(Arc::new(PostgresKeys::new(
            self.leases.logs.pool().clone(),
            id.as_str().to_owned(),
            self.master.clone(),
        )))
    }

    async fn node_address(&self, holder: &str) -> Result<Option<String>, EventLogError> {
        let client = self.leases.logs.pool().get().await.map_err(backend)?;
        let row = client
            .query_opt(
                "SELECT address FROM poolkeeper_nodes WHERE id = $1",
                &[&holder],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn writer_changed(
        &self,
        id: &OrganizationId,
        holder: &str,
    ) -> Result<bool, EventLogError> {
        Ok(self.holder(id.as_str()).await?.as_deref() != Some(holder))
    }
}

/// Records that `node` is alive and takes forwarded commands at `address`.
async fn heartbeat(logs: &PostgresLogs, node: &str, address: &str) -> Result<(), EventLogError> {
    let client = logs.pool().get().await.map_err(backend)?;
    client
        .execute(
            "INSERT INTO poolkeeper_nodes (id, address, heartbeat_at) VALUES ($1, $2, now()) \
             ON CONFLICT (id) DO UPDATE SET address = $2, heartbeat_at = now()",
            &[&node, &address],
        )
        .await
        .map_err(backend)?;
    Ok(())
}

async fn heartbeats(logs: PostgresLogs, node: String, address: String, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if let Err(error) = heartbeat(&logs, &node, &address).await {
            tracing::warn!(%error, "the node's heartbeat failed");
        }
    }
}

/// Renews `lease` every `every` until `stopped`, then releases it. A renewal refused as
/// `Fenced` ends the loop: the log already refuses every append.
async fn renew(lease: Lease, every: Duration, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stopped.wait_for(|stop| *stop) => break,
        }
        match lease.renew().await {
            Ok(()) => {}
            Err(EventLogError::Fenced {
                organization,
                epoch,
            }) => {
                tracing::warn!(%organization, epoch, "the writer lease was taken over: stepping down");
                return;
            }
            Err(error) => tracing::warn!(%error, "renewing a writer lease failed; retrying"),
        }
    }
    if let Err(error) = lease.release().await {
        tracing::debug!(%error, "releasing a writer lease");
    }
}

/// The platform log: read by every node, appended under a lease taken for each append
/// (organizations are created and deactivated rarely; no node keeps the catalog).
struct CatalogLog {
    reads: Arc<dyn EventStore>,
    leases: Leases,
}

impl CatalogLog {
    /// The platform log under a lease taken for one append (closed after it, which
    /// releases the lease).
    async fn under_lease(&self) -> Result<Arc<dyn EventStore>, EventLogError> {
        let lease = self.leases.take(PLATFORM_LOG).await?;
        self.leases.open(PLATFORM_LOG, lease).await
    }
}

/// The `EventStore` of `$log`: reads delegated to its field `$reads`, appends and close
/// to its inherent `write`, `write_batch` and `shut`.
macro_rules! log_store {
    ($log:ty, $reads:ident) => {
        #[async_trait]
        impl EventStore for $log {
            async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, EventLogError> {
                self.write(request).await
            }

            async fn append_batch(
                &self,
                requests: Vec<AppendRequest>,
            ) -> Result<Vec<Result<AppendOutcome, EventLogError>>, EventLogError> {
                self.write_batch(requests).await
            }

            async fn command_outcome(
                &self,
                command_id: Uuid,
            ) -> Result<Option<AppendOutcome>, EventLogError> {
                self.$reads.command_outcome(command_id).await
            }

            async fn read_stream(
                &self,
                stream: &StreamId,
                from_version: StreamVersion,
                max: usize,
            ) -> Result<Vec<RecordedEvent>, EventLogError> {
                self.$reads.read_stream(stream, from_version, max).await
            }

            async fn read_all(
                &self,
                from_position: Position,
                max: usize,
            ) -> Result<Vec<RecordedEvent>, EventLogError> {
                self.$reads.read_all(from_position, max).await
            }

            async fn read_by_type(
                &self,
                event_type: &str,
                from_position: Position,
                max: usize,
            ) -> Result<Vec<RecordedEvent>, EventLogError> {
                self.$reads
                    .read_by_type(event_type, from_position, max)
                    .await
            }

            async fn tail(&self) -> Result<Position, EventLogError> {
                self.$reads.tail().await
            }

            async fn stream_version(
                &self,
                stream: &StreamId,
            ) -> Result<Option<StreamVersion>, EventLogError> {
                self.$reads.stream_version(stream).await
            }

            fn read_all_stream(&self, from_position: Position) -> EventStream {
                self.$reads.read_all_stream(from_position)
            }

            fn subscribe(&self, from_position: Position) -> Subscription {
                self.$reads.subscribe(from_position)
            }

            async fn read_all_stored(
                &self,
                from_position: Position,
                max: usize,
            ) -> Result<Vec<RecordedEvent>, EventLogError> {
                self.$reads.read_all_stored(from_position, max).await
            }

            async fn verify(&self) -> Result<VerifyReport, EventLogError> {
                self.$reads.verify().await
            }

            async fn close(&self) -> Result<(), EventLogError> {
                self.shut().await
            }
        }
    };
}

impl CatalogLog {
    async fn write(&self, request: AppendRequest) -> Result<AppendOutcome, EventLogError> {
        let store = self.under_lease().await?;
        let appended = store.append(request).await;
        store.close().await?;
        appended
    }

    async fn write_batch(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Result<AppendOutcome, EventLogError>>, EventLogError> {
        let store = self.under_lease().await?;
        let appended = store.append_batch(requests).await;
        store.close().await?;
        appended
    }

    async fn shut(&self) -> Result<(), EventLogError> {
        self.reads.close().await
    }
}

log_store!(CatalogLog, reads);

/// A log and the renewals of the lease it appends under.
struct LeasedLog {
    inner: Arc<dyn EventStore>,
    stop: watch::Sender<bool>,
    renewals: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl LeasedLog {
    async fn write(&self, request: AppendRequest) -> Result<AppendOutcome, EventLogError> {
        self.inner.append(request).await
    }

    async fn write_batch(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Result<AppendOutcome, EventLogError>>, EventLogError> {
        self.inner.append_batch(requests).await
    }

    /// Closes the log, then stops the renewals and releases the lease.
    async fn shut(&self) -> Result<(), EventLogError> {
        let closed = self.inner.close().await;
        self.stop.send_replace(true);
        let renewals = self
            .renewals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(renewals) = renewals {
            let _ = renewals.await;
        }
        closed
    }
}

log_store!(LeasedLog, inner);
