//! The pool view in memory: every pool and customer, and the indexes its listings page
//! through. The fold keeps it event by event (under its write lock); the reader answers
//! from it without touching the file, exactly as the SQL of `reader.rs` answers from a
//! snapshot (the tests compare the two). Derived columns (protection end, deadline,
//! reminder) are computed from the pool's rules when a row is read, as they are when it
//! is written.

use std::collections::BTreeSet;
use std::ops::Bound;

use chrono::{DateTime, Utc};
use poolkeeper_domain::{CustomerId, PoolId, UserId};
use uuid::Uuid;

use super::reader::{
    AbandonInfo, DeadlineInfo, DeletedInfo, FrozenInfo, OwnedInfo, PendingInfo, PoolCustomer,
    PoolFilter, PoolQuery, PoolSummary, ReclaimInfo, prefix_end,
};
use super::{CustomerRow, PoolRow, derive};
use crate::cache::Map;
use crate::db::{instant, micros};
use crate::error::ProjectionError;
use crate::lifecycle::OwnershipState;
use crate::page::{self, Key, Page, TimeKey};

/// Customers in listing order: (changed_at, customer).
type Listing = BTreeSet<TimeKey>;

/// The pool view's rows and indexes.
#[derive(Default)]
pub(crate) struct PoolMemory {
    pub(super) pools: Map<PoolId, PoolRow>,
    /// Boxed: a map grows by doubling, and its empty buckets then cost a pointer each
    /// instead of a whole row.
    pub(super) customers: Map<CustomerId, Box<CustomerRow>>,
    by_pool: Map<PoolId, Listing>,
    by_state: Map<(PoolId, OwnershipState), Listing>,
    by_owner: Map<(PoolId, UserId), Listing>,
    by_name: Map<PoolId, BTreeSet<(String, Uuid)>>,
}

/// Where a customer sits in the listing indexes (the name index follows its pool and name).
#[derive(Clone, Copy, PartialEq)]
struct Placing {
    pool: PoolId,
    state: OwnershipState,
    owner: Option<UserId>,
    changed_at: i64,
}

impl Placing {
    fn of(row: &CustomerRow) -> Self {
        Self {
            pool: row.pool,
            state: row.state,
            owner: row.ownership.as_ref().map(|o| o.owner),
            changed_at: row.changed_at,
        }
    }
}

impl PoolMemory {
    /// Changes a customer with `change` (inserting `insert` first when given), keeping the
    /// indexes; what `change` said, or `None` when there is no such customer.
    pub(super) fn change_customer<R>(
        &mut self,
        id: CustomerId,
        insert: Option<CustomerRow>,
        change: impl FnOnce(&mut CustomerRow) -> R,
    ) -> Option<R> {
        // The old placing, and the old name when it may differ (a replaced row).
        let (old, old_name) = match insert {
            Some(row) => match self.customers.insert(id, Box::new(row)) {
                Some(old) => (Some(Placing::of(&old)), Some(old.name)),
                None => (None, None),
            },
            None => (Some(Placing::of(self.customers.get(&id)?)), None),
        };
        let row = self
            .customers
            .get_mut(&id)
            .unwrap_or_else(|| unreachable!("present"));
        let said = change(row);
        let new = Placing::of(row);
        let renamed = (old_name.as_ref() != Some(&row.name) && old_name.is_some())
            || old.is_none_or(|old| old.pool != new.pool);
        let name = renamed.then(|| row.name.clone());
        self.move_listings(id, old, new);
        if let Some(name) = name {
            if let Some(old) = old {
                let old_name = old_name.unwrap_or_else(|| name.clone());
                if let Some(names) = self.by_name.get_mut(&old.pool) {
                    names.remove(&(old_name, id.0));
                }
            }
            self.by_name
                .entry(new.pool)
                .or_default()
                .insert((name, id.0));
        }
        Some(said)
    }

    /// Renames a customer (a purge), in its row and in its pool's name index.
    pub(crate) fn rename_customer(&mut self, id: CustomerId, name: &str) {
        let Some(row) = self.customers.get_mut(&id) else {
            return;
        };
        let old = std::mem::replace(&mut row.name, name.to_owned());
        if let Some(names) = self.by_name.get_mut(&row.pool) {
            names.remove(&(old, id.0));
            names.insert((name.to_owned(), id.0));
        }
    }

