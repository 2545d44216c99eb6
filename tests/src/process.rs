//! The real `poolkeeper` program as a child process on a loopback port: started on a
//! data directory, connected to, stopped with SIGTERM or killed.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use poolkeeper_grpc::client::{self, Credentials};
use tonic::transport::Channel;

/// The token of [`cluster_config`], for processes started with it.
pub const CONFIGURED_TOKEN: &str = "cluster-token";

/// Writes a configuration for nodes on one database: `store`, one token for every scope
/// and organization ([`CONFIGURED_TOKEN`]), leases of `lease_seconds`, the master key
/// file this test process shares ([`crate::shared_master_key_file`]); its path.
pub fn cluster_config(dir: &Path, store: &str, lease_seconds: u64) -> std::path::PathBuf {
    let path = dir.join("cluster.toml");
    let master_key = crate::shared_master_key_file();
    let toml = format!(
        "store = \"{store}\"\nlease_seconds = {lease_seconds}\nmaster_key_file = {master_key:?}\n\n\
         [[tokens]]\nname = \"cluster\"\n\
         token = \"{CONFIGURED_TOKEN}\"\n\
         scopes = [\"command\", \"query\", \"audit\", \"admin\", \"platform\"]\n\
         organizations = [\"*\"]\n"
    );
    std::fs::write(&path, toml).expect("the configuration is written");
    path
}

/// A running `poolkeeper serve` process.
pub struct ServerProcess {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:{port}`.
    pub endpoint: String,
    /// A connected channel.
    pub channel: Channel,
    /// The development token (every scope, every organization).
    pub token: String,
    /// Its credentials.
    pub credentials: Credentials,
    /// The default organization's first admin, `users/{uuid}`.
    pub admin: String,
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts `exe serve` (the test's `CARGO_BIN_EXE_poolkeeper-under-test`) on `dir` with a
/// manual clock, and waits until it answers.
pub async fn spawn(exe: &str, dir: &Path) -> ServerProcess {
    spawn_with(exe, dir, &[]).await
}

/// [`spawn`] with more `serve` arguments (e.g. `--store postgres://…`).
pub async fn spawn_with(exe: &str, dir: &Path, extra: &[String]) -> ServerProcess {
    let port = free_port();
    let child = Command::new(exe)
        .args([
            "serve",
            "--manual-clock",
            "2026-01-01T09:00:00Z",
            "--listen",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .args(shared_master_key(extra))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts");
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    // `serve` writes its bootstrap record and (without configured tokens) its development
    // token before it listens. Wait for those first: a connection made earlier can reach
    // something else than this server (a port `free_port` let go of can be taken, and a
    // connection to a port nobody listens on yet can connect to itself).
    let configured = extra.iter().any(|arg| arg == "--config");
    let (bootstrap, token) = loop {
        let bootstrap = std::fs::read(dir.join("bootstrap.json"))
            .ok()
            .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok());
        let token = match std::fs::read_to_string(dir.join("dev-token")) {
            Ok(token) if !token.trim().is_empty() => Some(token.trim().to_owned()),
            _ if configured => Some(CONFIGURED_TOKEN.to_owned()),
            _ => None,
        };
        match (bootstrap, token) {
            (Some(bootstrap), Some(token)) => break (bootstrap, token),
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
            _ => panic!("the server never wrote its bootstrap record and token"),
        }
    };
    let channel = loop {
        match client::connect(&endpoint).await {
            Ok(channel) => break channel,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(error) => panic!("the server never listened: {error}"),
        }
    };
    ServerProcess {
        child,
        endpoint,
        channel,
        credentials: Credentials::new(&token).expect("ascii token"),
        token,
        admin: bootstrap["admin_user"].as_str().unwrap().to_owned(),
    }
}

impl Drop for ServerProcess {
    /// A test that fails midway leaves no server behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl ServerProcess {
    /// Kills it with SIGKILL and reaps it.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub fn terminate(mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the server did not stop within 60 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `--master-key-file` with this process's shared key for a server on PostgreSQL (whose
/// nodes must share one), unless `extra` names a key file already.
fn shared_master_key(extra: &[String]) -> Vec<std::ffi::OsString> {
    let on_postgres = extra.iter().any(|arg| arg == "--store");
    let named = extra.iter().any(|arg| arg == "--master-key-file");
    if !on_postgres || named {
        return Vec::new();
    }
    vec![
        "--master-key-file".into(),
        crate::shared_master_key_file().into_os_string(),
    ]
}
