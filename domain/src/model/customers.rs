//! The customers' streams: each customer's pool and ownership state, its related persons
//! and shares, its next deadline and reminder, and the indexes its events feed (owned
//! counts, losses for cooldowns, claims per day, follow-up authors, the wake-up index).
//!
//! [`next_state`] is the customer state machine, stated once: where each customer event
//! takes its customer. The write model folds it here; the projections read it too.

use chrono::{DateTime, Utc};

use crate::event::{
    CustomerAutoReclaimed, CustomerChangeReverted, CustomerCreated, CustomerReclaimReassigned,
    CustomerReclaimed, Event, EventBody, RestoredTo, RevertedTo,
};
use crate::ids::{CustomerId, PoolId, UserId};
use crate::rules::{self, Deadline, Ownership};

use super::{FollowUpRef, WriteModel, day_number, micros};

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

/// A customer's state without its details (who applied, the ownership, what a restore
/// brings back): what a projection row records and a filter names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CustomerStatus {
    /// 未领用: unclaimed in its pool.
    InPool,
    /// 待审批: an application awaits a pool admin.
    Pending,
    /// 已领用: owned.
    Owned,
    /// 冻结.
    Frozen,
    /// 回收站: in the recycle bin.
    Deleted,
}

impl CustomerStatus {
    /// Every status.
    pub const ALL: [CustomerStatus; 5] = [
        CustomerStatus::InPool,
        CustomerStatus::Pending,
        CustomerStatus::Owned,
        CustomerStatus::Frozen,
        CustomerStatus::Deleted,
    ];

    /// The stable name: `in_pool`, `pending`, `owned`, `frozen` or `deleted`.
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerStatus::InPool => "in_pool",
            CustomerStatus::Pending => "pending",
            CustomerStatus::Owned => "owned",
            CustomerStatus::Frozen => "frozen",
            CustomerStatus::Deleted => "deleted",
        }
    }

    /// Parses a name produced by [`CustomerStatus::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }
}

impl CustomerState {
    /// The state without its details.
    pub fn status(&self) -> CustomerStatus {
        match self {
            CustomerState::InPool => CustomerStatus::InPool,
            CustomerState::Pending { .. } => CustomerStatus::Pending,
            CustomerState::Owned(_) => CustomerStatus::Owned,
            CustomerState::Frozen => CustomerStatus::Frozen,
            CustomerState::Deleted { .. } => CustomerStatus::Deleted,
        }
    }

    /// The state's stable name: `in_pool`, `pending`, `owned`, `frozen` or `deleted`.
    pub fn name(&self) -> &'static str {
        self.status().as_str()
    }

    /// The owner, when owned.
    pub fn owner(&self) -> Option<UserId> {
        match self {
            CustomerState::Owned(ownership) => Some(ownership.owner),
            _ => None,
        }
    }
}

/// A step of a deadline's escalation ladder ([`Customer::ladder`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LadderStep {
    /// The owner's superior was notified.
    Escalated,
    /// A follow-up after the reminder or the escalation stopped the ladder: no further
    /// escalation, and the deadline's outcome is the return to the pool.
    Stopped,
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
    /// The stream version of the last event that changed its state or pool (what a revert
    /// checks: nothing may have changed since the change it reverts).
    pub changed_version: u64,
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
    /// How far the escalation ladder of a deadline went: escalated to the superior, or
    /// stopped by a follow-up after a reminder or an escalation.
    pub ladder: Option<(DateTime<Utc>, LadderStep)>,
    /// The customer's live entry in the wake-up index: the earlier of a pending reminder
    /// and the deadline, in microseconds since the epoch.
    pub wake_at: Option<i64>,
    /// Whether its personal data was purged: nothing personal may be recorded any more.
    pub purged: bool,
    /// The log position of its last committed event, recorded by whoever appends
    /// ([`WriteModel::record_position`]); 0 until then. Point reads wait for it; `decide`
    /// never reads it, and folding the log leaves it to the caller.
    pub position: u64,
}

impl Customer {
    /// When the owner's superior is to be notified of the deadline under `rules`: while
    /// the pool escalates and this deadline's ladder has not been climbed or stopped.
    pub fn escalation_at(&self, rules: &rules::PoolRules) -> Option<DateTime<Utc>> {
        let deadline = self.deadline?;
        if self.ladder.is_some_and(|(at, _)| at == deadline.at) {
            return None;
        }
        rules::escalation_at(rules, &deadline)
    }

    /// Whether a follow-up stopped the ladder of the deadline due at `due_at`.
    pub fn ladder_stopped(&self, due_at: DateTime<Utc>) -> bool {
        self.ladder == Some((due_at, LadderStep::Stopped))
    }
}

