//! The conformance suite of `poolkeeper-eventlog-conformance`, run against
//! `SqliteEventStore`: one test per check of the suite.
//!
//! Each log lives in its own temporary directory. Asked for small pages, the
//! store reads 3-event pages and buffers one committed batch per live
//! subscriber; asked for eager upkeep, it moves index entries to the lazy
//! indexes every 2 events (so reads cross both of their halves), checkpoints
//! every 16 WAL pages (so checkpoints and the WAL's preallocation happen
//! often) and truncates the WAL after 1 ms without an append (so reads and
//! reopens meet idle checkpoints).

use std::sync::Arc;
use std::time::Duration;

use poolkeeper_eventlog::{EventLogConfig, EventLogError, EventStore, SqliteEventStore};
use poolkeeper_eventlog_conformance::{LogOptions, LogUnderTest, async_trait, conformance_tests};
use tempfile::TempDir;

/// Logs in SQLite files, one per temporary directory.
struct SqliteLogs;

#[async_trait]
impl LogUnderTest for SqliteLogs {
    type Log = TempDir;

    async fn create(&self) -> TempDir {
        tempfile::tempdir().expect("a temporary directory")
    }

    async fn open(
        &self,
        dir: &TempDir,
        options: LogOptions,
    ) -> Result<Arc<dyn EventStore>, EventLogError> {
        let mut config = EventLogConfig {
            max_payload_bytes: options.max_payload_bytes,
            upcasters: options.upcasters,
            // Production WAL preallocation would write 41 MB for each log.
            preallocate_wal: options.eager_upkeep,
            ..EventLogConfig::default()
        };
        if options.small_pages {
            config.page_size = 3;
            config.subscription_capacity = 1;
        }
        if options.eager_upkeep {
            config.index_after = 2;
            config.checkpoint_pages = 16;
            config.idle_checkpoint = Some(Duration::from_millis(1));
        }
        let path = dir.path().join("log.db");
        let store = tokio::task::spawn_blocking(move || SqliteEventStore::open(path, config))
            .await
            .expect("opening the log panicked")?;
        Ok(Arc::new(store))
    }
}

conformance_tests!(SqliteLogs);
