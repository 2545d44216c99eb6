//! Which command ids the log may already hold: a scalable Bloom filter.
//!
//! The writer must answer a retried command with its first outcome, so it has to know
//! whether a command id is in the log before deciding. Asking the log for every command
//! costs a read per command; nearly every command is new. The filter answers "certainly
//! new" for almost all of them without touching the log, and "maybe seen" for the rest,
//! which the writer then checks in the log. It is filled while the write model is folded
//! at start and after every commit. False positives cost one read; there are no false
//! negatives.

use uuid::Uuid;

/// Bits per expected id (about 1 % false positives with 7 hashes).
const BITS_PER_ID: usize = 10;
const HASHES: u32 = 7;

/// One fixed-size Bloom filter.
#[derive(Clone, Debug)]
struct Bloom {
    bits: Vec<u64>,
    mask: u64,
    ids: usize,
    capacity: usize,
}

impl Bloom {
    fn with_capacity(capacity: usize) -> Self {
        let bits = (capacity.max(1024) * BITS_PER_ID).next_power_of_two();
        Self {
            bits: vec![0; bits / 64],
            mask: bits as u64 - 1,
            ids: 0,
            capacity,
        }
    }

    /// Two independent 64-bit hashes of an id (UUID v7 ids start with a timestamp, so
    /// both halves are mixed).
    fn hashes(id: Uuid) -> (u64, u64) {
        let value = id.as_u128();
        let mix = |mut x: u64| {
            x ^= x >> 33;
            x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
            x ^= x >> 33;
            x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
            x ^ (x >> 33)
        };
        let high = (value >> 64) as u64;
        let low = value as u64;
        (
            mix(high ^ low.rotate_left(17)),
            mix(low ^ high.rotate_left(41)) | 1,
        )
    }

    fn positions(&self, id: Uuid) -> impl Iterator<Item = u64> + '_ {
        let (first, step) = Self::hashes(id);
        (0..u64::from(HASHES)).map(move |i| first.wrapping_add(i.wrapping_mul(step)) & self.mask)
    }

    fn insert(&mut self, id: Uuid) {
        let positions: Vec<u64> = self.positions(id).collect();
        for bit in positions {
            self.bits[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        self.ids += 1;
    }

    fn may_contain(&self, id: Uuid) -> bool {
        self.positions(id)
            .all(|bit| self.bits[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }
}

/// The command ids the log may hold; grows by adding filters twice as large.
#[derive(Clone, Debug)]
pub struct SeenCommands {
    filters: Vec<Bloom>,
}

impl Default for SeenCommands {
    fn default() -> Self {
        Self::with_capacity(1 << 16)
    }
}

impl SeenCommands {
    /// A filter sized for `capacity` ids before it grows.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            filters: vec![Bloom::with_capacity(capacity)],
        }
    }

    /// Records `id` as in the log.
    pub fn insert(&mut self, id: Uuid) {
        let full = self.filters.last().is_none_or(|f| f.ids >= f.capacity);
        if full {
            let capacity = self.filters.last().map_or(1 << 16, |f| f.capacity * 2);
            self.filters.push(Bloom::with_capacity(capacity));
        }
        if let Some(filter) = self.filters.last_mut() {
            filter.insert(id);
        }
    }

    /// False when `id` is certainly not in the log; true when it may be.
    pub fn may_contain(&self, id: Uuid) -> bool {
        self.filters.iter().any(|filter| filter.may_contain(id))
    }

    /// How many ids were recorded.
    pub fn len(&self) -> usize {
        self.filters.iter().map(|f| f.ids).sum()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inserted_id_is_found_and_few_others_are() {
        let mut seen = SeenCommands::with_capacity(1_000);
        let inserted: Vec<Uuid> = (0..20_000).map(|_| Uuid::now_v7()).collect();
        for id in &inserted {
            seen.insert(*id);
        }
        assert!(seen.filters.len() > 1, "it grew past its first filter");
        assert!(
            inserted.iter().all(|id| seen.may_contain(*id)),
            "no false negatives"
        );
        let false_positives = (0..20_000)
            .filter(|_| seen.may_contain(Uuid::new_v4()))
            .count();
        assert!(
            false_positives < 20_000 / 20,
            "{false_positives} false positives of 20000"
        );
        assert_eq!(seen.len(), 20_000);
    }
}
