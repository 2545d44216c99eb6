//! Tuning and behaviour knobs of a store, [`EventLogConfig`].

use std::time::Duration;

use crate::upcast::Upcasters;

/// The default maximum payload size: 256 KiB.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Configuration of an event store. `EventLogConfig::default()` is the production setting.
#[derive(Debug, Clone)]
pub struct EventLogConfig {
    /// Largest accepted payload in bytes; larger ones fail with
    /// [`PayloadTooLarge`](crate::EventLogError::PayloadTooLarge).
    pub max_payload_bytes: usize,
    /// Upcasters applied on every read.
    pub upcasters: Upcasters,
    /// How many committed batches the live broadcast buffers per subscriber. A
    /// subscriber that falls further behind catches up from the store instead.
    pub subscription_capacity: usize,
    /// Events per page for paged reads: catch-up, `read_all_stream`, export.
    pub page_size: usize,
    /// Idle read connections kept open for reuse.
    pub read_connections: usize,
    /// Upper bound on the events folded into one group-commit transaction
    /// (a single request larger than this still commits whole).
    pub max_group_events: usize,
    /// Append jobs that may wait for the writer before appenders are backpressured.
    pub queue_capacity: usize,
    /// WAL size (in pages) after which the writer checkpoints, once it has
    /// acknowledged the group that crossed it. Larger values checkpoint less
    /// often and copy each hot page once for more commits.
    pub checkpoint_pages: u32,
    /// Once the log is busy (its WAL reached `checkpoint_pages / 8` frames
    /// since it was last empty), extend the WAL file with zeros to
    /// `checkpoint_pages * 1.25` frames (about 41 MB with the defaults), so
    /// commits overwrite allocated space instead of growing the file. A log
    /// that is never busy is never preallocated.
    pub preallocate_wal: bool,
    /// After this long without an append, a housekeeping thread copies the
    /// WAL into the database file and truncates it to zero bytes (and the
    /// next busy period preallocates it again). Appends never wait for the
    /// copy. `None` keeps the WAL until the store closes.
    pub idle_checkpoint: Option<Duration>,
    /// Recently committed events are indexed (by command id and by stream) in
    /// memory, and moved to the index tables in sorted batches once this many
    /// accumulate: indexing each event as it commits would dirty a random
    /// index page per event and stream. Bounds the memory and the events
    /// re-read on open.
    pub index_after: usize,
}

impl Default for EventLogConfig {
    fn default() -> Self {
        Self {
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            upcasters: Upcasters::new(),
            subscription_capacity: 256,
            page_size: 2048,
            read_connections: 4,
            max_group_events: 16 * 1024,
            queue_capacity: 4096,
            checkpoint_pages: 4000,
            preallocate_wal: true,
            idle_checkpoint: Some(Duration::from_secs(5)),
            index_after: 16 * 1024,
        }
    }
}