/// Where a customer event takes its customer, as far as the event alone says: the one
/// statement of the customer state machine. The write model folds it into
/// [`CustomerState`] (with the details of an ownership), the projections into their rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextState {
    /// A new customer: unclaimed in `pool`, or owned by its creator (`owner`) who kept it.
    Created {
        /// Its pool.
        pool: PoolId,
        /// Its creator, when they kept it.
        owner: Option<UserId>,
    },
    /// 未领用: unclaimed, in its pool or, after an abandon, in the pool it went back to.
    InPool {
        /// The pool it went back to, when the event names one.
        to_pool: Option<PoolId>,
    },
    /// 待审批: an application awaits a pool admin.
    Pending {
        /// Who applied.
        applicant: UserId,
    },
    /// 已领用: a new ownership starts (a claim, an approval, an assignment, an
    /// auto-assignment, a transfer, a restore to the former owner).
    Owned {
        /// The new owner.
        owner: UserId,
        /// Where protection counts from and its explicit end, when an assignment set them.
        protection: Option<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    },
    /// 冻结.
    Frozen,
    /// 回收站: in the recycle bin.
    Deleted,
    /// The same state, in another pool.
    Moved {
        /// The pool it is in now.
        to_pool: PoolId,
    },
    /// The same state in the same pool; only the customer's stream moves on (a reminder, a
    /// follow-up or a comment, the deal, a protection extension, a share).
    Unchanged,
}

/// Whether `body` changes its customer's state or pool (every customer event but the
/// ones whose [`NextState`] is `Unchanged`).
pub fn changes_state(body: &EventBody) -> bool {
    next_state(body).is_some_and(|next| next != NextState::Unchanged)
}

/// Where `body` takes its customer ([`NextState`]); `None` for events of other streams.
pub fn next_state(body: &EventBody) -> Option<NextState> {
    let owned = |owner| NextState::Owned {
        owner,
        protection: None,
    };
    let in_pool = NextState::InPool { to_pool: None };
    Some(match body {
        EventBody::CustomerCreated(e) => NextState::Created {
            pool: e.pool_id,
            owner: e.owner,
        },
        EventBody::CustomerClaimed(e) => owned(e.owner),
        EventBody::ClaimApproved(e) => owned(e.applicant),
        EventBody::CustomerAutoAssigned(e) => owned(e.assignee),
        EventBody::CustomerTransferred(e) => owned(e.to),
        EventBody::CustomerReclaimReassigned(e) => owned(e.new_owner),
        EventBody::CustomerAssigned(e) => NextState::Owned {
            owner: e.assignee,
            protection: Some((e.protection_start, e.protection_until)),
        },
        EventBody::ClaimRequested(e) => NextState::Pending {
            applicant: e.applicant,
        },
        EventBody::ClaimRejected(_)
        | EventBody::CustomerReclaimed(_)
        | EventBody::CustomerAutoReclaimed(_)
        | EventBody::CustomerUnfrozen(_) => in_pool,
        EventBody::CustomerAbandoned(e) => NextState::InPool {
            to_pool: Some(e.to_pool),
        },
        EventBody::CustomerFrozen(_) => NextState::Frozen,
        EventBody::CustomerChangeReverted(e) => match e.reverted_to {
            RevertedTo::InPool => in_pool,
            RevertedTo::Pending { applicant } => NextState::Pending { applicant },
            RevertedTo::Owned { owner } => owned(owner),
            RevertedTo::Moved => NextState::Unchanged,
        },
        EventBody::CustomerDeleted(_) => NextState::Deleted,
        EventBody::CustomerMoved(e) => NextState::Moved { to_pool: e.to_pool },
        EventBody::CustomerRestored(e) => match (e.restored_to, e.owner) {
            (RestoredTo::FormerOwner, Some(owner)) => owned(owner),
            (RestoredTo::Frozen, _) => NextState::Frozen,
            _ => in_pool,
        },
        EventBody::ReclaimReminded(_)
        | EventBody::ReclaimEscalated(_)
        | EventBody::FollowUpLogged(_)
        | EventBody::FollowUpCommented(_)
        | EventBody::CustomerWon(_)
        | EventBody::ProtectionExtended(_)
        | EventBody::CustomerShared(_)
        | EventBody::CustomerPurged(_) => NextState::Unchanged,
        EventBody::UserCreated(_)
        | EventBody::UserUpdated(_)
        | EventBody::UserDeactivated(_)
        | EventBody::PoolCreated(_)
        | EventBody::PoolModeChanged(_)
        | EventBody::PoolAdminsChanged(_)
        | EventBody::PoolMembersChanged(_)
        | EventBody::PoolRulesChanged(_)
        | EventBody::OrganizationSettingsChanged(_) => return None,
    })
}

