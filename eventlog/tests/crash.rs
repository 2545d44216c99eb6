//! Crash safety: a child process appends in a loop and prints every
//! acknowledged append; the test SIGKILLs it at random moments and checks,
//! after each kill, that every acknowledged event is present with the payload
//! that was sent, that no command is torn, and that the hash chain verifies.
//!
//! The child is this test binary re-executed with `--exact crash_child_appender`
//! and an environment variable naming the database.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use poolkeeper_eventlog::{
    AppendRequest, EventLogConfig, EventStore, ExpectedVersion, NewEvent, SqliteEventStore,
    StreamAppend, StreamId,
};
use uuid::Uuid;

const CHILD_DB: &str = "POOLKEEPER_EVENTLOG_CRASH_DB";
const CHILD_RUN: &str = "POOLKEEPER_EVENTLOG_CRASH_RUN";
const KILLS: u64 = 24;
const CHILD_TASKS: u64 = 4;

/// A small WAL limit so kills also land during checkpoints, and a small
/// command-index batch so they also land while commands are being indexed.
fn config() -> EventLogConfig {
    EventLogConfig {
        checkpoint_pages: 64,
        index_after: 5,
        ..EventLogConfig::default()
    }
}

/// The child's configuration. In odd runs its tasks pause between appends
/// and the log checkpoints after 1 ms without one, with a WAL preallocated to
/// about 10 MB: kills also land during idle checkpoints, while the dead tail
/// of the WAL is cut and while it is truncated.
fn child_config(run: u64) -> EventLogConfig {
    if run.is_multiple_of(2) {
        return config();
    }
    EventLogConfig {
        checkpoint_pages: 1000,
        idle_checkpoint: Some(Duration::from_millis(1)),
        ..config()
    }
}

/// How long a child task pauses before command `seq` (odd runs only).
fn child_pause(run: u64, task: u64, seq: u64) -> Duration {
    if run.is_multiple_of(2) {
        return Duration::ZERO;
    }
    let mixed = (seq.wrapping_mul(0x9e37_79b9) ^ task.wrapping_mul(0x85eb_ca6b)) % 9;
    Duration::from_micros(mixed * 500)
}

/// The payload of event `part` of command (`run`, `task`, `seq`).
fn payload(run: u64, task: u64, seq: u64, part: usize, parts: usize) -> String {
    format!(
        r#"{{"run":{run},"task":{task},"seq":{seq},"part":{part},"parts":{parts},"pad":"{}"}}"#,
        "p".repeat(64 + (seq % 7) as usize * 50)
    )
}

