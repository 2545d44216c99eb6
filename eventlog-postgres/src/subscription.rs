//! Subscriptions (catch-up, then live) and the paged `read_all_stream`.
//!
//! A subscription only ever reads the table from the next position it owes
//! (`position >= next ORDER BY position`), one page at a time; commits happen
//! in position order, so it can neither skip nor repeat an event. When a page
//! comes back empty it waits for a wake-up (the organization's head changed,
//! see `crate::hub`), the store closing, or the polling interval, whichever is
//! first, and reads again. Once the store is closed (its writer stopped after
//! committing everything accepted) it reads until a page is empty, then ends.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use poolkeeper_eventlog::{EventLogError, EventStream, Position, RecordedEvent, Subscription};
use tokio::sync::watch;

use crate::hub::Hub;
use crate::reader::Reader;

/// Every event from `from` to the tail, page by page, upcast.
pub(crate) fn paged(reader: Reader, from: Position) -> EventStream {
    let state = (reader, from.max(1), VecDeque::new(), false);
    Box::pin(futures::stream::unfold(
        state,
        |(reader, mut next, mut buf, mut done)| async move {
            if buf.is_empty() && !done {
                match reader.read_all(next, reader.page_size(), true).await {
                    Ok(page) => {
                        done = page.len() < reader.page_size();
                        next = page.last().map_or(next, |e| e.position + 1);
                        buf.extend(page);
                    }
                    Err(e) => return Some((Err(e), (reader, next, buf, true))),
                }
            }
            let event = buf.pop_front()?;
            Some((Ok(event), (reader, next, buf, done)))
        },
    ))
}

/// What a live subscription waits on.
pub(crate) struct Wakeups {
    /// Keeps the head's sender alive.
    pub _hub: Arc<Hub>,
    pub heads: watch::Receiver<u64>,
    /// `true` (or its sender gone) once the store is closed.
    pub closed: watch::Receiver<bool>,
    pub poll_interval: Duration,
}

struct Live {
    reader: Reader,
    wakeups: Wakeups,
    next: Position,
    buf: VecDeque<RecordedEvent>,
    done: bool,
}

/// Events from `from`: catch-up, then live.
pub(crate) fn subscribe(reader: Reader, wakeups: Wakeups, from: Position) -> Subscription {
    let live = Live {
        reader,
        wakeups,
        next: from.max(1),
        buf: VecDeque::new(),
        done: false,
    };
    Subscription::new(Box::pin(futures::stream::unfold(live, step)))
}

async fn step(mut s: Live) -> Option<(Result<RecordedEvent, EventLogError>, Live)> {
    loop {
        if let Some(event) = s.buf.pop_front() {
            return Some((Ok(event), s));
        }
        if s.done {
            return None;
        }
        // Mark the wake-ups seen before reading: a commit after this read wakes us.
        s.wakeups.heads.borrow_and_update();
        let closed = s.is_closed();
        match s.reader.read_all(s.next, s.reader.page_size(), true).await {
            Err(e) => {
                s.done = true;
                return Some((Err(e), s));
            }
            Ok(page) if !page.is_empty() => {
                s.next = page.last().map_or(s.next, |e| e.position + 1);
                s.buf.extend(page);
            }
            Ok(_) if closed => s.done = true,
            Ok(_) => s.wait().await,
        }
    }
}

impl Live {
    fn is_closed(&mut self) -> bool {
        *self.wakeups.closed.borrow_and_update() || self.wakeups.closed.has_changed().is_err()
    }

    async fn wait(&mut self) {
        let w = &mut self.wakeups;
        tokio::select! {
            _ = w.heads.changed() => {}
            _ = w.closed.changed() => {}
            _ = tokio::time::sleep(w.poll_interval) => {}
        }
    }
}