impl WriteModel {
    /// Folds an event of `customer_id`'s stream: first what it records besides the state,
    /// then the state it leads to ([`next_state`]).
    pub(super) fn apply_to_customer(&mut self, customer_id: CustomerId, event: &Event) {
        let Some(next) = next_state(&event.body) else {
            return;
        };
        self.record_facts(customer_id, event);
        self.enter_state(customer_id, next, event.at);
        if next != NextState::Unchanged
            && let Some(customer) = self.customers.get_mut(&customer_id)
        {
            customer.changed_version = customer.version;
        }
    }

    /// What a customer event records besides the state: the customer itself when created,
    /// the claims of the day, rotation pointers, losses (cooldowns), related persons, owned
    /// counts that move with a customer, follow-up authors, the reminder sent, shares, and
    /// the ownership's last contact, deal and protection end.
    fn record_facts(&mut self, customer_id: CustomerId, event: &Event) {
        let at = event.at;
        match &event.body {
            EventBody::CustomerCreated(e) => self.insert_customer(customer_id, e),
            EventBody::CustomerAutoAssigned(e) => {
                if let Some(pool) = self.pools.get_mut(&e.pool_id)
                    && let Some(pointer) = pool.rotation.get_mut(e.rule_index as usize)
                {
                    *pointer = e.pointer_after;
                }
            }
            EventBody::CustomerClaimed(e) => self.count_claim(e.owner, e.pool_id, at),
            EventBody::ClaimRequested(e) => self.count_claim(e.applicant, e.pool_id, at),
            EventBody::CustomerAbandoned(e) => {
                self.losses.insert((e.abandoner, customer_id), at);
            }
            EventBody::CustomerReclaimed(CustomerReclaimed { former_owner, .. })
            | EventBody::CustomerAutoReclaimed(CustomerAutoReclaimed { former_owner, .. }) => {
                self.lose_to_reclaim(customer_id, *former_owner, at);
            }
            EventBody::CustomerReclaimReassigned(CustomerReclaimReassigned {
                former_owner,
                pool_id,
                assignment,
                ..
            }) => {
                self.lose_to_reclaim(customer_id, *former_owner, at);
                if let Some(choice) = assignment
                    && let Some(pool) = self.pools.get_mut(pool_id)
                    && let Some(pointer) = pool.rotation.get_mut(choice.rule_index as usize)
                {
                    *pointer = choice.pointer_after;
                }
            }
            // A reverted loss starts no cooldown for the owner it returns to.
            EventBody::CustomerChangeReverted(CustomerChangeReverted {
                reverted_to: RevertedTo::Owned { owner },
                ..
            }) => {
                self.losses.remove(&(*owner, customer_id));
            }
            EventBody::ReclaimEscalated(e) => {
                if let Some(customer) = self.customers.get_mut(&customer_id) {
                    customer.ladder = Some((e.due_at, LadderStep::Escalated));
                }
            }
            EventBody::ReclaimReminded(e) => {
                if let Some(customer) = self.customers.get_mut(&customer_id) {
                    customer.reminded_for = Some(e.due_at);
                }
            }
            EventBody::FollowUpLogged(e) => {
                self.follow_ups.insert(
                    e.follow_up_id,
                    FollowUpRef {
                        customer: customer_id,
                        author: e.author,
                    },
                );
                self.stop_ladder(customer_id);
                self.with_ownership(customer_id, |ownership| {
                    ownership.last_contact_at = Some(at);
                });
            }
            EventBody::CustomerWon(_) => {
                self.with_ownership(customer_id, |ownership| ownership.won_at = Some(at));
            }
            EventBody::ProtectionExtended(e) => {
                self.with_ownership(customer_id, |ownership| {
                    ownership.protection_until = Some(e.until);
                });
            }
            EventBody::CustomerMoved(e) => {
                let owner = self
                    .customers
                    .get(&customer_id)
                    .and_then(|c| c.state.owner());
                if let Some(owner) = owner {
                    self.count(owner, e.from_pool, -1);
                    self.count(owner, e.to_pool, 1);
                }
            }
            EventBody::CustomerShared(e) => {
                if let Some(customer) = self.customers.get_mut(&customer_id)
                    && !customer.shared_with.contains(&e.department)
                {
                    customer.shared_with.push(e.department.clone());
                }
            }
            EventBody::CustomerPurged(_) => {
                if let Some(customer) = self.customers.get_mut(&customer_id) {
                    customer.purged = true;
                }
            }
            // The rest change nothing but the state.
            _ => {}
        }
    }

