//! The read side of poolkeeper: projections folded from the event log into SQLite.
//!
//! Every read the service answers comes from a projection. Each projection lives in its
//! own SQLite file in one directory (`<dir>/<name>.db`), is folded from the log by the
//! same code whether it follows the log live or is rebuilt, and can be dropped and
//! rebuilt from the log at any time with an identical result.
//!
//! - [`pool_view`]: each pool's customers by ownership state.
//! - [`owner_view`]: "my customers", subordinates', related persons', shares.
//! - [`abandon_records`]: every abandon, manual reclaim and automatic reclaim (stored as
//!   `abandon_audit`).
//! - [`history`]: state periods and ownership intervals; the owner as of any instant.
//! - [`statistics`]: counts per pool and user, daily activity.
//!
//! Mechanics, one module each:
//! - `handle.rs`: [`Projections`], the handle on an open directory: open, close, and
//!   [`Projections::spawn_runner`].
//! - [`runner`]: follows the log and applies each batch to every projection (`apply.rs`),
//!   truncates idle WALs (`idle.rs`), polls the log's tail for lag (`tail.rs`).
//! - `wait.rs`: read-your-writes, [`Projections::wait_for`].
//! - `status.rs`: checkpoints, lag, rebuilds and errors, [`Projections::status`].
//! - `readers.rs`: the readers of the live projections; `snapshot.rs`: [`Snapshot`], a
//!   projection file opened read-only.
//! - [`rebuild`]: offline, online and as-of rebuilds over one bulk pipeline.
//! - `config.rs`: [`ProjectionsConfig`]; `directory.rs`: the directory's lock and file
//!   paths; `live.rs`: the state the handle, the runner and the rebuilds share;
//!   `marker.rs`: the boot-id marker that discards files a machine crash may have torn.
//! - `projector.rs`: what every projection implements (`Projector`) and its writer
//!   (`WriteSide`); `cache.rs`: the write-behind row cache; `db.rs`: SQLite settings and
//!   the `meta` table; `readpool.rs`: the read-only connections; [`page`], [`dump`],
//!   [`name`], [`error`].
//!
//! Decoding recorded events is `poolkeeper_codec`'s; the history generator of the tests
//! and the benchmark is the dev-only `poolkeeper_simulate`.
//!
//! **Architecture invariants.** A projection's checkpoint is committed in the same
//! transaction as its rows. Live application and rebuilds share each projection's fold
//! (`Projector::apply`); only batch sizes and connection settings differ. The customer
//! lifecycle every projection follows is [`lifecycle`], which reads the domain's state
//! machine (`model::next_state`, which `WriteModel::apply` folds too) over projection
//! rows. This crate knows nothing of protobuf.

pub mod abandon_records;
mod cache;
mod config;
mod db;
mod directory;
pub mod dump;
pub mod error;
mod handle;
pub mod history;
pub mod lifecycle;
mod live;
mod marker;
pub mod name;
pub mod owner_view;
pub mod page;
pub mod pool_view;
mod projector;
mod readers;
mod readpool;
pub mod rebuild;
pub mod runner;
mod snapshot;
pub mod statistics;
mod status;
mod wait;

pub use abandon_records::{
    AbandonPeriod, AbandonRecord, AbandonRecordQuery, AbandonRecordsReader, LossKind, ReasonCount,
    UserCount,
};
pub use config::ProjectionsConfig;
pub use directory::projection_path;
pub use dump::TableDump;
pub use error::ProjectionError;
pub use handle::Projections;
pub use history::{AsOf, HistoryReader, Mark, Period, Reversal};
pub use lifecycle::{Cause, OwnershipState};
pub use name::ProjectionName;
pub use owner_view::{
    AccessReason, OwnedCustomer, OwnerQuery, OwnerScope, OwnerViewReader, RelatedCustomer,
    UserSummary,
};
pub use page::{Page, TimeOrder};
pub use pool_view::{
    AbandonInfo, DeadlineInfo, DeletedInfo, FrozenInfo, OwnedInfo, PendingInfo, PoolCustomer,
    PoolFilter, PoolQuery, PoolSummary, PoolViewReader, ReclaimInfo,
};
pub use rebuild::{RebuildPhase, RebuildProgress};
pub use runner::RunnerHandle;
pub use snapshot::Snapshot;
pub use statistics::{DailyActivity, DailyQuery, StateCounts, StatisticsReader, UserCounts};
pub use status::ProjectionStatus;
