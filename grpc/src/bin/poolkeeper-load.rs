//! `poolkeeper-load`: drives a running server with concurrent clients in a realistic mix
//! (claims, follow-ups, abandons, transfers and queries) and prints commands/s, queries/s
//! and p50/p99 latency, after timing one 10,000-customer import.
//!
//! `poolkeeper-load --data-dir ./poolkeeper-data` reads the development token and the
//! bootstrap admin from a local server's data directory; `--server`/`--token`/`--admin`
//! point it elsewhere. Every figure is printed as one `metric value unit` line; `--quick`
//! runs a reduced load that finishes within a minute. `--organizations 1,4,64` adds the
//! concurrent phase once per count with its clients spread over that many organizations.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use poolkeeper_grpc::client::{self, AuthedChannel, Credentials};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::admin_service_client::AdminServiceClient;
use poolkeeper_proto::v1::command_service_client::CommandServiceClient;
use poolkeeper_proto::v1::query_service_client::QueryServiceClient;
use tonic::transport::Channel;

#[path = "load/organizations.rs"]
mod organizations;
#[path = "load/stream.rs"]
mod stream;

#[derive(Parser, Clone)]
#[command(
    name = "poolkeeper-load",
    about = "Load generator for a running poolkeeper"
)]
struct Args {
    /// The server; several, comma-separated (nodes of one cluster), spread the clients
    /// round robin over them (seeding goes to the first).
    #[arg(
        long,
        env = "POOLKEEPER_SERVER",
        default_value = "http://127.0.0.1:50051",
        value_delimiter = ','
    )]
    server: Vec<String>,
    /// A token with the command and query scopes; read from the data directory when absent.
    #[arg(long, env = "POOLKEEPER_TOKEN")]
    token: Option<String>,
    /// An admin user (`users/{uuid}`); read from the data directory when absent.
    #[arg(long)]
    admin: Option<String>,
    /// The server's data directory (for the development token and bootstrap admin).
    #[arg(long, env = "POOLKEEPER_DATA_DIR", default_value = "./poolkeeper-data")]
    data_dir: PathBuf,
    /// Concurrent clients of the concurrent phase.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// HTTP/2 connections the concurrent clients share, round robin (0: one each, as
    /// separate services would have).
    #[arg(long, default_value_t = 0)]
    connections: usize,
    /// Customers each client works on.
    #[arg(long, default_value_t = 400)]
    customers_per_client: usize,
    /// A reduced run (about 30 seconds).
    #[arg(long)]
    quick: bool,
    /// The server's process id (several, comma-separated, for several nodes): each phase
    /// then prints the servers' CPU time per call together, read from `/proc/<pid>/stat`
    /// over the phase (and the load generator's own).
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// After the usual phases, the concurrent phase again once per count, its clients
    /// spread over that many new organizations (e.g. `1,4,64`; the token must act for
    /// every organization).
    #[arg(long, value_delimiter = ',')]
    organizations: Vec<usize>,
    /// After the concurrent phase, one `Execute` stream of `--stream-commands` customer
    /// creations (as a bulk caller would send them); not part of the unary figures.
    #[arg(long)]
    stream: bool,
    /// Commands of the `--stream` phase (50,000 at most with `--quick`).
    #[arg(long, default_value_t = 200_000)]
    stream_commands: usize,
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn metric(name: &str, value: impl std::fmt::Display, unit: &str) {
    println!("{name} {value} {unit}");
}

fn command_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// One client's view: its user, its customers, and what it believes it owns.
struct Worker {
    commands: CommandServiceClient<AuthedChannel>,
    queries: QueryServiceClient<AuthedChannel>,
    user: String,
    next_user: String,
    /// Customers it may claim (believed unowned).
    unowned: Vec<String>,
    owned: Vec<String>,
    rng: u64,
}

/// What one client measured.
#[derive(Default)]
struct Tally {
    command_micros: Vec<u32>,
    query_micros: Vec<u32>,
    refused: u64,
    /// Refusals by status code, to tell expected races from errors.
    refused_by_code: std::collections::BTreeMap<String, u64>,
}

impl Tally {
    fn refuse(&mut self, status: &tonic::Status) {
        self.refused += 1;
        *self
            .refused_by_code
            .entry(format!("{:?}", status.code()))
            .or_insert(0) += 1;
    }
}

