//! Upcasting: registered upcasters chain on every read path, live
//! subscriptions included, and never rewrite what is stored.

use futures::StreamExt;
use poolkeeper_eventlog::{EventLogError, ExpectedVersion, Upcasters};

use crate::support::{TestLog, check_whole_chain, current_thread, event, request, sid};
use crate::{LogOptions, LogUnderTest};

/// `customer.claimed` v1 → v2 → v3, and a `customer.broken` v1 that fails.
fn upcasters() -> Upcasters {
    Upcasters::new()
        .with("customer.claimed", 1, |mut v| {
            let name = v["name"].take();
            Ok(serde_json::json!({ "customer": { "name": name } }))
        })
        .with("customer.claimed", 2, |mut v| {
            v["source"] = "legacy".into();
            Ok(v)
        })
        .with("customer.broken", 1, |_| Err("cannot convert".to_string()))
}

/// Events of schema 1 and 2 are read as schema 3 through the chain of
/// upcasters by every read, catch-up and live; schema 3 comes back byte for
/// byte. A failing upcaster is a typed error naming the position, and ends a
/// subscription. Opened without upcasters, the log returns exactly what was
/// appended, and its hash chain covers that.
pub fn upcasters_chain_on_read_and_never_rewrite_rows<L: LogUnderTest>(logs: &L) {
    current_thread().block_on(async {
        let options = LogOptions {
            upcasters: upcasters(),
            ..LogOptions::default()
        };
        let mut log = TestLog::create(logs, options).await;
        let store = log.store();
        let mut v1 = event("customer.claimed", r#"{"name":"Ada"}"#);
        let mut v2 = event("customer.claimed", r#"{"customer":{"name":"Bob"}}"#);
        v2.schema_version = 2;
        let mut v3 = event(
            "customer.claimed",
            r#"{ "customer": {"name":"Cy"}, "source":"web" }"#,
        );
        v3.schema_version = 3;
        v1.schema_version = 1;
        store
            .append(request("c", ExpectedVersion::Any, vec![v1, v2, v3]))
            .await
            .unwrap();
        let events = store.read_stream(&sid("c"), 1, 10).await.unwrap();
        let versions: Vec<u32> = events.iter().map(|e| e.schema_version).collect();
        assert_eq!(versions, vec![3, 3, 3]);
        let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(
            json(&events[0].payload),
            serde_json::json!({"customer": {"name": "Ada"}, "source": "legacy"})
        );
        assert_eq!(
            json(&events[1].payload),
            serde_json::json!({"customer": {"name": "Bob"}, "source": "legacy"})
        );
        // No upcaster applies: the stored text comes back byte for byte.
        assert_eq!(
            events[2].payload,
            r#"{ "customer": {"name":"Cy"}, "source":"web" }"#
        );
        // Other read paths upcast too.
        assert_eq!(store.read_all(1, 1).await.unwrap()[0].schema_version, 3);
        assert_eq!(
            store.read_by_type("customer.claimed", 0, 1).await.unwrap()[0].schema_version,
            3
        );
        let streamed = store.read_all_stream(1).next().await.unwrap().unwrap();
        assert_eq!(streamed.schema_version, 3);
        let mut sub = store.subscribe(1);
        assert_eq!(sub.next().await.unwrap().unwrap().schema_version, 3);
        drop(sub);
        assert!(store.verify().await.unwrap().is_intact());

        // Live delivery upcasts too.
        let mut live = store.subscribe(4);
        let mut v1 = event("customer.claimed", r#"{"name":"Dee"}"#);
        v1.schema_version = 1;
        store
            .append(request("c", ExpectedVersion::Any, vec![v1]))
            .await
            .unwrap();
        let e = live.next().await.unwrap().unwrap();
        assert_eq!((e.position, e.schema_version), (4, 3));

        // A failing upcaster: reads fail with a typed error naming the position,
        // and a subscription yields the error, then ends.
        store
            .append(request(
                "d",
                ExpectedVersion::Any,
                vec![event("customer.broken", "{}")],
            ))
            .await
            .unwrap();
        assert!(matches!(
            live.next().await,
            Some(Err(EventLogError::Upcast { position: 5, .. }))
        ));
        assert!(live.next().await.is_none());
        drop(live);
        assert!(matches!(
            store.read_all(5, 1).await,
            Err(EventLogError::Upcast {
                position: 5,
                from_version: 1,
                ..
            })
        ));
        let upcast_hashes: Vec<[u8; 32]> = store
            .read_all(1, 4)
            .await
            .unwrap()
            .iter()
            .map(|e| e.hash)
            .collect();

        // Without upcasters the stored rows come back untouched, and the chain
        // (over stored payloads and versions) verifies and recomputes.
        log.reopen_with(LogOptions::default(), true).await;
        let stored = log.store().read_all(1, 10).await.unwrap();
        let versions: Vec<u32> = stored.iter().map(|e| e.schema_version).collect();
        assert_eq!(versions, vec![1, 2, 3, 1, 1]);
        assert_eq!(stored[0].payload, r#"{"name":"Ada"}"#);
        assert_eq!(stored[1].payload, r#"{"customer":{"name":"Bob"}}"#);
        assert_eq!(stored[3].payload, r#"{"name":"Dee"}"#);
        assert_eq!(stored[4].payload, "{}");
        let stored_hashes: Vec<[u8; 32]> = stored[..4].iter().map(|e| e.hash).collect();
        assert_eq!(upcast_hashes, stored_hashes);
        let report = log.store().verify().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(check_whole_chain(&stored), report.tail_hash);
        log.close().await;
    });
}
