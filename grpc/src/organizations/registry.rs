//! The organizations a node hosts, each opened on demand and closed when idle.
//!
//! A call names its organization; [`Organizations::partition`] finds the open partition
//! (a read lock and an `Arc` clone) or opens it: folds its log into a write model, opens
//! its projections, starts its writer, runner and scheduler. Nothing is folded at
//! start-up. A partition that no call holds and none used for `idle_after` is closed,
//! and so are the least recently used beyond `max_open`, so a thousand mostly idle
//! organizations cost a bounded number of threads and files. A closed organization's
//! next reclaim or reminder is recorded ([`WakeUps`]); the maintenance loop opens it when
//! that time comes. After a crash, organizations without a record are opened once in the
//! background to learn it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use poolkeeper_domain::Clock;
use poolkeeper_eventlog::EventLogError;
use poolkeeper_vault::PersonalData;
use tokio::sync::watch;
use uuid::Uuid;

use super::catalog::{Catalog, CatalogError, OrganizationRecord};
use super::id::OrganizationId;
use super::logs::{Layout, LogBackend};
use super::partition::{Partition, PartitionError, PartitionSettings};
use super::wakeups::{WakeUp, WakeUps};
use crate::scheduler::SchedulerRun;

/// How many organizations stay open, and for how long without a call.
#[derive(Clone, Copy, Debug)]
pub struct OpenLimits {
    /// The most organizations open at once (more are opened when called, and the least
    /// recently used idle ones closed).
    pub max_open: usize,
    /// An organization no call used for this long is closed.
    pub idle_after: Duration,
}

impl Default for OpenLimits {
    fn default() -> Self {
        Self {
            max_open: 64,
            idle_after: Duration::from_secs(300),
        }
    }
}

