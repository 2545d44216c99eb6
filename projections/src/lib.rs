//! The read side of poolkeeper: projections folded from the event log into SQLite.
//!
//! Every read the service answers comes from a projection. Each projection lives in its
//! own SQLite file in one directory (`<dir>/<name>.db`), is folded from the log by the
//! same code whether it follows the log live or is rebuilt, and can be dropped and
//! rebuilt from the log at any time with an identical result.
//!
//! - [`pool_view`]: each pool's customers by ownership state.
//! - [`owner_view`]: "my customers", subordinates', related persons', shares.
//! - [`audit`]: every abandon, manual reclaim and automatic reclaim.
//! - [`history`]: state periods and ownership intervals; the owner as of any instant.
//! - [`statistics`]: counts per pool and user, daily activity.
//!
//! Mechanics: [`Projections`] opens the directory, follows the log with a runner
//! ([`Projections::spawn_runner`]), lets callers wait for their writes
//! ([`Projections::wait_for`]), reports checkpoints and lag ([`Projections::status`]) and
//! rebuilds offline, online or as of a past point. [`codec`] turns recorded events into
//! domain events; [`simulate`] generates valid histories for tests and benchmarks.
//!
//! **Architecture invariants.** A projection's checkpoint is committed in the same
//! transaction as its rows. Live application and rebuilds share each projection's fold
//! (`Projector::apply`); only batch sizes and connection settings differ. The customer
//! lifecycle every projection follows is [`lifecycle`], which reads the domain's state
//! machine (`model::next_state`, which `WriteModel::apply` folds too) over projection
//! rows. This crate knows nothing of protobuf.

pub mod audit;
mod cache;
mod db;
pub mod dump;
pub mod error;
pub mod history;
pub mod lifecycle;
mod marker;
pub mod name;
pub mod owner_view;
pub mod page;
pub mod pool_view;
mod projector;
mod readpool;
pub mod rebuild;
pub mod runner;
mod service;
pub mod statistics;

pub use audit::{
    AuditEntry, AuditKind, AuditPeriod, AuditQuery, AuditReader, ReasonCount, UserCount,
};
pub use dump::TableDump;
pub use error::ProjectionError;
pub use history::{AsOf, HistoryReader, Mark, Period};
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
pub use service::{ProjectionStatus, Projections, ProjectionsConfig, Snapshot, projection_path};
pub use statistics::{DailyActivity, DailyQuery, StateCounts, StatisticsReader, UserCounts};
