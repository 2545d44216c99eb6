//! The log conformance suite of `poolkeeper-eventlog-conformance`, run per partition:
//! every log the suite creates is a new organization's, opened through the
//! organizations' [`LogBackend`] in one shared data directory, so each check also shows
//! that a partition's positions, versions, command ids and chain are its own while other
//! organizations' logs sit beside it.

use poolkeeper_vault::MasterKey;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use poolkeeper_eventlog::{EventLogConfig, EventLogError, EventStore};
use poolkeeper_eventlog_conformance::{LogOptions, LogUnderTest, async_trait, conformance_tests};
use poolkeeper_grpc::organizations::{Layout, LogBackend, OrganizationId, SqliteLogs};
use tempfile::TempDir;

/// Organizations' logs in one data directory.
struct Partitions {
    root: TempDir,
    created: AtomicU32,
}

impl Partitions {
    fn new() -> Self {
        Self {
            root: tempfile::tempdir().expect("a temporary directory"),
            created: AtomicU32::new(0),
        }
    }
}

#[async_trait]
impl LogUnderTest for Partitions {
    type Log = OrganizationId;

    async fn create(&self) -> OrganizationId {
        let n = self.created.fetch_add(1, Ordering::Relaxed);
        OrganizationId::parse(&format!("org-{n}")).expect("a valid organization id")
    }

    async fn open(
        &self,
        id: &OrganizationId,
        options: LogOptions,
    ) -> Result<Arc<dyn EventStore>, EventLogError> {
        let mut config = EventLogConfig {
            max_payload_bytes: options.max_payload_bytes,
            upcasters: options.upcasters,
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
        SqliteLogs::new(Layout::new(self.root.path()), config, MasterKey::generate())
            .open_log(id)
            .await
    }
}

conformance_tests!(Partitions::new());
