//! Time travel: one projection built as of an instant or a position into a file of its
//! own, without touching the live projections; [`crate::Snapshot`] opens it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use poolkeeper_eventlog::{EventStore, Position};

use super::pipeline::build_files;
use super::{Bound, RebuildProgress};
use crate::config::ProjectionsConfig;
use crate::db;
use crate::error::ProjectionError;
use crate::handle::Projections;
use crate::history::AsOf;
use crate::name::ProjectionName;

impl Projections {
    /// Builds `name` as of an instant or a position into `out_path` (time travel for
    /// auditors), without touching the live projections. Open it with [`Snapshot::open`].
    pub async fn rebuild_as_of(
        name: ProjectionName,
        as_of: AsOf,
        store: Arc<dyn EventStore>,
        out_path: &Path,
        mut progress: impl FnMut(&RebuildProgress) + Send,
    ) -> Result<Position, ProjectionError> {
        let building = {
            let mut path = out_path.as_os_str().to_owned();
            path.push(".building");
            PathBuf::from(path)
        };
        let bound = match as_of {
            AsOf::Instant(at) => Bound::Instant(at),
            AsOf::Position(position) => Bound::Position(position),
        };
        let config = ProjectionsConfig::default();
        let built = build_files(
            &store,
            &[(name, building.clone())],
            bound,
            &config,
            &mut progress,
        )
        .await?;
        let out = out_path.to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<(), ProjectionError> {
            db::remove_database(&out)?;
            std::fs::rename(&building, &out)?;
            if let Some(dir) = out.parent() {
                File::open(dir)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(|_| ProjectionError::Closed)??;
        Ok(built.first().map_or(0, |(_, position)| *position))
    }
}
