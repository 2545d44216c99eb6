//! The process's Prometheus metrics: counters and histograms recorded where the work
//! happens (the writer, the log's commits, the scheduler, the RPC layer), and gauges read
//! from the open organizations at each scrape.
//!
//! Label sets are bounded: command names, refusal codes, RPC methods, projection names,
//! open organizations; never a customer, user or command id.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::organizations::Organizations;

/// Latency buckets in seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Commands per writer batch.
const BATCH_BUCKETS: [f64; 12] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];

/// Every metric recorded as the work happens.
pub struct Metrics {
    registry: Registry,
    /// `poolkeeper_commands_total{command,outcome}`.
    pub commands: IntCounterVec,
    /// `poolkeeper_command_duration_seconds{command}`: queue, decide and durable append.
    pub command_seconds: HistogramVec,
    /// `poolkeeper_rpc_duration_seconds{service,method}`.
    pub rpc_seconds: HistogramVec,
    /// `poolkeeper_writer_batch_commands`.
    pub batch_commands: Histogram,
    /// `poolkeeper_log_append_duration_seconds`: one batch's group append, as the writer
    /// waits for it.
    pub append_seconds: Histogram,
    /// `poolkeeper_log_commit_duration_seconds{backend}`: the commit (and its fsync).
    pub commit_seconds: HistogramVec,
    /// `poolkeeper_scheduler_actions_total{action}`: reminders, escalations and reclaims
    /// the scheduler had accepted.
    pub scheduler_actions: IntCounterVec,
    /// `poolkeeper_subscriptions`: live StreamEvents streams.
    pub subscriptions: IntGauge,
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let metrics = Self {
            commands: IntCounterVec::new(
                Opts::new(
                    "poolkeeper_commands_total",
                    "Commands answered, by command and outcome (ok, duplicate or the refusal's reason).",
                ),
                &["command", "outcome"],
            )
            .expect("valid metric"),
            command_seconds: latency_vec(
                "poolkeeper_command_duration_seconds",
                "From submission to the durable answer, by command.",
                &["command"],
            ),
            rpc_seconds: latency_vec(
                "poolkeeper_rpc_duration_seconds",
                "gRPC calls from request to response headers, by service and method.",
                &["service", "method"],
            ),
            batch_commands: Histogram::with_opts(
                HistogramOpts::new(
                    "poolkeeper_writer_batch_commands",
                    "Commands decided and appended together by a writer.",
                )
                .buckets(BATCH_BUCKETS.to_vec()),
            )
            .expect("valid metric"),
            append_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "poolkeeper_log_append_duration_seconds",
                    "One writer batch's group append to the log, until durable.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )
            .expect("valid metric"),
            commit_seconds: latency_vec(
                "poolkeeper_log_commit_duration_seconds",
                "The log's commits: SQLite's COMMIT with its fsync, PostgreSQL's group transaction.",
                &["backend"],
            ),
            scheduler_actions: IntCounterVec::new(
                Opts::new(
                    "poolkeeper_scheduler_actions_total",
                    "Scheduled actions accepted, by kind (remind, escalate, reclaim).",
                ),
                &["action"],
            )
            .expect("valid metric"),
            subscriptions: IntGauge::new(
                "poolkeeper_subscriptions",
                "Live StreamEvents subscriptions.",
            )
            .expect("valid metric"),
            registry,
        };
        metrics.register_all();
        metrics
    }

    fn register_all(&self) {
        let collectors: [Box<dyn prometheus::core::Collector>; 8] = [
            Box::new(self.commands.clone()),
            Box::new(self.command_seconds.clone()),
            Box::new(self.rpc_seconds.clone()),
            Box::new(self.batch_commands.clone()),
            Box::new(self.append_seconds.clone()),
            Box::new(self.commit_seconds.clone()),
            Box::new(self.scheduler_actions.clone()),
            Box::new(self.subscriptions.clone()),
        ];
        for collector in collectors {
            self.registry
                .register(collector)
                .expect("each metric is registered once");
        }
    }

    /// Records one answered command.
    pub fn command(&self, command: &str, outcome: &str, took: Duration) {
        self.commands.with_label_values(&[command, outcome]).inc();
        self.command_seconds
            .with_label_values(&[command])
            .observe(took.as_secs_f64());
    }
}

fn latency_vec(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
        labels,
    )
    .expect("valid metric")
}

/// The process's metrics, registered on first use (the log's commit hook with them).
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        poolkeeper_eventlog::observe::observe_commits(|backend, took| {
            metrics()
                .commit_seconds
                .with_label_values(&[backend])
                .observe(took.as_secs_f64());
        });
        Metrics::new()
    })
}

/// The text exposition of every metric: the recorded ones and the gauges of
/// `organizations` as they are now.
pub fn render(organizations: &Organizations) -> String {
    let mut families = metrics().registry.gather();
    families.extend(super::gauges::read(organizations).gather());
    families.sort_by(|a, b| a.name().cmp(b.name()));
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&families, &mut text)
        .expect("the text encoder writes to memory");
    String::from_utf8(text).expect("the text format is UTF-8")
}
