//! The conformance suite of `poolkeeper-eventlog-conformance`, run against
//! `PostgresEventStore`: one test per check of the suite.
//!
//! Every log is a fresh organization in ONE throwaway cluster per test binary
//! (`TestCluster::shared`): `initdb` takes about a second, and eighteen of
//! them would cost more than the checks, on two cores. The cluster is a static
//! and statics are never dropped; its watchdog stops it and deletes its
//! directory when the test process exits. Each `open` connects a new
//! `PostgresLogs` (every check runs its own tokio runtime, and a pool's
//! connections belong to the runtime that opened them) and takes the
//! organization's writer lease, which fences the store opened before it.
//! Asked for small pages, stores read 3-event pages.

use std::sync::Arc;
use std::time::Duration;

use poolkeeper_eventlog::{EventLogError, EventStore};
use poolkeeper_eventlog_conformance::{LogOptions, LogUnderTest, async_trait};
use poolkeeper_eventlog_postgres::testing::TestCluster;
use poolkeeper_eventlog_postgres::{Lease, PostgresLogConfig, PostgresLogs};

/// Logs as organizations of the shared cluster.
struct PostgresLogsUnderTest;

#[async_trait]
impl LogUnderTest for PostgresLogsUnderTest {
    type Log = String;

    async fn create(&self) -> String {
        format!("org-{}", uuid::Uuid::new_v4())
    }

    async fn open(
        &self,
        organization: &String,
        options: LogOptions,
    ) -> Result<Arc<dyn EventStore>, EventLogError> {
        let mut config = PostgresLogConfig {
            pool_size: 4,
            max_payload_bytes: options.max_payload_bytes,
            upcasters: options.upcasters,
            ..PostgresLogConfig::default()
        };
        if options.small_pages {
            config.page_size = 3;
        }
        let logs = PostgresLogs::connect_with(&TestCluster::shared().url(), config).await?;
        let lease = Lease::acquire(logs.pool(), organization, "node-a", Duration::from_secs(60))
            .await?
            .expect("the test's own lease");
        logs.open_log(organization, Some(lease.writer())).await
    }
}

/// One test per check of the suite, each skipped (loudly) on a machine without
/// PostgreSQL outside CI.
macro_rules! check_where_postgresql_runs {
    ($logs:expr, $check:ident) => {
        #[test]
        fn $check() {
            if let Some(reason) = poolkeeper_eventlog_postgres::testing::skip_reason() {
                eprintln!("{reason}");
                return;
            }
            poolkeeper_eventlog_conformance::$check(&$logs);
        }
    };
}

poolkeeper_eventlog_conformance::__every_check!([check_where_postgresql_runs] PostgresLogsUnderTest);
