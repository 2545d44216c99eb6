//! `eventlog-bench`: durable throughput of the SQLite event log next to raw rusqlite.
//!
//! Measures, in a temp directory on disk with `synchronous=FULL`:
//! (a) raw rusqlite inserts into the same table, 1,000 rows per transaction and
//!     one transaction per row;
//! (b) `append` throughput of one-event commands with 1, 8 and 64 concurrent appenders;
//! (c) a full read of 1,000,000 events (paged, as a stream, and with serde_json
//!     decoding of every payload).
//!
//! Prints one `metric value unit` line per figure. `--quick` runs a reduced
//! workload (well under a minute); `--dir PATH` picks the parent directory;
//! `--only raw|append|read` runs one part (ratios need `raw`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use poolkeeper_eventlog::{
    AppendRequest, EventLogConfig, EventStore, ExpectedVersion, NewEvent, SqliteEventStore,
    StreamAppend, StreamId,
};
use rusqlite::Connection;
use serde::Deserialize;
use uuid::Uuid;

const EVENT_TYPES: [&str; 4] = [
    "customer.claimed",
    "customer.released",
    "customer.contacted",
    "customer.transferred",
];

struct Sizes {
    raw_batched: usize,
    raw_single: usize,
    append_1: usize,
    append_8: usize,
    append_64: usize,
    read: usize,
}

impl Sizes {
    fn full() -> Self {
        Self {
            raw_batched: 300_000,
            raw_single: 5_000,
            append_1: 5_000,
            append_8: 40_000,
            append_64: 300_000,
            read: 1_000_000,
        }
    }

    fn quick() -> Self {
        Self {
            raw_batched: 50_000,
            raw_single: 1_000,
            append_1: 1_000,
            append_8: 8_000,
            append_64: 40_000,
            read: 100_000,
        }
    }
}

fn metric(name: &str, value: f64, unit: &str) {
    if value.abs() >= 100.0 {
        println!("{name} {value:.0} {unit}");
    } else {
        println!("{name} {value:.3} {unit}");
    }
}

fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

fn now() -> DateTime<Utc> {
    std::time::SystemTime::now().into()
}

/// Unique ids without a `getrandom` call each (the harness is not what is measured).
fn id() -> Uuid {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static EPOCH: OnceLock<u64> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| Uuid::now_v7().as_u64_pair().0);
    Uuid::from_u64_pair(epoch, NEXT.fetch_add(1, Ordering::Relaxed))
}

fn payload(seq: u64) -> String {
    format!(
        r#"{{"customer_id":"{}","owner":"user:{}","reason":"claimed during the benchmark","seq":{seq}}}"#,
        id(),
        id()
    )
}

/// A small struct matching `payload`, for the decoding read.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Payload {
    customer_id: Uuid,
    owner: String,
    reason: String,
    seq: u64,
}

fn command(stream: StreamId, expected: ExpectedVersion, seq: u64) -> AppendRequest {
    command_with(stream, expected, seq, payload(seq))
}

fn command_with(
    stream: StreamId,
    expected: ExpectedVersion,
    seq: u64,
    payload: String,
) -> AppendRequest {
    AppendRequest {
        command_id: id(),
        correlation_id: id(),
        causation_id: None,
        actor: "user:0198c9f0-7a55-7c8e-9d2b-1f2e3d4c5b6a".into(),
        recorded_at: now(),
        streams: vec![StreamAppend {
            stream_id: stream,
            expected,
            events: vec![NewEvent {
                event_id: id(),
                event_type: EVENT_TYPES[(seq % 4) as usize].into(),
                schema_version: 1,
                payload,
            }],
        }],
    }
}

fn open(path: &Path) -> SqliteEventStore {
    SqliteEventStore::open(path, EventLogConfig::default()).expect("open the event log")
}

