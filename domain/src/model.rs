//! The write model: every customer's ownership state, users, pools, and the indexes the
//! cross-customer rules need, folded from events.
//!
//! [`WriteModel::apply`] is `evolve`: it folds one event in and never fails. Besides the
//! entities it keeps derived indexes, all rebuilt by folding and never written directly:
//! owned counts per user and pool (caps), the instant each user last lost each customer
//! (cooldowns), claims per user, pool and day (quotas), follow-up authors (comments), and
//! the deadline and reminder indexes ordered by instant, so [`crate::schedule::due`] finds
//! what is due without looking at any customer that is not.

use std::collections::{BTreeSet, HashMap};

/// The hash map of the write model: foldhash, randomly seeded.
pub type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// An instant as microseconds since the Unix epoch: the cheap key of the deadline indexes.
pub fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

use chrono::{DateTime, Utc};

use crate::event::{Event, EventBody, RestoredTo, StreamRef};
use crate::ids::{CustomerId, FollowUpId, PoolId, UserId};
use crate::rules::{self, Deadline, Limit, Ownership, PoolMode, PoolRules, RulesSince};

/// A user as the rules see them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Display name.
    pub name: String,
    /// The direct superior (上级).
    pub superior: Option<UserId>,
    /// The department (部门).
    pub department: Option<String>,
    /// An organization admin.
    pub admin: bool,
    /// False once deactivated.
    pub active: bool,
    /// Events on the user's stream.
    pub version: u64,
    /// The log position of its last committed event ([`WriteModel::record_position`]).
    pub position: u64,
}

/// A pool and its configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    /// Display name.
    pub name: String,
    /// How members take customers.
    pub mode: PoolMode,
    /// Pool admins (organization admins count too).
    pub admins: BTreeSet<UserId>,
    /// Named members.
    pub members: BTreeSet<UserId>,
    /// Every user is a member.
    pub everyone: bool,
    /// The default pool.
    pub default: bool,
    /// The rules in force.
    pub rules: PoolRules,
    /// Their version (1 at creation, +1 per change).
    pub rules_version: u32,
    /// From when each active reclaim rule is in force.
    pub rules_since: RulesSince,
    /// The rotation pointer of each auto-assignment rule.
    pub rotation: Vec<u32>,
    /// Events on the pool's stream.
    pub version: u64,
    /// The log position of its last committed event ([`WriteModel::record_position`]).
    pub position: u64,
}

/// Where a deleted customer came from, so a restore can bring it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormerState {
    /// Unclaimed or pending.
    Unclaimed,
    /// Owned by this user.
    Owned(UserId),
    /// Frozen.
    Frozen,
}

/// A customer's ownership state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomerState {
    /// 未领用: in its pool, unclaimed.
    InPool,
    /// 待审批: an application awaits a pool admin.
    Pending {
        /// Who applied.
        applicant: UserId,
        /// Since when.
        since: DateTime<Utc>,
    },
    /// 已领用: owned.
    Owned(Ownership),
    /// 冻结: neither claimable nor editable.
    Frozen,
    /// 回收站: in the recycle bin.
    Deleted {
        /// What a restore brings back.
        former: FormerState,
    },
}

impl CustomerState {
    /// The state's stable name: `in_pool`, `pending`, `owned`, `frozen` or `deleted`.
    pub fn name(&self) -> &'static str {
        match self {
            CustomerState::InPool => "in_pool",
            CustomerState::Pending { .. } => "pending",
            CustomerState::Owned(_) => "owned",
            CustomerState::Frozen => "frozen",
            CustomerState::Deleted { .. } => "deleted",
        }
    }

    /// The owner, when owned.
    pub fn owner(&self) -> Option<UserId> {
        match self {
            CustomerState::Owned(ownership) => Some(ownership.owner),
            _ => None,
        }
    }
}

/// A customer as the rules see it (names and free fields live in the projections).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Customer {
    /// The pool it belongs to.
    pub pool: PoolId,
    /// Its ownership state.
    pub state: CustomerState,
    /// Events on its stream.
    pub version: u64,
    /// Who created it.
    pub created_by: UserId,
    /// Related persons (相关人): former owners whose ownership was reclaimed keep read access.
    pub related: Vec<UserId>,
    /// Departments it is shared with.
    pub shared_with: Vec<String>,
    /// The next automatic-reclaim deadline, when owned and a rule applies.
    pub deadline: Option<Deadline>,
    /// When the owner will be reminded of `deadline`.
    pub reminder_at: Option<DateTime<Utc>>,
    /// The deadline the owner was last reminded of.
    pub reminded_for: Option<DateTime<Utc>>,
    /// The customer's live entry in the wake-up index: the earlier of a pending reminder
    /// and the deadline, in microseconds since the epoch.
    pub wake_at: Option<i64>,
    /// The log position of its last committed event, recorded by whoever appends
    /// ([`WriteModel::record_position`]); 0 until then. Point reads wait for it; `decide`
    /// never reads it, and folding the log leaves it to the caller.
    pub position: u64,
}

