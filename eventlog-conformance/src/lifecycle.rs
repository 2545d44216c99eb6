//! Closing and reopening a log through [`EventStore::close`].

use futures::StreamExt;
use poolkeeper_eventlog::{EventLogError, EventStore, ExpectedVersion};
use uuid::Uuid;

use crate::support::{TestLog, current_thread, one, sid};
use crate::{LogOptions, LogUnderTest};

/// After `close`, every append and read fails with `Closed` and closing
/// again is fine; the reopened log holds what was appended, continues its
/// positions and stream versions, and verifies.
pub fn closing_and_reopening_keeps_everything<L: LogUnderTest>(logs: &L) {
    current_thread().block_on(async {
        let mut log = TestLog::create(logs, LogOptions::default()).await;
        let store = log.store();
        let first = one("r", ExpectedVersion::NoStream, 1);
        store.append(first.clone()).await.unwrap();
        store.close().await.unwrap();
        assert_closed(store.as_ref()).await;
        store.close().await.unwrap();

        log.reopen().await;
        let store = log.store();
        assert_eq!(store.tail().await.unwrap(), 1);
        assert_eq!(store.stream_version(&sid("r")).await.unwrap(), Some(1));
        let out = store
            .append(one("r", ExpectedVersion::Exact(1), 2))
            .await
            .unwrap();
        assert_eq!(out.first_position, 2);
        let report = store.verify().await.unwrap();
        assert!(report.is_intact());
        assert_eq!((report.events_checked, report.tail), (2, 2));
        log.close().await;
    });
}

/// Every append and read of a closed store fails with `Closed`.
async fn assert_closed(store: &dyn EventStore) {
    let closed = |what: &str, result: Result<(), EventLogError>| {
        assert!(
            matches!(result, Err(EventLogError::Closed)),
            "{what} after close: {result:?}"
        );
    };
    closed(
        "append",
        store
            .append(one("r", ExpectedVersion::Any, 2))
            .await
            .map(drop),
    );
    closed(
        "append_batch",
        store
            .append_batch(vec![one("r", ExpectedVersion::Any, 3)])
            .await
            .map(drop),
    );
    closed("tail", store.tail().await.map(drop));
    closed("read_all", store.read_all(0, 10).await.map(drop));
    closed(
        "read_stream",
        store.read_stream(&sid("r"), 0, 10).await.map(drop),
    );
    closed(
        "read_by_type",
        store.read_by_type("t", 0, 10).await.map(drop),
    );
    closed(
        "stream_version",
        store.stream_version(&sid("r")).await.map(drop),
    );
    closed(
        "command_outcome",
        store.command_outcome(Uuid::now_v7()).await.map(drop),
    );
    closed("verify", store.verify().await.map(drop));
    let streamed: Vec<_> = store.read_all_stream(0).collect().await;
    assert!(
        matches!(streamed.as_slice(), [Err(EventLogError::Closed)]),
        "read_all_stream after close: {streamed:?}"
    );
}
