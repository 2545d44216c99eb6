//! The sealing log over a real SQLite log: personal fields are stored sealed and read
//! opened, a purge's append shreds the key (reads then say `[purged]`, the chain still
//! verifies), and a shred a crash interrupted is finished from the log.

use std::sync::Arc;

use chrono::DateTime;
use poolkeeper_eventlog::{
    AppendRequest, EventLogConfig, EventStore, ExpectedVersion, NewEvent, SqliteEventStore,
    StreamAppend, StreamId,
};
use poolkeeper_vault::{KeyStore, MasterKey, PURGED, PersonalData, SealingStore};
use uuid::Uuid;

const NAME: &str = "王小明个体户";

fn request(customer: Uuid, event_type: &str, payload: serde_json::Value) -> AppendRequest {
    AppendRequest {
        command_id: Uuid::now_v7(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        actor: "system".into(),
        recorded_at: DateTime::from_timestamp(1_780_000_000, 0).unwrap(),
        streams: vec![StreamAppend {
            stream_id: StreamId::new(format!("customer-{customer}")).unwrap(),
            expected: ExpectedVersion::Any,
            events: vec![NewEvent {
                event_id: Uuid::now_v7(),
                event_type: event_type.into(),
                schema_version: 1,
                payload: payload.to_string(),
            }],
        }],
    }
}

fn created(customer: Uuid) -> AppendRequest {
    request(
        customer,
        "customer.created",
        serde_json::json!({"customer_id": customer, "name": NAME, "fields": {"phone": "138"}}),
    )
}

fn purged(customer: Uuid) -> AppendRequest {
    request(
        customer,
        "customer.purged",
        serde_json::json!({"customer_id": customer, "reason": "erasure request"}),
    )
}

struct Log {
    _dir: tempfile::TempDir,
    inner: Arc<dyn EventStore>,
    sealing: SealingStore,
}

fn open() -> Log {
    let dir = tempfile::tempdir().unwrap();
    let inner: Arc<dyn EventStore> = Arc::new(
        SqliteEventStore::open(dir.path().join("events.db"), EventLogConfig::default()).unwrap(),
    );
    let keys = KeyStore::open(&dir.path().join("keys.db"), MasterKey::generate()).unwrap();
    let sealing = SealingStore::opening(Arc::clone(&inner), PersonalData::new(Arc::new(keys)));
    Log {
        _dir: dir,
        inner,
        sealing,
    }
}

async fn name_read(log: &SealingStore) -> String {
    let events = log.read_all(1, 10).await.unwrap();
    let payload: serde_json::Value = serde_json::from_str(&events[0].payload).unwrap();
    payload["name"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn fields_are_stored_sealed_and_read_opened() {
    let log = open();
    let customer = Uuid::now_v7();
    log.sealing.append(created(customer)).await.unwrap();
    let stored = log.inner.read_all_stored(1, 10).await.unwrap();
    assert!(!stored[0].payload.contains(NAME) && !stored[0].payload.contains("138"));
    assert!(stored[0].payload.contains("sealed:v1:"));
    assert_eq!(name_read(&log.sealing).await, NAME);
    let sealed_reads =
        SealingStore::sealed(Arc::clone(&log.inner), Arc::clone(log.sealing.personal()));
    assert_eq!(
        sealed_reads.read_all(1, 10).await.unwrap()[0].payload,
        stored[0].payload
    );
}

#[tokio::test]
async fn a_purge_shreds_the_key_and_the_chain_still_verifies() {
    let log = open();
    let customer = Uuid::now_v7();
    let other = Uuid::now_v7();
    log.sealing
        .append_batch(vec![created(customer), created(other)])
        .await
        .unwrap();
    let before = log.sealing.verify().await.unwrap();
    log.sealing
        .append_batch(vec![purged(customer)])
        .await
        .unwrap();
    assert_eq!(name_read(&log.sealing).await, PURGED);
    let events = log.sealing.read_all(2, 1).await.unwrap();
    assert!(
        events[0].payload.contains(NAME),
        "another customer keeps its data"
    );
    let after = log.sealing.verify().await.unwrap();
    assert!(before.is_intact() && after.is_intact());
    assert_eq!(after.events_checked, before.events_checked + 1);
}

#[tokio::test]
async fn a_shred_a_crash_interrupted_is_finished_from_the_log() {
    let log = open();
    let customer = Uuid::now_v7();
    log.sealing.append(created(customer)).await.unwrap();
    // The purge reached the log but its shred did not happen.
    log.inner.append(purged(customer)).await.unwrap();
    assert_eq!(name_read(&log.sealing).await, NAME);
    let personal = log.sealing.personal();
    assert_eq!(
        personal
            .shred_purged_in_log(log.inner.as_ref())
            .await
            .unwrap(),
        1
    );
    assert_eq!(name_read(&log.sealing).await, PURGED);
    assert_eq!(
        personal
            .shred_purged_in_log(log.inner.as_ref())
            .await
            .unwrap(),
        0
    );
}