impl Worker {
    fn roll(&mut self, n: usize) -> usize {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % n as u64) as usize
    }

    async fn step(&mut self, tally: &mut Tally) {
        let roll = self.roll(100);
        let started = Instant::now();
        if roll < 20 {
            let ok = if roll < 10 && !self.owned.is_empty() {
                let index = self.roll(self.owned.len());
                let name = self.owned[index].clone();
                let request = pb::GetCustomerRequest {
                    name,
                    min_position: 0,
                };
                self.queries.get_customer(request).await.is_ok()
            } else {
                let request = pb::ListOwnerCustomersRequest {
                    page_size: 20,
                    ..Default::default()
                };
                self.queries.list_owner_customers(request).await.is_ok()
            };
            if ok {
                tally.query_micros.push(micros(started));
            } else {
                tally.refused += 1;
            }
            return;
        }
        let result = if !self.unowned.is_empty() && (self.owned.is_empty() || roll < 45) {
            let index = self.roll(self.unowned.len());
            let customer = self.unowned.swap_remove(index);
            let request = pb::ClaimCustomerRequest {
                command_id: command_id(),
                customer: customer.clone(),
                ..Default::default()
            };
            let claimed = self.commands.claim_customer(request).await;
            if claimed.is_ok() {
                self.owned.push(customer);
            } else {
                self.unowned.push(customer);
            }
            claimed.map(|_| ())
        } else if self.owned.is_empty() {
            return;
        } else {
            let index = self.roll(self.owned.len());
            let customer = self.owned[index].clone();
            if roll < 80 || self.next_user == self.user {
                let request = pb::LogFollowUpRequest {
                    command_id: command_id(),
                    customer,
                    kind: pb::FollowUpKind::Call as i32,
                    note: "电话沟通，客户有意向，下周拜访".into(),
                    ..Default::default()
                };
                self.commands.log_follow_up(request).await.map(|_| ())
            } else if roll < 92 {
                self.owned.swap_remove(index);
                self.unowned.push(customer.clone());
                let request = pb::AbandonCustomerRequest {
                    command_id: command_id(),
                    customer,
                    reason: "客户无意向".into(),
                    ..Default::default()
                };
                self.commands.abandon_customer(request).await.map(|_| ())
            } else {
                // The customer leaves this worker for good: the next worker now owns it.
                self.owned.swap_remove(index);
                let request = pb::TransferCustomerRequest {
                    command_id: command_id(),
                    customer,
                    new_owner: self.next_user.clone(),
                    reason: "工作调整".into(),
                    ..Default::default()
                };
                self.commands.transfer_customer(request).await.map(|_| ())
            }
        };
        match result {
            Ok(()) => tally.command_micros.push(micros(started)),
            Err(status) => tally.refuse(&status),
        }
    }
}

/// The server client `n` connects to: round robin over `servers`.
fn server_of(servers: &[String], n: usize) -> &str {
    &servers[n % servers.len()]
}

fn micros(started: Instant) -> u32 {
    u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX)
}

fn percentile(sorted: &[u32], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    f64::from(sorted[index]) / 1000.0
}

/// Prints the rate and p50/p99 of one sort of call (`samples` sorted, in microseconds).
fn latencies(phase: &str, call: &str, plural: &str, samples: &[u32], elapsed: f64) {
    let rate = samples.len() as f64 / elapsed;
    metric(
        &format!("{phase}_{plural}_per_s"),
        format!("{rate:.0}"),
        &format!("{plural}/s"),
    );
    for (label, fraction) in [("p50", 0.50), ("p99", 0.99)] {
        let value = percentile(samples, fraction);
        metric(
            &format!("{phase}_{call}_{label}"),
            format!("{value:.2}"),
            "ms",
        );
    }
}

/// CPU time (user + system) the processes have used so far together, from
/// `/proc/<pid>/stat`, in microseconds (Linux counts it in ticks of 1/100 s); `None`
/// without processes or when one is gone.
fn cpu_micros(pids: &[String]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|pid| process_cpu_micros(pid)).sum()
}

fn process_cpu_micros(pid: &str) -> Option<u64> {
    const MICROS_PER_TICK: u64 = 10_000;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * MICROS_PER_TICK)
}

/// Prints the CPU time per call `pids` (named `who`) spent since `before`.
fn cpu_per_call(phase: &str, who: &str, pids: &[String], before: Option<u64>, calls: usize) {
    if let (Some(before), Some(after)) = (before, cpu_micros(pids)) {
        let per_call = (after - before) as f64 / calls.max(1) as f64;
        metric(
            &format!("{phase}_{who}_cpu_per_call"),
            format!("{per_call:.1}"),
            "us",
        );
    }
}

