//! `organizations-bench`: what a node holding many organizations costs to start and to
//! keep. It fills a fresh data directory with 1,000 organizations of 1,000 events each
//! (`--quick`: 100), stops, and measures the start-up to serving (no organization's log
//! is folded: only the catalog), the threads and open files of the started node, and
//! the first command in a closed organization (its log folded and its projections opened
//! on demand). Every figure is one `metric value unit` line.

use std::time::{Duration, Instant};

use clap::Parser;
use poolkeeper_domain::{Actor, Command, CommandBody, CommandId, CustomerId, NewCustomer, UserId};
use poolkeeper_grpc::config::Config;
use poolkeeper_grpc::organizations::OrganizationId;
use poolkeeper_grpc::server::{Runtime, ServeOptions};

#[derive(Parser)]
#[command(name = "organizations-bench")]
struct Args {
    /// Organizations to create.
    #[arg(long, default_value_t = 1_000)]
    organizations: usize,
    /// Events in each (two of them its bootstrap).
    #[arg(long, default_value_t = 1_000)]
    events: usize,
    /// 100 organizations.
    #[arg(long)]
    quick: bool,
    /// Keep the data directory here instead of a temporary one.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn metric(name: &str, value: impl std::fmt::Display, unit: &str) {
    println!("{name} {value} {unit}");
}

fn options(dir: &std::path::Path) -> ServeOptions {
    ServeOptions {
        config: Config {
            data_dir: dir.to_owned(),
            ..Config::default()
        },
        manual_clock: None,
    }
}

fn id(n: usize) -> OrganizationId {
    OrganizationId::parse(&format!("org-{n:05}")).expect("a valid id")
}

/// One import of `customers` customers by `admin`.
fn import(admin: UserId, customers: usize) -> Command {
    let customers = (0..customers)
        .map(|n| NewCustomer {
            customer_id: CustomerId(uuid::Uuid::now_v7()),
            pool_id: None,
            name: format!("客户 {n}"),
            source: Some("展会".into()),
            fields: [("电话".to_owned(), format!("138{n:08}"))].into(),
            keep: false,
        })
        .collect();
    Command::new(
        CommandId(uuid::Uuid::now_v7()),
        Actor::User(admin),
        CommandBody::ImportCustomers { customers },
    )
}

/// Creates `count` organizations of `events` events each.
async fn fill(runtime: &Runtime, count: usize, events: usize) -> Result<(), Failure> {
    let organizations = runtime.organizations();
    for n in 0..count {
        let (record, _) = organizations
            .create(uuid::Uuid::now_v7(), id(n), format!("Company {n}"))
            .await?;
        let partition = organizations.partition(&record.id).await?;
        partition
            .writer()
            .submit(import(record.admin_user, events.saturating_sub(2)), None)
            .await?;
        if n % 100 == 99 {
            eprintln!("{} organizations filled", n + 1);
        }
    }
    Ok(())
}

/// This process's threads and open files.
fn threads_and_files() -> (usize, usize) {
    let count = |dir: &str| std::fs::read_dir(dir).map_or(0, Iterator::count);
    (count("/proc/self/task"), count("/proc/self/fd"))
}

async fn run(args: Args) -> Result<(), Failure> {
    let count = if args.quick { 100 } else { args.organizations };
    let temporary =
        std::env::temp_dir().join(format!("organizations-bench-{}", uuid::Uuid::now_v7()));
    let dir = args.data_dir.clone().unwrap_or_else(|| temporary.clone());
    let started = Instant::now();
    let runtime = Runtime::open(options(&dir)).await?;
    fill(&runtime, count, args.events).await?;
    runtime.shutdown().await;
    metric(
        "fill_seconds",
        format!("{:.1}", started.elapsed().as_secs_f64()),
        "s",
    );
    let (threads_before, files_before) = threads_and_files();

    let started = Instant::now();
    let runtime = Runtime::open(options(&dir)).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    metric(
        &format!("startup_{count}_organizations_seconds"),
        format!("{:.3}", started.elapsed().as_secs_f64()),
        "s",
    );
    let organizations = runtime.organizations();
    metric(
        "organizations_in_catalog",
        organizations.catalog().len(),
        "organizations",
    );
    metric(
        "organizations_open_after_startup",
        organizations.open_count(),
        "organizations",
    );
    let (threads, files) = threads_and_files();
    metric(
        "threads_after_startup",
        threads.saturating_sub(threads_before),
        "threads",
    );
    metric(
        "open_files_after_startup",
        files.saturating_sub(files_before),
        "files",
    );

    let target = id(count / 2);
    let started = Instant::now();
    let partition = organizations.partition(&target).await?;
    let opened = started.elapsed();
    let record = organizations
        .catalog()
        .get(&target)
        .ok_or("no such organization")?;
    partition
        .writer()
        .submit(import(record.admin_user, 1), None)
        .await?;
    metric(
        "first_command_in_a_closed_organization_ms",
        format!("{:.1}", started.elapsed().as_secs_f64() * 1e3),
        "ms",
    );
    metric(
        "opening_a_closed_organization_ms",
        format!("{:.1}", opened.as_secs_f64() * 1e3),
        "ms",
    );
    let (threads, files) = threads_and_files();
    metric(
        "threads_with_one_open",
        threads.saturating_sub(threads_before),
        "threads",
    );
    metric(
        "open_files_with_one_open",
        files.saturating_sub(files_before),
        "files",
    );
    drop(partition);
    drop(listener);
    tokio::time::sleep(Duration::from_millis(10)).await;
    runtime.shutdown().await;
    if args.data_dir.is_none() {
        std::fs::remove_dir_all(&temporary)?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("organizations-bench: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
