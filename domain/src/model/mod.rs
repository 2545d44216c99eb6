//! The write model: every customer's ownership state, users, pools, and the indexes the
//! cross-customer rules need, folded from events.
//!
//! [`WriteModel::apply`] is `evolve`: it folds one event in and never fails. Besides the
//! entities it keeps derived indexes, all rebuilt by folding and never written directly:
//! owned counts per user and pool (caps), the instant each user last lost each customer
//! (cooldowns), claims per user, pool and day (quotas), follow-up authors (comments), and
//! the deadline and reminder indexes ordered by instant, so [`crate::schedule::due`] finds
//! what is due without looking at any customer that is not.
//!
//! One file per kind of stream folds its events: `users`, `pools`, `organization`
//! and `customers` (the ownership state machine, the deadlines and the wake-up index);
//! this module keeps the model, the indexes several streams share, and the queries
//! `decide` and the scheduler ask.

mod customers;
mod organization;
mod pools;
mod users;

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::event::{Event, StreamRef};
use crate::ids::{CustomerId, FollowUpId, PoolId, UserId};

pub use customers::{
    Customer, CustomerState, CustomerStatus, FormerState, LadderStep, NextState, changes_state,
    next_state,
};
pub use organization::OrganizationSettings;
pub use pools::Pool;
pub use users::User;

/// The hash map of the write model: foldhash, randomly seeded.
pub type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// An instant as microseconds since the Unix epoch: the cheap key of the deadline indexes.
pub fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// Who wrote a follow-up, and on which customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowUpRef {
    /// The customer.
    pub customer: CustomerId,
    /// Its author.
    pub author: UserId,
}

/// How many customers a user owns, overall and per pool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedCounts {
    /// Across all pools.
    pub total: u32,
    /// Per pool (a user is in few pools, so a small vector).
    pub per_pool: Vec<(PoolId, u32)>,
}

impl OwnedCounts {
    /// Owned customers in `pool`.
    pub fn in_pool(&self, pool: PoolId) -> u32 {
        self.per_pool
            .iter()
            .find(|(id, _)| *id == pool)
            .map_or(0, |(_, count)| *count)
    }

    fn add(&mut self, pool: PoolId, delta: i64) {
        self.total = shift(self.total, delta);
        match self.per_pool.iter_mut().find(|(id, _)| *id == pool) {
            Some((_, count)) => *count = shift(*count, delta),
            None => self.per_pool.push((pool, shift(0, delta))),
        }
        self.per_pool.retain(|(_, count)| *count > 0);
    }
}

fn shift(value: u32, delta: i64) -> u32 {
    u32::try_from((i64::from(value) + delta).max(0)).unwrap_or(u32::MAX)
}

/// The day number (days since the Unix epoch) of `at` in the organization's day.
pub fn day_number(at: DateTime<Utc>, day_offset_minutes: i32) -> i64 {
    (at.timestamp() + i64::from(day_offset_minutes) * 60).div_euclid(86_400)
}

/// Everything the domain decides against, folded from the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteModel {
    /// Users by id.
    pub users: Map<UserId, User>,
    /// Pools by id.
    pub pools: Map<PoolId, Pool>,
    /// Customers by id.
    pub customers: Map<CustomerId, Customer>,
    /// Organization settings.
    pub settings: OrganizationSettings,
    /// The default pool, once created.
    pub default_pool: Option<PoolId>,
    /// Owned counts per user.
    pub owned: Map<UserId, OwnedCounts>,
    /// When each user last returned or lost each customer (cooldowns).
    pub losses: Map<(UserId, CustomerId), DateTime<Utc>>,
    /// Claims and applications per user and pool on one day: (day number, count).
    pub claims_today: Map<(UserId, PoolId), (i64, u32)>,
    /// Follow-ups by id.
    pub follow_ups: Map<FollowUpId, FollowUpRef>,
    /// The wake-up index: when each owned customer next needs the scheduler (a reminder or
    /// a reclaim), in microseconds since the epoch. Superseded entries are left in place and
    /// skipped (an entry is live only while it equals the customer's `wake_at`); they are
    /// swept out once they outnumber half the live ones, which keeps every change a cheap,
    /// mostly cache-local insert instead of a random removal.
    pub wakeups: BTreeSet<(i64, CustomerId)>,
    /// Superseded entries in `wakeups`.
    pub stale_wakeups: usize,
    /// The instant of the last event folded in.
    pub last_event_at: Option<DateTime<Utc>>,
    /// How many events were folded in.
    pub events_applied: u64,
}

