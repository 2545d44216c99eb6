//! Failover between real `poolkeeper serve` processes on one PostgreSQL database (a
//! throwaway cluster): the writer of an organization is killed with SIGKILL (twenty
//! rounds, clients on three nodes in three organizations), or paused with SIGSTOP past
//! its lease; another node takes the organization over within the lease's time to live
//! plus two seconds, every acknowledged command stays in the log once, positions stay
//! gap-free, every node's projections equal an offline rebuild, and the paused writer,
//! resumed, commits nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::audit_service_client::AuditServiceClient;
use poolkeeper_proto::v1::command_service_client::CommandServiceClient;
use poolkeeper_tests::process::{self, ServerProcess};
use poolkeeper_tests::workload::{
    Acked, Driver, ORGANIZATIONS, Rng, Workforce, assert_every_chain_verifies, assert_kept,
    assert_projections_equal_a_rebuild, catch_up, staff,
};
use poolkeeper_tests::{new_customer, postgres_database};
use tokio::sync::mpsc::UnboundedSender;

const EXE: &str = env!("CARGO_BIN_EXE_poolkeeper-under-test");
const LEASE_SECONDS: u64 = 2;

/// A node on `store`, with its own data directory.
async fn node(store: &str) -> (ServerProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = process::cluster_config(dir.path(), store, LEASE_SECONDS);
    let extra = vec!["--config".to_owned(), config.display().to_string()];
    (process::spawn_with(EXE, dir.path(), &extra).await, dir)
}

fn commands(
    node: &ServerProcess,
    user: &str,
) -> CommandServiceClient<poolkeeper_grpc::client::AuthedChannel> {
    CommandServiceClient::new(
        node.credentials
            .acting_as(user)
            .unwrap()
            .on(node.channel.clone()),
    )
}

