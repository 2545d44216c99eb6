//! [`Snapshot`]: a projection file opened read-only, e.g. one built as of a past point
//! by [`Projections::rebuild_as_of`](crate::Projections::rebuild_as_of).

use std::path::Path;
use std::sync::Arc;

use poolkeeper_eventlog::Position;

use crate::abandon_records::AbandonRecordsReader;
use crate::db;
use crate::dump::{self, TableDump};
use crate::error::ProjectionError;
use crate::history::HistoryReader;
use crate::name::ProjectionName;
use crate::owner_view::OwnerViewReader;
use crate::pool_view::PoolViewReader;
use crate::readers::Reader;
use crate::readpool::ReadPool;
use crate::statistics::StatisticsReader;

/// A projection file opened read-only, e.g. one built by [`Projections::rebuild_as_of`].
#[derive(Clone)]
pub struct Snapshot {
    name: ProjectionName,
    pool: Arc<ReadPool>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    /// Opens a projection file read-only and checks which projection it holds.
    pub fn open(path: &Path) -> Result<Self, ProjectionError> {
        let conn = db::open_reader(path)?;
        let name = db::meta_text(&conn, "projection")?
            .and_then(|name| ProjectionName::parse(&name))
            .ok_or_else(|| ProjectionError::invalid("path", "not a projection file"))?;
        Ok(Self {
            name,
            pool: Arc::new(ReadPool::new(path, 2)),
        })
    }

    /// The projection the file holds.
    pub fn name(&self) -> ProjectionName {
        self.name
    }

    /// The last position applied to the file.
    pub async fn checkpoint(&self) -> Result<Position, ProjectionError> {
        self.pool
            .run(|conn| Ok(db::meta_int(conn, "checkpoint")?.unwrap_or(0) as Position))
            .await
    }

    /// Every row, canonically ordered.
    pub async fn dump(&self) -> Result<Vec<TableDump>, ProjectionError> {
        self.pool.run(dump::dump_connection).await
    }

    /// The reader of the projection the file holds, or an error naming it.
    fn reader<R: Reader>(&self) -> Result<R, ProjectionError> {
        if self.name == R::PROJECTION {
            Ok(R::over(Arc::clone(&self.pool), None))
        } else {
            Err(ProjectionError::invalid(
                "projection",
                format!("the snapshot holds {}, not {}", self.name, R::PROJECTION),
            ))
        }
    }

    /// The reader, when the file holds `pool_view`.
    pub fn pool_view(&self) -> Result<PoolViewReader, ProjectionError> {
        self.reader()
    }

    /// The reader, when the file holds `owner_view`.
    pub fn owner_view(&self) -> Result<OwnerViewReader, ProjectionError> {
        self.reader()
    }

    /// The reader, when the file holds the abandon records (`abandon_audit`).
    pub fn abandon_records(&self) -> Result<AbandonRecordsReader, ProjectionError> {
        self.reader()
    }

    /// The reader, when the file holds `ownership_history`.
    pub fn history(&self) -> Result<HistoryReader, ProjectionError> {
        self.reader()
    }

    /// The reader, when the file holds `statistics`.
    pub fn statistics(&self) -> Result<StatisticsReader, ProjectionError> {
        self.reader()
    }
}
