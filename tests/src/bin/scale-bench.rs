//! `scale-bench`: one organization at scale. It imports 1,000,000 customers (`--quick`:
//! 100,000) into the default pool of a fresh `poolkeeper serve` in calls of 50,000, has
//! 20 users claim 1,000 of them and abandon 200, then prints, as `metric value unit` lines:
//! - `scale_server_rss_mib` (and its `_anonymous` and `_file` parts, and the peak): the
//!   server's memory with every customer in its write model and its in-memory pool and
//!   owner views, after the import and again after a restart;
//! - `scale_startup_to_serving_seconds`: SIGTERM, restart on the same directory, and the
//!   time until its first query answers (the organization opened: its write model folded
//!   from the log, the resident views loaded from the snapshots a clean stop left at the
//!   log's tail);
//! - p50/p99 over 2,000 calls each of a 50-row pool page (first and deep pages), owner
//!   page, holdings as of an instant and abandon-records page, at that size.
//!
//! `--dir PATH` keeps the directory; on one that already holds a server it only restarts
//! and measures (to compare the start-up of two builds on one directory).
//!
//! Run: `cargo run --release -p poolkeeper-tests --bin scale-bench [-- --quick]` (it runs
//! `poolkeeper-under-test`, built beside it).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use poolkeeper_proto::v1 as pb;
use poolkeeper_tests::process::{ServerProcess, spawn};
use poolkeeper_tests::workload::{audit_of, commands_of, hire_users, queries_of};
use poolkeeper_tests::{command_id, t0};

/// The organization the bench fills (the service's default one).
const ORGANIZATION: &str = "default";

/// The log's tail, from the hash-chain verification (which reads the whole log).
async fn tail(server: &ServerProcess) -> u64 {
    audit_of(server, ORGANIZATION)
        .verify_log(pb::VerifyLogRequest {})
        .await
        .expect("verify")
        .into_inner()
        .tail
}

fn metric(name: &str, value: impl std::fmt::Display, unit: &str) {
    println!("{name} {value} {unit}");
}

fn server_exe() -> String {
    let exe = std::env::current_exe().expect("the bench's own path");
    let path: PathBuf = exe.with_file_name("poolkeeper-under-test");
    assert!(
        path.exists(),
        "{path:?} is missing: cargo build --release -p poolkeeper-tests --bin poolkeeper-under-test"
    );
    path.to_string_lossy().into_owned()
}

/// `VmRSS`, `VmHWM`, `RssAnon` and `RssFile` of a process, in MiB (`RssFile` is mostly
/// the log's memory-mapped pages: page cache the kernel can take back).
fn rss_mib(pid: u32) -> (f64, f64, f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (
        field("VmRSS:"),
        field("VmHWM:"),
        field("RssAnon:"),
        field("RssFile:"),
    )
}

fn default_pool(dir: &std::path::Path) -> String {
    let bootstrap: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("bootstrap.json")).unwrap()).unwrap();
    bootstrap["default_pool"]
        .as_str()
        .expect("the bootstrap names the default pool")
        .to_owned()
}

/// Imports `count` customers into `pool`, 50,000 per call.
async fn import(server: &ServerProcess, pool: &str, count: usize) {
    let mut commands = commands_of(server, ORGANIZATION, &server.admin);
    let mut done = 0;
    while done < count {
        let customers = (done..(done + 50_000).min(count))
            .map(|n| pb::NewCustomer {
                display_name: format!("规模客户 {n:07}"),
                source: "导入".into(),
                fields: [("电话".to_owned(), format!("139{n:08}"))].into(),
                ..Default::default()
            })
            .collect::<Vec<_>>();
        done += customers.len();
        commands
            .import_customers(pb::ImportCustomersRequest {
                command_id: command_id(),
                parent: pool.to_owned(),
                customers,
            })
            .await
            .expect("import");
    }
}

/// Twenty users who claim 1,000 customers between them (50 each) and abandon every
/// fifth; the users.
async fn work(server: &ServerProcess, pool: &str) -> Vec<String> {
    let users = hire_users(&mut commands_of(server, ORGANIZATION, &server.admin), 20).await;
    let tail = tail(server).await;
    let customers = pool_page(server, pool, 1_000, tail).await;
    for (n, customer) in customers.iter().enumerate() {
        let user = &users[n % users.len()];
        let mut commands = commands_of(server, ORGANIZATION, user);
        commands
            .claim_customer(pb::ClaimCustomerRequest {
                command_id: command_id(),
                customer: customer.clone(),
                ..Default::default()
            })
            .await
            .expect("claim");
        if n % 5 == 0 {
            commands
                .abandon_customer(pb::AbandonCustomerRequest {
                    command_id: command_id(),
                    customer: customer.clone(),
                    reason: "无意向".into(),
                    ..Default::default()
                })
                .await
                .expect("abandon");
        }
    }
    users
}

/// The first `size` unclaimed customers of `pool`, once the projections reached
/// `min_position`.
async fn pool_page(
    server: &ServerProcess,
    pool: &str,
    size: i32,
    min_position: u64,
) -> Vec<String> {
    queries_of(server, ORGANIZATION, &server.admin)
        .list_pool_customers(pb::ListPoolCustomersRequest {
            pool: pool.to_owned(),
            view: pb::PoolView::Unclaimed as i32,
            page_size: size,
            min_position,
            ..Default::default()
        })
        .await
        .expect("pool page")
        .into_inner()
        .customers
        .into_iter()
        .map(|c| c.name)
        .collect()
}

