//! The readers of the live projections, each over its projection's pool of read-only
//! connections, and canonical dumps for comparing builds.

use std::sync::Arc;

use crate::abandon_records::AbandonRecordsReader;
use crate::dump::{self, TableDump};
use crate::error::ProjectionError;
use crate::handle::Projections;
use crate::history::HistoryReader;
use crate::name::ProjectionName;
use crate::owner_view::OwnerViewReader;
use crate::pool_view::PoolViewReader;
use crate::statistics::StatisticsReader;

impl Projections {
    /// The pool view's reader.
    pub fn pool_view(&self) -> PoolViewReader {
        PoolViewReader {
            pool: Arc::clone(&self.shared.live(ProjectionName::PoolView).read),
        }
    }

    /// The owner view's reader.
    pub fn owner_view(&self) -> OwnerViewReader {
        OwnerViewReader {
            pool: Arc::clone(&self.shared.live(ProjectionName::OwnerView).read),
        }
    }

    /// The abandon records' reader.
    pub fn abandon_records(&self) -> AbandonRecordsReader {
        AbandonRecordsReader {
            pool: Arc::clone(&self.shared.live(ProjectionName::AbandonRecords).read),
        }
    }

    /// The ownership history's reader.
    pub fn history(&self) -> HistoryReader {
        HistoryReader {
            pool: Arc::clone(&self.shared.live(ProjectionName::OwnershipHistory).read),
        }
    }

    /// The statistics' reader.
    pub fn statistics(&self) -> StatisticsReader {
        StatisticsReader {
            pool: Arc::clone(&self.shared.live(ProjectionName::Statistics).read),
        }
    }

    /// Every row of a projection in a canonical order (tables by name, rows by all
    /// columns), for comparing two builds.
    pub async fn dump(&self, name: ProjectionName) -> Result<Vec<TableDump>, ProjectionError> {
        self.shared.live(name).read.run(dump::dump_connection).await
    }
}