    /// Moves the customer to `next`: its state (counting owners), its pool, its version and
    /// its schedule.
    fn enter_state(&mut self, customer_id: CustomerId, next: NextState, at: DateTime<Utc>) {
        match next {
            NextState::Created { owner: None, .. } => {
                self.set_state(customer_id, CustomerState::InPool);
            }
            NextState::Created {
                owner: Some(owner), ..
            } => self.start_ownership(customer_id, Ownership::starting(owner, at)),
            NextState::InPool { to_pool } => {
                self.set_state(customer_id, CustomerState::InPool);
                if let Some(to_pool) = to_pool
                    && let Some(customer) = self.customers.get_mut(&customer_id)
                {
                    customer.pool = to_pool;
                }
            }
            NextState::Pending { applicant } => self.set_state(
                customer_id,
                CustomerState::Pending {
                    applicant,
                    since: at,
                },
            ),
            NextState::Owned { owner, protection } => {
                let mut ownership = Ownership::starting(owner, at);
                if let Some((start, until)) = protection {
                    ownership.protection_start = start;
                    ownership.protection_until = until;
                }
                self.start_ownership(customer_id, ownership);
            }
            NextState::Frozen => self.set_state(customer_id, CustomerState::Frozen),
            NextState::Deleted => {
                let former = match self.customers.get(&customer_id).map(|c| &c.state) {
                    Some(CustomerState::Owned(ownership)) => FormerState::Owned(ownership.owner),
                    Some(CustomerState::Frozen) => FormerState::Frozen,
                    _ => FormerState::Unclaimed,
                };
                self.set_state(customer_id, CustomerState::Deleted { former });
            }
            NextState::Moved { to_pool } => {
                if let Some(customer) = self.customers.get_mut(&customer_id) {
                    customer.pool = to_pool;
                }
                self.touch(customer_id);
            }
            NextState::Unchanged => self.touch(customer_id),
        }
    }

    /// A new customer's record, unclaimed until [`Self::enter_state`] gives it its state.
    fn insert_customer(&mut self, customer_id: CustomerId, created: &CustomerCreated) {
        self.customers.insert(
            customer_id,
            Customer {
                pool: created.pool_id,
                state: CustomerState::InPool,
                version: 0,
                changed_version: 0,
                created_by: created.created_by,
                related: Vec::new(),
                shared_with: Vec::new(),
                deadline: None,
                reminder_at: None,
                reminded_for: None,
                ladder: None,
                wake_at: None,
                purged: false,
                position: 0,
            },
        );
    }

    /// Ends any current ownership and starts `ownership`.
    fn start_ownership(&mut self, customer_id: CustomerId, ownership: Ownership) {
        let owner = ownership.owner;
        // A reminder belongs to one ownership: the new owner is reminded of their own deadline.
        if let Some(customer) = self.customers.get_mut(&customer_id) {
            customer.reminded_for = None;
            customer.ladder = None;
        }
        self.set_state(customer_id, CustomerState::Owned(ownership));
        if let Some(pool) = self.customers.get(&customer_id).map(|c| c.pool) {
            self.count(owner, pool, 1);
        }
    }

    /// A reclaim: the former owner becomes a related person and starts a cooldown.
    fn lose_to_reclaim(
        &mut self,
        customer_id: CustomerId,
        former_owner: UserId,
        at: DateTime<Utc>,
    ) {
        if let Some(customer) = self.customers.get_mut(&customer_id)
            && !customer.related.contains(&former_owner)
        {
            customer.related.push(former_owner);
        }
        self.losses.insert((former_owner, customer_id), at);
    }

    /// A follow-up after the owner was reminded of the deadline, or the superior notified,
    /// stops that deadline's ladder.
    fn stop_ladder(&mut self, customer_id: CustomerId) {
        if let Some(customer) = self.customers.get_mut(&customer_id)
            && let Some(deadline) = customer.deadline
            && (customer.reminded_for == Some(deadline.at)
                || customer.ladder == Some((deadline.at, LadderStep::Escalated)))
        {
            customer.ladder = Some((deadline.at, LadderStep::Stopped));
        }
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

    /// Changes the current ownership, if the customer is owned.
    fn with_ownership(&mut self, customer_id: CustomerId, change: impl FnOnce(&mut Ownership)) {
        if let Some(customer) = self.customers.get_mut(&customer_id)
            && let CustomerState::Owned(ownership) = &mut customer.state
        {
            change(ownership);
        }
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
    pub(super) fn reschedule(&mut self, customer_id: CustomerId) {
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
        let escalation = pool.and_then(|pool| customer.escalation_at(&pool.rules));
        let wake_at = deadline.map(|deadline| {
            let first = [reminder, escalation].into_iter().flatten().min();
            micros(first.map_or(deadline.at, |at| at.min(deadline.at)))
        });
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
}
