//! The gauges read at each scrape from the organizations open on this node: log
//! position, projection lag and rebuild progress, scheduler backlog and writer leases.
//! A closed organization has no series (its log is not read until it opens again).

use prometheus::{GaugeVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::organizations::{Organizations, Partition};

/// The most due actions counted per organization at a scrape.
const DUE_COUNT_LIMIT: usize = 10_000;

/// A registry holding the gauges of `organizations` as they are now.
pub fn read(organizations: &Organizations) -> Registry {
    let registry = Registry::new();
    let gauges = Gauges::new(&registry);
    let open = organizations.open_partitions();
    gauges.open.set(open.len() as i64);
    for partition in &open {
        gauges.record(partition);
    }
    registry
}

struct Gauges {
    open: IntGauge,
    position: IntGaugeVec,
    lag_events: IntGaugeVec,
    lag_seconds: GaugeVec,
    rebuild: GaugeVec,
    due: IntGaugeVec,
    lease: IntGaugeVec,
    epoch: IntGaugeVec,
}

impl Gauges {
    fn new(registry: &Registry) -> Self {
        let open = IntGauge::new(
            "poolkeeper_open_organizations",
            "Organizations open on this node.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(open.clone()))
            .expect("registered once");
        let projection = ["organization", "projection"];
        Self {
            open,
            position: gauge_vec(
                registry,
                "poolkeeper_log_position",
                "The last log position the write model reflects, per organization.",
                &["organization"],
            ),
            lag_events: gauge_vec(
                registry,
                "poolkeeper_projection_lag_events",
                "Events in the log a projection has not applied yet.",
                &projection,
            ),
            lag_seconds: float_vec(
                registry,
                "poolkeeper_projection_lag_seconds",
                "Time between the event a projection applied last and the log's tail event.",
                &projection,
            ),
            rebuild: float_vec(
                registry,
                "poolkeeper_projection_rebuild_progress_ratio",
                "An online rebuild's events done over events to do (1 when finished).",
                &projection,
            ),
            due: gauge_vec(
                registry,
                "poolkeeper_scheduler_due",
                "Reminders, escalations and reclaims due now and not yet run (counted up to 10000).",
                &["organization"],
            ),
            lease: gauge_vec(
                registry,
                "poolkeeper_writer_lease",
                "1 for the node writing each open organization's log: `this_node`, or the \
                 holder of its PostgreSQL writer lease when another node writes it.",
                &["organization", "holder"],
            ),
            epoch: gauge_vec(
                registry,
                "poolkeeper_writer_lease_epoch",
                "The epoch of this node's PostgreSQL writer lease, per organization it writes.",
                &["organization"],
            ),
        }
    }

    fn record(&self, partition: &Partition) {
        let organization = partition.id().as_str();
        self.position
            .with_label_values(&[organization])
            .set(partition.writer().last_position() as i64);
        for status in partition.projections().status() {
            let labels = [organization, status.name.as_str()];
            self.lag_events
                .with_label_values(&labels)
                .set(status.lag_positions as i64);
            self.lag_seconds
                .with_label_values(&labels)
                .set(status.lag_seconds);
            if let Some(progress) = &status.rebuilding {
                let ratio = if progress.events_total == 0 {
                    1.0
                } else {
                    progress.events_done as f64 / progress.events_total as f64
                };
                self.rebuild.with_label_values(&labels).set(ratio.min(1.0));
            }
        }
        let holder = match partition.holder() {
            Some(holder) => holder,
            None if partition.writer().fenced() => "taken_over",
            None => "this_node",
        };
        self.lease.with_label_values(&[organization, holder]).set(1);
        if let Some(epoch) = partition.lease_epoch() {
            self.epoch
                .with_label_values(&[organization])
                .set(i64::try_from(epoch).unwrap_or(i64::MAX));
        }
        if partition.holder().is_none() {
            let due = partition.scheduler().due_count(DUE_COUNT_LIMIT);
            self.due.with_label_values(&[organization]).set(due as i64);
        }
    }
}

fn float_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let gauge = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(gauge.clone()))
        .expect("registered once");
    gauge
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let gauge = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(gauge.clone()))
        .expect("registered once");
    gauge
}
