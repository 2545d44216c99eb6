//! A write-behind row cache: rows are loaded once, changed in memory by any number of
//! events, and written once per flush (coalescing a batch's updates of one row), in key
//! order.
//!
//! Rows live in a slab (`Vec`) and the hash map only maps keys to their places in it, so lookups touch
//! a small, dense table however large the rows are.

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::hash::Hash;

/// The crate's hash map: foldhash, as the domain's write model.
pub(crate) type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

struct CachedRow<V> {
    /// `None`: known not to exist in the database.
    row: Option<V>,
    dirty: bool,
}

/// Rows keyed by `K`, loaded on demand and written back by [`RowCache::flush`].
pub(crate) struct RowCache<K, V> {
    index: Map<K, u32>,
    rows: Vec<CachedRow<V>>,
    keys: Vec<K>,
    dirty: Vec<u32>,
}

impl<K: Copy + Ord + Hash, V> Default for RowCache<K, V> {
    fn default() -> Self {
        Self {
            index: Map::default(),
            rows: Vec::new(),
            keys: Vec::new(),
            dirty: Vec::new(),
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
        let slot = self.slot(key, load)?;
        Ok(self.rows[slot as usize].row.as_ref())
    }

    /// The row for changing, loading it when needed; marks it dirty when it exists.
    pub fn get_mut(
        &mut self,
        key: K,
        load: impl FnOnce(&K) -> rusqlite::Result<Option<V>>,
    ) -> rusqlite::Result<Option<&mut V>> {
        let slot = self.slot(key, load)?;
        let entry = &mut self.rows[slot as usize];
        if entry.row.is_some() && !entry.dirty {
            entry.dirty = true;
            self.dirty.push(slot);
        }
        Ok(entry.row.as_mut())
    }

    /// Replaces (or creates) a row and marks it dirty.
    pub fn put(&mut self, key: K, row: V) {
        let slot = match self.index.entry(key) {
            MapEntry::Occupied(entry) => *entry.get(),
            MapEntry::Vacant(entry) => {
                let slot = self.rows.len() as u32;
                entry.insert(slot);
                self.rows.push(CachedRow {
                    row: None,
                    dirty: false,
                });
                self.keys.push(key);
                slot
            }
        };
        let entry = &mut self.rows[slot as usize];
        entry.row = Some(row);
        if !entry.dirty {
            entry.dirty = true;
            self.dirty.push(slot);
        }
    }

    /// Writes every dirty row with `write`, in key order (sequential b-tree inserts), and
    /// marks it clean.
    pub fn flush(
        &mut self,
        mut write: impl FnMut(&K, &mut V) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable_by_key(|slot| self.keys[*slot as usize]);
        for slot in dirty {
            let entry = &mut self.rows[slot as usize];
            entry.dirty = false;
            if let Some(row) = &mut entry.row {
                write(&self.keys[slot as usize], row)?;
            }
        }
        Ok(())
    }

    /// Forgets every row when more than `keep` are cached (after a flush: nothing is dirty).
    pub fn trim(&mut self, keep: usize) {
        if self.rows.len() > keep {
            debug_assert!(self.dirty.is_empty());
            *self = Self::default();
        }
    }

    fn slot(
        &mut self,
        key: K,
        load: impl FnOnce(&K) -> rusqlite::Result<Option<V>>,
    ) -> rusqlite::Result<u32> {
        Ok(match self.index.entry(key) {
            MapEntry::Occupied(entry) => *entry.get(),
            MapEntry::Vacant(entry) => {
                let slot = self.rows.len() as u32;
                self.rows.push(CachedRow {
                    row: load(&key)?,
                    dirty: false,
                });
                self.keys.push(key);
                entry.insert(slot);
                slot
            }
        })
    }
}
