//! The conformance suite of poolkeeper's event log: what every backend of the
//! [`EventStore`] trait must do, checked through the trait alone.
//!
//! A backend implements [`LogUnderTest`] in its tests (how to create a fresh
//! log and open a store over it) and adds one line, which defines one `#[test]`
//! per check:
//!
//! ```ignore
//! poolkeeper_eventlog_conformance::conformance_tests!(SqliteLogs);
//! ```
//!
//! `eventlog/tests/conformance.rs` is the SQLite backend's runner and a
//! complete example. The checks are also public functions, and [`run_all`]
//! runs every one of them in turn.
//!
//! What is checked:
//! - [`matches_the_vec_oracle_across_reopens`] — a property test: random
//!   appends and batches (every kind of expected version, reused command ids,
//!   a defect in some requests) and reopen steps, applied to the log and to a
//!   `Vec` oracle; after every step every read, `verify` and the hash chain
//!   recomputed from the events are compared.
//! - Appends: positions and versions, metadata, microsecond times,
//!   multi-stream atomicity, conflict messages, typed bad input.
//! - Idempotency: a retried command id writes nothing and gets the first
//!   outcome, alone, inside a batch and after a reopen.
//! - Concurrency: 64 tasks racing for each version of one stream get exactly
//!   one winner per version; 64 appenders on their own streams get gapless
//!   positions.
//! - The hash chain: `verify` and the chain recomputed from recorded events
//!   agree, also across a reopen.
//! - Upcasting: chained upcasters apply on every read path, live too, and
//!   never rewrite what is stored.
//! - Closing and reopening through [`EventStore::close`].
//! - Subscriptions: catch-up then live, never skipping or repeating an event,
//!   with concurrent appenders, a subscriber that does not read, at the tail
//!   and across closing.
//!
//! Each check builds its own tokio runtime: a current-thread one where the
//! check does one thing at a time, two workers where tasks race.

mod appends;
mod concurrency;
mod hash_chain;
mod idempotency;
mod lifecycle;
mod oracle;
mod subscriptions;
mod support;
mod upcasting;

use std::sync::Arc;

use poolkeeper_eventlog::config::DEFAULT_MAX_PAYLOAD_BYTES;
use poolkeeper_eventlog::{EventLogError, EventStore, Upcasters};

pub use appends::{
    a_multi_stream_command_is_atomic, a_wrong_expected_version_says_what_was_expected_and_found,
    appends_get_gapless_positions_and_stream_versions, bad_input_is_typed_and_writes_nothing,
    metadata_is_stored_with_every_event, recorded_at_is_stored_with_microsecond_precision,
};
/// Re-exported for implementing [`LogUnderTest`].
pub use async_trait::async_trait;
pub use concurrency::{
    concurrent_appenders_get_gapless_positions, racing_appenders_get_exactly_one_winner_per_version,
};
pub use hash_chain::the_hash_chain_verifies_and_can_be_recomputed;
pub use idempotency::{a_command_id_is_appended_once, duplicates_and_conflicts_inside_one_batch};
pub use lifecycle::closing_and_reopening_keeps_everything;
pub use oracle::matches_the_vec_oracle_across_reopens;
pub use subscriptions::{
    a_slow_subscriber_gets_everything_without_blocking_appends,
    a_subscriber_started_mid_stream_sees_every_event_once_in_order,
    closing_the_store_ends_subscriptions_after_delivering_everything,
    subscribing_at_the_tail_delivers_only_new_events,
};
pub use upcasting::upcasters_chain_on_read_and_never_rewrite_rows;

/// A backend under test: it creates fresh logs and opens stores over them.
///
/// Every check creates its own log, so checks may run in parallel (one test
/// thread each).
#[async_trait]
pub trait LogUnderTest: Sync {
    /// One log, as the backend finds it again: a file's directory, an
    /// organization's partition. Dropping it may delete the log.
    type Log: Send + Sync;

    /// Creates a new, empty log that no other call returned. Panics on
    /// failure: it is test setup.
    async fn create(&self) -> Self::Log;