/// p50 and p99 of `calls` sequential runs of `call`, in ms.
async fn timed<F, Fut>(name: &str, calls: usize, mut call: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut took = Vec::with_capacity(calls);
    for n in 0..calls {
        let started = Instant::now();
        call(n).await;
        took.push(started.elapsed());
    }
    took.sort();
    let at = |q: f64| took[((took.len() as f64 * q) as usize).min(took.len() - 1)];
    let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1e3);
    metric(&format!("scale_{name}_p50"), ms(at(0.50)), "ms");
    metric(&format!("scale_{name}_p99"), ms(at(0.99)), "ms");
}

async fn queries(server: &ServerProcess, pool: &str, users: &[String]) {
    let deep = queries_of(server, ORGANIZATION, &server.admin)
        .list_pool_customers(pb::ListPoolCustomersRequest {
            pool: pool.to_owned(),
            view: pb::PoolView::Unclaimed as i32,
            page_size: 1_000,
            ..Default::default()
        })
        .await
        .expect("a page")
        .into_inner()
        .next_page_token;
    timed("pool_page", 2_000, |n| {
        let mut queries = queries_of(server, ORGANIZATION, &server.admin);
        let token = if n % 2 == 0 {
            String::new()
        } else {
            deep.clone()
        };
        let pool = pool.to_owned();
        async move {
            let request = pb::ListPoolCustomersRequest {
                pool,
                view: pb::PoolView::Unclaimed as i32,
                page_size: 50,
                page_token: token,
                ..Default::default()
            };
            queries
                .list_pool_customers(request)
                .await
                .expect("pool page");
        }
    })
    .await;
    timed("owner_page", 2_000, |n| {
        let user = users[n % users.len()].clone();
        let mut queries = queries_of(server, ORGANIZATION, &user);
        async move {
            let request = pb::ListOwnerCustomersRequest {
                owner: user,
                scope: pb::OwnerScope::Own as i32,
                page_size: 50,
                ..Default::default()
            };
            queries
                .list_owner_customers(request)
                .await
                .expect("owner page");
        }
    })
    .await;
    timed("holdings_as_of", 2_000, |n| {
        let user = users[n % users.len()].clone();
        let mut queries = queries_of(server, ORGANIZATION, &server.admin);
        async move {
            let request = pb::ListHoldingsAsOfRequest {
                owner: user,
                as_of: Some(prost_types::Timestamp {
                    seconds: (t0() + chrono::Duration::days(1)).timestamp(),
                    nanos: 0,
                }),
                page_size: 50,
                ..Default::default()
            };
            queries.list_holdings_as_of(request).await.expect("as of");
        }
    })
    .await;
    timed("abandon_records_page", 2_000, |_| {
        let mut queries = queries_of(server, ORGANIZATION, &server.admin);
        let pool = pool.to_owned();
        async move {
            let request = pb::ListAbandonRecordsRequest {
                pool,
                page_size: 50,
                ..Default::default()
            };
            queries
                .list_abandon_records(request)
                .await
                .expect("records");
        }
    })
    .await;
}

/// Imports the customers into a fresh server on `dir`, works them, prints the memory,
/// stops it; the users who worked.
async fn build(exe: &str, dir: &std::path::Path, count: usize) -> Vec<String> {
    let server = spawn(exe, dir).await;
    let pool = default_pool(dir);
    let started = Instant::now();
    import(&server, &pool, count).await;
    metric("scale_customers", count, "customers");
    metric(
        "scale_import_seconds",
        format!("{:.1}", started.elapsed().as_secs_f64()),
        "s",
    );
    let users = work(&server, &pool).await;
    // Before anything reads the whole log (VerifyLog does, through a memory map).
    memory(&server, "");
    let tail = tail(&server).await;
    metric("scale_log_events", tail, "events");
    metric(
        "scale_server_peak_rss_mib",
        format!("{:.0}", rss_mib(server.child.id()).1),
        "MiB",
    );
    server.terminate();
    users
}

/// Prints the server's memory, total and split, with `suffix` on each name.
fn memory(server: &ServerProcess, suffix: &str) {
    let (rss, _, anon, file) = rss_mib(server.child.id());
    metric(
        &format!("scale_server_rss{suffix}_mib"),
        format!("{rss:.0}"),
        "MiB",
    );
    metric(
        &format!("scale_server_rss_anonymous{suffix}_mib"),
        format!("{anon:.0}"),
        "MiB",
    );
    metric(
        &format!("scale_server_rss_file{suffix}_mib"),
        format!("{file:.0}"),
        "MiB",
    );
}

/// `--dir PATH`: build there when it holds no server yet, else only restart on it (to
/// compare start-ups of two builds on one directory).
fn kept_dir() -> Option<PathBuf> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|arg| arg == "--dir")
        .and_then(|at| args.get(at + 1))
        .map(PathBuf::from)
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let count = if quick { 100_000 } else { 1_000_000 };
    let exe = server_exe();
    let temp = tempfile::tempdir().expect("a temporary directory");
    let dir = kept_dir().unwrap_or_else(|| temp.path().to_path_buf());
    let users = if dir.join("bootstrap.json").exists() {
        None
    } else {
        std::fs::create_dir_all(&dir).expect("the directory");
        Some(build(&exe, &dir, count).await)
    };
    let pool = default_pool(&dir);
    let started = Instant::now();
    let server = spawn(&exe, &dir).await;
    // The first query opens the organization: its write model folded, its projections
    // loaded (a clean stop left them at the log's tail).
    pool_page(&server, &pool, 1, 0).await;
    metric(
        "scale_startup_to_serving_seconds",
        format!("{:.2}", started.elapsed().as_secs_f64()),
        "s",
    );
    memory(&server, "_after_restart");
    if let Some(users) = users {
        queries(&server, &pool, &users).await;
    }
    server.terminate();
}
