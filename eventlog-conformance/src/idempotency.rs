//! Idempotency: a command id is the key; a retry writes nothing and returns
//! the first outcome, alone, inside a batch and after the log was reopened.

use poolkeeper_eventlog::{EventLogError, ExpectedVersion};
use uuid::Uuid;

use crate::support::{TestLog, current_thread, event, one, request};
use crate::{LogOptions, LogUnderTest};

/// A retried command gets the first outcome with `duplicate = true` and
/// writes nothing, even when it would now conflict; `command_outcome` knows
/// the first outcome. Both hold after the log is reopened.
pub fn a_command_id_is_appended_once<L: LogUnderTest>(logs: &L) {
    current_thread().block_on(async {
        let mut log = TestLog::create(logs, LogOptions::default()).await;
        let req = request(
            "i",
            ExpectedVersion::NoStream,
            vec![event("t", "1"), event("t", "2")],
        );
        let first = log.store().append(req.clone()).await.unwrap();
        for reopened in [false, true] {
            if reopened {
                log.reopen().await;
            }
            let store = log.store();
            // The retry would conflict (NoStream) if it were not recognised as a duplicate.
            let again = store.append(req.clone()).await.unwrap();
            assert!(again.duplicate, "reopened: {reopened}");
            assert_eq!(again.first_position, first.first_position);
            assert_eq!(again.last_position, first.last_position);
            assert_eq!(again.stream_versions, first.stream_versions);
            assert_eq!(store.tail().await.unwrap(), 2);
            let stored = store
                .command_outcome(req.command_id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(stored, first);
            assert_eq!(store.command_outcome(Uuid::now_v7()).await.unwrap(), None);
        }
        log.close().await;
    });
}

/// In one batch: a conflict fails alone, a repeated command id is a
/// duplicate of its first appearance, an invalid request fails alone; a later
/// batch recognises stored command ids too.
pub fn duplicates_and_conflicts_inside_one_batch<L: LogUnderTest>(logs: &L) {
    current_thread().block_on(async {
        let log = TestLog::create(logs, LogOptions::default()).await;
        let store = log.store();
        let a = one("a", ExpectedVersion::NoStream, 1);
        let conflict = one("a", ExpectedVersion::NoStream, 2);
        let mut invalid = one("b", ExpectedVersion::Any, 3);
        invalid.streams[0].events[0].payload = "{not json".into();
        let b = one("b", ExpectedVersion::Any, 4);
        let results = store
            .append_batch(vec![a.clone(), conflict, a.clone(), invalid, b.clone(), b])
            .await
            .unwrap();
        assert_eq!(results.len(), 6);
        let first = results[0].as_ref().unwrap();
        assert!(!first.duplicate);
        assert!(results[1].as_ref().unwrap_err().is_conflict());
        let dup = results[2].as_ref().unwrap();
        assert!(dup.duplicate);
        assert_eq!(dup.first_position, first.first_position);
        assert!(matches!(
            results[3],
            Err(EventLogError::InvalidInput { ref field, .. }) if field == "streams[0].events[0].payload"
        ));
        let b_first = results[4].as_ref().unwrap();
        assert_eq!(b_first.first_position, 2);
        assert!(results[5].as_ref().unwrap().duplicate);
        assert_eq!(store.tail().await.unwrap(), 2);
        // Stored duplicates are recognised by a later batch too.
        let again = store.append_batch(vec![a]).await.unwrap();
        assert!(again[0].as_ref().unwrap().duplicate);
        assert_eq!(store.tail().await.unwrap(), 2);
        log.close().await;
    });
}