    /// Opens a store over `log`, configured by `options`.
    ///
    /// The suite never has two stores open over one log: it closes the store
    /// with [`EventStore::close`] (or drops its last handle) before opening
    /// the log again, and the new store must then hold everything the old one
    /// acknowledged.
    async fn open(
        &self,
        log: &Self::Log,
        options: LogOptions,
    ) -> Result<Arc<dyn EventStore>, EventLogError>;
}

/// What a check asks of a store it opens. A backend maps it onto its own
/// configuration; everything else (locations, connection pools) is its choice.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Payloads larger than this many bytes must be refused with
    /// [`PayloadTooLarge`](EventLogError::PayloadTooLarge).
    pub max_payload_bytes: usize,
    /// Upcasters applied on every read.
    pub upcasters: Upcasters,
    /// Asks for the backend's smallest read pages and live-subscription
    /// buffers, so that paged reads, catch-up and subscribers that fall behind
    /// cross their boundaries often. `false`: the production sizes.
    pub small_pages: bool,
    /// Asks the backend to run its upkeep (moving index entries, checkpoints,
    /// compaction) as often as it can, so that appends, reads and reopens meet
    /// it midway. `false`: the production intervals. A backend without such
    /// upkeep ignores it.
    pub eager_upkeep: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            upcasters: Upcasters::new(),
            small_pages: false,
            eager_upkeep: false,
        }
    }
}

/// Defines one `#[test]` per check of the suite, each running the check
/// against the [`LogUnderTest`] the expression evaluates to (evaluated once
/// per test). Use it once per backend, at the root of an integration test:
///
/// ```ignore
/// poolkeeper_eventlog_conformance::conformance_tests!(SqliteLogs);
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($logs:expr) => {
        $crate::__every_check!([$crate::__conformance_test] $logs);
    };
}

/// One `#[test]` running one check.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test {
    ($logs:expr, $check:ident) => {
        #[test]
        fn $check() {
            $crate::$check(&$logs);
        }
    };
}

/// Invokes the macro in brackets once per check, with the other arguments and
/// the check's name: the one list of checks.
#[doc(hidden)]
#[macro_export]
macro_rules! __every_check {
    ([$($each:tt)*] $($args:tt)*) => {
        $($each)*! { $($args)*, matches_the_vec_oracle_across_reopens }
        $($each)*! { $($args)*, appends_get_gapless_positions_and_stream_versions }
        $($each)*! { $($args)*, metadata_is_stored_with_every_event }
        $($each)*! { $($args)*, recorded_at_is_stored_with_microsecond_precision }
        $($each)*! { $($args)*, a_multi_stream_command_is_atomic }
        $($each)*! { $($args)*, a_wrong_expected_version_says_what_was_expected_and_found }
        $($each)*! { $($args)*, bad_input_is_typed_and_writes_nothing }
        $($each)*! { $($args)*, a_command_id_is_appended_once }
        $($each)*! { $($args)*, duplicates_and_conflicts_inside_one_batch }
        $($each)*! { $($args)*, racing_appenders_get_exactly_one_winner_per_version }
        $($each)*! { $($args)*, concurrent_appenders_get_gapless_positions }
        $($each)*! { $($args)*, the_hash_chain_verifies_and_can_be_recomputed }
        $($each)*! { $($args)*, upcasters_chain_on_read_and_never_rewrite_rows }
        $($each)*! { $($args)*, closing_and_reopening_keeps_everything }
        $($each)*! { $($args)*, a_subscriber_started_mid_stream_sees_every_event_once_in_order }
        $($each)*! { $($args)*, a_slow_subscriber_gets_everything_without_blocking_appends }
        $($each)*! { $($args)*, subscribing_at_the_tail_delivers_only_new_events }
        $($each)*! { $($args)*, closing_the_store_ends_subscriptions_after_delivering_everything }
    };
}

/// Runs every check against `logs`, one after another; panics at the first
/// failure. [`conformance_tests!`] runs the same checks as separate tests.
pub fn run_all<L: LogUnderTest>(logs: &L) {
    macro_rules! run {
        ($logs:expr, $check:ident) => {
            $check($logs);
        };
    }
    __every_check!([run] logs);
}
