//! Live subscriptions and the paged `read_all_stream`.
//!
//! A subscription registers with the writer's broadcast of committed batches
//! *before* it reads anything, then catches up from the store page by page.
//! When a page comes back short it switches to the broadcast, skipping events
//! it already delivered (by position). Every commit after registration is in
//! the broadcast and every commit before it is visible to the catch-up reads,
//! so there is no gap and no duplicate at the switch. (A group that started
//! before anyone subscribed is announced by its positions only; the subscriber
//! reads it from the store.) The broadcast never
//! blocks the writer: a subscriber that lags past its capacity (or sees a
//! position gap) falls back to reading the store from the last position it
//! delivered, then goes live again.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures::Stream;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::reader::ReadSide;
use super::writer::CommittedBatch;
use crate::error::EventLogError;
use crate::store::Subscription;
use crate::types::{Position, RecordedEvent};

/// Builds a subscription from `from` (inclusive) using an already registered receiver
/// (`None` when the store is closed: catch up, then end).
pub(crate) fn subscribe(
    read: Arc<ReadSide>,
    rx: Option<broadcast::Receiver<CommittedBatch>>,
    from: Position,
) -> Subscription {
    let state = SubState {
        read,
        rx,
        next: from.max(1),
        buf: VecDeque::new(),
        failed: None,
        mode: Mode::CatchUp,
    };
    Subscription::new(Box::pin(futures::stream::unfold(state, step)))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    CatchUp,
    Live,
    Done,
}

struct SubState {
    read: Arc<ReadSide>,
    rx: Option<broadcast::Receiver<CommittedBatch>>,
    /// The next position to deliver.
    next: Position,
    /// Upcast events ready to deliver, positions `next..`.
    buf: VecDeque<RecordedEvent>,
    /// An error to yield once `buf` is drained; the stream then ends.
    failed: Option<EventLogError>,
    mode: Mode,
}

impl SubState {
    /// Upcasts and buffers events at or after `next`, in order. Stops at the
    /// first upcast failure (remembered in `failed`).
    fn accept(&mut self, events: impl IntoIterator<Item = RecordedEvent>) {
        for mut e in events {
            if let Err(err) = self.read.upcasters.apply(&mut e) {
                self.failed = Some(err);
                return;
            }
            self.buf.push_back(e);
        }
    }

    /// The position after the last buffered event (or `next` when none is).
    fn expected(&self) -> Position {
        self.buf.back().map_or(self.next, |e| e.position + 1)
    }
}

async fn step(mut s: SubState) -> Option<(Result<RecordedEvent, EventLogError>, SubState)> {
    loop {
        if let Some(e) = s.buf.pop_front() {
            s.next = e.position + 1;
            return Some((Ok(e), s));
        }
        if let Some(err) = s.failed.take() {
            s.mode = Mode::Done;
            return Some((Err(err), s));
        }
        match s.mode {
            Mode::Done => return None,
            Mode::CatchUp => {
                let page_size = s.read.page_size;
                let from = s.next;
                let page = s
                    .read
                    .run(move |r, c| r.read_all_stored(c, from, page_size))
                    .await;
                match page {
                    Err(e) => {
                        s.mode = Mode::Done;
                        return Some((Err(e), s));
                    }
                    Ok(page) => {
                        if page.len() < page_size {
                            s.mode = if s.rx.is_some() {
                                Mode::Live
                            } else {
                                Mode::Done
                            };
                        }
                        let from = s.expected();
                        s.accept(page.into_iter().filter(|e| e.position >= from));
                    }
                }
            }
            Mode::Live => {
                let Some(rx) = s.rx.as_mut() else {
                    s.mode = Mode::CatchUp;
                    continue;
                };
                match rx.recv().await {
                    Ok(batch) => {
                        if batch.last < s.next {
                            // Already delivered (read during catch-up).
                        } else if batch.first > s.next || batch.events.is_empty() {
                            // A commit we never saw, or one published without its
                            // events: read from the store.
                            s.mode = Mode::CatchUp;
                        } else {
                            let from = s.expected();
                            let events = batch.events.iter().filter(|e| e.position >= from);
                            s.accept(events.cloned());
                        }
                    }
                    Err(RecvError::Lagged(_)) => s.mode = Mode::CatchUp,
                    Err(RecvError::Closed) => {
                        // The store closed: deliver what was committed, then end.
                        s.rx = None;
                        s.mode = Mode::CatchUp;
                    }
                }
            }
        }
    }
}

/// `read_all_stream`: reads one page at a time in the blocking pool and yields
/// its events, then reads the next page. (Reading ahead on another thread was
/// measured slower: the producer's allocations and the consumer's frees contend
/// on the allocator.)
pub(crate) struct PagedStream {
    read: Arc<ReadSide>,
    /// The next position to read from; `None` once a short page was read.
    next: Option<Position>,
    page: std::vec::IntoIter<RecordedEvent>,
    pending: Option<tokio::task::JoinHandle<Result<Vec<RecordedEvent>, EventLogError>>>,
    page_size: usize,
}

impl PagedStream {
    pub(crate) fn new(read: Arc<ReadSide>, from: Position) -> Self {
        let page_size = read.page_size;
        Self {
            read,
            next: Some(from),
            page: Vec::new().into_iter(),
            pending: None,
            page_size,
        }
    }
}

impl Stream for PagedStream {
    type Item = Result<RecordedEvent, EventLogError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(e) = self.page.next() {
                return Poll::Ready(Some(Ok(e)));
            }
            if self.pending.is_none() {
                let Some(from) = self.next else {
                    return Poll::Ready(None);
                };
                let read = Arc::clone(&self.read);
                let page_size = self.page_size;
                self.pending = Some(tokio::task::spawn_blocking(move || {
                    read.with_paging_conn(|conn| read.read_all(conn, from, page_size))
                }));
            }
            let pending = self.pending.as_mut().expect("just set");
            let result = ready!(Pin::new(pending).poll(cx));
            self.pending = None;
            match result {
                Ok(Ok(page)) => {
                    self.next = match page.last() {
                        Some(last) if page.len() >= self.page_size => Some(last.position + 1),
                        _ => None,
                    };
                    self.page = page.into_iter();
                }
                Ok(Err(e)) => {
                    self.next = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
                Err(_) => {
                    self.next = None;
                    return Poll::Ready(Some(Err(EventLogError::Closed)));
                }
            }
        }
    }
}
