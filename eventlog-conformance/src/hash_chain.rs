//! The hash chain: `verify` and the chain recomputed from recorded events
//! (README "The hash chain") agree, and a reopened log continues the chain.

use poolkeeper_eventlog::hash::GENESIS_HASH;
use poolkeeper_eventlog::{AppendRequest, EventStore, ExpectedVersion, StreamAppend};
use uuid::Uuid;

use crate::support::{
    TestLog, check_chain, check_whole_chain, current_thread, event, hex, request, sid,
};
use crate::{LogOptions, LogUnderTest};

/// Payloads an auditor must hash byte for byte: unicode, escapes, spacing.
const PAYLOADS: [&str; 5] = [
    r#"{"name":"Zoë ☃ 漢字","note":"line\nbreak \"quoted\" \\ backslash"}"#,
    r#"[1, 2.5, -3e7, true, null]"#,
    r#"  {"spaced" : "kept byte for byte"}  "#,
    r#""\u00e9 escaped""#,
    "{\"emoji\":\"🦀\",\"tab\":\"\\t\"}",
];

/// Appends commands with every kind of field: several events and streams,
/// causation ids or none, a time before 1970, appends and a batch.
async fn append_varied(store: &dyn EventStore, round: usize) {
    for (i, payload) in PAYLOADS.iter().enumerate() {
        let mut req: AppendRequest = request(
            &format!("customer-{}", i % 2),
            ExpectedVersion::Any,
            vec![
                event("customer.claimed", payload),
                event("customer.noted", "{}"),
            ],
        );
        if i % 2 == 0 {
            req.causation_id = Some(Uuid::now_v7());
        }
        if i == 3 {
            req.recorded_at = chrono::DateTime::from_timestamp_micros(-5).unwrap();
            req.streams.push(StreamAppend {
                stream_id: sid(&format!("pool-{round}")),
                expected: ExpectedVersion::Any,
                events: vec![event("pool.touched", "7")],
            });
        }
        req.actor = format!("user:{round}-{i}");
        store.append(req).await.unwrap();
    }
    let batch = (0..3)
        .map(|i| {
            request(
                &format!("batched-{i}"),
                ExpectedVersion::Any,
                vec![event("customer.noted", &format!("{{\"i\":{i}}}"))],
            )
        })
        .collect();
    for result in store.append_batch(batch).await.unwrap() {
        result.unwrap();
    }
}

/// An empty log verifies with the genesis hash. After appends, `verify`
/// checks every event and reports the last one's hash, and the chain
/// recomputed from the events read reproduces every stored hash; every read
/// path carries the same hash. A reopened log keeps its hashes and chains new
/// events to the old tail.
pub fn the_hash_chain_verifies_and_can_be_recomputed<L: LogUnderTest>(logs: &L) {
    current_thread().block_on(async {
        let mut log = TestLog::create(logs, LogOptions::default()).await;
        let empty = log.store().verify().await.unwrap();
        assert!(empty.is_intact(), "{empty:?}");
        assert_eq!((empty.events_checked, empty.tail), (0, 0));
        assert_eq!(hex(&empty.tail_hash), hex(&GENESIS_HASH));

        append_varied(log.store().as_ref(), 0).await;
        let before = log.store().read_all(0, 1000).await.unwrap();
        let tail = before.len() as u64;
        assert_eq!(tail, 14);
        let report = log.store().verify().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.events_checked, report.tail), (tail, tail));
        assert_eq!(hex(&report.tail_hash), hex(&before[before.len() - 1].hash));
        assert_eq!(hex(&check_whole_chain(&before)), hex(&report.tail_hash));
        // Other read paths return the same stored hashes.
        for e in log
            .store()
            .read_stream(&sid("customer-0"), 1, 100)
            .await
            .unwrap()
        {
            assert_eq!(e.hash, before[e.position as usize - 1].hash);
        }
        for e in log
            .store()
            .read_by_type("pool.touched", 0, 100)
            .await
            .unwrap()
        {
            assert_eq!(e.hash, before[e.position as usize - 1].hash);
        }

        log.reopen().await;
        append_varied(log.store().as_ref(), 1).await;
        let after = log.store().read_all(0, 1000).await.unwrap();
        assert_eq!(after.len() as u64, 2 * tail);
        assert_eq!(
            after[..before.len()],
            before[..],
            "reopening changed events"
        );
        let last = check_chain(report.tail_hash, &after[before.len()..]);
        let report = log.store().verify().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.events_checked, report.tail), (2 * tail, 2 * tail));
        assert_eq!(hex(&report.tail_hash), hex(&last));
        log.close().await;
    });
}