async fn phase(
    name: &str,
    workers: Vec<Worker>,
    duration: Duration,
    server_pids: &[u32],
) -> Vec<Worker> {
    let server_pids: Vec<String> = server_pids.iter().map(u32::to_string).collect();
    let own = ["self".to_owned()];
    let server_before = cpu_micros(&server_pids);
    let own_before = cpu_micros(&own);
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while Instant::now() < deadline {
                    worker.step(&mut tally).await;
                }
                (worker, tally)
            })
        })
        .collect();
    let mut workers = Vec::new();
    let mut all = Tally::default();
    for task in tasks {
        if let Ok((worker, tally)) = task.await {
            workers.push(worker);
            all.command_micros.extend(tally.command_micros);
            all.query_micros.extend(tally.query_micros);
            all.refused += tally.refused;
            for (code, count) in tally.refused_by_code {
                *all.refused_by_code.entry(code).or_insert(0) += count;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.command_micros.sort_unstable();
    all.query_micros.sort_unstable();
    latencies(name, "command", "commands", &all.command_micros, elapsed);
    latencies(name, "query", "queries", &all.query_micros, elapsed);
    let calls = all.command_micros.len() + all.query_micros.len();
    cpu_per_call(name, "server", &server_pids, server_before, calls);
    cpu_per_call(name, "load_generator", &own, own_before, calls);
    metric(&format!("{name}_refused"), all.refused, "calls");
    for (code, count) in &all.refused_by_code {
        metric(
            &format!("{name}_refused_{}", code.to_lowercase()),
            count,
            "calls",
        );
    }
    workers
}

/// Waits until every projection has applied the log's tail as it is now; returns how
/// many events the furthest behind had left when asked.
async fn catch_up(admin: &mut AdminServiceClient<AuthedChannel>) -> Result<u64, Failure> {
    let status = admin
        .get_projection_status(pb::GetProjectionStatusRequest {})
        .await?
        .into_inner();
    let tail = status.projections.iter().map(|p| p.tail).max().unwrap_or(0);
    let lag = status
        .projections
        .iter()
        .map(|p| p.lag_positions)
        .max()
        .unwrap_or(0);
    loop {
        let status = admin
            .get_projection_status(pb::GetProjectionStatusRequest {})
            .await?
            .into_inner();
        if status.projections.iter().all(|p| p.checkpoint >= tail) {
            return Ok(lag);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The token and the admin user: as given, or read from the data directory.
fn token_and_admin(args: &Args) -> Result<(String, String), Failure> {
    let token = match &args.token {
        Some(token) => token.clone(),
        None => std::fs::read_to_string(args.data_dir.join("dev-token"))?
            .trim()
            .to_owned(),
    };
    let admin = match &args.admin {
        Some(admin) => admin.clone(),
        None => {
            let bootstrap: serde_json::Value =
                serde_json::from_slice(&std::fs::read(args.data_dir.join("bootstrap.json"))?)?;
            bootstrap["admin_user"]
                .as_str()
                .ok_or("bootstrap.json names no admin_user")?
                .to_owned()
        }
    };
    Ok((token, admin))
}

/// Imports `customers` into `pool` in one call; their names.
async fn import(
    admin_commands: &mut CommandServiceClient<AuthedChannel>,
    pool: &str,
    customers: Vec<pb::NewCustomer>,
) -> Result<Vec<String>, Failure> {
    let imported = admin_commands
        .import_customers(pb::ImportCustomersRequest {
            command_id: command_id(),
            parent: pool.to_owned(),
            customers,
        })
        .await?
        .into_inner();
    Ok(imported.names)
}

/// One call importing 10,000 customers into `pool`, timed end to end (durable on
/// return); their names.
async fn timed_import(
    admin_commands: &mut CommandServiceClient<AuthedChannel>,
    pool: &str,
) -> Result<Vec<String>, Failure> {
    let batch: Vec<pb::NewCustomer> = (0..10_000)
        .map(|n| pb::NewCustomer {
            display_name: format!("导入客户 {n}"),
            source: "展会".into(),
            fields: [
                ("电话".to_owned(), format!("138{n:08}")),
                ("地区".to_owned(), "华东".to_owned()),
            ]
            .into(),
            ..Default::default()
        })
        .collect();
    let started = Instant::now();
    let customers = import(admin_commands, pool, batch).await?;
    metric(
        "import_10000_customers_seconds",
        format!("{:.3}", started.elapsed().as_secs_f64()),
        "s",
    );
    Ok(customers)
}

/// A fresh free-claim pool with `needed` customers (with `timed`, the first 10,000
/// imported in one timed call) and `users` sales users: the customers' and the users'
/// names.
async fn seed(
    admin_commands: &mut CommandServiceClient<AuthedChannel>,
    needed: usize,
    users: usize,
    timed: bool,
) -> Result<(Vec<String>, Vec<String>), Failure> {
    let pool = admin_commands
        .create_pool(pb::CreatePoolRequest {
            command_id: command_id(),
            display_name: format!("load {}", uuid::Uuid::now_v7()),
            mode: pb::PoolMode::FreeClaim as i32,
            everyone: true,
            ..Default::default()
        })
        .await?
        .into_inner()
        .name;

    let mut customers = if timed {
        timed_import(admin_commands, &pool).await?
    } else {
        Vec::new()
    };
    while customers.len() < needed {
        let batch = (0..(needed - customers.len()).min(10_000))
            .map(|n| pb::NewCustomer {
                display_name: format!("客户 {n}"),
                ..Default::default()
            })
            .collect();
        customers.extend(import(admin_commands, &pool, batch).await?);
    }

    let mut names = Vec::with_capacity(users);
    for n in 0..users {
        let user = admin_commands
            .create_user(pb::CreateUserRequest {
                command_id: command_id(),
                display_name: format!("load sales {n}"),
                ..Default::default()
            })
            .await?
            .into_inner()
            .name;
        names.push(user);
    }
    Ok((customers, names))
}

async fn run(args: Args) -> Result<(), Failure> {
    let (token, admin) = token_and_admin(&args)?;
    let (clients, seconds, per_client) = if args.quick {
        (
            args.clients.clamp(1, 64),
            args.seconds.min(8),
            args.customers_per_client.min(200),
        )
    } else {
        (args.clients.max(1), args.seconds, args.customers_per_client)
    };
    let first = args.server.first().ok_or("--server names no server")?;
    let channel: Channel = client::connect(first).await?;
    let credentials = Credentials::new(&token)?;
    let mut admin_commands =
        CommandServiceClient::new(credentials.acting_as(&admin)?.on(channel.clone()))
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);

    // The one-client phase has its own user and customers, after the concurrent phase's.
    let (customers, users) = seed(
        &mut admin_commands,
        (clients + 1) * per_client,
        clients + 1,
        true,
    )
    .await?;
    let customers = Arc::new(customers);
    // Each client has its own connection, as separate services would, unless
    // `--connections` makes them share a few (as the threads of one service would).
    let mut connections = Vec::new();
    for n in 0..args.connections.min(clients) {
        connections.push(client::connect(server_of(&args.server, n)).await?);
    }
    // Workers `first..first + count`, each with its own user and customers.
    let make_workers = async |first: usize, count: usize| -> Result<Vec<Worker>, Failure> {
        let mut workers = Vec::with_capacity(count);
        for n in first..first + count {
            let connection = match connections.get(n % connections.len().max(1)) {
                Some(connection) if count > 1 => connection.clone(),
                _ => client::connect(server_of(&args.server, n)).await?,
            };
            let acting = credentials.acting_as(&users[n])?;
            workers.push(Worker {
                commands: CommandServiceClient::new(acting.on(connection.clone())),
                queries: QueryServiceClient::new(acting.on(connection)),
                user: users[n].clone(),
                next_user: users[first + (n - first + 1) % count].clone(),
                unowned: customers[n * per_client..(n + 1) * per_client].to_vec(),
                owned: Vec::new(),
                rng: 0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1),
            });
        }
        Ok(workers)
    };
    // Each phase starts once the projections have applied everything before it (the
    // import above keeps them busy for a while), so it measures the steady state.
    let mut admin = AdminServiceClient::new(credentials.on(channel.clone()));
    catch_up(&mut admin).await?;
    let _ = phase(
        "one_client",
        make_workers(clients, 1).await?,
        Duration::from_secs(seconds),
        &args.server_pid,
    )
    .await;
    catch_up(&mut admin).await?;
    let workers = phase(
        &format!("clients_{clients}"),
        make_workers(0, clients).await?,
        Duration::from_secs(seconds),
        &args.server_pid,
    )
    .await;
    // How far behind the log the projections were when the load stopped, and how long
    // they took to reach the tail.
    let stopped = Instant::now();
    let lag = catch_up(&mut admin).await?;
    metric("projection_lag_when_load_stopped", lag, "events");
    metric(
        "projections_caught_up_after",
        format!("{:.3}", stopped.elapsed().as_secs_f64()),
        "s",
    );
    let owned: usize = workers.iter().map(|w| w.owned.len()).sum();
    metric("customers_owned_at_end", owned, "customers");
    metric("clients", clients, "clients");
    if args.stream {
        let count = if args.quick {
            args.stream_commands.min(50_000)
        } else {
            args.stream_commands
        };
        catch_up(&mut admin).await?;
        stream::run(
            admin_commands.clone(),
            String::new(),
            count,
            &args.server_pid,
        )
        .await?;
    }
    let spread = organizations::Spread {
        servers: &args.server,
        credentials: &credentials,
        clients,
        per_client,
        duration: Duration::from_secs(seconds),
        server_pids: &args.server_pid,
    };
    for &count in &args.organizations {
        spread.run(count).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("poolkeeper-load: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
