//! One open organization: its log, its writer with the write model folded from that log,
//! its projections and their runner, and its reclaim scheduler. Everything of one
//! organization goes through its partition, and nothing here is shared with another:
//! one busy organization never waits for another's fsync.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poolkeeper_domain::{
    Actor, Clock, Command, CommandBody, CommandId, PoolId, PoolMode, PoolRules, StreamRef, UserId,
};
use poolkeeper_eventlog::EventStore;
use poolkeeper_projections::{
    ProjectionError, ProjectionName, Projections, ProjectionsConfig, RunnerHandle,
};
use poolkeeper_vault::{PersonalData, SealingStore};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::id::OrganizationId;
use super::logs::PartitionLog;
use crate::scheduler::Scheduler;
use crate::writer::{CommandWriter, RestoreError, WriteError, WriterConfig};

/// How a partition runs, the same for every organization.
#[derive(Clone, Debug)]
pub struct PartitionSettings {
    /// The command writer's tuning.
    pub writer: WriterConfig,
    /// The projections' tuning.
    pub projections: ProjectionsConfig,
    /// The longest the scheduler sleeps before looking again.
    pub scheduler_max_sleep: Duration,
}

/// Why a partition could not open.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// The write model could not be folded from the log.
    #[error("restoring the write model: {0}")]
    Restore(#[from] RestoreError),
    /// The projections could not be opened.
    #[error("projections: {0}")]
    Projections(#[from] ProjectionError),
    /// The log failed.
    #[error("event log: {0}")]
    Log(#[from] poolkeeper_eventlog::EventLogError),
    /// Bootstrapping the organization failed.
    #[error("bootstrap: {0}")]
    Bootstrap(#[from] WriteError),
}

/// The running parts of a partition, stopped on close.
struct Running {
    writer_task: JoinHandle<()>,
    runner: RunnerHandle,
    scheduler_task: Option<JoinHandle<()>>,
}

/// One open organization.
pub struct Partition {
    id: OrganizationId,
    /// The log with personal fields opened on reads (sealed on appends).
    store: Arc<dyn EventStore>,
    /// The log with reads as stored: personal fields sealed.
    sealed: Arc<dyn EventStore>,
    personal: Arc<PersonalData>,
    writer: CommandWriter,
    projections: Projections,
    scheduler: Scheduler,
    stop: watch::Sender<bool>,
    running: Mutex<Option<Running>>,
    active: AtomicBool,
    /// The node that writes its log, when it is not this one.
    holder: Option<String>,
    /// The epoch of this node's writer lease (PostgreSQL), when it writes under one.
    lease_epoch: Option<u64>,
    opened_at: Instant,
    /// Microseconds after `opened_at` of the last call that used it.
    last_used: AtomicU64,
}

/// How far behind the log a projection may be and still catch up live at open; further
/// behind (a new schema, files discarded after a machine crash) it is rebuilt in bulk first.
const LIVE_CATCH_UP_LIMIT: u64 = 50_000;

impl Partition {
    /// Opens organization `id` on its log, its personal fields sealed and opened with
    /// `personal`, with its projections in `projections_dir`: when this node writes,
    /// finishes any shred a crash interrupted ([`PersonalData::shred_purged_in_log`]),
    /// folds the write model (and keeps following the log when another node writes it),
    /// opens (or rebuilds) the projections and starts the runner, and, when `active` and
    /// this node writes, the scheduler.
    pub async fn open(
        id: OrganizationId,
        log: PartitionLog,
        personal: Arc<PersonalData>,
        projections_dir: &std::path::Path,
        settings: &PartitionSettings,
        clock: Arc<dyn Clock>,
        active: bool,
    ) -> Result<Arc<Self>, PartitionError> {
        let (store, holder, lease_epoch) = match log {
            PartitionLog::Writer(store) => (store, None, None),
            PartitionLog::Leased { store, epoch } => (store, None, Some(epoch)),
            PartitionLog::Follower { store, holder } => (store, Some(holder), None),
        };
        let sealed: Arc<dyn EventStore> = Arc::new(SealingStore::sealed(
            Arc::clone(&store),
            Arc::clone(&personal),
        ));
        let store: Arc<dyn EventStore> =
            Arc::new(SealingStore::opening(store, Arc::clone(&personal)));
        if holder.is_none() {
            let shredded = personal.shred_purged_in_log(sealed.as_ref()).await?;
            if shredded > 0 {
                tracing::warn!(organization = %id, shredded, "finished the key shreds of purges a stop interrupted");
            }
        }
        // The write model is folded from the log while the projections load (the pool
        // and owner views read their whole snapshots into memory): each takes a core.
        let writer = async {
            match holder {
                None => {
                    CommandWriter::start(
                        Arc::clone(&sealed),
                        Arc::clone(&clock),
                        settings.writer.clone(),
                    )
                    .await
                }
                Some(_) => CommandWriter::follow(Arc::clone(&sealed)).await,
            }
        };
        let projections = open_projections(projections_dir, &store, &settings.projections);
        let (writer, projections) = tokio::join!(writer, projections);
        let (writer, writer_task) = writer?;
        let projections = projections?;
        let runner = projections.spawn_runner(Arc::clone(&store));
        let scheduler = Scheduler::new(writer.clone(), clock);
        let (stop, stopped) = watch::channel(false);
        let scheduler_task = (active && holder.is_none()).then(|| {
            tokio::spawn(scheduler.clone().run(
                settings.scheduler_max_sleep.max(Duration::from_secs(1)),
                stopped,
            ))
        });
        Ok(Arc::new(Self {
            id,
            store,
            sealed,
            personal,
            writer,
            projections,
            scheduler,
            stop,
            running: Mutex::new(Some(Running {
                writer_task,
                runner,
                scheduler_task,
            })),
            active: AtomicBool::new(active),
            holder,
            lease_epoch,
            opened_at: Instant::now(),
            last_used: AtomicU64::new(0),
        }))
    }

    /// The organization.
    pub fn id(&self) -> &OrganizationId {
        &self.id
    }

    /// Its log.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// Its log with reads as stored (personal fields sealed): what exports and streams
    /// deliver to callers without the `personal_data` scope.
    pub fn sealed_store(&self) -> &Arc<dyn EventStore> {
        &self.sealed
    }

    /// Sealing and opening its personal fields.
    pub fn personal(&self) -> &Arc<PersonalData> {
        &self.personal
    }

    /// Its command writer (and write model).
    pub fn writer(&self) -> &CommandWriter {
        &self.writer
    }

    /// Its projections.
    pub fn projections(&self) -> &Projections {
        &self.projections
    }

    /// Its reclaim scheduler.
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// The node that writes its log, when it is not this one (commands are forwarded).
    pub fn holder(&self) -> Option<&str> {
        self.holder.as_deref()
    }

    /// The epoch of this node's writer lease, when it writes the log under one.
    pub fn lease_epoch(&self) -> Option<u64> {
        self.lease_epoch
    }

    /// Whether commands may change it (not deactivated).
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Takes no more commands, and stops its scheduler: it was deactivated.
    pub fn deactivate(&self) {
        self.active.store(false, Ordering::Release);
        self.stop.send_replace(true);
    }

    /// Notes that a call used it now.
    pub fn touch(&self) {
        let micros = u64::try_from(self.opened_at.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last_used.fetch_max(micros, Ordering::Relaxed);
    }

    /// How long since a call last used it.
    pub fn idle_for(&self) -> Duration {
        let last = Duration::from_micros(self.last_used.load(Ordering::Relaxed));
        self.opened_at.elapsed().saturating_sub(last)
    }

    /// When its scheduler next has something to do, if ever.
    pub fn next_wake_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        poolkeeper_domain::schedule::next_due_at(&self.writer.model())
    }

    /// Creates the organization's first admin and default pool (free claim, everyone a
    /// member) on an empty log; on a log that has them (a retried creation) returns the
    /// ones it made first. Their commands have fixed ids, so a retry appends nothing.
    pub async fn bootstrap(&self) -> Result<(UserId, PoolId), PartitionError> {
        let admin = self
            .writer
            .submit(
                Command::new(
                    bootstrap_command(1),
                    Actor::System,
                    CommandBody::CreateUser {
                        user_id: UserId(uuid::Uuid::now_v7()),
                        name: "admin".into(),
                        superior: None,
                        department: None,
                        admin: true,
                    },
                ),
                None,
            )
            .await?;
        let pool = self
            .writer
            .submit(
                Command::new(
                    bootstrap_command(2),
                    Actor::System,
                    CommandBody::CreatePool {
                        pool_id: PoolId(uuid::Uuid::now_v7()),
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
        match (admin.created.first(), pool.created.first()) {
            (Some(StreamRef::User(admin)), Some(StreamRef::Pool(pool))) => Ok((*admin, *pool)),
            _ => Err(PartitionError::Bootstrap(WriteError::Internal(
                "the bootstrap commands created no admin and pool".into(),
            ))),
        }
    }

    /// Stops the scheduler, drains the writer, stops the runner, closes the projections
    /// and the log. Idempotent.
    pub async fn close(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(running) = running else { return };
        self.stop.send_replace(true);
        if let Some(task) = running.scheduler_task {
            let _ = task.await;
        }
        self.writer.shutdown();
        let _ = running.writer_task.await;
        running.runner.shutdown().await;
        if let Err(error) = self.projections.close().await {
            tracing::error!(organization = %self.id, %error, "closing the projections");
        }
        if let Err(error) = self.store.close().await {
            tracing::error!(organization = %self.id, %error, "closing the event log");
        }
        tracing::debug!(organization = %self.id, "organization closed");
    }
}

/// A fixed, memorable id for what a bootstrap command creates.
fn bootstrap_command(n: u128) -> CommandId {
    CommandId::from_u128(0x0b00_7000_0000_0000_0000_0000_0000_0000 | n)
}

/// Opens the projections in `dir`, first rebuilding in bulk those too far behind the log.
async fn open_projections(
    dir: &std::path::Path,
    store: &Arc<dyn EventStore>,
    settings: &ProjectionsConfig,
) -> Result<Projections, PartitionError> {
    let tail = store.tail().await?;
    let projections = open_blocking(dir, settings).await?;
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
    Projections::rebuild_offline(dir, &behind, Arc::clone(store), |_| {}).await?;
    open_blocking(dir, settings).await
}

/// Opens the projections on a blocking thread (the resident ones read their files).
async fn open_blocking(
    dir: &std::path::Path,
    settings: &ProjectionsConfig,
) -> Result<Projections, PartitionError> {
    let (dir, settings) = (dir.to_path_buf(), settings.clone());
    let opened = tokio::task::spawn_blocking(move || Projections::open_with(&dir, settings))
        .await
        .map_err(|_| PartitionError::from(ProjectionError::Closed))?;
    Ok(opened?)
}
