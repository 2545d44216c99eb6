//! What a leased writer knows of its own log between group commits: the head, its hash
//! and the versions of the streams it touched. Under its epoch nobody else appends, so
//! after a commit this is the database's state; the writer forgets it on any failure.

use std::collections::HashMap;

use poolkeeper_eventlog::{Position, StreamVersion};

/// Streams remembered at most; past it the writer starts over (the next groups read
/// their streams' versions from the database again).
const MAX_STREAMS: usize = 200_000;

/// The log as its writer last committed it.
pub(crate) struct KnownHead {
    pub head: Position,
    pub last_hash: [u8; 32],
    /// Versions of the streams seen (0: known to hold no event).
    versions: HashMap<String, StreamVersion>,
}

impl KnownHead {
    /// The head `head` with hash `last_hash`, no stream known yet.
    pub(crate) fn new(head: Position, last_hash: [u8; 32]) -> Self {
        Self {
            head,
            last_hash,
            versions: HashMap::new(),
        }
    }

    /// The versions of `streams` as a plan takes them (streams without events left
    /// out), or `None` when one of them is not known.
    pub(crate) fn versions<'a>(
        &self,
        streams: &[&'a str],
    ) -> Option<HashMap<&'a str, StreamVersion>> {
        let mut versions = HashMap::with_capacity(streams.len());
        for stream in streams {
            let version = *self.versions.get(*stream)?;
            if version > 0 {
                versions.insert(*stream, version);
            }
        }
        Some(versions)
    }

    /// Records a commit: the new head and the versions of the streams it planned
    /// (`planned`: the plan's versions, absent meaning no event).
    pub(crate) fn committed(
        &mut self,
        head: Position,
        last_hash: [u8; 32],
        streams: &[&str],
        planned: &HashMap<&str, StreamVersion>,
    ) {
        if self.versions.len() + streams.len() > MAX_STREAMS {
            self.versions.clear();
        }
        self.head = head;
        self.last_hash = last_hash;
        for stream in streams {
            let version = planned.get(stream).copied().unwrap_or(0);
            self.versions.insert((*stream).to_owned(), version);
        }
    }
}
