//! File hygiene of the log's WAL: closing leaves no WAL behind, an idle log
//! truncates its WAL (without holding up appends), and the WAL is preallocated
//! only once the log is busy.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::one;
use futures::StreamExt;
use poolkeeper_eventlog::{
    EventLogConfig, EventStore, ExpectedVersion, RecordedEvent, SqliteEventStore,
};

/// `<db>-wal`.
fn wal_of(db: &Path) -> PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// The WAL's size in bytes; 0 when it does not exist.
fn wal_len(db: &Path) -> u64 {
    std::fs::metadata(wal_of(db)).map_or(0, |m| m.len())
}

/// Polls `done` every few milliseconds until it holds; fails after `within`.
async fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The payload `one(_, _, n)` writes.
fn payload(n: u64) -> String {
    format!("{{\"n\":{n}}}")
}

/// Every event, checked against the payloads appended to stream `s` in order.
async fn assert_all_there(store: &SqliteEventStore, count: u64) {
    let all: Vec<RecordedEvent> = store.read_all(1, usize::MAX).await.unwrap();
    assert_eq!(all.len() as u64, count);
    for (n, event) in all.iter().enumerate() {
        assert_eq!(event.position, n as u64 + 1);
        assert_eq!(event.payload, payload(n as u64));
    }
    let stream = store
        .read_stream(&common::sid("s"), 1, usize::MAX)
        .await
        .unwrap();
    assert_eq!(stream.len() as u64, count);
    let report = store.verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.tail, count);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_leaves_no_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let store = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap();
    let mut live = store.subscribe(1);
    for n in 0..200 {
        store
            .append(one("s", ExpectedVersion::Any, n))
            .await
            .unwrap();
    }
    // Readers of every kind have pooled connections open.
    assert_eq!(store.read_all(1, 1000).await.unwrap().len(), 200);
    assert!(store.verify().await.unwrap().is_intact());
    assert_eq!(live.next().await.unwrap().unwrap().position, 1);
    // A clone that outlives the close does not keep the WAL either.
    let clone = store.clone();
    store.close().await.unwrap();
    assert_eq!(wal_len(&path), 0, "the WAL is left after close()");
    drop((clone, live));
    assert_eq!(wal_len(&path), 0);

    let store = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap();
    assert_eq!(store.tail().await.unwrap(), 200);
    assert!(store.verify().await.unwrap().is_intact());
    // Dropping the last clone closes like close() does.
    drop(store);
    assert_eq!(wal_len(&path), 0, "the WAL is left after the last drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_log_is_small_until_it_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let config = EventLogConfig {
        idle_checkpoint: Some(Duration::from_millis(500)),
        ..EventLogConfig::default()
    };
    let store = SqliteEventStore::open(&path, config).unwrap();
    for n in 0..20 {
        store
            .append(one("s", ExpectedVersion::Any, n))
            .await
            .unwrap();
    }
    let db = std::fs::metadata(&path).unwrap().len();
    assert!(db < 256 << 10, "events.db is {db} bytes");
    assert!(
        wal_len(&path) < 1 << 20,
        "a quiet log's WAL is {} bytes",
        wal_len(&path)
    );

    // A busy log (500 WAL frames without a pause) is preallocated to 1.25 x
    // checkpoint_pages frames, a slice after each group.
    let preallocated = 32 + 5000 * (24 + 8192);
    let mut n = 20;
    while wal_len(&path) < preallocated && n < 5000 {
        store
            .append(one("s", ExpectedVersion::Any, n))
            .await
            .unwrap();
        n += 1;
    }
    assert!(
        wal_len(&path) >= preallocated,
        "not preallocated after {n} appends"
    );
    assert!(n > 200, "preallocated after only {n} appends");
    // Idle: the 41 MB are cut (the zeros past the last frame a slice at a
    // time, then the frames) and the log goes on.
    wait_until("the idle WAL truncation", Duration::from_secs(20), || {
        wal_len(&path) == 0 && store.writer_stats().wal_truncations >= 1
    })
    .await;
    assert_all_there(&store, n).await;
    store
        .append(one("s", ExpectedVersion::Exact(n), n))
        .await
        .unwrap();
    assert!(wal_len(&path) < 1 << 20);
    assert_all_there(&store, n + 1).await;
    store.close().await.unwrap();
    assert_eq!(wal_len(&path), 0);
}

