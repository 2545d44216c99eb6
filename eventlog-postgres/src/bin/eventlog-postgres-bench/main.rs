//! `eventlog-postgres-bench`: durable append throughput and latency of the
//! PostgreSQL event log, on a throwaway cluster it starts itself (initdb +
//! pg_ctl on a free loopback port; `fsync` and `synchronous_commit` on).
//!
//! One-event commands appended by 1, 8 and 64 concurrent appenders to one
//! organization's log (one leased writer, group commit), each beside the raw
//! baselines of [`raw`] in the same run: one prepared INSERT per transaction from
//! as many connections, and one connection COPYing 100 rows per transaction. Prints
//! one `metric value unit` line per figure (appends per second, p50 and p99 latency,
//! and `pg_append_64_vs_copy_ratio`, the target of at least 0.5).
//! `--quick` runs a reduced workload; `--store postgres://…` measures an existing
//! server instead of a throwaway cluster (it creates tables and organizations named
//! `bench-*` and `raw-*`).
//!
//! Run: `cargo run --release -p poolkeeper-eventlog-postgres --features testing
//! --bin eventlog-postgres-bench -- --quick`.

mod raw;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use poolkeeper_eventlog::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, StreamAppend, StreamId,
};
use poolkeeper_eventlog_postgres::testing::TestCluster;
use poolkeeper_eventlog_postgres::{Lease, PostgresLogs};
use uuid::Uuid;

fn metric(name: &str, value: f64, unit: &str) {
    if value.abs() >= 100.0 {
        println!("{name} {value:.0} {unit}");
    } else {
        println!("{name} {value:.3} {unit}");
    }
}

fn request(task: usize, n: usize) -> AppendRequest {
    AppendRequest {
        command_id: Uuid::now_v7(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        actor: "user:bench".into(),
        recorded_at: Utc::now(),
        streams: vec![StreamAppend {
            stream_id: StreamId::new(format!("customer-{task}-{}", n % 16)).expect("a stream id"),
            expected: ExpectedVersion::Any,
            events: vec![NewEvent {
                event_id: Uuid::now_v7(),
                event_type: "customer.claimed".into(),
                schema_version: 1,
                payload: format!("{{\"customer\":{n},\"by\":\"user-{task}\",\"pool\":\"p\"}}"),
            }],
        }],
    }
}

/// `appenders` tasks appending `per_task` commands each; returns every latency.
async fn run(store: Arc<dyn EventStore>, appenders: usize, per_task: usize) -> Vec<Duration> {
    let tasks: Vec<_> = (0..appenders)
        .map(|task| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_task);
                for n in 0..per_task {
                    let started = Instant::now();
                    store.append(request(task, n)).await.expect("an append");
                    latencies.push(started.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::with_capacity(appenders * per_task);
    for task in tasks {
        all.extend(task.await.expect("an appender panicked"));
    }
    all
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

/// Appends per second of `appenders` tasks on a fresh organization's log.
async fn measure(logs: &PostgresLogs, appenders: usize, per_task: usize) -> f64 {
    let organization = format!("bench-{appenders}-{}", Uuid::now_v7().simple());
    let lease = Lease::acquire(
        logs.pool(),
        &organization,
        "bench",
        Duration::from_secs(600),
    )
    .await
    .expect("acquiring the lease")
    .expect("a free lease");
    let store = logs
        .open_log(&organization, Some(lease.writer()))
        .await
        .expect("opening the log");
    // Warm up: connections, prepared statements.
    run(Arc::clone(&store), appenders, 5).await;
    let started = Instant::now();
    let mut latencies = run(Arc::clone(&store), appenders, per_task).await;
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let name = format!("pg_append_{appenders}");
    let per_second = latencies.len() as f64 / elapsed.as_secs_f64();
    metric(&format!("{name}_appends_per_s"), per_second, "appends/s");
    metric(
        &format!("{name}_p50_ms"),
        percentile(&latencies, 0.50),
        "ms",
    );
    metric(
        &format!("{name}_p99_ms"),
        percentile(&latencies, 0.99),
        "ms",
    );
    store.close().await.expect("closing the log");
    per_second
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let store = args
        .iter()
        .position(|a| a == "--store")
        .map(|i| args.get(i + 1).expect("--store needs a URL").clone());
    let (single, concurrent) = if quick { (500, 40) } else { (5_000, 300) };
    let started = Instant::now();
    let cluster = match store {
        Some(_) => None,
        None => Some(TestCluster::start().expect("starting a throwaway PostgreSQL")),
    };
    let url = store.unwrap_or_else(|| cluster.as_ref().expect("a cluster").url());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let logs = PostgresLogs::connect(&url, 16).await.expect("connecting");
        let raw_pool = PostgresLogs::connect(&url, 64)
            .await
            .expect("connecting the baselines")
            .pool()
            .clone();
        raw::prepare(&raw_pool).await;
        let mut appended_64 = 0.0;
        for (appenders, per_task) in [(1, single), (8, concurrent * 4), (64, concurrent)] {
            let raw = raw::insert_per_transaction(&raw_pool, appenders, per_task as u64).await;
            metric(&format!("raw_insert_{appenders}_rows_per_s"), raw, "rows/s");
            appended_64 = measure(&logs, appenders, per_task).await;
        }
        let copy = raw::copy_batches(&raw_pool, if quick { 50 } else { 300 }).await;
        metric("raw_copy_100_rows_per_s", copy, "rows/s");
        metric("pg_append_64_vs_copy_ratio", appended_64 / copy, "ratio");
    });
    drop(runtime);
    drop(cluster);
    metric("bench_wall_time_s", started.elapsed().as_secs_f64(), "s");
}
