//! Pages and opaque cursors.
//!
//! Every listing pages by keyset (e.g. `(changed_at, customer_id)`), never by offset, so a
//! cursor stays valid and skips or repeats nothing when rows are inserted concurrently.
//! A cursor is opaque to callers: a tag naming the query and sort, then the keyset values.

use std::collections::BTreeSet;
use std::ops::Bound;

use uuid::Uuid;

use crate::error::ProjectionError;

/// A `(changed_at, customer_id)` keyset key, as listings in memory index them.
pub(crate) type TimeKey = (i64, Uuid);

/// One page of results and the cursor of the next one (`None` on the last page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Pass it back to get the next page.
    pub next_cursor: Option<String>,
}

/// Time ordering of a listing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeOrder {
    /// Most recent first.
    #[default]
    NewestFirst,
    /// Oldest first.
    OldestFirst,
}

impl TimeOrder {
    pub(crate) fn tag(self) -> &'static str {
        match self {
            TimeOrder::NewestFirst => "n",
            TimeOrder::OldestFirst => "o",
        }
    }

    /// `DESC` or `ASC`.
    pub(crate) fn sql(self) -> &'static str {
        match self {
            TimeOrder::NewestFirst => "DESC",
            TimeOrder::OldestFirst => "ASC",
        }
    }

    /// The keyset comparison that continues after a cursor: `<` or `>`.
    pub(crate) fn after(self) -> &'static str {
        match self {
            TimeOrder::NewestFirst => "<",
            TimeOrder::OldestFirst => ">",
        }
    }
}

/// The default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page size.
pub const MAX_LIMIT: u32 = 1_000;

/// Checks a page size.
pub(crate) fn limit(limit: u32) -> Result<usize, ProjectionError> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ProjectionError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}, got {limit}"),
        ));
    }
    Ok(limit as usize)
}

/// One keyset value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    Int(i64),
    Id(Uuid),
}

/// Encodes a cursor: `tag` then the values.
pub(crate) fn encode(tag: &str, keys: &[Key]) -> String {
    let mut text = String::from(tag);
    for key in keys {
        match key {
            Key::Int(value) => text.push_str(&format!(".i{:x}", *value as u64)),
            Key::Id(id) => text.push_str(&format!(".u{}", id.simple())),
        }
    }
    text
}

/// Decodes a cursor made by [`encode`] with the same tag and shape.
pub(crate) fn decode(tag: &str, cursor: &str, shape: &[Key]) -> Result<Vec<Key>, ProjectionError> {
    let bad = || ProjectionError::invalid("cursor", "not a cursor of this query and order");
    let mut parts = cursor.split('.');
    if parts.next() != Some(tag) {
        return Err(bad());
    }
    let mut keys = Vec::with_capacity(shape.len());
    for expected in shape {
        let part = parts.next().ok_or_else(bad)?;
        let key = match (expected, part.split_at_checked(1)) {
            (Key::Int(_), Some(("i", hex))) => {
                Key::Int(u64::from_str_radix(hex, 16).map_err(|_| bad())? as i64)
            }
            (Key::Id(_), Some(("u", hex))) => Key::Id(Uuid::try_parse(hex).map_err(|_| bad())?),
            _ => return Err(bad()),
        };
        keys.push(key);
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(keys)
}

/// A `(time, id)` keyset cursor.
pub(crate) fn decode_time_id(
    tag: &str,
    cursor: Option<&str>,
) -> Result<Option<(i64, Uuid)>, ProjectionError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    match decode(tag, cursor, &[Key::Int(0), Key::Id(Uuid::nil())])?.as_slice() {
        [Key::Int(time), Key::Id(id)] => Ok(Some((*time, *id))),
        _ => Err(ProjectionError::invalid("cursor", "malformed")),
    }
}

/// A position keyset cursor: the position the next page lists before (`i64::MAX` when
/// there is no cursor: the first page).
pub(crate) fn decode_before(tag: &str, cursor: Option<&str>) -> Result<i64, ProjectionError> {
    let Some(cursor) = cursor else {
        return Ok(i64::MAX);
    };
    match decode(tag, cursor, &[Key::Int(0)])?.as_slice() {
        [Key::Int(position)] => Ok(*position),
        _ => Err(ProjectionError::invalid("cursor", "malformed")),
    }
}

/// Whether `key` comes after the cursor's key `after` in `order`.
pub(crate) fn is_after(key: &TimeKey, after: Option<TimeKey>, order: TimeOrder) -> bool {
    match (after, order) {
        (None, _) => true,
        (Some(after), TimeOrder::NewestFirst) => *key < after,
        (Some(after), TimeOrder::OldestFirst) => *key > after,
    }
}

/// An in-memory listing from the cursor's key on, in `order`.
pub(crate) fn from_cursor<'a>(
    listing: &'a BTreeSet<TimeKey>,
    after: Option<TimeKey>,
    order: TimeOrder,
) -> Box<dyn Iterator<Item = &'a TimeKey> + 'a> {
    match (order, after) {
        (TimeOrder::NewestFirst, None) => Box::new(listing.iter().rev()),
        (TimeOrder::OldestFirst, None) => Box::new(listing.iter()),
        (TimeOrder::NewestFirst, Some(after)) => Box::new(listing.range(..after).rev()),
        (TimeOrder::OldestFirst, Some(after)) => {
            Box::new(listing.range((Bound::Excluded(after), Bound::Unbounded)))
        }
    }
}

/// Puts keys gathered from several listings in `order`.
pub(crate) fn sort_keys(keys: &mut [TimeKey], order: TimeOrder) {
    keys.sort_unstable();
    if order == TimeOrder::NewestFirst {
        keys.reverse();
    }
}

/// Builds a page from up to `limit + 1` fetched rows.
pub(crate) fn page<T>(mut rows: Vec<T>, limit: usize, cursor_of: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(cursor_of)
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_other_tags() {
        let id = Uuid::from_u128(0xABCD);
        let text = encode("pv-n", &[Key::Int(-5), Key::Id(id)]);
        assert_eq!(decode_time_id("pv-n", Some(&text)).unwrap(), Some((-5, id)));
        assert!(decode_time_id("pv-o", Some(&text)).is_err());
        assert!(decode_time_id("pv-n", Some("garbage")).is_err());
        assert!(decode_time_id("pv-n", Some("pv-n.i1")).is_err());
    }
}
