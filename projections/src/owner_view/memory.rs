//! The owner view in memory: every user, customer and access grant, and the indexes its
//! queries page through. The fold keeps it event by event (under its write lock); the
//! reader answers from it without touching the file, exactly as the SQL of `reader.rs`
//! answers from a snapshot (the tests compare the two).

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use poolkeeper_domain::{CustomerId, UserId};
use uuid::Uuid;

use super::reader::{AccessReason, OwnedCustomer, OwnerQuery, RelatedCustomer, UserSummary};
use super::{CustomerRow, UserRow};
use crate::cache::Map;
use crate::db::{instant, micros};
use crate::error::ProjectionError;
use crate::lifecycle::OwnershipState;
use crate::page::{self, Key, Page, TimeKey};

/// Grants of one key (a user's related customers, a department's shares) by the position
/// that granted them: (customer, instant).
type Grants = BTreeMap<u64, (CustomerId, i64)>;

/// The owner view's rows and indexes.
#[derive(Default)]
pub(crate) struct OwnerMemory {
    pub(super) users: Map<UserId, UserRow>,
    /// Direct subordinates by superior.
    below: Map<UserId, BTreeSet<UserId>>,
    /// Boxed, as the pool view's.
    pub(super) customers: Map<CustomerId, Box<CustomerRow>>,
    /// Owned customers by owner: (changed_at, customer).
    by_owner: Map<UserId, BTreeSet<TimeKey>>,
    related: Map<UserId, Grants>,
    related_pairs: HashSet<(UserId, CustomerId), foldhash::fast::RandomState>,
    shares: Map<String, Grants>,
    shared_pairs: HashSet<(String, CustomerId), foldhash::fast::RandomState>,
}

impl OwnerMemory {
    /// Puts a user (new or changed), keeping the superior index.
    pub(super) fn put_user(&mut self, id: UserId, user: UserRow) {
        let old = self.users.insert(id, user).and_then(|old| old.superior);
        let new = self.users[&id].superior;
        if old != new {
            if let Some(old) = old
                && let Some(set) = self.below.get_mut(&old)
            {
                set.remove(&id);
            }
            if let Some(new) = new {
                self.below.entry(new).or_default().insert(id);
            }
        }
    }

    /// Changes a customer with `change` (inserting `row` first when given), keeping the
    /// owner index. Whether the customer exists.
    pub(super) fn change_customer(
        &mut self,
        id: CustomerId,
        insert: Option<CustomerRow>,
        change: impl FnOnce(&mut CustomerRow),
    ) -> bool {
        let old_key = match insert {
            Some(row) => self
                .customers
                .insert(id, Box::new(row))
                .and_then(|old| owner_key(id, &old)),
            None => match self.customers.get(&id) {
                Some(row) => owner_key(id, row),
                None => return false,
            },
        };
        let row = self
            .customers
            .get_mut(&id)
            .unwrap_or_else(|| unreachable!("present"));
        change(row);
        let new_key = owner_key(id, row);
        if old_key != new_key {
            if let Some((owner, key)) = old_key
                && let Some(set) = self.by_owner.get_mut(&owner)
            {
                set.remove(&key);
            }
            if let Some((owner, key)) = new_key {
                self.by_owner.entry(owner).or_default().insert(key);
            }
        }
        true
    }

    /// A related person's grant; the earliest of a (user, customer) is kept. Whether it
    /// is new.
    pub(super) fn relate(
        &mut self,
        user: UserId,
        customer: CustomerId,
        at: i64,
        position: u64,
    ) -> bool {
        if !self.related_pairs.insert((user, customer)) {
            return false;
        }
        self.related
            .entry(user)
            .or_default()
            .insert(position, (customer, at));
        true
    }

    /// A department share; the earliest of a (department, customer) is kept. Whether it
    /// is new.
    pub(super) fn share(
        &mut self,
        department: &str,
        customer: CustomerId,
        at: i64,
        position: u64,
    ) -> bool {
        if !self.shared_pairs.insert((department.to_owned(), customer)) {
            return false;
        }
        self.shares
            .entry(department.to_owned())
            .or_default()
            .insert(position, (customer, at));
        true
    }

    /// Every grant, for rewriting the file: (user, customer, at, position) and
    /// (department, customer, at, position).
    pub(super) fn grants(&self) -> (Vec<super::Grant<UserId>>, Vec<super::Grant<String>>) {
        let related = self
            .related
            .iter()
            .flat_map(|(user, grants)| {
                grants
                    .iter()
                    .map(|(position, (customer, at))| (*user, *customer, *at, *position))
            })
            .collect();
        let shares = self
            .shares
            .iter()
            .flat_map(|(department, grants)| {
                grants.iter().map(|(position, (customer, at))| {
                    (department.clone(), *customer, *at, *position)
                })
            })
            .collect();
        (related, shares)
    }