    /// Moves a customer in the listings it left or entered (or whose key changed).
    fn move_listings(&mut self, id: CustomerId, old: Option<Placing>, new: Placing) {
        if old == Some(new) {
            return;
        }
        let key = |at: &Placing| (at.changed_at, id.0);
        let moved = |same: &dyn Fn(&Placing) -> bool| old.is_none_or(|old| !same(&old));
        let pool_key = |at: &Placing| (at.pool, at.changed_at);
        if moved(&|old| pool_key(old) == pool_key(&new)) {
            if let Some(old) = old
                && let Some(set) = self.by_pool.get_mut(&old.pool)
            {
                set.remove(&key(&old));
            }
            self.by_pool.entry(new.pool).or_default().insert(key(&new));
        }
        let state_key = |at: &Placing| (at.pool, at.state, at.changed_at);
        if moved(&|old| state_key(old) == state_key(&new)) {
            if let Some(old) = old
                && let Some(set) = self.by_state.get_mut(&(old.pool, old.state))
            {
                set.remove(&key(&old));
            }
            self.by_state
                .entry((new.pool, new.state))
                .or_default()
                .insert(key(&new));
        }
        let owner_key = |at: &Placing| (at.pool, at.owner, at.changed_at);
        if moved(&|old| owner_key(old) == owner_key(&new)) {
            if let Some(old) = old
                && let Some(owner) = old.owner
                && let Some(set) = self.by_owner.get_mut(&(old.pool, owner))
            {
                set.remove(&key(&old));
            }
            if let Some(owner) = new.owner {
                self.by_owner
                    .entry((new.pool, owner))
                    .or_default()
                    .insert(key(&new));
            }
        }
    }

