//! The SQLite backend: [`SqliteEventStore`].
//!
//! One writer owns the write connection and group-commits appends (`writer`;
//! its thread serves the queue, a lone appender commits on its own thread);
//! the command and stream indexes are filled lazily (`index`); reads use a small pool of read-only connections run through
//! `spawn_blocking` (`reader`); subscriptions combine store reads with the
//! writer's broadcast of committed batches (`subscription`). A housekeeping
//! thread checkpoints and truncates the WAL once the log is idle (`idle`).
//! The schema and its migrations live in `schema` and `migrations/*.sql`.

mod idle;
mod index;
mod reader;
mod rows;
pub mod schema;
mod subscription;
mod writer;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{broadcast, mpsc, oneshot};
use uuid::Uuid;

use self::idle::{IdleCheckpointer, Maintenance};
use self::index::RecentIndex;
use self::reader::ReadSide;
pub use self::writer::WriterStats;
use self::writer::{CommittedBatch, Job, JobResults, StatCounters, Writer};
use crate::config::EventLogConfig;
use crate::error::EventLogError;
use crate::export::ExportSummary;
use crate::store::{EventStore, EventStream, Subscription};
use crate::types::{
    AppendOutcome, AppendRequest, Position, RecordedEvent, StreamId, StreamVersion, VerifyReport,
};

/// An [`EventStore`] in one SQLite file (WAL, `synchronous=FULL`).
///
/// Cheap to clone: clones share the writer and the read pool. The writer stops
/// when [`close`](Self::close) is called or the last clone is dropped (after
/// finishing the appends already queued).
#[derive(Clone)]
pub struct SqliteEventStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    max_payload_bytes: usize,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    committed: Mutex<Option<broadcast::Sender<CommittedBatch>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// The writer's state: locked by its thread for each group, or by an
    /// appender that commits on its own thread while the writer is idle.
    /// `None` once the writer thread stopped.
    state: Arc<Mutex<Option<Writer>>>,
    closed: AtomicBool,
    read: Arc<ReadSide>,
    stats: Arc<StatCounters>,
    /// Committed entries the writer has not yet put in the index tables.
    recent: Arc<RecentIndex>,
    /// Set for [`SqliteEventStore::open_temporary`]: files removed on drop.
    temporary: bool,
}