    /// The user's subordinates, recursively (at most 64 levels, cycle-safe), by id.
    pub fn subordinates(&self, user: UserId) -> Vec<UserId> {
        let mut found = BTreeSet::new();
        let mut next = VecDeque::from([(user, 0u32)]);
        while let Some((superior, depth)) = next.pop_front() {
            if depth == 64 {
                continue;
            }
            for &below in self.below.get(&superior).into_iter().flatten() {
                if found.insert(below) {
                    next.push_back((below, depth + 1));
                }
            }
        }
        found.remove(&user);
        found.into_iter().collect()
    }

    /// A user's profile.
    pub fn user(&self, id: UserId) -> Option<UserSummary> {
        self.users.get(&id).map(|user| UserSummary {
            user_id: id,
            name: user.name.clone(),
            superior: user.superior,
            department: user.department.clone(),
            admin: user.admin,
            active: user.active,
            version: user.version,
        })
    }

    /// One page of an owner listing (see `OwnerViewReader::customers`).
    pub fn customers(&self, query: &OwnerQuery) -> Result<Page<OwnedCustomer>, ProjectionError> {
        let limit = page::limit(query.limit)?;
        let tag = format!("ov-{}", query.order.tag());
        let after = page::decode_time_id(&tag, query.cursor.as_deref())?;
        let owners = query.owners(|| Ok::<_, ProjectionError>(self.subordinates(query.user)))?;
        let mut keys: Vec<TimeKey> = Vec::new();
        for owner in owners {
            if let Some(set) = self.by_owner.get(&owner) {
                keys.extend(page::from_cursor(set, after, query.order).take(limit + 1));
            }
        }
        page::sort_keys(&mut keys, query.order);
        keys.truncate(limit + 1);
        let rows = keys
            .iter()
            .filter_map(|(_, id)| self.owned_customer(CustomerId(*id)))
            .collect();
        Ok(page::page(rows, limit, |row: &OwnedCustomer| {
            page::encode(
                &tag,
                &[Key::Int(micros(row.changed_at)), Key::Id(row.customer_id.0)],
            )
        }))
    }

    /// A user's related customers, most recent grant first.
    pub fn related(
        &self,
        user: UserId,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Page<RelatedCustomer>, ProjectionError> {
        self.grant_page("rel", self.related.get(&user), limit, cursor)
    }

    /// A department's shared customers, most recent share first.
    pub fn shared_with(
        &self,
        department: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Page<RelatedCustomer>, ProjectionError> {
        self.grant_page("shr", self.shares.get(department), limit, cursor)
    }

    /// Why `user` may read `customer` outside the pools (see `OwnerViewReader::access`).
    pub fn access(&self, user: UserId, customer: CustomerId) -> Vec<AccessReason> {
        let mut reasons = Vec::new();
        let Some(row) = self.customers.get(&customer) else {
            return reasons;
        };
        if row.state == OwnershipState::Deleted {
            return reasons;
        }
        let owner = row.owner();
        if owner == Some(user) {
            reasons.push(AccessReason::Owner);
        }
        if let Some(owner) = owner
            && self.subordinates(user).contains(&owner)
        {
            reasons.push(AccessReason::Superior);
        }
        if row.created_by == user {
            reasons.push(AccessReason::Creator);
        }
        if self.related_pairs.contains(&(user, customer)) {
            reasons.push(AccessReason::Related);
        }
        let department = self.users.get(&user).and_then(|u| u.department.clone());
        if let Some(department) = department
            && self.shared_pairs.contains(&(department, customer))
        {
            reasons.push(AccessReason::Shared);
        }
        reasons
    }

    fn grant_page(
        &self,
        tag: &str,
        grants: Option<&Grants>,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Page<RelatedCustomer>, ProjectionError> {
        let limit = page::limit(limit)?;
        let before = page::decode_before(tag, cursor.as_deref())?;
        let before = u64::try_from(before).unwrap_or(0);
        let rows = grants
            .into_iter()
            .flat_map(|grants| grants.range(..before).rev())
            .filter_map(|(position, (customer, at))| {
                Some(RelatedCustomer {
                    customer: self.owned_customer(*customer)?,
                    since: instant(*at),
                    since_position: *position,
                })
            })
            .take(limit + 1)
            .collect();
        Ok(page::page(rows, limit, |row: &RelatedCustomer| {
            page::encode(tag, &[Key::Int(row.since_position as i64)])
        }))
    }

    fn owned_customer(&self, id: CustomerId) -> Option<OwnedCustomer> {
        let row = self.customers.get(&id)?;
        Some(OwnedCustomer {
            customer_id: id,
            pool_id: row.pool,
            name: row.name.clone(),
            state: row.state,
            owner: row.owner(),
            owned_since: row.owned_since.map(instant),
            created_by: row.created_by,
            version: row.version,
            last_position: row.last_position,
            changed_at: instant(row.changed_at),
        })
    }
}

/// Where an owned customer sits in the owner index.
fn owner_key(id: CustomerId, row: &CustomerRow) -> Option<(UserId, (i64, Uuid))> {
    row.owner().map(|owner| (owner, (row.changed_at, id.0)))
}
