//! The readers of the live projections, each over its projection's pool of read-only
//! connections and, for a resident projection, its rows in memory (which it answers
//! from); and canonical dumps for comparing builds.

use std::sync::Arc;

use crate::abandon_records::AbandonRecordsReader;
use crate::dump::{self, TableDump};
use crate::error::ProjectionError;
use crate::handle::Projections;
use crate::history::HistoryReader;
use crate::name::ProjectionName;
use crate::owner_view::OwnerViewReader;
use crate::pool_view::PoolViewReader;
use crate::projector::Memory;
use crate::readpool::ReadPool;
use crate::statistics::StatisticsReader;

/// A projection's reader: a handle on the pool of read-only connections of its file,
/// whether the live one ([`Projections`]) or a snapshot ([`crate::Snapshot`]).
pub(crate) trait Reader {
    /// The projection it reads.
    const PROJECTION: ProjectionName;

    /// The reader over `pool`, a pool of connections to a file of [`Reader::PROJECTION`],
    /// and `memory`, the live projection's rows when it is resident (`None`: the file).
    fn over(pool: Arc<ReadPool>, memory: Option<Memory>) -> Self;
}

macro_rules! readers {
    (
        files: { $($reader:ty => $name:ident,)* }
        resident: { $($resident:ty => $resident_name:ident,)* }
    ) => {
        $(impl Reader for $reader {
            const PROJECTION: ProjectionName = ProjectionName::$name;

            fn over(pool: Arc<ReadPool>, _memory: Option<Memory>) -> Self {
                Self { pool }
            }
        })*
        $(impl Reader for $resident {
            const PROJECTION: ProjectionName = ProjectionName::$resident_name;

            fn over(pool: Arc<ReadPool>, memory: Option<Memory>) -> Self {
                Self {
                    pool,
                    memory: memory.and_then(|memory| memory.downcast().ok()),
                }
            }
        })*
    };
}

readers! {
    files: {
        AbandonRecordsReader => AbandonRecords,
        HistoryReader => OwnershipHistory,
        StatisticsReader => Statistics,
    }
    resident: {
        PoolViewReader => PoolView,
        OwnerViewReader => OwnerView,
    }
}

impl Projections {
    /// The reader of a live projection.
    fn reader<R: Reader>(&self) -> R {
        let slot = self.shared.live(R::PROJECTION);
        R::over(Arc::clone(&slot.read), slot.memory())
    }

    /// The pool view's reader.
    pub fn pool_view(&self) -> PoolViewReader {
        self.reader()
    }

    /// The owner view's reader.
    pub fn owner_view(&self) -> OwnerViewReader {
        self.reader()
    }

    /// The abandon records' reader.
    pub fn abandon_records(&self) -> AbandonRecordsReader {
        self.reader()
    }

    /// The ownership history's reader.
    pub fn history(&self) -> HistoryReader {
        self.reader()
    }

    /// The statistics' reader.
    pub fn statistics(&self) -> StatisticsReader {
        self.reader()
    }

    /// Every row of a projection in a canonical order (tables by name, rows by all
    /// columns), for comparing two builds. A resident projection writes its snapshot
    /// first, so the file holds what its readers answer from.
    pub async fn dump(&self, name: ProjectionName) -> Result<Vec<TableDump>, ProjectionError> {
        let slot = self.shared.live(name);
        let write = Arc::clone(&slot.write);
        tokio::task::spawn_blocking(move || {
            if let Some(side) = write.blocking_lock().as_mut() {
                side.snapshot();
            }
        })
        .await
        .map_err(|_| ProjectionError::Closed)?;
        slot.read.run(dump::dump_connection).await
    }
}
