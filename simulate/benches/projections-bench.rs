//! `projections-bench`: rebuild throughput of all projections over a log of 1,000,000
//! events (100,000 customers, 50 users, generated through the domain's `decide`), and
//! query latencies on the result.
//!
//! `cargo bench -p poolkeeper-simulate --bench projections-bench [-- --quick] [--dir PATH]`
//!
//! The generated log is cached in the directory (default: the system temp directory) and
//! reused by later runs. Prints one `metric value unit` line per figure.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use poolkeeper_codec as codec;
use poolkeeper_eventlog::{EventLogConfig, EventStore, SqliteEventStore};
use poolkeeper_projections::{
    AbandonRecordQuery, AsOf, OwnerQuery, OwnerScope, PoolFilter, PoolQuery, ProjectionName,
    Projections, ProjectionsConfig, RebuildPhase,
};
use poolkeeper_simulate::{ACTIONS, REASONS, Simulation, Step};

struct Sizes {
    events: u64,
    customers: usize,
    users: usize,
    queries: usize,
}

/// xorshift64*: deterministic, so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn metric(name: &str, value: f64, unit: &str) {
    if value.abs() >= 100.0 {
        println!("{name} {value:.0} {unit}");
    } else {
        println!("{name} {value:.3} {unit}");
    }
}

/// User plus system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

/// A field of /proc/self/status in MiB (e.g. `RssAnon:`).
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with(field))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// A realistic mix: follow-ups and claims dominate; organization changes are rare.
fn step(rng: &mut Rng) -> Step {
    let roll = rng.below(10_000);
    let action = match roll {
        0..3_000 => 0,      // take an unclaimed customer, approve or reject
        3_000..6_500 => 6,  // follow-up
        6_500..7_300 => 9,  // abandon
        7_300..7_600 => 10, // transfer
        7_600..7_900 => 11, // manual reclaim
        7_900..8_300 => 12, // won
        8_300..8_500 => 13, // freeze / unfreeze
        8_500..8_700 => 14, // delete / restore
        8_700..9_000 => 15, // move, share, extend
        9_000..9_998 => 18, // take or assign
        _ => 17,            // organization change
    };
    debug_assert!(action < ACTIONS);
    Step {
        action,
        pick: rng.next() as u32,
        other: (rng.next() >> 32) as u32,
        minutes: rng.below(3) as u16,
    }
}

async fn generate(path: &PathBuf, sizes: &Sizes) -> Arc<SqliteEventStore> {
    let store =
        Arc::new(SqliteEventStore::open(path, EventLogConfig::default()).expect("open log"));
    let tail = store.tail().await.expect("tail");
    if tail >= sizes.events {
        return store;
    }
    assert_eq!(
        tail,
        0,
        "a partial cached log at {}: remove it",
        path.display()
    );
    let started = Instant::now();
    let (mut simulation, mut pending) = Simulation::new(42, sizes.users);
    for _ in 0..sizes.customers.div_ceil(3_000) {
        pending.extend(simulation.import(3_000));
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut events = pending.iter().map(Vec::len).sum::<usize>() as u64;
    while events < sizes.events {
        for command in simulation.step(step(&mut rng)) {
            events += command.len() as u64;
            pending.push(command);
        }
        if pending.len() >= 5_000 {
            flush(&store, &mut pending).await;
        }
    }
    flush(&store, &mut pending).await;
    metric("generate_seconds", started.elapsed().as_secs_f64(), "s");
    store
}

async fn flush(store: &SqliteEventStore, pending: &mut Vec<Vec<poolkeeper_domain::Event>>) {
    let requests = pending
        .drain(..)
        .map(|events| codec::encode(&events).expect("one command"))
        .collect();
    for result in store.append_batch(requests).await.expect("append") {
        result.expect("appended");
    }
}

fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    metric(&format!("{name}_p50"), at(0.50).as_secs_f64() * 1e6, "us");
    metric(&format!("{name}_p99"), at(0.99).as_secs_f64() * 1e6, "us");
}