/// (a) Raw rusqlite inserts into the log's own table (no hashing, no idempotency).
fn raw_inserts(dir: &Path, name: &str, rows: usize, per_tx: usize) -> Duration {
    let path = dir.join(name);
    // Create the identical schema through the log, then write behind its back.
    drop(open(&path));
    let mut conn = Connection::open(&path).expect("open raw");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("full");
    let payloads: Vec<String> = (0..rows as u64).map(payload).collect();
    let actor = "user:0198c9f0-7a55-7c8e-9d2b-1f2e3d4c5b6a";
    let hash = [7u8; 32];
    let start = Instant::now();
    let mut i = 0usize;
    while i < rows {
        let tx = conn.transaction().expect("begin");
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO events (position, stream_id, stream_version, event_id, \
                     event_type, schema_version, payload, command_id, correlation_id, \
                     causation_id, actor, recorded_at, hash) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .expect("prepare");
            for _ in 0..per_tx.min(rows - i) {
                let stream = format!("customer-{}", i % 10_000);
                let version = (i / 10_000 + 1) as i64;
                stmt.execute(rusqlite::params![
                    (i + 1) as i64,
                    stream,
                    version,
                    &id().as_bytes()[..],
                    EVENT_TYPES[i % 4],
                    1,
                    payloads[i],
                    &id().as_bytes()[..],
                    &id().as_bytes()[..],
                    Option::<&[u8]>::None,
                    actor,
                    now().timestamp_micros(),
                    &hash[..],
                ])
                .expect("insert");
                i += 1;
            }
        }
        tx.commit().expect("commit");
    }
    start.elapsed()
}

/// (b) `appenders` tasks each append `total / appenders` one-event commands.
async fn appends(dir: &Path, name: &str, appenders: usize, total: usize) -> Duration {
    let store = open(&dir.join(name));
    let per_task = total / appenders;
    // Payloads are generated before the clock starts, as for the raw baseline.
    let mut payloads: Vec<Vec<String>> = (0..appenders)
        .map(|_| (0..per_task as u64).map(payload).collect())
        .collect();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..appenders {
        let store = store.clone();
        let payloads = std::mem::take(&mut payloads[t]);
        tasks.push(tokio::spawn(async move {
            // Each task owns 100 customer streams and tracks their versions.
            let streams: Vec<StreamId> = (0..100)
                .map(|k| StreamId::new(format!("customer-{t}-{k}")).expect("valid"))
                .collect();
            let mut versions = [0u64; 100];
            for (seq, payload) in payloads.into_iter().enumerate() {
                let k = seq % 100;
                let expected = ExpectedVersion::Exact(versions[k]);
                let request = command_with(streams[k].clone(), expected, seq as u64, payload);
                let out = store.append(request).await.expect("append");
                versions[k] = out.stream_versions[0].1;
            }
        }));
    }
    for task in tasks {
        task.await.expect("appender task");
    }
    let elapsed = start.elapsed();
    let stats = store.writer_stats();
    metric(
        &format!("append_{appenders}_mean_group_events"),
        stats.events as f64 / stats.groups.max(1) as f64,
        "events",
    );
    metric(
        &format!("append_{appenders}_mean_group_commit_us"),
        stats.busy_micros as f64 / stats.groups.max(1) as f64,
        "us",
    );
    store.close().await.expect("close");
    elapsed
}

/// Fills a log with `n` events, 1,000 one-event commands per `append_batch`.
async fn populate(store: &SqliteEventStore, n: usize) {
    let mut seq = 0u64;
    while (seq as usize) < n {
        let batch: Vec<AppendRequest> = (0..1000.min(n - seq as usize))
            .map(|_| {
                seq += 1;
                let stream = StreamId::new(format!("customer-{}", seq % 50_000)).expect("valid");
                command(stream, ExpectedVersion::Any, seq)
            })
            .collect();
        for r in store.append_batch(batch).await.expect("batch") {
            r.expect("append");
        }
    }
}

async fn run(dir: &Path, s: &Sizes, only: Option<&str>) {
    let part = |name: &str| only.is_none_or(|o| o == name);
    let (mut raw_batched, mut raw_single) = (f64::NAN, f64::NAN);
    if part("raw") {
        (raw_batched, raw_single) = raw(dir, s);
    }
    if part("append") {
        append(dir, s, raw_batched, raw_single).await;
    }
    if part("read") {
        read(dir, s).await;
    }
}

/// (a) raw baselines: (batched, single-transaction) events/s.
fn raw(dir: &Path, s: &Sizes) -> (f64, f64) {
    let t = raw_inserts(dir, "raw_batched.db", s.raw_batched, 1000);
    let raw_batched = rate(s.raw_batched, t);
    metric("raw_batched_1000_events_per_s", raw_batched, "events/s");
    let t = raw_inserts(dir, "raw_single.db", s.raw_single, 1);
    let raw_single = rate(s.raw_single, t);
    metric("raw_single_tx_events_per_s", raw_single, "events/s");
    (raw_batched, raw_single)
}

