//! The offline rebuild: fresh files for some projections of a directory nobody has open,
//! built from position 1 and renamed into place.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use poolkeeper_eventlog::{EventStore, Position};

use super::pipeline::build_files;
use super::{Bound, RebuildProgress};
use crate::config::ProjectionsConfig;
use crate::db;
use crate::directory::{lock_dir, projection_path, shadow_path};
use crate::error::ProjectionError;
use crate::handle::Projections;
use crate::name::ProjectionName;

impl Projections {
    /// Rebuilds `names` in `dir` from position 1 into fresh files, then renames each into
    /// place. Nothing may have the directory open (its lock is taken). Each event is read
    /// and decoded once for all the projections. Returns each projection's checkpoint.
    pub async fn rebuild_offline(
        dir: &Path,
        names: &[ProjectionName],
        store: Arc<dyn EventStore>,
        mut progress: impl FnMut(&RebuildProgress) + Send,
    ) -> Result<Vec<(ProjectionName, Position)>, ProjectionError> {
        Self::rebuild_offline_with(
            dir,
            names,
            store,
            &ProjectionsConfig::default(),
            &mut progress,
        )
        .await
    }

    /// [`Projections::rebuild_offline`] with explicit settings.
    pub async fn rebuild_offline_with(
        dir: &Path,
        names: &[ProjectionName],
        store: Arc<dyn EventStore>,
        config: &ProjectionsConfig,
        progress: &mut (dyn FnMut(&RebuildProgress) + Send),
    ) -> Result<Vec<(ProjectionName, Position)>, ProjectionError> {
        let _lock = lock_dir(dir)?;
        let targets: Vec<(ProjectionName, PathBuf)> = names
            .iter()
            .map(|name| (*name, shadow_path(dir, *name)))
            .collect();
        let built = build_files(&store, &targets, Bound::Tail, config, progress).await?;
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<_, ProjectionError> {
            for (name, _) in &built {
                let live = projection_path(&dir, *name);
                db::remove_companions(&live)?;
                std::fs::rename(shadow_path(&dir, *name), &live)?;
            }
            File::open(&dir)?.sync_all()?;
            Ok(built)
        })
        .await
        .map_err(|_| ProjectionError::Closed)?
    }
}