impl WriteModel {
    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds `events` into an empty model.
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut model = Self::new();
        for event in events {
            model.apply(event);
        }
        model
    }

    /// Customers `user` owns in `pool`.
    pub fn owned_in_pool(&self, user: UserId, pool: PoolId) -> u32 {
        self.owned
            .get(&user)
            .map_or(0, |counts| counts.in_pool(pool))
    }

    /// Customers `user` owns across all pools.
    pub fn owned_total(&self, user: UserId) -> u32 {
        self.owned.get(&user).map_or(0, |counts| counts.total)
    }

    /// Claims and applications `user` made in `pool` on the organization day of `at`.
    pub fn claims_on_day(&self, user: UserId, pool: PoolId, at: DateTime<Utc>) -> u32 {
        let today = day_number(at, self.settings.day_offset_minutes);
        match self.claims_today.get(&(user, pool)) {
            Some((day, count)) if *day == today => *count,
            _ => 0,
        }
    }

    /// The version of a stream's target: customer, pool, user or organization.
    pub fn customer_version(&self, customer: CustomerId) -> u64 {
        self.customers.get(&customer).map_or(0, |c| c.version)
    }

    /// Records that the events of `stream` (a customer, pool or user) up to log
    /// `position` are committed.
    pub fn record_position(&mut self, stream: StreamRef, position: u64) {
        let known = match stream {
            StreamRef::Customer(id) => self.customers.get_mut(&id).map(|c| &mut c.position),
            StreamRef::Pool(id) => self.pools.get_mut(&id).map(|p| &mut p.position),
            StreamRef::User(id) => self.users.get_mut(&id).map(|u| &mut u.position),
            StreamRef::Organization => None,
        };
        if let Some(known) = known {
            *known = (*known).max(position);
        }
    }

    /// The log position of the last committed event of `stream` (0 when unknown).
    pub fn stream_position(&self, stream: StreamRef) -> u64 {
        match stream {
            StreamRef::Customer(id) => self.customers.get(&id).map_or(0, |c| c.position),
            StreamRef::Pool(id) => self.pools.get(&id).map_or(0, |p| p.position),
            StreamRef::User(id) => self.users.get(&id).map_or(0, |u| u.position),
            StreamRef::Organization => 0,
        }
    }

    /// `evolve`: folds one event into the model, by the stream it belongs to.
    pub fn apply(&mut self, event: &Event) {
        let at = event.at;
        self.events_applied += 1;
        self.last_event_at = Some(self.last_event_at.map_or(at, |last| last.max(at)));
        match event.body.stream() {
            StreamRef::User(_) => self.apply_to_user(&event.body),
            StreamRef::Pool(_) => self.apply_to_pool(&event.body),
            StreamRef::Organization => self.apply_to_organization(&event.body),
            StreamRef::Customer(customer_id) => self.apply_to_customer(customer_id, event),
        }
    }

    /// A model for a dry run over one pool: every user and pool, the settings and owned
    /// counts (caps), and only the customers of `pool`, their wake-ups indexed afresh.
    /// Cooldowns, quotas and follow-ups are left out: no rule of the scheduler reads them.
    pub fn with_customers_of(&self, pool: PoolId) -> WriteModel {
        let mut model = WriteModel {
            users: self.users.clone(),
            pools: self.pools.clone(),
            settings: self.settings.clone(),
            default_pool: self.default_pool,
            owned: self.owned.clone(),
            last_event_at: self.last_event_at,
            ..WriteModel::default()
        };
        let customers = self.customers.iter().filter(|(_, c)| c.pool == pool);
        model.customers = customers
            .map(|(id, customer)| {
                let mut customer = customer.clone();
                customer.wake_at = None;
                (*id, customer)
            })
            .collect();
        let ids: Vec<CustomerId> = model.customers.keys().copied().collect();
        for id in ids {
            model.reschedule(id);
        }
        model
    }

    /// Whether a wake-up index entry is the customer's current one.
    pub fn is_live_wakeup(&self, at: i64, customer_id: CustomerId) -> bool {
        self.customers
            .get(&customer_id)
            .is_some_and(|customer| customer.wake_at == Some(at))
    }
}