    /// The owned customers of a pool (whose derived columns its rules decide).
    pub(super) fn owned_in(&self, pool: PoolId) -> impl Iterator<Item = CustomerId> + '_ {
        self.by_state
            .get(&(pool, OwnershipState::Owned))
            .into_iter()
            .flatten()
            .map(|(_, id)| CustomerId(*id))
    }

    /// One customer as listed.
    pub fn get(&self, id: CustomerId) -> Option<PoolCustomer> {
        self.customers
            .get(&id)
            .map(|row| self.pool_customer(id, row))
    }

    /// One pool's configuration.
    pub fn pool(&self, id: PoolId) -> Option<PoolSummary> {
        self.pools
            .get(&id)
            .map(|pool| super::reader::summary(id, pool.clone()))
    }

    /// Every pool, by name.
    pub fn pools(&self) -> Vec<PoolSummary> {
        let mut pools: Vec<PoolSummary> = self
            .pools
            .iter()
            .map(|(id, pool)| super::reader::summary(*id, pool.clone()))
            .collect();
        pools.sort_by(|a, b| (&a.name, a.pool_id).cmp(&(&b.name, b.pool_id)));
        pools
    }

    /// One page of a pool listing (see `PoolViewReader::list`).
    pub fn list(&self, query: &PoolQuery) -> Result<Page<PoolCustomer>, ProjectionError> {
        let limit = page::limit(query.limit)?;
        let tag = format!("pv-{}", query.order.tag());
        let after = page::decode_time_id(&tag, query.cursor.as_deref())?;
        let state = query.filter.state();
        let prefix = query.name_prefix.as_deref().filter(|p| !p.is_empty());
        let keep = |key: &TimeKey| -> Option<PoolCustomer> {
            let id = CustomerId(key.1);
            let row = self.customers.get(&id)?;
            let listed = self.pool_customer(id, row);
            self.matches(&listed, query, state, prefix)
                .then_some(listed)
        };
        let rows: Vec<PoolCustomer> = match prefix {
            Some(prefix) => {
                // As the SQL: every name with the prefix, then the other conditions, sorted.
                let mut keys: Vec<TimeKey> = self
                    .named(query.pool_id, prefix)
                    .filter_map(|id| self.customers.get(&id).map(|row| (row.changed_at, id.0)))
                    .filter(|key| page::is_after(key, after, query.order))
                    .collect();
                page::sort_keys(&mut keys, query.order);
                keys.iter().filter_map(keep).take(limit + 1).collect()
            }
            None => {
                let listing = match (query.owner, state) {
                    (Some(owner), _) => self.by_owner.get(&(query.pool_id, owner)),
                    (None, Some(state)) => self.by_state.get(&(query.pool_id, state)),
                    (None, None) => self.by_pool.get(&query.pool_id),
                };
                let Some(listing) = listing else {
                    return Ok(Page {
                        items: Vec::new(),
                        next_cursor: None,
                    });
                };
                page::from_cursor(listing, after, query.order)
                    .filter_map(keep)
                    .take(limit + 1)
                    .collect()
            }
        };
        Ok(page::page(rows, limit, |row| {
            page::encode(
                &tag,
                &[Key::Int(micros(row.changed_at)), Key::Id(row.customer_id.0)],
            )
        }))
    }

    /// The customers of a pool whose names start with `prefix`.
    fn named<'a>(&'a self, pool: PoolId, prefix: &str) -> impl Iterator<Item = CustomerId> + 'a {
        let start = Bound::Included((prefix.to_owned(), Uuid::nil()));
        let end = match prefix_end(prefix) {
            Some(end) => Bound::Excluded((end, Uuid::nil())),
            None => Bound::Unbounded,
        };
        self.by_name
            .get(&pool)
            .into_iter()
            .flat_map(move |names| names.range((start.clone(), end.clone())))
            .map(|(_, id)| CustomerId(*id))
    }

    /// Whether a row passes every condition of the query (the cursor aside).
    fn matches(
        &self,
        row: &PoolCustomer,
        query: &PoolQuery,
        state: Option<OwnershipState>,
        prefix: Option<&str>,
    ) -> bool {
        row.pool_id == query.pool_id
            && state.is_none_or(|state| row.state == state)
            && prefix.is_none_or(|prefix| row.name.starts_with(prefix))
            && query
                .owner
                .is_none_or(|owner| row.owned.as_ref().is_some_and(|o| o.owner == owner))
            && match query.filter {
                PoolFilter::Expired { now } => row.owned.as_ref().is_some_and(|owned| {
                    owned.won_at.is_none()
                        && owned
                            .protection_end
                            .is_some_and(|end| micros(end) <= micros(now))
                }),
                _ => true,
            }
    }

    fn pool_customer(&self, id: CustomerId, row: &CustomerRow) -> PoolCustomer {
        let derived = derive(row, &self.pools);
        let at = |micros: i64| instant(micros);
        let exact = |at: DateTime<Utc>| instant(micros(at));
        PoolCustomer {
            customer_id: id,
            pool_id: row.pool,
            state: row.state,
            name: row.name.clone(),
            source: row.source.clone(),
            fields: serde_json::from_str(&row.fields).unwrap_or_default(),
            created_by: row.created_by,
            created_at: at(row.created_at),
            version: row.version,
            last_position: row.last_position,
            changed_at: at(row.changed_at),
            pending: row.applicant.map(|applicant| PendingInfo {
                applicant,
                since: at(row.pending_since.unwrap_or_default()),
            }),
            owned: row.ownership.as_ref().map(|o| OwnedInfo {
                owner: o.owner,
                since: exact(o.since),
                protection_start: exact(o.protection_start),
                protection_end: derived.protection_end.map(at),
                last_contact_at: o.last_contact_at.map(exact),
                won_at: o.won_at.map(exact),
                deadline: derived.deadline.map(|d| DeadlineInfo {
                    at: exact(d.at),
                    rule: d.rule,
                    threshold_days: d.threshold_days,
                }),
                reminder_at: derived.reminder_at.map(at),
            }),
            last_abandon: row
                .abandon
                .as_deref()
                .map(|(reason, by, when)| AbandonInfo {
                    reason: reason.clone(),
                    abandoner: *by,
                    at: at(*when),
                }),
            last_reclaim: row.reclaim.as_ref().map(|r| ReclaimInfo {
                former_owner: r.from,
                by: r.by,
                reason: r.reason.clone(),
                at: at(r.at),
            }),
            frozen: row.frozen.as_deref().map(|(by, reason, when)| FrozenInfo {
                by: *by,
                reason: reason.clone(),
                at: at(*when),
            }),
            deleted: row.deleted.as_deref().map(|(by, when)| DeletedInfo {
                by: *by,
                at: at(*when),
            }),
        }
    }
}
