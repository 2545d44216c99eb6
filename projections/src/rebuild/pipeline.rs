//! The bulk pipeline shared by the offline, online and as-of rebuilds.
//!
//! It reads the log in large pages (this task), decodes each event once (one thread),
//! and hands the same `Arc<[LoggedEvent]>` batches to one thread per projection; each
//! applies them with the same fold as live application into a fresh file written without
//! journal or fsync, commits every [`BuildConfig::commit_events`] events, and creates its
//! query indexes as soon as it has loaded. The file is fsynced before it is renamed into
//! place (by the caller).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use poolkeeper_codec::{self as codec, LoggedEvent};
use poolkeeper_eventlog::{EventStore, Position, RecordedEvent};

use super::{Bound, BuildConfig, RebuildPhase, RebuildProgress};
use crate::config::ProjectionsConfig;
use crate::error::ProjectionError;
use crate::name::ProjectionName;
use crate::projector::{ApplyError, WriteSide};

/// Builds fresh files for `targets` up to `bound`; returns each checkpoint.
pub(super) async fn build_files(
    store: &Arc<dyn EventStore>,
    targets: &[(ProjectionName, PathBuf)],
    bound: Bound,
    config: &ProjectionsConfig,
    progress: &mut (dyn FnMut(&RebuildProgress) + Send),
) -> Result<Vec<(ProjectionName, Position)>, ProjectionError> {
    let names: Vec<ProjectionName> = targets.iter().map(|(name, _)| *name).collect();
    let targets = targets.to_vec();
    let sides = tokio::task::spawn_blocking(move || {
        targets
            .iter()
            .map(|(name, path)| WriteSide::create_bulk(*name, path))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|_| ProjectionError::Closed)??;
    let started = Instant::now();
    let mut report = RebuildProgress::new(names);
    let mut on_page = |done: u64, total: u64| {
        report.update(started, done, total);
        progress(&report);
    };
    let sides = bulk_apply(store, sides, bound, config.build(), true, &mut on_page).await?;
    report.phase = RebuildPhase::Indexing;
    progress(&report);
    let mut finishing = Vec::new();
    for side in sides {
        let name = side.name();
        finishing.push((
            name,
            tokio::task::spawn_blocking(move || side.finish_bulk()),
        ));
    }
    let mut built = Vec::new();
    for (name, task) in finishing {
        built.push((name, task.await.map_err(|_| ProjectionError::Closed)??));
    }
    report.phase = RebuildPhase::Done;
    report.elapsed = started.elapsed();
    progress(&report);
    Ok(built)
}

/// Applies events after the sides' checkpoint up to `bound`, one thread per side, and
/// returns the sides (committed, and indexed when `index` is set: each side indexes as
/// soon as it has loaded, while slower ones still load). `progress(done, total)` is
/// called after each page.
pub(super) async fn bulk_apply(
    store: &Arc<dyn EventStore>,
    sides: Vec<WriteSide>,
    bound: Bound,
    config: BuildConfig,
    index: bool,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<Vec<WriteSide>, ProjectionError> {
    let from = sides.iter().map(|s| s.checkpoint).min().unwrap_or(0) + 1;
    let tail = store.tail().await?;
    let total_of = |tail: Position| {
        match bound {
            Bound::Position(p) => p.min(tail),
            _ => tail,
        }
        .saturating_sub(from - 1)
    };
    let mut total = total_of(tail);

    // One thread per projection.
    let mut senders: Vec<SyncSender<Arc<[LoggedEvent]>>> = Vec::new();
    let mut workers = Vec::new();
    for side in sides {
        let (sender, receiver) = sync_channel::<Arc<[LoggedEvent]>>(4);
        senders.push(sender);
        let name = side.name();
        let worker = std::thread::Builder::new()
            .name(format!("rebuild-{name}"))
            .spawn(move || apply_worker(side, receiver, config.commit_events, index))?;
        workers.push(worker);
    }

    // One decoding thread.
    let stop = Arc::new(AtomicBool::new(false));
    let (pages, page_receiver) = tokio::sync::mpsc::channel::<Vec<RecordedEvent>>(4);
    let decoder = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("rebuild-decode".into())
            .spawn(move || decode_worker(page_receiver, senders, bound, &stop))?
    };

    // The reader: this task.
    let mut next = from;
    let mut done = 0u64;
    let mut read_error = None;
    loop {
        if stop.load(Ordering::Acquire) {
            break;
        }
        if let Bound::Position(p) = bound
            && next > p
        {
            break;
        }
        let mut page = match store.read_all(next, config.page_size).await {
            Ok(page) => page,
            Err(error) => {
                read_error = Some(ProjectionError::from(error));
                break;
            }
        };
        let full = page.len() >= config.page_size;
        if let Bound::Position(p) = bound {
            page.retain(|e| e.position <= p);
        }
        let Some(last) = page.last().map(|e| e.position) else {
            break;
        };
        done += page.len() as u64;
        next = last + 1;
        if last > total + from - 1 {
            total = total_of(last);
        }
        progress(done, total);
        if pages.send(page).await.is_err() || !full {
            // A short page: the tail is reached.
            break;
        }
    }
    drop(pages);
    let decoded = tokio::task::spawn_blocking(move || decoder.join())
        .await
        .map_err(|_| ProjectionError::Closed)?
        .map_err(|_| ProjectionError::Closed)?;
    let mut sides = Vec::new();
    let mut failure = read_error;
    for worker in workers {
        let result = tokio::task::spawn_blocking(move || worker.join())
            .await
            .map_err(|_| ProjectionError::Closed)?
            .map_err(|_| ProjectionError::Closed)?;
        match result {
            Ok(side) => sides.push(side),
            Err(error) => failure = failure.or(Some(error)),
        }
    }
    if let Err(error) = decoded {
        failure = failure.or(Some(error));
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(sides),
    }
}

fn decode_worker(
    mut pages: tokio::sync::mpsc::Receiver<Vec<RecordedEvent>>,
    senders: Vec<SyncSender<Arc<[LoggedEvent]>>>,
    bound: Bound,
    stop: &AtomicBool,
) -> Result<(), ProjectionError> {
    let started = Instant::now();
    let mut waiting = Duration::ZERO;
    loop {
        let wait = Instant::now();
        let Some(page) = pages.blocking_recv() else {
            break;
        };
        waiting += wait.elapsed();
        let mut batch = Vec::with_capacity(page.len());
        for recorded in &page {
            let event = codec::decode_logged(recorded).inspect_err(|_| {
                stop.store(true, Ordering::Release);
            })?;
            if let Bound::Instant(until) = bound
                && event.event.at > until
            {
                stop.store(true, Ordering::Release);
                break;
            }
            batch.push(event);
        }
        let batch: Arc<[LoggedEvent]> = batch.into();
        if !batch.is_empty() {
            for sender in &senders {
                if sender.send(Arc::clone(&batch)).is_err() {
                    stop.store(true, Ordering::Release);
                }
            }
        }
        if stop.load(Ordering::Acquire) {
            break;
        }
    }
    tracing::debug!(elapsed = ?started.elapsed(), ?waiting, cpu = thread_cpu(), "decoding finished");
    Ok(())
}

fn apply_worker(
    mut side: WriteSide,
    batches: Receiver<Arc<[LoggedEvent]>>,
    commit_events: usize,
    index: bool,
) -> Result<WriteSide, ProjectionError> {
    let name = side.name();
    let failed = |error: ApplyError| match error {
        ApplyError::Gap { expected, found } => ProjectionError::Halted {
            projection: name,
            position: expected,
            reason: format!("the log skips from {} to {found}", expected - 1),
        },
        ApplyError::Storage(error) => ProjectionError::from(error),
    };
    let mut since_commit = 0usize;
    let started = Instant::now();
    let mut waiting = Duration::ZERO;
    loop {
        let wait = Instant::now();
        let Ok(batch) = batches.recv() else { break };
        waiting += wait.elapsed();
        side.begin().map_err(failed)?;
        side.apply(&batch).map_err(failed)?;
        since_commit += batch.len();
        if since_commit >= commit_events {
            side.commit()?;
            since_commit = 0;
        }
    }
    side.commit()?;
    let loaded = started.elapsed();
    let cpu_loaded = thread_cpu();
    if index {
        side.create_indexes()?;
    }
    tracing::debug!(
        projection = %name,
        ?loaded,
        ?waiting,
        cpu_loaded,
        indexed = ?started.elapsed(),
        cpu = thread_cpu(),
        "bulk load finished"
    );
    Ok(side)
}

/// The calling thread's CPU seconds (Linux; 0 elsewhere), for the debug log.
fn thread_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