async fn verified_tail(node: &ServerProcess) -> u64 {
    let report = AuditServiceClient::new(node.credentials.on(node.channel.clone()))
        .verify_log(pb::VerifyLogRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(report.intact, "{report:?}");
    assert_eq!(report.events_checked, report.tail, "gap-free from 1");
    report.tail
}

/// Sends `request` to `node` until it is taken (another node may still hold the lease);
/// the reply and how long it took.
async fn until_taken(
    node: &ServerProcess,
    admin: &str,
    request: pb::CreateCustomerRequest,
) -> (pb::CommandResult, Duration) {
    let started = Instant::now();
    loop {
        match commands(node, admin).create_customer(request.clone()).await {
            Ok(reply) => return (reply.into_inner(), started.elapsed()),
            Err(status) if status.code() == tonic::Code::Unavailable => {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "no takeover: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("refused: {status:?}"),
        }
    }
}

/// The tests of this file one at a time: each runs three servers on two cores, and
/// leases of two seconds must not lapse for want of CPU.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const ROUNDS: usize = 20;

/// A node of the cluster, its directory and the clients driving it.
struct Node {
    process: ServerProcess,
    dir: tempfile::TempDir,
    stop: Arc<AtomicBool>,
    drivers: Vec<tokio::task::JoinHandle<()>>,
}

impl Node {
    async fn start(store: &str, dir: tempfile::TempDir) -> Self {
        let config = process::cluster_config(dir.path(), store, LEASE_SECONDS);
        let extra = vec!["--config".to_owned(), config.display().to_string()];
        Self {
            process: process::spawn_with(EXE, dir.path(), &extra).await,
            dir,
            stop: Arc::new(AtomicBool::new(false)),
            drivers: Vec::new(),
        }
    }

    fn id(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node-id"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// One client per organization on this node.
    fn drive(&mut self, staffed: &[Workforce], rng: &mut Rng, acked: &UnboundedSender<Acked>) {
        for staff in staffed {
            let driver = Driver {
                channel: self.process.channel.clone(),
                credentials: self.process.credentials.clone(),
                staff: staff.clone(),
                rng: Rng(rng.below(u64::MAX - 1) + 1),
            };
            let task = driver.drive(acked.clone(), self.stop.clone());
            self.drivers.push(tokio::spawn(task));
        }
    }

    /// SIGKILL; its clients stop; the directory is kept for a restart.
    async fn kill(self) -> tempfile::TempDir {
        self.process.kill();
        self.stop.store(true, Ordering::Relaxed);
        for driver in self.drivers {
            driver.await.unwrap();
        }
        self.dir
    }
}

/// `organization`'s row in `log_heads`: the holder of its lease while the lease runs,
/// and its head position.
async fn log_head(store: &str, organization: &str) -> (Option<String>, u64) {
    let (db, connection) = tokio_postgres::connect(store, tokio_postgres::NoTls)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let row = db
        .query_one(
            "SELECT CASE WHEN lease_expires_at > now() THEN holder END, head \
             FROM log_heads WHERE organization = $1",
            &[&organization],
        )
        .await
        .unwrap();
    drop(db);
    let _ = connection.await;
    (row.get(0), row.get::<_, i64>(1) as u64)
}

/// Waits for the first acknowledgement in `organization` past position `head` (the
/// first command of a new writer); how long after `since` it came.
async fn first_ack_past(
    acked: &Mutex<Vec<Acked>>,
    organization: &str,
    head: u64,
    since: Instant,
) -> Duration {
    loop {
        let first = acked
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.organization == organization && a.position > head)
            .map(|a| a.at)
            .min();
        if let Some(at) = first {
            return at.saturating_duration_since(since);
        }
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "no node took {organization} over"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Twenty rounds of load from clients on three nodes in three organizations, each
/// ended by SIGKILL of one organization's writer (then restarted on its directory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_writers_are_replaced_within_their_lease_and_nothing_acknowledged_is_lost() {
    let Some(store) = postgres_database().await else {
        return;
    };
    let _alone = ONE_AT_A_TIME.lock().await;
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Node::start(&store, tempfile::tempdir().unwrap()).await);
    }
    let staffed = staff(&nodes[0].process, nodes[0].dir.path()).await;
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let collector = {
        let acked = acked.clone();
        tokio::spawn(async move {
            while let Some(one) = receiver.recv().await {
                acked.lock().unwrap().push(one);
            }
        })
    };
    let mut rng = Rng(0x0fa1_10fe_2026_1204);
    for node in &mut nodes {
        node.drive(&staffed, &mut rng, &sender);
    }
    let mut takeovers = Vec::new();
    for round in 0..ROUNDS {
        tokio::time::sleep(Duration::from_millis(200 + rng.below(300))).await;
        let organization = ORGANIZATIONS[round % ORGANIZATIONS.len()];
        let (holder, _) = log_head(&store, organization).await;
        let Some(index) = nodes.iter().position(|n| Some(n.id()) == holder) else {
            panic!("round {round}: {organization} has no live holder ({holder:?})");
        };
        let killed_at = Instant::now();
        let dir = nodes.remove(index).kill().await;
        // What the killed writer committed ends here; the next position is a new writer's.
        let (_, head) = log_head(&store, organization).await;
        let took = first_ack_past(&acked, organization, head, killed_at).await;
        takeovers.push(took);
        let mut restarted = Node::start(&store, dir).await;
        restarted.drive(&staffed, &mut rng, &sender);
        nodes.push(restarted);
    }
    for node in &nodes {
        node.stop.store(true, Ordering::Relaxed);
    }
    for node in &mut nodes {
        for driver in node.drivers.drain(..) {
            driver.await.unwrap();
        }
    }
    drop(sender);
    collector.await.unwrap();
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert_converged(nodes, &acked, &store).await;
    takeovers.sort();
    eprintln!(
        "{} commands acknowledged over {ROUNDS} SIGKILLs of a writer; takeover p50 {:?}, \
         max {:?} (lease {LEASE_SECONDS} s)",
        acked.len(),
        takeovers[takeovers.len() / 2],
        takeovers.last().unwrap()
    );
    assert!(*takeovers.last().unwrap() < Duration::from_secs(LEASE_SECONDS + 2));
}

/// Every acknowledged command is in the log once (re-sent through any node it is a
/// duplicate at its position), chains verify gap-free, and every node's projections
/// equal an offline rebuild.
async fn assert_converged(nodes: Vec<Node>, acked: &[Acked], store: &str) {
    for organization in ORGANIZATIONS {
        assert!(
            acked.iter().any(|a| a.organization == organization),
            "the load acknowledged nothing in {organization}"
        );
    }
    for (n, one) in acked.iter().enumerate() {
        assert_kept(&nodes[n % nodes.len()].process, one, "after the rounds").await;
    }
    let tails = assert_every_chain_verifies(&nodes[0].process, "after the rounds").await;
    for node in &nodes {
        catch_up(&node.process, &tails).await;
    }
    let store = Some(store.to_owned());
    for node in nodes {
        let dir = node.kill().await;
        for organization in ORGANIZATIONS {
            assert_projections_equal_a_rebuild(dir.path(), organization, &store).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_paused_past_its_lease_commits_nothing_when_it_wakes() {
    let Some(store) = postgres_database().await else {
        return;
    };
    let _alone = ONE_AT_A_TIME.lock().await;
    let (writer, _a) = node(&store).await;
    let (standby, _b) = node(&store).await;
    let admin = writer.admin.clone();
    commands(&writer, &admin)
        .create_customer(new_customer("before the pause"))
        .await
        .unwrap();
    let pid = writer.child.id().to_string();
    let signal = |name: &str| {
        let sent = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    signal("-STOP");
    // Sent to the paused writer: it reads and decides this only after it wakes up.
    let stale = new_customer("decided by the paused writer");
    let mut late = commands(&writer, &admin);
    let late_request = stale.clone();
    let late_call = tokio::spawn(async move { late.create_customer(late_request).await });
    let (taken, took) = until_taken(&standby, &admin, new_customer("after the pause")).await;
    eprintln!("takeover of a paused writer after {took:?}");
    // Forwarded calls to the silent writer give up after the lease's time to live.
    assert!(took < Duration::from_secs(LEASE_SECONDS + 2), "{took:?}");
    signal("-CONT");
    let answer = late_call.await.unwrap();
    assert!(
        answer.is_err(),
        "the woken writer must not commit: {answer:?}"
    );
    // Nothing of the paused writer is in the log: the same command, sent now, is new.
    let fresh = commands(&standby, &admin)
        .create_customer(stale)
        .await
        .unwrap()
        .into_inner();
    assert!(
        !fresh.duplicate,
        "the stale writer's command was not committed"
    );
    assert_eq!(fresh.position, taken.position + 1, "gap-free");
    assert_eq!(verified_tail(&standby).await, fresh.position);
    writer.kill();
    standby.kill();
}
