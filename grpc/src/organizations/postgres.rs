//! Organizations' logs on PostgreSQL (`serve --store postgres://…`): every log in one
//! database, each organization's written only under its writer lease.
//!
//! Opening an organization's log takes its lease for this node (waiting up to one time
//! to live for a lease another holder let lapse, e.g. this node before a crash), opens
//! the log under the lease's epoch and renews the lease every third of its time to live.
//! The log refuses, `Fenced`, every append once another holder took the lease over: the
//! database fences a writer, never a timer. Closing the log stops the renewals and
//! releases the lease, so the next holder need not wait for it to expire.

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
use super::logs::LogBackend;

/// The organization name of the platform log (the catalog) in the shared tables: not a
/// valid organization id, so no organization can take it.
pub const PLATFORM_LOG: &str = "-platform";

/// Every organization's log in one PostgreSQL database, written under leases held by
/// this node.
pub struct PostgresOrganizationLogs {
    logs: PostgresLogs,
    node: String,
    lease_ttl: Duration,
}

impl PostgresOrganizationLogs {
    /// Connects to `url` (and migrates); this node takes leases as `node` for `lease_ttl`.
    pub async fn connect(
        url: &str,
        node: String,
        lease_ttl: Duration,
        config: PostgresLogConfig,
    ) -> Result<Self, EventLogError> {
        let logs = PostgresLogs::connect_with(url, config).await?;
        Ok(Self {
            logs,
            node,
            lease_ttl,
        })
    }

    /// Takes `organization`'s lease, waiting for a lapsed one to expire (at most one time
    /// to live and two seconds); UNAVAILABLE-like `Backend` error when another node keeps
    /// renewing it.
    async fn take_lease(&self, organization: &str) -> Result<Lease, EventLogError> {
        let give_up = tokio::time::Instant::now() + self.lease_ttl + Duration::from_secs(2);
        loop {
            let pool = self.logs.pool();
            if let Some(lease) =
                Lease::acquire(pool, organization, &self.node, self.lease_ttl).await?
            {
                return Ok(lease);
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(EventLogError::Backend(Arc::new(std::io::Error::other(
                    format!("another node holds the writer lease of {organization}"),
                ))));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The log of `organization` under a lease of this node, renewed until closed.
    async fn open_leased(&self, organization: &str) -> Result<Arc<dyn EventStore>, EventLogError> {
        let lease = self.take_lease(organization).await?;
        let inner = self
            .logs
            .open_log(organization, Some(lease.writer()))
            .await?;
        let (stop, stopped) = watch::channel(false);
        let renewals = tokio::spawn(renew(lease, self.lease_ttl / 3, stopped));
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
        self.open_leased(id.as_str()).await
    }

    async fn open_platform_log(&self) -> Result<Arc<dyn EventStore>, EventLogError> {
        self.open_leased(PLATFORM_LOG).await
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

/// A log and the renewals of the lease it appends under.
struct LeasedLog {
    inner: Arc<dyn EventStore>,
    stop: watch::Sender<bool>,
    renewals: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[async_trait]
impl EventStore for LeasedLog {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, EventLogError> {
        self.inner.append(request).await
    }

    async fn append_batch(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Result<AppendOutcome, EventLogError>>, EventLogError> {
        self.inner.append_batch(requests).await
    }

    async fn command_outcome(
        &self,
        command_id: Uuid,
    ) -> Result<Option<AppendOutcome>, EventLogError> {
        self.inner.command_outcome(command_id).await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: StreamVersion,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.inner.read_stream(stream, from_version, max).await
    }

    async fn read_all(
        &self,
        from_position: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.inner.read_all(from_position, max).await
    }

    async fn read_by_type(
        &self,
        event_type: &str,
        from_position: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.inner
            .read_by_type(event_type, from_position, max)
            .await
    }

    async fn tail(&self) -> Result<Position, EventLogError> {
        self.inner.tail().await
    }

    async fn stream_version(
        &self,
        stream: &StreamId,
    ) -> Result<Option<StreamVersion>, EventLogError> {
        self.inner.stream_version(stream).await
    }

    fn read_all_stream(&self, from_position: Position) -> EventStream {
        self.inner.read_all_stream(from_position)
    }

    fn subscribe(&self, from_position: Position) -> Subscription {
        self.inner.subscribe(from_position)
    }

    async fn read_all_stored(
        &self,
        from_position: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.inner.read_all_stored(from_position, max).await
    }

    async fn verify(&self) -> Result<VerifyReport, EventLogError> {
        self.inner.verify().await
    }

    async fn close(&self) -> Result<(), EventLogError> {
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