/// A small WAL (preallocated to 125 frames, about 1 MB) and a short idle time.
fn idle_config(idle: Duration) -> EventLogConfig {
    EventLogConfig {
        checkpoint_pages: 100,
        idle_checkpoint: Some(idle),
        ..EventLogConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_log_truncates_its_wal_and_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let store = SqliteEventStore::open(&path, idle_config(Duration::from_millis(100))).unwrap();
    let preallocated = 32 + 125 * (24 + 8192);
    let mut n = 0;
    for round in 1..=3 {
        // Busy: the WAL is preallocated.
        for _ in 0..150 {
            store
                .append(one("s", ExpectedVersion::Exact(n), n))
                .await
                .unwrap();
            n += 1;
        }
        assert!(
            wal_len(&path) >= preallocated,
            "round {round}: not preallocated"
        );
        // Idle: truncated, while the store stays open.
        wait_until("the idle WAL truncation", Duration::from_secs(20), || {
            wal_len(&path) == 0 && store.writer_stats().wal_truncations == round
        })
        .await;
        assert_all_there(&store, n).await;
        assert_eq!(
            store.stream_version(&common::sid("s")).await.unwrap(),
            Some(n)
        );
    }
    store.close().await.unwrap();
    let store = SqliteEventStore::open(&path, idle_config(Duration::from_millis(100))).unwrap();
    assert_all_there(&store, n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_in_the_wal_delays_the_idle_truncation_but_no_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let store = SqliteEventStore::open(&path, idle_config(Duration::from_millis(20))).unwrap();
    for n in 0..50 {
        store
            .append(one("s", ExpectedVersion::Any, n))
            .await
            .unwrap();
    }
    // A reader keeps a snapshot that uses the WAL.
    let reader = rusqlite::Connection::open(&path).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let seen: i64 = reader
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(seen, 50);
    // Many idle periods pass: the truncation keeps giving up, never waiting
    // with the writer's lock held, so appends in between stay quick.
    let mut slowest = Duration::ZERO;
    for n in 50..60 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let started = Instant::now();
        store
            .append(one("s", ExpectedVersion::Any, n))
            .await
            .unwrap();
        slowest = slowest.max(started.elapsed());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(wal_len(&path) > 0, "truncated under a reader's snapshot");
    assert_eq!(store.writer_stats().wal_truncations, 0);
    assert!(
        slowest < Duration::from_secs(2),
        "an append waited {slowest:?} beside the idle checkpoint"
    );
    // Once the reader is done, the next idle period truncates.
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    wait_until("the idle WAL truncation", Duration::from_secs(20), || {
        wal_len(&path) == 0
    })
    .await;
    assert_all_there(&store, 60).await;
    store.close().await.unwrap();
}

/// Idle truncations land between appends that pause for about the idle time,
/// beside the writer's own checkpoints, readers and a live subscriber: nothing
/// is lost, nothing is torn, the chain verifies. `burst` appends first, with
/// no pause, to get the WAL preallocated. With `truncated_between`, at least
/// one truncation completes between the appends (a preallocated WAL takes
/// several cuts, which the appends may keep interrupting until they stop).
async fn interleave(checkpoint_pages: u32, burst: u64, truncated_between: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let config = EventLogConfig {
        checkpoint_pages,
        idle_checkpoint: Some(Duration::from_millis(2)),
        ..EventLogConfig::default()
    };
    let store = SqliteEventStore::open(&path, config.clone()).unwrap();
    let mut live = store.subscribe(1);
    for n in 0..burst {
        store
            .append(one("s", ExpectedVersion::Exact(n), n))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for task in 0..3u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let stream = format!("t{task}");
            let mut rng = 0x9e37_79b9_7f4a_7c15_u64 ^ (task + 1);
            for version in 0..120u64 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                tokio::time::sleep(Duration::from_micros(rng % 6000)).await;
                store
                    .append(one(&stream, ExpectedVersion::Exact(version), version))
                    .await
                    .unwrap();
                if version % 20 == 0 {
                    assert!(store.verify().await.unwrap().is_intact());
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let during = store.writer_stats().wal_truncations;
    assert!(
        during >= 1 || !truncated_between,
        "no idle truncation between the appends"
    );
    let total = burst + 360;
    for position in 1..=total {
        let event = tokio::time::timeout(Duration::from_secs(30), live.next())
            .await
            .expect("the subscriber stalled")
            .unwrap()
            .unwrap();
        assert_eq!(event.position, position);
    }
    wait_until("the idle WAL truncation", Duration::from_secs(20), || {
        wal_len(&path) == 0
    })
    .await;
    let report = store.verify().await.unwrap();
    assert!(report.is_intact() && report.tail == total, "{report:?}");
    let streams = std::iter::once(("s".to_owned(), burst))
        .chain((0..3).map(|task| (format!("t{task}"), 120)));
    for (stream, count) in streams {
        let events = store
            .read_stream(&common::sid(&stream), 1, usize::MAX)
            .await
            .unwrap();
        let payloads: Vec<_> = events.iter().map(|e| e.payload.clone()).collect();
        assert_eq!(payloads, (0..count).map(payload).collect::<Vec<_>>());
    }
    store.close().await.unwrap();
    assert_eq!(wal_len(&path), 0);
    let store = SqliteEventStore::open(&path, config).unwrap();
    assert_eq!(store.tail().await.unwrap(), total);
    assert!(store.verify().await.unwrap().is_intact());
}

/// With a 16-page WAL limit the writer checkpoints every few appends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_truncations_interleave_with_appends_and_checkpoints() {
    interleave(16, 0, true).await;
}

/// After a burst the WAL is preallocated to 41 MB: the idle checkpoint cuts it
/// a slice at a time, and appends interrupt it between slices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_truncations_of_a_preallocated_wal_interleave_with_appends() {
    interleave(4000, 300, false).await;
}

/// Two stores on one file are not supported, but must fail safely: the first
/// one, idle itself with a 41 MB preallocated WAL, keeps trying its idle
/// checkpoint while the second appends large events (their frames sweep the
/// whole file), and never cuts the second one's frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_checkpoint_leaves_another_writers_frames_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let first = SqliteEventStore::open(
        &path,
        EventLogConfig {
            idle_checkpoint: Some(Duration::from_millis(1)),
            ..EventLogConfig::default()
        },
    )
    .unwrap();
    let mut n = 0;
    while wal_len(&path) < 32 + 5000 * (24 + 8192) {
        first
            .append(one("s", ExpectedVersion::Exact(n), n))
            .await
            .unwrap();
        n += 1;
    }
    let second = SqliteEventStore::open(
        &path,
        EventLogConfig {
            idle_checkpoint: None,
            preallocate_wal: false,
            ..EventLogConfig::default()
        },
    )
    .unwrap();
    let large = |k: u64| format!("{{\"k\":{k},\"pad\":\"{}\"}}", "x".repeat(60_000));
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let batch = 60;
    for b in 0..12 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        tokio::time::sleep(Duration::from_micros(rng % 3000)).await;
        let events = (0..batch)
            .map(|i| common::event("test.large", &large(b * batch + i)))
            .collect();
        second
            .append(common::request(
                "l",
                ExpectedVersion::Exact(b * batch),
                events,
            ))
            .await
            .unwrap();
    }
    let total = n + 12 * batch;
    let report = second.verify().await.unwrap();
    assert!(report.is_intact() && report.tail == total, "{report:?}");
    second.close().await.unwrap();
    for store in [
        first,
        SqliteEventStore::open(&path, EventLogConfig::default()).unwrap(),
    ] {
        let report = store.verify().await.unwrap();
        assert!(report.is_intact() && report.tail == total, "{report:?}");
        let all = store.read_all(1, usize::MAX).await.unwrap();
        let (small, big) = all.split_at(n as usize);
        assert!(small.iter().zip(0..).all(|(e, k)| e.payload == payload(k)));
        assert!(big.iter().zip(0..).all(|(e, k)| e.payload == large(k)));
        store.close().await.unwrap();
    }
}

