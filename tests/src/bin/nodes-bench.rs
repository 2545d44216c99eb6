//! `nodes-bench`: the same `poolkeeper-load` run, in one sitting, against one server on
//! the embedded SQLite log, one node on PostgreSQL and three nodes on PostgreSQL (a
//! throwaway cluster: initdb + pg_ctl on a free loopback port, fsync on). Each run's
//! `metric value unit` lines are printed with a prefix (`sqlite_`, `pg_1_node_`,
//! `pg_3_nodes_`), then the ratios the PostgreSQL issue sets targets for (clients spread
//! over four organizations): `pg_1_node_vs_sqlite_ratio` (target ≥ 0.5) and
//! `pg_3_nodes_vs_1_node_ratio` (target ≥ 1). `--quick` passes `--quick` on; `--rounds N`
//! repeats the three setups interleaved.
//!
//! Run: `cargo build --release -p poolkeeper-grpc --bin poolkeeper-load && cargo run
//! --release -p poolkeeper-tests --bin nodes-bench -- --quick`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use poolkeeper_eventlog_postgres::testing::TestCluster;
use poolkeeper_tests::process::{CONFIGURED_TOKEN, cluster_config, free_port};

/// The figure compared across setups.
const COMPARED: &str = "organizations_4_clients_64_commands_per_s";

/// A server process, killed on drop.
struct Node {
    child: Child,
    endpoint: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's own path");
    let path = exe.with_file_name(name);
    assert!(
        path.exists(),
        "{path:?} is missing: cargo build --release -p poolkeeper-grpc --bin {name}"
    );
    path
}

/// Starts `poolkeeper serve` (real clock) on `dir` with `extra` arguments and waits until
/// it listens.
fn start(dir: &Path, extra: &[String]) -> Node {
    let port = free_port();
    let child = Command::new(sibling("poolkeeper-under-test"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    Node {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    }
}

/// Runs `poolkeeper-load` against `nodes` (seeding through the first, whose data
/// directory is `dir`); prints its figures under `prefix` and returns them.
fn load(prefix: &str, nodes: &[Node], dir: &Path, quick: bool) -> HashMap<String, f64> {
    let servers: Vec<&str> = nodes.iter().map(|n| n.endpoint.as_str()).collect();
    let pids: Vec<String> = nodes.iter().map(|n| n.child.id().to_string()).collect();
    let mut command = Command::new(sibling("poolkeeper-load"));
    command
        .args(["--organizations", "4", "--server", &servers.join(",")])
        .args(["--server-pid", &pids.join(",")])
        .arg("--data-dir")
        .arg(dir);
    if !dir.join("dev-token").exists() {
        command.args(["--token", CONFIGURED_TOKEN]);
    }
    if quick {
        command.arg("--quick");
    }
    let output = command.output().expect("poolkeeper-load runs");
    assert!(
        output.status.success(),
        "poolkeeper-load failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut figures = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        println!("{prefix}_{line}");
        let mut words = line.split_whitespace();
        if let (Some(name), Some(Ok(value))) = (words.next(), words.next().map(str::parse)) {
            figures.insert(name.to_owned(), value);
        }
    }
    figures
}

/// One server on the embedded SQLite log.
fn on_sqlite(quick: bool) -> f64 {
    let dir = tempfile::tempdir().expect("a data directory");
    let node = start(dir.path(), &[]);
    load("sqlite", &[node], dir.path(), quick)[COMPARED]
}

/// `count` nodes on a fresh database of `cluster`.
fn on_postgres(cluster: &TestCluster, database: &str, count: usize, quick: bool) -> f64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let store = runtime.block_on(poolkeeper_tests::create_database(cluster, database));
    let dirs: Vec<_> = (0..count)
        .map(|_| tempfile::tempdir().expect("a data directory"))
        .collect();
    let nodes: Vec<Node> = dirs
        .iter()
        .map(|dir| {
            let config = cluster_config(dir.path(), &store, 10);
            start(
                dir.path(),
                &["--config".into(), config.display().to_string()],
            )
        })
        .collect();
    let prefix = match count {
        1 => "pg_1_node".to_owned(),
        n => format!("pg_{n}_nodes"),
    };
    load(&prefix, &nodes, dirs[0].path(), quick)[COMPARED]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1);
    let cluster = TestCluster::start().expect("a throwaway PostgreSQL");
    for round in 0..rounds {
        let sqlite = on_sqlite(quick);
        let one = on_postgres(&cluster, &format!("bench_{round}_1"), 1, quick);
        let three = on_postgres(&cluster, &format!("bench_{round}_3"), 3, quick);
        println!("pg_1_node_vs_sqlite_ratio {:.3} ratio", one / sqlite);
        println!("pg_3_nodes_vs_1_node_ratio {:.3} ratio", three / one);
    }
}