/// Organization-wide settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrganizationSettings {
    /// The most customers one user may own across all pools.
    pub overall_cap: Option<Limit>,
    /// The organization's day offset from UTC in minutes.
    pub day_offset_minutes: i32,
    /// Events on the organization stream.
    pub version: u64,
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

    /// `evolve`: folds one event into the model.
    pub fn apply(&mut self, event: &Event) {
        let at = event.at;
        self.events_applied += 1;
        self.last_event_at = Some(self.last_event_at.map_or(at, |last| last.max(at)));
        match &event.body {
            EventBody::UserCreated(e) => {
                self.users.insert(
                    e.user_id,
                    User {
                        name: e.name.clone(),
                        superior: e.superior,
                        department: e.department.clone(),
                        admin: e.admin,
                        active: true,
                        version: 1,
                        position: 0,
                    },
                );
            }
            EventBody::UserUpdated(e) => {
                if let Some(user) = self.users.get_mut(&e.user_id) {
                    user.name.clone_from(&e.name);
                    user.superior = e.superior;
                    user.department.clone_from(&e.department);
                    user.admin = e.admin;
                    user.version += 1;
                }
            }
            EventBody::UserDeactivated(e) => {
                if let Some(user) = self.users.get_mut(&e.user_id) {
                    user.active = false;
                    user.version += 1;
                }
            }
            EventBody::PoolCreated(e) => {
                self.pools.insert(
                    e.pool_id,
                    Pool {
                        name: e.name.clone(),
                        mode: e.mode,
                        admins: e.admins.clone(),
                        members: e.members.clone(),
                        everyone: e.everyone,
                        default: e.default,
                        rotation: vec![0; e.rules.auto_assign.len()],
                        rules: (*e.rules).clone(),
                        rules_version: 1,
                        rules_since: e.rules_since.clone(),
                        version: 1,
                        position: 0,
                    },
                );
                if e.default {
                    self.default_pool = Some(e.pool_id);
                }
            }
            EventBody::PoolModeChanged(e) => {
                if let Some(pool) = self.pools.get_mut(&e.pool_id) {
                    pool.mode = e.mode;
                    pool.version += 1;
                }
            }
            EventBody::PoolAdminsChanged(e) => {
                if let Some(pool) = self.pools.get_mut(&e.pool_id) {
                    pool.admins.clone_from(&e.admins);
                    pool.version += 1;
                }
            }
            EventBody::PoolMembersChanged(e) => {
                if let Some(pool) = self.pools.get_mut(&e.pool_id) {
                    pool.members.clone_from(&e.members);
                    pool.everyone = e.everyone;
                    pool.version += 1;
                }
            }
            EventBody::PoolRulesChanged(e) => {
                if let Some(pool) = self.pools.get_mut(&e.pool_id) {
                    pool.rules = (*e.rules).clone();
                    pool.rules_version = e.rules_version;
                    pool.rules_since.clone_from(&e.rules_since);
                    pool.rotation.resize(e.rules.auto_assign.len(), 0);
                    pool.version += 1;
                    let in_pool: Vec<CustomerId> = self
                        .customers
                        .iter()
                        .filter(|(_, c)| c.pool == e.pool_id && c.state.owner().is_some())
                        .map(|(id, _)| *id)
                        .collect();
                    for customer in in_pool {
                        self.reschedule(customer);
                    }
                }
            }
            EventBody::OrganizationSettingsChanged(e) => {
                self.settings.overall_cap.clone_from(&e.overall_cap);
                self.settings.day_offset_minutes = e.day_offset_minutes;
                self.settings.version += 1;
            }
            EventBody::CustomerCreated(e) => {
                let state = match e.owner {
                    Some(owner) => CustomerState::Owned(Ownership::starting(owner, at)),
                    None => CustomerState::InPool,
                };
                self.customers.insert(
                    e.customer_id,
                    Customer {
                        pool: e.pool_id,
                        state,
                        version: 0,
                        created_by: e.created_by,
                        related: Vec::new(),
                        shared_with: Vec::new(),
                        deadline: None,
                        reminder_at: None,
                        reminded_for: None,
                        wake_at: None,
                        position: 0,
                    },
                );
                if let Some(owner) = e.owner {
                    self.count(owner, e.pool_id, 1);
                }
                self.touch(e.customer_id);
            }
            EventBody::CustomerAutoAssigned(e) => {
                if let Some(pool) = self.pools.get_mut(&e.pool_id)
                    && let Some(pointer) = pool.rotation.get_mut(e.rule_index as usize)
                {
                    *pointer = e.pointer_after;
                }
                self.start_ownership(e.customer_id, Ownership::starting(e.assignee, at));
            }
            EventBody::CustomerAssigned(e) => {
                let mut ownership = Ownership::starting(e.assignee, at);
                ownership.protection_start = e.protection_start;
                ownership.protection_until = e.protection_until;
                self.start_ownership(e.customer_id, ownership);
            }
            EventBody::CustomerClaimed(e) => {
                self.count_claim(e.owner, e.pool_id, at);
                self.start_ownership(e.customer_id, Ownership::starting(e.owner, at));
            }
            EventBody::ClaimRequested(e) => {
                self.count_claim(e.applicant, e.pool_id, at);
                self.set_state(
                    e.customer_id,
                    CustomerState::Pending {
                        applicant: e.applicant,
                        since: at,
                    },
                );
            }
            EventBody::ClaimApproved(e) => {
                self.start_ownership(e.customer_id, Ownership::starting(e.applicant, at));
            }
            EventBody::ClaimRejected(e) => self.set_state(e.customer_id, CustomerState::InPool),
            EventBody::CustomerAbandoned(e) => {
                self.set_state(e.customer_id, CustomerState::InPool);
                if let Some(customer) = self.customers.get_mut(&e.customer_id) {
                    customer.pool = e.to_pool;
                }
                self.losses.insert((e.abandoner, e.customer_id), at);
            }
            EventBody::CustomerReclaimed(e) => {
                self.lose_to_reclaim(e.customer_id, e.former_owner, at);
            }
            EventBody::CustomerAutoReclaimed(e) => {
                self.lose_to_reclaim(e.customer_id, e.former_owner, at);
            }
            EventBody::ReclaimReminded(e) => {
                if let Some(customer) = self.customers.get_mut(&e.customer_id) {
                    customer.reminded_for = Some(e.due_at);
                }
                self.touch(e.customer_id);
            }
            EventBody::CustomerTransferred(e) => {
                self.start_ownership(e.customer_id, Ownership::starting(e.to, at));
            }
            EventBody::CustomerFrozen(e) => self.set_state(e.customer_id, CustomerState::Frozen),
            EventBody::CustomerUnfrozen(e) => self.set_state(e.customer_id, CustomerState::InPool),
            EventBody::CustomerMoved(e) => {
                let owner = self
                    .customers
                    .get(&e.customer_id)
                    .and_then(|c| c.state.owner());
                if let Some(owner) = owner {
                    self.count(owner, e.from_pool, -1);
                    self.count(owner, e.to_pool, 1);
                }
                if let Some(customer) = self.customers.get_mut(&e.customer_id) {
                    customer.pool = e.to_pool;
                }
                self.touch(e.customer_id);
            }
            EventBody::CustomerDeleted(e) => {
                let former = match self.customers.get(&e.customer_id).map(|c| &c.state) {
                    Some(CustomerState::Owned(ownership)) => FormerState::Owned(ownership.owner),
                    Some(CustomerState::Frozen) => FormerState::Frozen,
                    _ => FormerState::Unclaimed,
                };
                self.set_state(e.customer_id, CustomerState::Deleted { former });
            }
            EventBody::CustomerRestored(e) => match (e.restored_to, e.owner) {
                (RestoredTo::FormerOwner, Some(owner)) => {
                    self.start_ownership(e.customer_id, Ownership::starting(owner, at));
                }
                (RestoredTo::Frozen, _) => self.set_state(e.customer_id, CustomerState::Frozen),
                _ => self.set_state(e.customer_id, CustomerState::InPool),
            },
            EventBody::FollowUpLogged(e) => {
                self.follow_ups.insert(
                    e.follow_up_id,
                    FollowUpRef {
                        customer: e.customer_id,
                        author: e.author,
                    },
                );
                self.with_ownership(e.customer_id, |ownership| {
                    ownership.last_contact_at = Some(at);
                });
            }
            EventBody::FollowUpCommented(e) => self.touch(e.customer_id),
            EventBody::CustomerWon(e) => {
                self.with_ownership(e.customer_id, |ownership| ownership.won_at = Some(at));
            }
            EventBody::ProtectionExtended(e) => {
                self.with_ownership(e.customer_id, |ownership| {
                    ownership.protection_until = Some(e.until);
                });
            }
            EventBody::CustomerShared(e) => {
                if let Some(customer) = self.customers.get_mut(&e.customer_id)
                    && !customer.shared_with.contains(&e.department)
                {
                    customer.shared_with.push(e.department.clone());
                }
                self.touch(e.customer_id);
            }
        }
    }

    /// Ends any current ownership and starts `ownership`.
    fn start_ownership(&mut self, customer_id: CustomerId, ownership: Ownership) {
        let owner = ownership.owner;
        // A reminder belongs to one ownership: the new owner is reminded of their own deadline.
        if let Some(customer) = self.customers.get_mut(&customer_id) {
            customer.reminded_for = None;
        }
        self.set_state(customer_id, CustomerState::Owned(ownership));
        if let Some(pool) = self.customers.get(&customer_id).map(|c| c.pool) {
            self.count(owner, pool, 1);
        }
    }

    /// A reclaim: back to the pool, the former owner becomes a related person and starts a cooldown.
    fn lose_to_reclaim(
        &mut self,
        customer_id: CustomerId,
        former_owner: UserId,
        at: DateTime<Utc>,
    ) {
        self.set_state(customer_id, CustomerState::InPool);
        if let Some(customer) = self.customers.get_mut(&customer_id)
            && !customer.related.contains(&former_owner)
        {
            customer.related.push(former_owner);
        }
        self.losses.insert((former_owner, customer_id), at);
    }

    /// Replaces the state (uncounting a previous owner), bumps the version and reschedules.
    fn set_state(&mut self, customer_id: CustomerId, state: CustomerState) {
        let Some(customer) = self.customers.get_mut(&customer_id) else {
            return;
        };
        let previous = std::mem::replace(&mut customer.state, state);
        let pool = customer.pool;
        if let Some(owner) = previous.owner() {
            self.count(owner, pool, -1);
        }
        self.touch(customer_id);
    }

    fn with_ownership(&mut self, customer_id: CustomerId, change: impl FnOnce(&mut Ownership)) {
        if let Some(customer) = self.customers.get_mut(&customer_id)
            && let CustomerState::Owned(ownership) = &mut customer.state
        {
            change(ownership);
        }
        self.touch(customer_id);
    }

    /// Bumps the customer's version and recomputes its deadline and reminder.
    fn touch(&mut self, customer_id: CustomerId) {
        if let Some(customer) = self.customers.get_mut(&customer_id) {
            customer.version += 1;
        }
        self.reschedule(customer_id);
    }

    fn count(&mut self, user: UserId, pool: PoolId, delta: i64) {
        self.owned.entry(user).or_default().add(pool, delta);
        if self
            .owned
            .get(&user)
            .is_some_and(|c| c.total == 0 && c.per_pool.is_empty())
        {
            self.owned.remove(&user);
        }
    }

    fn count_claim(&mut self, user: UserId, pool: PoolId, at: DateTime<Utc>) {
        let today = day_number(at, self.settings.day_offset_minutes);
        let entry = self.claims_today.entry((user, pool)).or_insert((today, 0));
        if entry.0 != today {
            *entry = (today, 0);
        }
        entry.1 += 1;
    }

    /// Recomputes a customer's deadline, reminder and wake-up, and indexes the wake-up.
    fn reschedule(&mut self, customer_id: CustomerId) {
        let Some(customer) = self.customers.get_mut(&customer_id) else {
            return;
        };
        let pool = self.pools.get(&customer.pool);
        let deadline = match (&customer.state, pool) {
            (CustomerState::Owned(ownership), Some(pool)) => {
                rules::next_deadline(&pool.rules, &pool.rules_since, ownership)
            }
            _ => None,
        };
        let reminder = match (deadline, pool) {
            (Some(deadline), Some(pool)) if customer.reminded_for != Some(deadline.at) => {
                rules::reminder_at(&pool.rules, &deadline)
            }
            _ => None,
        };
        customer.deadline = deadline;
        customer.reminder_at = reminder;
        let wake_at = match (reminder, deadline) {
            (Some(reminder), Some(deadline)) => Some(micros(reminder.min(deadline.at))),
            (_, deadline) => deadline.map(|d| micros(d.at)),
        };
        if customer.wake_at == wake_at {
            return;
        }
        if customer.wake_at.is_some() {
            self.stale_wakeups += 1;
        }
        customer.wake_at = wake_at;
        if let Some(at) = wake_at {
            self.wakeups.insert((at, customer_id));
        }
        if self.stale_wakeups > 1_024 && self.stale_wakeups * 2 > self.wakeups.len() {
            let customers = &self.customers;
            self.wakeups
                .retain(|(at, id)| customers.get(id).is_some_and(|c| c.wake_at == Some(*at)));
            self.stale_wakeups = 0;
        }
    }

    /// Whether a wake-up index entry is the customer's current one.
    pub fn is_live_wakeup(&self, at: i64, customer_id: CustomerId) -> bool {
        self.customers
            .get(&customer_id)
            .is_some_and(|customer| customer.wake_at == Some(at))
    }
}