async fn timed<T, F: std::future::Future<Output = T>>(samples: &mut Vec<Duration>, f: F) -> T {
    let started = Instant::now();
    let value = f.await;
    samples.push(started.elapsed());
    value
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let base = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map_or_else(
            || std::env::temp_dir().join("poolkeeper-projections-bench"),
            PathBuf::from,
        );
    std::fs::create_dir_all(&base).expect("bench directory");
    let sizes = if quick {
        Sizes {
            events: 100_000,
            customers: 10_000,
            users: 50,
            queries: 500,
        }
    } else {
        Sizes {
            events: 1_000_000,
            customers: 100_000,
            users: 50,
            queries: 2_000,
        }
    };
    let log_path = base.join(format!(
        "log-{}-{}-{}-v1.db",
        sizes.events, sizes.customers, sizes.users
    ));
    let store = generate(&log_path, &sizes).await;
    let tail = store.tail().await.expect("tail");
    metric("log_events", tail as f64, "events");

    // For scale: reading and decoding the log alone, as the rebuild does.
    let started = Instant::now();
    let mut next = 1;
    loop {
        let page = store.read_all(next, 8_192).await.expect("read");
        let Some(last) = page.last() else { break };
        next = last.position + 1;
        for recorded in &page {
            codec::decode_logged(recorded).expect("decode");
        }
    }
    let read = started.elapsed().as_secs_f64();
    metric("log_read_decode_seconds", read, "s");
    metric(
        "log_read_decode_events_per_s",
        tail as f64 / read,
        "events/s",
    );

    if args.iter().any(|a| a == "--each") {
        for name in ProjectionName::ALL {
            let dir = base.join(format!("projections-{}-{name}", sizes.events));
            let started = Instant::now();
            Projections::rebuild_offline(
                &dir,
                &[name],
                store.clone() as Arc<dyn EventStore>,
                |_| {},
            )
            .await
            .expect("rebuild");
            metric(
                &format!("rebuild_{name}_seconds"),
                started.elapsed().as_secs_f64(),
                "s",
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    // Rebuild every projection offline, sharing the reading and decoding.
    let dir = base.join(format!("projections-{}", sizes.events));
    let _ = std::fs::remove_dir_all(&dir);
    // Reset the peak resident set size so it measures the rebuild alone.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    // The eventlog's readers map the log file (mmap), which counts in VmHWM; sample the
    // anonymous memory too, which is the rebuild's own.
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = Arc::clone(&sampling);
        std::thread::spawn(move || {
            let mut peak: f64 = 0.0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(status_mib("RssAnon:"));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut loaded = None;
    let built = Projections::rebuild_offline_with(
        &dir,
        &ProjectionName::ALL,
        store.clone() as Arc<dyn EventStore>,
        &ProjectionsConfig::default(),
        &mut |progress| {
            if progress.phase == RebuildPhase::Indexing && loaded.is_none() {
                loaded = Some(started.elapsed());
            }
        },
    )
    .await
    .expect("rebuild");
    let elapsed = started.elapsed().as_secs_f64();
    let loaded = loaded.map_or(elapsed, |d| d.as_secs_f64());
    // Each projection indexes as soon as it has loaded, so this is the slowest one's load.
    metric("rebuild_until_all_indexed_seconds", loaded, "s");
    assert!(built.iter().all(|(_, checkpoint)| *checkpoint == tail));
    metric("rebuild_all_seconds", elapsed, "s");
    metric("rebuild_all_cpu_seconds", cpu_seconds() - cpu_before, "s");
    metric(
        "rebuild_all_events_per_s",
        tail as f64 / elapsed,
        "events/s",
    );
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    metric("rebuild_peak_rss", peak_rss_mib(), "MiB");
    metric(
        "rebuild_peak_rss_anon",
        sampler.join().unwrap_or(0.0),
        "MiB",
    );
    metric(
        "log_file",
        std::fs::metadata(&log_path).map_or(0.0, |m| m.len() as f64 / 1_048_576.0),
        "MiB",
    );
    for name in ProjectionName::ALL {
        let size = std::fs::metadata(poolkeeper_projections::projection_path(&dir, name))
            .map_or(0, |m| m.len());
        metric(&format!("{name}_file"), size as f64 / 1_048_576.0, "MiB");
    }

    if args.iter().any(|a| a == "--no-queries") {
        return;
    }

    // Queries on the rebuilt files.
    let projections = Projections::open(&dir).expect("open projections");
    let pools = projections.pool_view().pools().await.expect("pools");
    let first = store.read_all(1, 1).await.expect("first")[0]
        .metadata
        .recorded_at;
    let last = store.read_all(tail, 1).await.expect("last")[0]
        .metadata
        .recorded_at;
    let users: Vec<_> = store
        .read_by_type("user.created", 1, 10_000)
        .await
        .expect("users")
        .iter()
        .filter_map(|event| match codec::decode(event).expect("decode").body {
            poolkeeper_domain::EventBody::UserCreated(user) => Some(user.user_id),
            _ => None,
        })
        .collect();
    let mut customers = Vec::new();
    for pool in &pools {
        let page = projections
            .pool_view()
            .list(PoolQuery {
                limit: 1_000,
                ..PoolQuery::new(pool.pool_id, PoolFilter::All)
            })
            .await
            .expect("customers");
        customers.extend(page.items.into_iter().map(|c| c.customer_id));
    }
    let mut rng = Rng(7);
    let instant = |rng: &mut Rng| -> DateTime<Utc> {
        let span = (last - first).num_seconds().max(1) as u64;
        first + chrono::Duration::seconds(rng.below(span) as i64)
    };

    let mut samples = Vec::new();
    for i in 0..sizes.queries {
        let pool = pools[rng.below(pools.len() as u64) as usize].pool_id;
        let filter = [PoolFilter::Unclaimed, PoolFilter::Claimed, PoolFilter::All][i % 3];
        let page = timed(
            &mut samples,
            projections.pool_view().list(PoolQuery::new(pool, filter)),
        )
        .await
        .expect("pool view");
        if let Some(cursor) = page.next_cursor {
            let query = PoolQuery {
                cursor: Some(cursor),
                ..PoolQuery::new(pool, filter)
            };
            timed(&mut samples, projections.pool_view().list(query))
                .await
                .expect("next page");
        }
    }
    percentiles("pool_view_page", samples);

    let mut samples = Vec::new();
    for i in 0..sizes.queries {
        let user = users[rng.below(users.len() as u64) as usize];
        let scope = if i % 2 == 0 {
            OwnerScope::Own
        } else {
            OwnerScope::OwnAndSubordinates
        };
        timed(
            &mut samples,
            projections
                .owner_view()
                .customers(OwnerQuery::new(user, scope)),
        )
        .await
        .expect("owner view");
    }
    percentiles("owner_view_page", samples);

    let mut samples = Vec::new();
    for _ in 0..sizes.queries {
        let customer = customers[rng.below(customers.len() as u64) as usize];
        let at = instant(&mut rng);
        timed(
            &mut samples,
            projections.history().owner_at(customer, AsOf::Instant(at)),
        )
        .await
        .expect("owner as of");
    }
    percentiles("owner_as_of", samples);

    let mut samples = Vec::new();
    for _ in 0..sizes.queries {
        let user = users[rng.below(users.len() as u64) as usize];
        let at = instant(&mut rng);
        timed(
            &mut samples,
            projections
                .history()
                .holdings(user, AsOf::Instant(at), 50, None),
        )
        .await
        .expect("holdings as of");
    }
    percentiles("holdings_as_of_page", samples);

    let mut samples = Vec::new();
    for _ in 0..sizes.queries {
        let month_start = instant(&mut rng);
        let query = AbandonRecordQuery {
            reason: Some(REASONS[rng.below(REASONS.len() as u64) as usize].to_owned()),
            since: Some(month_start),
            until: Some(month_start + chrono::Duration::days(30)),
            limit: 50,
            ..AbandonRecordQuery::default()
        };
        timed(&mut samples, projections.abandon_records().list(query))
            .await
            .expect("audit");
    }
    percentiles("audit_reason_month_page", samples);
}
