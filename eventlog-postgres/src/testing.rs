//! Throwaway PostgreSQL clusters for tests and benchmarks (feature `testing`).
//!
//! [`TestCluster::start`] runs `initdb` and `pg_ctl` (found under
//! `/usr/lib/postgresql/*/bin`) on a free 127.0.0.1 port in a temporary
//! directory; as root both run as the `postgres` user through `runuser`
//! (they refuse root). The machine's own PostgreSQL service is never used.
//! Dropping the cluster stops it and deletes the directory; [`crash`]
//! (`pg_ctl -m immediate stop`) simulates a crash and [`restart`] brings it
//! back. A watchdog process stops the cluster and deletes its directory
//! when the test process exits without dropping it (a static, a panic that
//! aborts, a kill).
//!
//! [`crash`]: TestCluster::crash
//! [`restart`]: TestCluster::restart

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// A running throwaway cluster, stopped and deleted on drop.
#[derive(Debug)]
pub struct TestCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    watchdog: Mutex<Option<Child>>,
}

impl TestCluster {
    /// Initializes and starts a new cluster (about a second).
    pub fn start() -> io::Result<Self> {
        let bin = server_bin()?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("poolkeeper-pg-")
            .tempdir()?;
        if as_postgres {
            run(Command::new("chown").arg("postgres").arg(dir.path()))?;
        }
        let cluster = Self {
            dir,
            bin,
            port: 0,
            as_postgres,
            watchdog: Mutex::new(None),
        };
        cluster.initdb()?;
        cluster.start_on_free_port()
    }

    /// The one cluster of this test process, started on first use. Statics are
    /// never dropped: the watchdog stops it when the process exits.
    pub fn shared() -> &'static TestCluster {
        static SHARED: OnceLock<TestCluster> = OnceLock::new();
        SHARED.get_or_init(|| TestCluster::start().expect("starting a throwaway PostgreSQL"))
    }

    /// A connection URL for the `postgres` database as the `postgres` user.
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server like a crash (`pg_ctl -m immediate stop`): no
    /// checkpoint, recovery replays the WAL on [`restart`](Self::restart).
    pub fn crash(&self) -> io::Result<()> {
        self.pg_ctl(&["-m", "immediate", "stop"])
    }

    /// Starts the server again on the same port after [`crash`](Self::crash).
    pub fn restart(&self) -> io::Result<()> {
        self.pg_ctl(&[
            "-o",
            &self.server_options(),
            "-l",
            &self.log(),
            "-w",
            "start",
        ])
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn log(&self) -> String {
        self.dir.path().join("log").display().to_string()
    }

    fn server_options(&self) -> String {
        format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300",
            self.port,
            self.dir.path().display()
        )
    }

    fn initdb(&self) -> io::Result<()> {
        let initdb = self.bin.join("initdb").display().to_string();
        let data = self.data();
        run(&mut self.command(&[&initdb, "-D", &data, "-A", "trust", "-U", "postgres"]))
    }

    /// Starts on a free port, trying another if one was taken meanwhile.
    fn start_on_free_port(mut self) -> io::Result<Self> {
        let mut last = None;
        for _ in 0..5 {
            self.port = free_port()?;
            match self.restart() {
                Ok(()) => {
                    self.spawn_watchdog()?;
                    return Ok(self);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free port")))
    }

    fn pg_ctl(&self, args: &[&str]) -> io::Result<()> {
        let pg_ctl = self.bin.join("pg_ctl").display().to_string();
        let data = self.data();
        let mut all = vec![pg_ctl.as_str(), "-D", data.as_str()];
        all.extend_from_slice(args);
        run(&mut self.command(&all))
    }

    /// `args` as the `postgres` user when running as root.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).args(args);
            c
        } else {
            let mut c = Command::new(args[0]);
            c.args(&args[1..]);
            c
        };
        command.stdin(Stdio::null()).current_dir(self.dir.path());
        command
    }

    /// A shell that waits for this process to exit, then stops the cluster
    /// and deletes its directory.
    fn spawn_watchdog(&self) -> io::Result<()> {
        let stop = self.command(&[
            &self.bin.join("pg_ctl").display().to_string(),
            "-D",
            &self.data(),
            "-m",
            "immediate",
            "stop",
        ]);
        let stop: Vec<String> = std::iter::once(stop.get_program())
            .chain(stop.get_args())
            .map(|a| format!("'{}'", a.to_string_lossy()))
            .collect();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            stop = stop.join(" "),
            dir = self.dir.path().display(),
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        *self.watchdog.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        Ok(())
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self
            .watchdog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        let _ = self.pg_ctl(&["-m", "fast", "stop"]);
    }
}

/// Runs a command, turning a failure into an error carrying its output.
fn run(command: &mut Command) -> io::Result<()> {
    let output = command.output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{:?} failed: {}{}",
        command,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )))
}

/// The newest `/usr/lib/postgresql/*/bin` holding `initdb`.
fn server_bin() -> io::Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| io::Error::other("no initdb under /usr/lib/postgresql/*/bin"))
}

/// Whether this process runs as root (the owner of `/proc/self`).
fn is_root() -> bool {
    Path::new("/proc/self")
        .metadata()
        .is_ok_and(|m| m.uid() == 0)
}

/// A port free on 127.0.0.1 right now.
fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Why PostgreSQL tests cannot run on this machine, if they cannot: its server binaries
/// are missing and `CI` is not `true` (in CI they must run, so there they fail instead).
/// A test that gets a reason prints it loudly and returns.
pub fn skip_reason() -> Option<String> {
    if server_bin().is_ok() || std::env::var("CI").is_ok_and(|ci| ci == "true") {
        return None;
    }
    Some(
        "SKIPPING a PostgreSQL test: no initdb under /usr/lib/postgresql/*/bin \
         (install Debian's `postgresql`; with CI=true these tests run and fail instead)"
            .to_owned(),
    )
}
