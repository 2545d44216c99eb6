//! A write-behind row cache: rows are loaded once, changed in memory by any number of
//! events, and written once per flush (coalescing a batch's updates of one row).

use std::collections::HashMap;
use std::hash::Hash;

/// The crate's hash map: foldhash, as the domain's write model.
pub(crate) type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

struct Entry<V> {
    /// `None`: known not to exist in the database.
    row: Option<V>,
    dirty: bool,
}

/// Rows keyed by `K`, loaded on demand and written back by [`RowCache::flush`].
pub(crate) struct RowCache<K, V> {
    rows: Map<K, Entry<V>>,
    dirty: Vec<K>,
    /// Every row of the table is cached (it started empty and nothing was trimmed).
    complete: bool,
}

impl<K: Copy + Ord + Hash, V> Default for RowCache<K, V> {
    fn default() -> Self {
        Self {
            rows: Map::default(),
            dirty: Vec::new(),
            complete: false,
        }
    }
}

impl<K: Copy + Ord + Hash, V> RowCache<K, V> {
    /// The row, loading it with `load` when it is not cached.
    pub fn get(
        &mut self,
        key: K,
        load: impl FnOnce(&K) -> rusqlite::Result<Option<V>>,
    ) -> rusqlite::Result<Option<&V>> {
        Ok(self.entry(key, load)?.row.as_ref())
    }

    /// The row for changing, loading it when needed; marks it dirty when it exists.
    pub fn get_mut(
        &mut self,
        key: K,
        load: impl FnOnce(&K) -> rusqlite::Result<Option<V>>,
    ) -> rusqlite::Result<Option<&mut V>> {
        let entry = self.entry(key, load)?;
        if entry.row.is_some() && !entry.dirty {
            entry.dirty = true;
            self.dirty.push(key);
        }
        Ok(self.rows.get_mut(&key).and_then(|e| e.row.as_mut()))
    }

    /// Replaces (or creates) a row and marks it dirty.
    pub fn put(&mut self, key: K, row: V) {
        let entry = self.rows.entry(key).or_insert(Entry {
            row: None,
            dirty: false,
        });
        entry.row = Some(row);
        if !entry.dirty {
            entry.dirty = true;
            self.dirty.push(key);
        }
    }

    /// Declares that the table is empty, so the cache holds every row until trimmed.
    pub fn set_complete(&mut self, complete: bool) {
        self.complete = complete;
    }

    /// Whether the cache holds every row of the table.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Marks dirty every cached row matching `select`.
    pub fn touch_where(&mut self, select: impl Fn(&V) -> bool) {
        for (key, entry) in &mut self.rows {
            if !entry.dirty && entry.row.as_ref().is_some_and(&select) {
                entry.dirty = true;
                self.dirty.push(*key);
            }
        }
    }

    /// Writes every dirty row with `write`, in key order (sequential b-tree inserts), and
    /// marks it clean.
    pub fn flush(
        &mut self,
        mut write: impl FnMut(&K, &mut V) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        for key in dirty {
            if let Some(entry) = self.rows.get_mut(&key) {
                entry.dirty = false;
                if let Some(row) = &mut entry.row {
                    write(&key, row)?;
                }
            }
        }
        Ok(())
    }

    /// Forgets every row when more than `keep` are cached (after a flush: nothing is dirty).
    pub fn trim(&mut self, keep: usize) {
        if self.rows.len() > keep {
            debug_assert!(self.dirty.is_empty());
            self.rows = Map::default();
            self.complete = false;
        }
    }

    fn entry(
        &mut self,
        key: K,
        load: impl FnOnce(&K) -> rusqlite::Result<Option<V>>,
    ) -> rusqlite::Result<&mut Entry<V>> {
        Ok(match self.rows.entry(key) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => entry.insert(Entry {
                row: load(&key)?,
                dirty: false,
            }),
        })
    }
}