/// Odd commands touch two streams with two events each; even ones a single event.
fn command(run: u64, task: u64, seq: u64) -> AppendRequest {
    let recorded_at: DateTime<Utc> = std::time::SystemTime::now().into();
    let shape: Vec<(String, usize)> = if seq % 2 == 1 {
        vec![(format!("task-{task}"), 2), ("shared".to_string(), 2)]
    } else {
        vec![(format!("task-{task}"), 1)]
    };
    let parts: usize = shape.iter().map(|(_, n)| n).sum();
    let mut part = 0;
    let streams = shape
        .into_iter()
        .map(|(stream, n)| StreamAppend {
            stream_id: StreamId::new(stream).unwrap(),
            expected: ExpectedVersion::Any,
            events: (0..n)
                .map(|_| {
                    part += 1;
                    NewEvent {
                        event_id: Uuid::now_v7(),
                        event_type: "crash.tested".into(),
                        schema_version: 1,
                        payload: payload(run, task, seq, part, parts),
                    }
                })
                .collect(),
        })
        .collect();
    AppendRequest {
        command_id: Uuid::now_v7(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        actor: format!("system:crash-{run}"),
        recorded_at,
        streams,
    }
}

/// The child: append forever, printing `ACK first last run task seq` after each acknowledgement.
#[test]
fn crash_child_appender() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return; // Only meaningful when re-executed by `sigkill_never_loses_acknowledged_events`.
    };
    let run: u64 = std::env::var(CHILD_RUN).unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = SqliteEventStore::open(&path, child_config(run)).unwrap();
        let tasks: Vec<_> = (0..CHILD_TASKS)
            .map(|task| {
                let store = store.clone();
                tokio::spawn(async move {
                    for seq in 0.. {
                        let pause = child_pause(run, task, seq);
                        if !pause.is_zero() {
                            tokio::time::sleep(pause).await;
                        }
                        let out = store.append(command(run, task, seq)).await.unwrap();
                        let mut stdout = std::io::stdout().lock();
                        writeln!(
                            stdout,
                            "ACK {} {} {run} {task} {seq}",
                            out.first_position, out.last_position
                        )
                        .unwrap();
                        stdout.flush().unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[derive(Debug, Clone, Copy)]
struct Ack {
    first: u64,
    last: u64,
    run: u64,
    task: u64,
    seq: u64,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut it = line
        .strip_prefix("ACK ")?
        .split(' ')
        .map(|n| n.parse::<u64>());
    let mut next = || it.next()?.ok();
    Some(Ack {
        first: next()?,
        last: next()?,
        run: next()?,
        task: next()?,
        seq: next()?,
    })
}

/// A small deterministic generator (the seed is printed for reproduction).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// Runs one child until a random moment, SIGKILLs it, and returns its acknowledgements.
fn run_and_kill(path: &Path, run: u64, rng: &mut SplitMix) -> Vec<Ack> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "crash_child_appender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, path)
        .env(CHILD_RUN, run.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (acked, acks_seen) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        // Read to EOF: every complete line printed before the kill is an acknowledgement.
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(ack) = parse_ack(&line) {
                acks.push(ack);
                let _ = acked.send(());
            }
        }
        acks
    });
    match rng.next() % 6 {
        // Sometimes kill early, possibly while the child opens or migrates the log.
        0 => std::thread::sleep(Duration::from_millis(rng.between(0, 15))),
        mode => {
            // Readiness: the child has opened the log and committed at least once.
            acks_seen
                .recv_timeout(Duration::from_secs(60))
                .expect("the child acknowledged nothing");
            if mode % 2 == 0 {
                std::thread::sleep(Duration::from_millis(rng.between(5, 60)));
            } else {
                for _ in 0..rng.between(1, 200) {
                    if acks_seen.recv_timeout(Duration::from_secs(60)).is_err() {
                        break;
                    }
                }
            }
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    reader.join().unwrap()
}

async fn check(path: &Path, acks: &HashMap<(u64, u64, u64), Ack>) -> u64 {
    if !path.exists() {
        assert!(acks.is_empty());
        return 0;
    }
    let store = SqliteEventStore::open(path, config()).unwrap();
    let report = store.verify().await.unwrap();
    assert!(report.is_intact(), "chain broken after a kill: {report:?}");
    let events = store.read_all(0, usize::MAX).await.unwrap();
    assert_eq!(events.len() as u64, report.tail);
    // Gapless positions, and no torn command: each command's events are contiguous
    // and complete (`parts` of them, parts numbered 1..=parts).
    let mut by_command: HashMap<Uuid, Vec<(u64, serde_json::Value)>> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.position, i as u64 + 1);
        let v: serde_json::Value = serde_json::from_str(&e.payload).unwrap();
        by_command
            .entry(e.metadata.command_id)
            .or_default()
            .push((e.position, v));
    }
    for parts in by_command.values() {
        let total = parts[0].1["parts"].as_u64().unwrap() as usize;
        assert_eq!(parts.len(), total, "torn command: {parts:?}");
        for (k, (pos, v)) in parts.iter().enumerate() {
            assert_eq!(*pos, parts[0].0 + k as u64, "command not contiguous");
            assert_eq!(v["part"].as_u64().unwrap() as usize, k + 1);
            assert_eq!(v["seq"], parts[0].1["seq"]);
        }
    }
    // Every acknowledged command is there, at its acknowledged positions, byte for byte.
    let max_acked = acks.values().map(|a| a.last).max().unwrap_or(0);
    assert!(
        report.tail >= max_acked,
        "tail {} < acked {max_acked}",
        report.tail
    );
    for a in acks.values() {
        let parts = (a.last - a.first + 1) as usize;
        for (k, pos) in (a.first..=a.last).enumerate() {
            let e = &events[pos as usize - 1];
            assert_eq!(
                e.payload,
                payload(a.run, a.task, a.seq, k + 1, parts),
                "at {pos}"
            );
        }
        // Its command id is still known, with the acknowledged positions.
        let id = events[a.first as usize - 1].metadata.command_id;
        let outcome = store.command_outcome(id).await.unwrap();
        let outcome = outcome.unwrap_or_else(|| panic!("command {id} at {} forgotten", a.first));
        assert_eq!(
            (outcome.first_position, outcome.last_position),
            (a.first, a.last)
        );
    }
    store.close().await.unwrap();
    report.tail
}

#[test]
fn sigkill_never_loses_acknowledged_events() {
    if std::env::var(CHILD_DB).is_ok() {
        return; // We are the child of another instance of this test.
    }
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("crash test seed: {seed} (set CRASH_SEED to replay the kill timings)");
    let mut rng = SplitMix(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let mut acks = HashMap::new();
    let mut tail = 0;
    for run in 0..KILLS {
        let new_acks = run_and_kill(&path, run, &mut rng);
        for a in new_acks {
            acks.insert((a.run, a.task, a.seq), a);
        }
        let new_tail = rt.block_on(check(&path, &acks));
        assert!(new_tail >= tail);
        tail = new_tail;
    }
    println!(
        "{KILLS} kills, {} acknowledged commands, {tail} events, {:?}",
        acks.len(),
        started.elapsed()
    );
}