/// Appends `request`, retrying while another store on the same file makes it
/// fail (its tail moved: "a second writer fails safely, its appends error").
async fn append_retrying(store: &SqliteEventStore, request: poolkeeper_eventlog::AppendRequest) {
    for _ in 0..100 {
        match store.append(request.clone()).await {
            Ok(_) => return,
            Err(poolkeeper_eventlog::EventLogError::Storage(_)) => {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(error) => panic!("{error}"),
        }
    }
    panic!("the append kept failing");
}

/// The same for preallocation: the first store preallocates its WAL (a busy
/// log) while a second one commits large batches; its zeros never land on
/// the second one's frames. (Without the write lock around the zeros the race
/// window is narrow and this test rarely hits it; it exercises the locking
/// with two writers contending.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preallocation_leaves_another_writers_frames_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let first = SqliteEventStore::open(
        &path,
        EventLogConfig {
            idle_checkpoint: None,
            ..EventLogConfig::default()
        },
    )
    .unwrap();
    let second = SqliteEventStore::open(
        &path,
        EventLogConfig {
            idle_checkpoint: None,
            preallocate_wal: false,
            ..EventLogConfig::default()
        },
    )
    .unwrap();
    let small = {
        let first = first.clone();
        tokio::spawn(async move {
            for n in 0..1500 {
                append_retrying(&first, one("s", ExpectedVersion::Exact(n), n)).await;
            }
        })
    };
    let large = |k: u64| format!("{{\"k\":{k},\"pad\":\"{}\"}}", "x".repeat(60_000));
    let batch = 60;
    for b in 0..12 {
        let events = (0..batch)
            .map(|i| common::event("test.large", &large(b * batch + i)))
            .collect();
        let request = common::request("l", ExpectedVersion::Exact(b * batch), events);
        append_retrying(&second, request).await;
    }
    small.await.unwrap();
    let total = 1500 + 12 * batch;
    second.close().await.unwrap();
    first.close().await.unwrap();
    let store = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap();
    let report = store.verify().await.unwrap();
    assert!(report.is_intact() && report.tail == total, "{report:?}");
    let all = store.read_all(1, usize::MAX).await.unwrap();
    let smalls: Vec<_> = all.iter().filter(|e| e.stream_id.as_str() == "s").collect();
    let larges: Vec<_> = all.iter().filter(|e| e.stream_id.as_str() == "l").collect();
    assert!(smalls.iter().zip(0..).all(|(e, k)| e.payload == payload(k)));
    assert!(larges.iter().zip(0..).all(|(e, k)| e.payload == large(k)));
}
