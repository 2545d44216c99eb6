//! The append-only event log of poolkeeper: the service's only source of truth.
//!
//! The log stores opaque typed events (an event type, a schema version and a
//! JSON payload, plus metadata) and knows nothing about the domain. Callers
//! code against the [`EventStore`] trait; [`SqliteEventStore`] implements it on
//! SQLite with a single group-committing writer thread, durable commits, a
//! tamper-evident hash chain, upcasting on read and live subscriptions.
//!
//! Module map:
//! - [`types`] — identifiers, append requests, outcomes, recorded events, validation.
//! - [`error`] — [`EventLogError`], one variant per way of handling a failure.
//! - [`store`] — the [`EventStore`] trait and [`Subscription`].
//! - [`sqlite`] — the SQLite backend (writer, readers, schema, subscriptions).
//! - [`hash`] — the hash chain's canonical form.
//! - [`upcast`] — schema evolution on read.
//! - [`export`] — the JSON-lines export for auditors.
//! - [`config`] — [`EventLogConfig`].
//! - [`observe`] — the commit-latency hook for the service's metrics.

pub mod config;
pub mod error;
pub mod export;
pub mod hash;
pub mod observe;
pub mod sqlite;
pub mod store;
pub mod types;
pub mod upcast;

pub use config::EventLogConfig;
pub use error::EventLogError;
pub use export::ExportSummary;
pub use sqlite::{SqliteEventStore, WriterStats};
pub use store::{EventStore, EventStream, Subscription};
pub use types::{
    AppendOutcome, AppendRequest, BreakReason, ChainBreak, EventMetadata, ExpectedVersion,
    NewEvent, Position, RecordedEvent, StreamAppend, StreamId, StreamVersion, VerifyReport,
};
pub use upcast::Upcasters;
