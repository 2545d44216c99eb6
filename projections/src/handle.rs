//! [`Projections`]: the handle on an open directory of projections. It opens the
//! directory (taking its lock, discarding files a crash of the machine may have torn,
//! replacing files of another schema version), closes it cleanly, and starts the runner.
//! Its other powers are in their own modules: [`wait`](crate::wait) (read-your-writes),
//! [`status`](crate::status), [`readers`](crate::readers) and [`rebuild`](crate::rebuild).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

use poolkeeper_eventlog::EventStore;
use tokio::sync::{Notify, watch};

use crate::config::ProjectionsConfig;
use crate::db;
use crate::directory::{lock_dir, projection_path, shadow_path};
use crate::error::ProjectionError;
use crate::live::{Checkpoint, LiveProjection, OpenProjections};
use crate::name::ProjectionName;
use crate::projector::WriteSide;
use crate::readpool::ReadPool;
use crate::runner::{self, RunnerHandle};

/// The projections of one directory. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Projections {
    pub(crate) shared: Arc<OpenProjections>,
}

impl std::fmt::Debug for Projections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projections")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

impl Projections {
    /// Opens (creating if needed) the projections in `dir`, with the default settings.
    /// A file written by another schema version is replaced by an empty one, which the
    /// runner then fills from the log (or rebuild it first with [`Projections::rebuild_offline`]).
    pub fn open(dir: &Path) -> Result<Self, ProjectionError> {
        Self::open_with(dir, ProjectionsConfig::default())
    }

    /// Opens the projections in `dir` with `config`.
    pub fn open_with(dir: &Path, config: ProjectionsConfig) -> Result<Self, ProjectionError> {
        let lock = lock_dir(dir)?;
        let discard = crate::marker::must_discard(dir)?;
        if discard {
            tracing::warn!(dir = %dir.display(), "the machine went down while the projections were open: rebuilding them from the log");
        }
        let mut live = Vec::new();
        for name in ProjectionName::ALL {
            let path = projection_path(dir, name);
            db::remove_database(&shadow_path(dir, name))?;
            if discard {
                db::remove_database(&path)?;
            }
            let side = match WriteSide::open_live(
                name,
                &path,
                config.cache_rows,
                config.snapshot_every,
            ) {
                Err(ProjectionError::SchemaMismatch {
                    found, expected, ..
                }) => {
                    tracing::warn!(projection = %name, found, expected, "schema changed: starting the projection afresh");
                    db::remove_database(&path)?;
                    WriteSide::open_live(name, &path, config.cache_rows, config.snapshot_every)?
                }
                other => other?,
            };
            let (checkpoint, _) = watch::channel(Checkpoint {
                position: side.checkpoint,
                at: side.checkpoint_at,
                halted: false,
            });
            let memory = side.memory();
            live.push(LiveProjection {
                name,
                memory: std::sync::RwLock::new(memory),
                read: Arc::new(ReadPool::new(&path, config.read_connections)),
                path,
                write: Arc::new(tokio::sync::Mutex::new(Some(side))),
                checkpoint,
                failure: Mutex::new(None),
                rebuilding: Mutex::new(None),
                rebuild_running: AtomicBool::new(false),
            });
        }
        // Only now, with every file opened (and discarded ones removed), is the directory
        // marked open by this boot.
        crate::marker::mark_open(dir)?;
        Ok(Self {
            shared: Arc::new(OpenProjections {
                dir: dir.to_path_buf(),
                config,
                live,
                tail: Mutex::new((0, None)),
                wanted: AtomicU64::new(0),
                wanted_rose: Notify::new(),
                _lock: lock,
            }),
        })
    }

    /// Closes every projection cleanly: commits, checkpoints and fsyncs each file and marks
    /// the directory closed, so a later restart of the machine keeps the files. Stop the
    /// runner first; afterwards the projections still answer reads but apply nothing.
    pub async fn close(&self) -> Result<(), ProjectionError> {
        for slot in &self.shared.live {
            let side = slot.write.lock().await.take();
            if let Some(side) = side {
                tokio::task::spawn_blocking(move || side.close())
                    .await
                    .map_err(|_| ProjectionError::Closed)??;
            }
        }
        let dir = self.shared.dir.clone();
        tokio::task::spawn_blocking(move || crate::marker::mark_closed(&dir))
            .await
            .map_err(|_| ProjectionError::Closed)??;
        Ok(())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Starts following the log: catch-up from the lowest checkpoint, then live, in
    /// batches of at most `batch_max` events (one transaction per batch per projection).
    pub fn spawn_runner(&self, store: Arc<dyn EventStore>) -> RunnerHandle {
        runner::spawn(Arc::clone(&self.shared), store)
    }
}
