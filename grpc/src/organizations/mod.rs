//! Organizations: one node, many companies, each its own partition of the log.
//!
//! An organization is the unit of isolation, ordering and writing: its own log
//! ([`logs`]), write model and writer, projections and scheduler ([`partition`]).
//! [`registry::Organizations`] finds a call's partition, opening it on demand and closing
//! it when idle; [`catalog`] is the event-sourced list of organizations; [`wakeups`]
//! remembers when a closed one next needs its scheduler. Each organization's customer
//! data keys live beside its log: `keys.db` in its directory, or [`postgres_keys`].

pub mod catalog;
pub mod id;
pub mod logs;
pub mod partition;
pub mod postgres;
pub mod postgres_keys;
pub mod registry;
pub mod wakeups;

pub use catalog::{Catalog, CatalogError, OrganizationRecord};
pub use id::{DEFAULT_ORGANIZATION, InvalidOrganizationId, OrganizationId};
pub use logs::{Layout, LogBackend, PartitionLog, SqliteLogs, log_config};
pub use partition::{Partition, PartitionError, PartitionSettings};
pub use registry::{OpenLimits, Organizations, OrganizationsError};
pub use wakeups::{WakeUp, WakeUps};