/// Why an organization could not be served.
#[derive(Debug, thiserror::Error)]
pub enum OrganizationsError {
    /// No organization has this id.
    #[error("organizations/{0} not found")]
    NotFound(OrganizationId),
    /// The catalog refused or failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The partition could not open.
    #[error("organizations/{organization}: {source}")]
    Partition {
        /// The organization.
        organization: OrganizationId,
        /// Why.
        source: PartitionError,
    },
    /// A log could not be opened.
    #[error(transparent)]
    Log(#[from] EventLogError),
}

/// The organizations of this node.
pub struct Organizations {
    catalog: Catalog,
    logs: Arc<dyn LogBackend>,
    layout: Layout,
    settings: PartitionSettings,
    clock: Arc<dyn Clock>,
    limits: OpenLimits,
    ready: RwLock<HashMap<OrganizationId, Arc<Partition>>>,
    /// One lock per organization, held while it opens or closes.
    doors: Mutex<HashMap<OrganizationId, Arc<tokio::sync::Mutex<()>>>>,
    wakeups: WakeUps,
}

impl Organizations {
    /// The organizations in `layout`, whose logs `logs` opens; folds only the catalog.
    pub async fn open(
        layout: Layout,
        logs: Arc<dyn LogBackend>,
        settings: PartitionSettings,
        clock: Arc<dyn Clock>,
        limits: OpenLimits,
    ) -> Result<Self, OrganizationsError> {
        let catalog = Catalog::open(logs.open_platform_log().await?).await?;
        let wakeups = WakeUps::open(layout.wakeups());
        Ok(Self {
            catalog,
            logs,
            layout,
            settings,
            clock,
            limits,
            ready: RwLock::new(HashMap::new()),
            doors: Mutex::new(HashMap::new()),
            wakeups,
        })
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The files.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// How many organizations are open now.
    pub fn open_count(&self) -> usize {
        self.ready_map().len()
    }

    /// The open partitions.
    pub fn open_partitions(&self) -> Vec<Arc<Partition>> {
        self.ready_map().values().cloned().collect()
    }

    fn ready_map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<OrganizationId, Arc<Partition>>> {
        self.ready
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn door(&self, id: &OrganizationId) -> Arc<tokio::sync::Mutex<()>> {
        let mut doors = self
            .doors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(doors.entry(id.clone()).or_default())
    }

    /// Organization `id`'s partition, opened if it is not. NotFound unless the catalog
    /// lists it.
    pub async fn partition(
        &self,
        id: &OrganizationId,
    ) -> Result<Arc<Partition>, OrganizationsError> {
        if let Some(open) = self.ready_map().get(id) {
            open.touch();
            return Ok(Arc::clone(open));
        }
        let record = match self.catalog.get(id) {
            Some(record) => record,
            None => {
                // Perhaps created on another node since this one read the catalog.
                self.catalog.refresh().await?;
                self.catalog
                    .get(id)
                    .ok_or_else(|| OrganizationsError::NotFound(id.clone()))?
            }
        };
        let partition = self.open_partition(id, record.is_active()).await?;
        self.close_beyond_limit().await;
        Ok(partition)
    }

    /// Opens `id` (listed or being created), unless another call just did.
    async fn open_partition(
        &self,
        id: &OrganizationId,
        active: bool,
    ) -> Result<Arc<Partition>, OrganizationsError> {
        let door = self.door(id);
        let _opening = door.lock().await;
        if let Some(open) = self.ready_map().get(id) {
            open.touch();
            return Ok(Arc::clone(open));
        }
        let log = self.logs.open_partition_log(id).await?;
        let personal = PersonalData::new(self.logs.open_keys(id).await?);
        let partition = Partition::open(
            id.clone(),
            log,
            personal,
            &self.layout.organization_projections(id),
            &self.settings,
            Arc::clone(&self.clock),
            active,
        )
        .await
        .map_err(|source| OrganizationsError::Partition {
            organization: id.clone(),
            source,
        })?;
        if let Err(error) = self.wakeups.opened(id) {
            tracing::warn!(organization = %id, %error, "could not update the wake-up records");
        }
        partition.touch();
        self.ready
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.clone(), Arc::clone(&partition));
        tracing::debug!(organization = %id, "organization opened");
        Ok(partition)
    }

    /// Creates organization `id` with its first admin and default pool. A retry of the same
    /// command returns the first record (`true`: it is a retry).
    pub async fn create(
        &self,
        command_id: Uuid,
        id: OrganizationId,
        display_name: String,
    ) -> Result<(OrganizationRecord, bool), OrganizationsError> {
        if self.catalog.created_by(&id, command_id).is_none() {
            // Another node may have created it (a retry sent elsewhere).
            self.catalog.refresh().await?;
        }
        match self.catalog.created_by(&id, command_id) {
            Some(true) => {
                let record = self
                    .catalog
                    .get(&id)
                    .ok_or(OrganizationsError::NotFound(id))?;
                return Ok((record, true));
            }
            Some(false) => return Err(CatalogError::AlreadyExists(id).into()),
            None => {}
        }
        let partition = self.open_partition(&id, true).await?;
        let (admin_user, default_pool) =
            partition
                .bootstrap()
                .await
                .map_err(|source| OrganizationsError::Partition {
                    organization: id.clone(),
                    source,
                })?;
        let record = OrganizationRecord {
            id,
            display_name,
            admin_user,
            default_pool,
            created_at: self.clock.now(),
            created_by_command: command_id,
            deactivated_at: None,
        };
        let recorded = self.catalog.record_created(command_id, record).await?;
        drop(partition);
        self.close_beyond_limit().await;
        Ok((recorded, false))
    }

    /// Deactivates `id`: its data stays, readable; commands and rules stop.
    pub async fn deactivate(
        &self,
        command_id: Uuid,
        id: &OrganizationId,
        reason: Option<String>,
    ) -> Result<OrganizationRecord, OrganizationsError> {
        let record = self
            .catalog
            .deactivate(command_id, id, reason, self.clock.now())
            .await?;
        if let Some(open) = self.ready_map().get(id) {
            open.deactivate();
        }
        if let Err(error) = self.wakeups.closed(id, WakeUp { at: None }) {
            tracing::warn!(organization = %id, %error, "could not update the wake-up records");
        }
        Ok(record)
    }

    /// Closes `id` if no call holds it (`only_if_idle_for`: and none used it for that long).
    async fn close_one(&self, id: &OrganizationId, only_if_idle_for: Option<Duration>) -> bool {
        let door = self.door(id);
        let _closing = door.lock().await;
        let partition = {
            let mut ready = self
                .ready
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(open) = ready.get(id) else {
                return false;
            };
            let unused = Arc::strong_count(open) == 1;
            let idle = only_if_idle_for.is_none_or(|after| open.idle_for() >= after);
            if !(unused && idle) {
                return false;
            }
            ready.remove(id)
        };
        let Some(partition) = partition else {
            return false;
        };
        partition.close().await;
        let wake = WakeUp {
            at: partition
                .is_active()
                .then(|| partition.next_wake_at())
                .flatten(),
        };
        if let Err(error) = self.wakeups.closed(id, wake) {
            tracing::warn!(organization = %id, %error, "could not record the wake-up");
        }
        true
    }

    /// Closes the least recently used idle organizations beyond `max_open`.
    async fn close_beyond_limit(&self) {
        let excess = self.open_count().saturating_sub(self.limits.max_open);
        if excess == 0 {
            return;
        }
        let mut by_idleness: Vec<(Duration, OrganizationId)> = self
            .ready_map()
            .values()
            .map(|p| (p.idle_for(), p.id().clone()))
            .collect();
        by_idleness.sort_by_key(|(idle, _)| std::cmp::Reverse(*idle));
        let mut closed = 0;
        for (_, id) in by_idleness {
            if closed == excess {
                break;
            }
            if self.close_one(&id, None).await {
                closed += 1;
            }
        }
    }

    /// The logs' backend.
    pub fn logs(&self) -> &Arc<dyn LogBackend> {
        &self.logs
    }

    /// Closes `id`'s partition as soon as no call holds it and opens it again: after its
    /// writer node went away, this node may take its lease. Returns the new partition.
    pub async fn reopen(&self, id: &OrganizationId) -> Result<Arc<Partition>, OrganizationsError> {
        for _ in 0..100 {
            if self.close_one(id, None).await || !self.ready_map().contains_key(id) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.partition(id).await
    }

    /// Closes every organization no call used for `idle_after`, and any beyond the limit.
    pub async fn close_idle(&self) {
        let ids: Vec<OrganizationId> = self.ready_map().keys().cloned().collect();
        for id in ids {
            self.close_one(&id, Some(self.limits.idle_after)).await;
        }
        self.close_beyond_limit().await;
    }

    /// Closes every organization (shutdown), recording each one's next wake-up.
    pub async fn close_all(&self) {
        let ids: Vec<OrganizationId> = self.ready_map().keys().cloned().collect();
        for id in ids {
            self.close_one(&id, None).await;
        }
    }

    /// Runs whatever is due in every active organization: the open ones', and the closed
    /// ones whose recorded wake-up has come (opened for it, which runs their scheduler).
    /// Counts every action accepted meanwhile, by these runs or the schedulers' own loops.
    /// For the manual clock.
    pub async fn run_due(&self) -> SchedulerRun {
        let before: HashMap<OrganizationId, u64> = self
            .open_partitions()
            .iter()
            .map(|p| (p.id().clone(), p.scheduler().accepted()))
            .collect();
        for id in self.wakeups.due(self.clock.now()) {
            if let Err(error) = self.partition(&id).await {
                tracing::warn!(organization = %id, %error, "could not wake an organization");
            }
        }
        let mut total = SchedulerRun::default();
        for partition in self.open_partitions() {
            if !partition.is_active() || partition.holder().is_some() {
                continue;
            }
            let run = partition.scheduler().run_due().await;
            partition.scheduler().wake();
            let since = before.get(partition.id()).copied().unwrap_or(0);
            let accepted = partition.scheduler().accepted().saturating_sub(since);
            total.actions_run += u32::try_from(accepted).unwrap_or(u32::MAX);
            total.position = total.position.max(run.position);
        }
        total
    }

    /// The active organizations that are neither open nor recorded: their next wake-up is
    /// unknown (they were open when the node last stopped uncleanly).
    fn unsurveyed(&self) -> Vec<OrganizationId> {
        let ready = self.ready_map();
        self.catalog
            .list()
            .into_iter()
            .filter(|record| record.is_active())
            .map(|record| record.id)
            .filter(|id| !ready.contains_key(id) && self.wakeups.get(id).is_none())
            .collect()
    }

    /// One round of upkeep: opens the closed organizations whose wake-up came (their
    /// schedulers run at once), surveys one unrecorded organization, closes idle ones.
    pub async fn upkeep(&self, now: DateTime<Utc>) {
        for id in self.wakeups.due(now) {
            if let Err(error) = self.partition(&id).await {
                tracing::warn!(organization = %id, %error, "could not wake an organization");
            }
        }
        if let Some(id) = self.unsurveyed().into_iter().next() {
            match self.partition(&id).await {
                Ok(partition) => {
                    drop(partition);
                    self.close_one(&id, None).await;
                }
                Err(error) => tracing::warn!(organization = %id, %error, "could not survey"),
            }
        }
        self.close_idle().await;
    }

    /// Runs [`Self::upkeep`] every `every` (sooner when a recorded wake-up comes first)
    /// until `stopped`.
    pub async fn maintain(self: Arc<Self>, every: Duration, mut stopped: watch::Receiver<bool>) {
        loop {
            let now = self.clock.now();
            self.upkeep(now).await;
            let until_next = self
                .wakeups
                .next()
                .and_then(|at| (at - now).to_std().ok())
                .map_or(every, |wait| wait.min(every));
            let sleep = if self.unsurveyed().is_empty() {
                until_next
            } else {
                Duration::ZERO
            };
            tokio::select! {
                () = tokio::time::sleep(sleep.max(Duration::from_millis(10))) => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
        }
    }
}