impl std::fmt::Debug for SqliteEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteEventStore")
            .field("path", &self.inner.path)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl SqliteEventStore {
    /// Opens (creating if needed) the log at `path`, applies pending migrations
    /// and starts the writer thread. Fails with
    /// [`SchemaTooNew`](EventLogError::SchemaTooNew) for a file written by a newer build.
    ///
    /// Blocking (file I/O); call it before serving or from `spawn_blocking`.
    /// One process should own a file: a second writer fails safely (its
    /// appends error) but is not supported.
    pub fn open(path: impl AsRef<Path>, config: EventLogConfig) -> Result<Self, EventLogError> {
        Self::open_inner(path.as_ref().to_path_buf(), config, false)
    }

    /// Opens a fresh log in a new file under the system temp directory, removed
    /// when the last clone is dropped. Meant for tests: it never preallocates
    /// the WAL (`preallocate_wal` is ignored).
    pub fn open_temporary(config: EventLogConfig) -> Result<Self, EventLogError> {
        let path = std::env::temp_dir().join(format!("poolkeeper-eventlog-{}.db", Uuid::new_v4()));
        let config = EventLogConfig {
            preallocate_wal: false,
            ..config
        };
        Self::open_inner(path, config, true)
    }

    fn open_inner(
        path: PathBuf,
        config: EventLogConfig,
        temporary: bool,
    ) -> Result<Self, EventLogError> {
        let mut conn = open_write_connection(&path)?;
        schema::migrate(&mut conn)?;

        let (committed, _) = broadcast::channel(config.subscription_capacity.max(1));
        let stats = Arc::new(StatCounters::default());
        let recent = Arc::new(RecentIndex::default());
        let maintenance = Arc::new(Maintenance::new());
        let writer = Writer::new(
            conn,
            &path,
            &config,
            committed.clone(),
            Arc::clone(&stats),
            Arc::clone(&recent),
            Arc::clone(&maintenance),
        )?;
        let (jobs_tx, jobs_rx) = mpsc::channel(config.queue_capacity.max(1));
        let state = Arc::new(Mutex::new(Some(writer)));
        // The writer thread stops the idle checkpoint before it closes.
        let idle = config
            .idle_checkpoint
            .map(|after| IdleCheckpointer::spawn(&path, after, Arc::clone(&state), maintenance))
            .transpose()?;
        let thread_state = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("eventlog-writer".into())
            .spawn(move || Writer::run(thread_state, jobs_rx, idle))?;
        let read = Arc::new(ReadSide::new(
            path.clone(),
            config.read_connections,
            config.upcasters,
            config.page_size,
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                max_payload_bytes: config.max_payload_bytes,
                jobs: Mutex::new(Some(jobs_tx)),
                committed: Mutex::new(Some(committed)),
                writer: Mutex::new(Some(thread)),
                state,
                closed: AtomicBool::new(false),
                read,
                stats,
                recent,
                temporary,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// What the writer has done since this store was opened.
    pub fn writer_stats(&self) -> WriterStats {
        self.inner.stats.snapshot()
    }

    /// Stops accepting appends, lets the writer commit what is already queued,
    /// and waits for it to stop. Later calls return
    /// [`Closed`](EventLogError::Closed); subscriptions deliver everything
    /// committed, then end. Idempotent. Re-raises a panic of the writer thread.
    pub async fn close(&self) -> Result<(), EventLogError> {
        let handle = self.inner.shut_down();
        if let Some(handle) = handle {
            let joined = tokio::task::spawn_blocking(move || handle.join())
                .await
                .map_err(|_| EventLogError::Closed)?;
            if let Err(panic) = joined {
                // A bug in the writer: surface it rather than hide it.
                std::panic::resume_unwind(panic);
            }
        }
        Ok(())
    }

    /// Writes every stored event, in position order, as JSON lines to `out`
    /// (stored payloads, never upcast; see README.md for the format). Reads one
    /// consistent snapshot. Returns `out` with a summary.
    pub async fn export_jsonl<W: Write + Send + 'static>(
        &self,
        mut out: W,
    ) -> Result<(ExportSummary, W), EventLogError> {
        self.check_open()?;
        self.inner
            .read
            .run(move |r, c| {
                let summary = r.export(c, &mut out)?;
                Ok((summary, out))
            })
            .await
    }

    /// Up to `max` events from `from_position` exactly as stored (no upcasting).
    async fn read_stored(
        &self,
        from_position: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.check_open()?;
        self.inner
            .read
            .run(move |r, c| r.read_all_stored(c, from_position, max))
            .await
    }

    fn check_open(&self) -> Result<(), EventLogError> {
        if self.inner.closed.load(Ordering::Acquire) {
            Err(EventLogError::Closed)
        } else {
            Ok(())
        }
    }

    /// Hands validated requests to the writer as one job and waits for the commit.
    ///
    /// When appends come one at a time (nothing queued, the writer idle, its
    /// last group a single job) and the caller runs on a multi-threaded
    /// runtime, the caller commits the job itself (in
    /// `block_in_place`): a lone appender then pays no round trip to the
    /// writer thread (two thread wake-ups, about 30 µs here). Otherwise the
    /// job is queued for the writer thread's next group.
    async fn submit(&self, requests: Vec<AppendRequest>) -> Result<JobResults, EventLogError> {
        let sender = self
            .inner
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(EventLogError::Closed)?;
        let (reply, mut response) = oneshot::channel();
        let job = Job { requests, reply };
        let job = match self.commit_here(&sender, job) {
            Ok(()) => return response.try_recv().map_err(|_| EventLogError::Closed),
            Err(job) => job,
        };
        sender.send(job).await.map_err(|_| EventLogError::Closed)?;
        drop(sender);
        response.await.map_err(|_| EventLogError::Closed)
    }

    /// Commits `job` on the caller's thread if the queue is empty, the writer
    /// idle and its last group a single job (one appender at a time), on a
    /// multi-threaded runtime; gives the job back otherwise. Concurrent
    /// appenders are left to the writer thread, whose groups fold them together.
    fn commit_here(&self, sender: &mpsc::Sender<Job>, job: Job) -> Result<(), Job> {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if !multi_thread || sender.capacity() < sender.max_capacity() {
            return Err(job);
        }
        let Ok(mut state) = self.inner.state.try_lock() else {
            return Err(job);
        };
        let Some(writer) = state.as_mut().filter(|w| w.is_lone()) else {
            return Err(job);
        };
        tokio::task::block_in_place(|| writer.serve_group(job, None));
        Ok(())
    }
}

/// Opens and configures the write connection, refusing a newer schema before
/// anything in the file changes.
fn open_write_connection(path: &Path) -> Result<Connection, EventLogError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    schema::check_version(&conn)?;
    schema::configure_writer(&conn)?;
    Ok(conn)
}

impl Inner {
    /// Drops the appenders' channel and the broadcast handle; returns the writer
    /// thread to join (once).
    fn shut_down(&self) -> Option<JoinHandle<()>> {
        self.closed.store(true, Ordering::Release);
        // Idle readers go first, so that the writer's connection is the last
        // one and closing it removes the WAL.
        self.read.close();
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.committed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.writer.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(handle) = self.shut_down() {
            // The writer finishes the queued jobs and closes its connection.
            let _ = handle.join();
        }
        if self.temporary {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut p = self.path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

#[async_trait]
impl EventStore for SqliteEventStore {
    async fn read_all_stored(
        &self,
        from_position: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.read_stored(from_position, max).await
    }

    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, EventLogError> {
        request.validate(self.inner.max_payload_bytes)?;
        let mut results = self.submit(vec![request]).await?;
        results.pop().unwrap_or(Err(EventLogError::Closed))
    }

    async fn append_batch(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Result<AppendOutcome, EventLogError>>, EventLogError> {
        // Invalid requests fail here; the valid ones share one job (one transaction).
        let mut results: Vec<Option<Result<AppendOutcome, EventLogError>>> =
            Vec::with_capacity(requests.len());
        let mut valid = Vec::with_capacity(requests.len());
        for request in requests {
            match request.validate(self.inner.max_payload_bytes) {
                Ok(()) => {
                    results.push(None);
                    valid.push(request);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let mut committed = if valid.is_empty() {
            Vec::new().into_iter()
        } else {
            self.submit(valid).await?.into_iter()
        };
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| committed.next().unwrap_or(Err(EventLogError::Closed))))
            .collect())
    }

    async fn command_outcome(
        &self,
        command_id: Uuid,
    ) -> Result<Option<AppendOutcome>, EventLogError> {
        self.check_open()?;
        let recent = Arc::clone(&self.inner.recent);
        self.inner
            .read
            .run(move |_, c| {
                index::command_range(&recent, c, &command_id)?
                    .map(|range| rows::outcome_of_range(c, range))
                    .transpose()
            })
            .await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: StreamVersion,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.check_open()?;
        let stream = stream.clone();
        let recent = Arc::clone(&self.inner.recent);
        self.inner
            .read
            .run(move |r, c| r.read_stream(c, &recent, stream.as_str(), from_version, max))
            .await
    }

    async fn read_all(
        &self,
        from_position: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.check_open()?;
        self.inner
            .read
            .run(move |r, c| r.read_all(c, from_position, max))
            .await
    }

    async fn read_by_type(
        &self,
        event_type: &str,
        from_position: Position,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.check_open()?;
        let event_type = event_type.to_owned();
        self.inner
            .read
            .run(move |r, c| r.read_by_type(c, &event_type, from_position, max))
            .await
    }

    async fn tail(&self) -> Result<Position, EventLogError> {
        self.check_open()?;
        self.inner
            .read
            .run(|_, c| rows::tail(c).map(|(p, _)| p))
            .await
    }

    async fn stream_version(
        &self,
        stream: &StreamId,
    ) -> Result<Option<StreamVersion>, EventLogError> {
        self.check_open()?;
        let stream = stream.clone();
        let recent = Arc::clone(&self.inner.recent);
        self.inner
            .read
            .run(move |_, c| index::stream_version(&recent, c, stream.as_str()))
            .await
    }

    fn read_all_stream(&self, from_position: Position) -> EventStream {
        if self.check_open().is_err() {
            return Box::pin(futures::stream::once(async { Err(EventLogError::Closed) }));
        }
        Box::pin(subscription::PagedStream::new(
            Arc::clone(&self.inner.read),
            from_position,
        ))
    }

    fn subscribe(&self, from_position: Position) -> Subscription {
        // Register with the broadcast first: see the `subscription` module docs.
        let rx = self
            .inner
            .committed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(broadcast::Sender::subscribe);
        subscription::subscribe(Arc::clone(&self.inner.read), rx, from_position)
    }

    async fn verify(&self) -> Result<VerifyReport, EventLogError> {
        self.check_open()?;
        self.inner.read.run(|r, c| r.verify(c)).await
    }

    async fn close(&self) -> Result<(), EventLogError> {
        SqliteEventStore::close(self).await
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::types::{ExpectedVersion, NewEvent, StreamAppend};

    fn request(n: u64) -> AppendRequest {
        AppendRequest {
            command_id: Uuid::now_v7(),
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            actor: "user:test".into(),
            recorded_at: chrono::DateTime::from_timestamp_micros(1).unwrap(),
            streams: vec![StreamAppend {
                stream_id: StreamId::new("s").unwrap(),
                expected: ExpectedVersion::Any,
                events: vec![NewEvent {
                    event_id: Uuid::now_v7(),
                    event_type: "t".into(),
                    schema_version: 1,
                    payload: n.to_string(),
                }],
            }],
        }
    }

    /// A group that started before anyone subscribed is announced by positions
    /// only; a live subscriber must read those events from the store.
    #[tokio::test]
    async fn a_positions_only_announcement_is_read_from_the_store() {
        let dir = std::env::temp_dir().join(format!("eventlog-unit-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.db");
        let store = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap();
        for n in 1..=3 {
            store.append(request(n)).await.unwrap();
        }
        let mut sub = store.subscribe(1);
        for n in 1..=3 {
            assert_eq!(sub.next().await.unwrap().unwrap().position, n);
        }
        // Events 4 and 5 are committed without being published (through a
        // second handle), then announced by positions only.
        let other = SqliteEventStore::open(&path, EventLogConfig::default()).unwrap();
        other.append(request(4)).await.unwrap();
        other.append(request(5)).await.unwrap();
        other.close().await.unwrap();
        let sender = store.inner.committed.lock().unwrap().clone().unwrap();
        sender
            .send(Arc::new(writer::Committed {
                first: 4,
                last: 5,
                events: Vec::new(),
            }))
            .unwrap();
        for n in 4..=5 {
            let next = tokio::time::timeout(std::time::Duration::from_secs(30), sub.next());
            let e = next
                .await
                .expect("the announced events never came")
                .unwrap()
                .unwrap();
            assert_eq!(
                (e.position, e.payload.as_str()),
                (n, n.to_string().as_str())
            );
        }
        drop(store);
        drop(sub);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