/// (b) the log's appends, with ratios to the raw baselines.
async fn append(dir: &Path, s: &Sizes, raw_batched: f64, raw_single: f64) {
    let mut append_rates = Vec::new();
    for (appenders, total) in [(1, s.append_1), (8, s.append_8), (64, s.append_64)] {
        let t = appends(dir, &format!("append_{appenders}.db"), appenders, total).await;
        let r = rate(total / appenders * appenders, t);
        metric(
            &format!("append_{appenders}_appenders_events_per_s"),
            r,
            "events/s",
        );
        append_rates.push((appenders, r));
    }
    for (appenders, r) in &append_rates {
        metric(
            &format!("append_{appenders}_vs_raw_single_tx_ratio"),
            r / raw_single,
            "ratio",
        );
        metric(
            &format!("append_{appenders}_vs_raw_batched_ratio"),
            r / raw_batched,
            "ratio",
        );
    }
}

/// (c) full reads.
/// CPU seconds (user + system) used by this process so far; NaN where unknown.
fn cpu_seconds() -> f64 {
    // Fields 14 and 15 of /proc/self/stat are utime and stime in clock ticks (100/s).
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    let Some(after_name) = stat.rsplit(')').next() else {
        return f64::NAN;
    };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

/// Runs one full read pass and prints its rate and CPU cost per event.
async fn read_pass<F, Fut>(name: &str, expected: usize, pass: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let cpu = cpu_seconds();
    let start = Instant::now();
    let n = pass().await;
    let elapsed = start.elapsed();
    let cpu = cpu_seconds() - cpu;
    assert_eq!(n, expected, "{name} read a wrong number of events");
    metric(
        &format!("{name}_events_per_s"),
        rate(n, elapsed),
        "events/s",
    );
    metric(
        &format!("{name}_cpu_ns_per_event"),
        cpu * 1e9 / n as f64,
        "ns",
    );
}

/// (c) full reads.
async fn read(dir: &Path, s: &Sizes) {
    let store = open(&dir.join("read.db"));
    let start = Instant::now();
    populate(&store, s.read).await;
    metric(
        "populate_append_batch_events_per_s",
        rate(s.read, start.elapsed()),
        "events/s",
    );
    metric("read_events", s.read as f64, "events");

    let count = |store: SqliteEventStore| async move {
        let mut stream = store.read_all_stream(0);
        let mut n = 0usize;
        while let Some(e) = stream.next().await {
            e.expect("read");
            n += 1;
        }
        n
    };
    // The first pass right after the writes, then a second one.
    read_pass("read_all_first_pass", s.read, || count(store.clone())).await;
    read_pass("read_all", s.read, || count(store.clone())).await;

    read_pass("read_all_paged", s.read, || async {
        let mut next = 0;
        let mut n = 0usize;
        loop {
            let page = store.read_all(next, 10_000).await.expect("read page");
            let Some(last) = page.last() else { break };
            next = last.position + 1;
            n += page.len();
        }
        n
    })
    .await;

    read_pass("read_all_serde_struct", s.read, || async {
        let mut stream = store.read_all_stream(0);
        let mut n = 0usize;
        while let Some(e) = stream.next().await {
            let p: Payload = serde_json::from_str(&e.expect("read").payload).expect("decode");
            n += usize::from(p.seq > 0);
        }
        n
    })
    .await;

    read_pass("read_all_serde_value", s.read, || async {
        let mut stream = store.read_all_stream(0);
        let mut n = 0usize;
        while let Some(e) = stream.next().await {
            let v: serde_json::Value =
                serde_json::from_str(&e.expect("read").payload).expect("decode");
            n += usize::from(v.is_object());
        }
        n
    })
    .await;

    read_pass("verify", s.read, || async {
        let report = store.verify().await.expect("verify");
        assert!(report.is_intact());
        report.events_checked as usize
    })
    .await;
    store.close().await.expect("close");
}

fn main() {
    let mut quick = false;
    let mut parent: Option<PathBuf> = None;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--dir" => parent = args.next().map(PathBuf::from),
            "--only" => only = args.next(),
            other => {
                eprintln!(
                    "usage: eventlog-bench [--quick] [--dir PATH]  (unknown argument {other})"
                );
                std::process::exit(2);
            }
        }
    }
    let sizes = if quick { Sizes::quick() } else { Sizes::full() };
    let parent = parent.unwrap_or_else(std::env::temp_dir);
    let dir = parent.join(format!("eventlog-bench-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("create the bench directory");
    let dir = Arc::new(dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    runtime.block_on(run(&dir, &sizes, only.as_deref()));
    metric("bench_wall_time_s", started.elapsed().as_secs_f64(), "s");
    drop(runtime);
    let _ = std::fs::remove_dir_all(&*dir);
}
