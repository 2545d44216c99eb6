//! `pool_view`: each pool's customers by ownership state (unclaimed, pending, claimed,
//! expired, frozen, recycle bin), with what each state needs shown: the last abandon and
//! reclaim, the applicant, the owner with protection end and next reclaim deadline
//! (computed by the domain's rules functions from the pool's rules, recomputed when they
//! change), who froze or deleted it.
//!
//! Resident: the fold keeps every row in [`PoolMemory`], which the reader answers from
//! while the projection is live; the file is its snapshot (and what a [`crate::Snapshot`]
//! reads, through the SQL of `reader.rs`).

mod memory;
mod reader;
mod rows;

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use poolkeeper_codec::LoggedEvent;
use poolkeeper_domain::event::{
    CustomerAutoReclaimed, CustomerReclaimReassigned, EventBody, PURGED,
};
use poolkeeper_domain::rules::{self, Ownership, PoolMode, PoolRules, RuleKind, RulesSince};
use poolkeeper_domain::{Actor, CustomerId, PoolId, UserId};
use rusqlite::Connection;

pub use self::reader::{
    AbandonInfo, DeadlineInfo, DeletedInfo, FrozenInfo, OwnedInfo, PendingInfo, PoolCustomer,
    PoolFilter, PoolQuery, PoolSummary, PoolViewReader, ReclaimInfo,
};
use crate::cache::Map;
use crate::db::{RowExt, instant, json, micros};
use crate::lifecycle::{OwnershipState, Standing, Transition, customer_of, transition};
use crate::name::ProjectionName;
use crate::projector::{Memory, ProjectionDefinition, Projector};

pub(crate) use self::memory::PoolMemory;
use self::rows::{
    CUSTOMER_COLUMNS, POOL_COLUMNS, read_customer, read_pool, write_customer, write_pool,
};

pub(crate) static DEFINITION: ProjectionDefinition = ProjectionDefinition {
    name: ProjectionName::PoolView,
    // 2: `protection_end` includes an explicit window's end in a pool whose protection rule
    // is off, and a protection deadline is never before the rule came into force; files
    // folded by version 1 may differ from a rebuild there, so they are refolded.
    schema_version: 2,
    tables: include_str!("schema.sql"),
    indexes: include_str!("indexes.sql"),
    open: |db| Ok(Box::new(PoolView::open(db)?)),
};

pub(crate) fn mode_str(mode: PoolMode) -> &'static str {
    match mode {
        PoolMode::AssignOnly => "assign_only",
        PoolMode::FreeClaim => "free_claim",
        PoolMode::ClaimWithApproval => "claim_with_approval",
    }
}

pub(crate) fn parse_mode(text: &str) -> Option<PoolMode> {
    [
        PoolMode::AssignOnly,
        PoolMode::FreeClaim,
        PoolMode::ClaimWithApproval,
    ]
    .into_iter()
    .find(|mode| mode_str(*mode) == text)
}

/// A pool as the fold keeps it (every pool stays in memory).
#[derive(Clone, Debug)]
struct PoolRow {
    name: String,
    mode: PoolMode,
    is_default: bool,
    everyone: bool,
    admins: BTreeSet<UserId>,
    members: BTreeSet<UserId>,
    rules: PoolRules,
    rules_since: RulesSince,
    rules_version: u32,
    version: u64,
    created_at: i64,
    changed_at: i64,
}

/// Who reclaimed a customer last.
#[derive(Clone, Debug, PartialEq)]
struct Reclaim {
    from: UserId,
    by: Actor,
    reason: Option<String>,
    at: i64,
}

/// A customer row as the fold keeps it; derived columns are computed when it is written.
#[derive(Clone, Debug, PartialEq)]
struct CustomerRow {
    pool: PoolId,
    state: OwnershipState,
    name: String,
    source: Option<String>,
    fields: String,
    created_by: UserId,
    created_at: i64,
    version: u64,
    last_position: u64,
    changed_at: i64,
    applicant: Option<UserId>,
    pending_since: Option<i64>,
    ownership: Option<Ownership>,
    reminded_for: Option<i64>,
    // The facts most rows never have are boxed, so a row in memory stays small.
    abandon: Option<Box<(String, UserId, i64)>>,
    reclaim: Option<Box<Reclaim>>,
    frozen: Option<Box<(Actor, Option<String>, i64)>>,
    deleted: Option<Box<(Actor, i64)>>,
}

impl CustomerRow {
    fn standing(&self) -> Standing {
        Standing {
            pool: self.pool,
            state: self.state,
            user: match self.state {
                OwnershipState::Owned => self.ownership.as_ref().map(|o| o.owner),
                OwnershipState::Pending => self.applicant,
                _ => None,
            },
        }
    }

    /// Enters a new state period (not a move): clears the previous state's details and
    /// sets the new one's.
    fn enter(&mut self, standing: Standing, event: &LoggedEvent) {
        let at = event.event.at;
        self.pool = standing.pool;
        self.state = standing.state;
        self.applicant = None;
        self.pending_since = None;
        self.ownership = None;
        self.frozen = None;
        self.deleted = None;
        match standing.state {
            OwnershipState::Owned => {
                let owner = standing
                    .user
                    .unwrap_or_else(|| unreachable!("owned has an owner"));
                let mut ownership = Ownership::starting(owner, at);
                if let EventBody::CustomerAssigned(e) = &event.event.body {
                    ownership.protection_start = e.protection_start;
                    ownership.protection_until = e.protection_until;
                }
                self.ownership = Some(ownership);
            }
            OwnershipState::Pending => {
                self.applicant = standing.user;
                self.pending_since = Some(micros(at));
            }
            OwnershipState::Frozen => {
                let reason = match &event.event.body {
                    EventBody::CustomerFrozen(e) => e.reason.clone(),
                    _ => None,
                };
                self.frozen = Some(Box::new((event.event.actor, reason, micros(at))));
            }
            OwnershipState::Deleted => {
                self.deleted = Some(Box::new((event.event.actor, micros(at))));
            }
            OwnershipState::InPool => {}
        }
    }
}

/// The derived columns of an owned row under its pool's rules.
#[derive(Default)]
struct Derived {
    protection_end: Option<i64>,
    deadline: Option<rules::Deadline>,
    reminder_at: Option<i64>,
}

fn derive(row: &CustomerRow, pools: &Map<PoolId, PoolRow>) -> Derived {
    let (Some(ownership), Some(pool)) = (&row.ownership, pools.get(&row.pool)) else {
        return Derived::default();
    };
    if row.state != OwnershipState::Owned {
        return Derived::default();
    }
    let deadline = rules::next_deadline(&pool.rules, &pool.rules_since, ownership);
    let reminder_at = deadline
        .filter(|d| row.reminded_for != Some(micros(d.at)))
        .and_then(|d| rules::reminder_at(&pool.rules, &d))
        .map(micros);
    Derived {
        protection_end: rules::protection_until(&pool.rules, &pool.rules_since, ownership)
            .map(micros),
        deadline,
        reminder_at,
    }
}

/// The fold of `pool_view`: every row in [`PoolMemory`] (which the reader answers from),
/// and what changed since the file was last written.
struct PoolView {
    memory: Arc<RwLock<PoolMemory>>,
    dirty_pools: BTreeSet<PoolId>,
    dirty_customers: BTreeSet<CustomerId>,
}

impl PoolView {
    /// Loads every row of the file into memory.
    fn open(db: &Connection) -> rusqlite::Result<Self> {
        let mut memory = PoolMemory::default();
        let mut statement = db.prepare(&format!("SELECT {POOL_COLUMNS} FROM pools"))?;
        for pool in statement.query_map([], read_pool)? {
            let (id, pool) = pool?;
            memory.pools.insert(id, pool);
        }
        let mut statement = db.prepare(&format!(
            "SELECT customer_id, {CUSTOMER_COLUMNS} FROM customers"
        ))?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let id: CustomerId = row.id(0)?;
            memory.change_customer(id, Some(read_customer(row, 1)?), |_| ());
        }
        Ok(Self {
            memory: Arc::new(RwLock::new(memory)),
            dirty_pools: BTreeSet::new(),
            dirty_customers: BTreeSet::new(),
        })
    }

    fn pool_event(&mut self, event: &LoggedEvent) {
        let at = micros(event.event.at);
        let mut memory = self.memory.write().unwrap_or_else(|e| e.into_inner());
        let pools = &mut memory.pools;
        let pool_id = match &event.event.body {
            EventBody::PoolCreated(e) => {
                pools.insert(
                    e.pool_id,
                    PoolRow {
                        name: e.name.clone(),
                        mode: e.mode,
                        is_default: e.default,
                        everyone: e.everyone,
                        admins: e.admins.clone(),
                        members: e.members.clone(),
                        rules: (*e.rules).clone(),
                        rules_since: e.rules_since.clone(),
                        rules_version: 1,
                        version: event.stream_version,
                        created_at: at,
                        changed_at: at,
                    },
                );
                e.pool_id
            }
            EventBody::PoolModeChanged(e) => {
                let Some(pool) = pools.get_mut(&e.pool_id) else {
                    return;
                };
                pool.mode = e.mode;
                e.pool_id
            }
            EventBody::PoolAdminsChanged(e) => {
                let Some(pool) = pools.get_mut(&e.pool_id) else {
                    return;
                };
                pool.admins.clone_from(&e.admins);
                e.pool_id
            }
            EventBody::PoolMembersChanged(e) => {
                let Some(pool) = pools.get_mut(&e.pool_id) else {
                    return;
                };
                pool.members.clone_from(&e.members);
                pool.everyone = e.everyone;
                e.pool_id
            }
            EventBody::PoolRulesChanged(e) => {
                let Some(pool) = pools.get_mut(&e.pool_id) else {
                    return;
                };
                pool.rules = (*e.rules).clone();
                pool.rules_version = e.rules_version;
                pool.rules_since.clone_from(&e.rules_since);
                // The owned customers' derived columns change with the rules: the file's
                // are rewritten at the next snapshot (memory derives them when read).
                self.dirty_customers.extend(memory.owned_in(e.pool_id));
                e.pool_id
            }
            _ => return,
        };
        if let Some(pool) = memory.pools.get_mut(&pool_id) {
            pool.version = event.stream_version;
            pool.changed_at = at;
        }
        self.dirty_pools.insert(pool_id);
    }

    fn customer_event(&mut self, event: &LoggedEvent) {
        let body = &event.event.body;
        let Some(id) = customer_of(body) else {
            return;
        };
        let at = event.event.at;
        let mut memory = self.memory.write().unwrap_or_else(|e| e.into_inner());
        if let EventBody::CustomerCreated(e) = body {
            let mut row = CustomerRow {
                pool: e.pool_id,
                state: OwnershipState::InPool,
                name: e.name.clone(),
                source: e.source.clone(),
                fields: json(&e.fields),
                created_by: e.created_by,
                created_at: micros(at),
                version: event.stream_version,
                last_position: event.position,
                changed_at: micros(at),
                applicant: None,
                pending_since: None,
                ownership: None,
                reminded_for: None,
                abandon: None,
                reclaim: None,
                frozen: None,
                deleted: None,
            };
            if let Transition::To(standing) = transition(None, body) {
                row.enter(standing, event);
            }
            memory.change_customer(id, Some(row), |_| ());
            self.dirty_customers.insert(id);
            return;
        }
        if memory.change_customer(id, None, |row| apply_to_customer(row, event)) == Some(true) {
            if matches!(body, EventBody::CustomerPurged(_)) {
                memory.rename_customer(id, PURGED);
            }
            self.dirty_customers.insert(id);
        }
    }
}

/// Applies a customer event to its row; false when the event does not concern it.
fn apply_to_customer(row: &mut CustomerRow, event: &LoggedEvent) -> bool {
    let body = &event.event.body;
    let at = event.event.at;
    match transition(Some(&row.standing()), body) {
        Transition::Ignore => return false,
        Transition::Touch => {}
        Transition::To(standing) => match body {
            EventBody::CustomerMoved(_) => row.pool = standing.pool,
            _ => row.enter(standing, event),
        },
    }
    match body {
        EventBody::CustomerAbandoned(e) => {
            row.abandon = Some(Box::new((e.reason.clone(), e.abandoner, micros(at))));
        }
        EventBody::CustomerReclaimed(e) => {
            row.reclaim = Some(Box::new(Reclaim {
                from: e.former_owner,
                by: event.event.actor,
                reason: e.reason.clone(),
                at: micros(at),
            }));
        }
        EventBody::CustomerAutoReclaimed(CustomerAutoReclaimed {
            former_owner, rule, ..
        })
        | EventBody::CustomerReclaimReassigned(CustomerReclaimReassigned {
            former_owner,
            rule,
            ..
        }) => {
            row.reclaim = Some(Box::new(Reclaim {
                from: *former_owner,
                by: Actor::Rule(*rule),
                reason: None,
                at: micros(at),
            }));
        }
        EventBody::ReclaimReminded(e) => row.reminded_for = Some(micros(e.due_at)),
        EventBody::FollowUpLogged(_) => {
            if let Some(ownership) = row.ownership.as_mut() {
                ownership.last_contact_at = Some(at);
            }
        }
        EventBody::CustomerWon(_) => {
            if let Some(ownership) = row.ownership.as_mut() {
                ownership.won_at = Some(at);
            }
        }
        EventBody::ProtectionExtended(e) => {
            if let Some(ownership) = row.ownership.as_mut() {
                ownership.protection_until = Some(e.until);
            }
        }
        // The name too, through `PoolMemory::rename_customer`: it is indexed.
        EventBody::CustomerPurged(_) => row.fields = purged_fields(&row.fields),
        _ => {}
    }
    row.version = event.stream_version;
    row.last_position = event.position;
    row.changed_at = micros(at);
    true
}

impl Projector for PoolView {
    fn apply(&mut self, _db: &Connection, event: &LoggedEvent) -> rusqlite::Result<()> {
        match event.event.stream() {
            poolkeeper_domain::StreamRef::Pool(_) => self.pool_event(event),
            poolkeeper_domain::StreamRef::Customer(_) => self.customer_event(event),
            _ => {}
        }
        Ok(())
    }

    fn flush(&mut self, db: &Connection) -> rusqlite::Result<()> {
        let memory = self.memory.read().unwrap_or_else(|e| e.into_inner());
        for id in std::mem::take(&mut self.dirty_pools) {
            if let Some(pool) = memory.pools.get(&id) {
                write_pool(db, id, pool)?;
            }
        }
        for id in std::mem::take(&mut self.dirty_customers) {
            if let Some(row) = memory.customers.get(&id) {
                write_customer(db, id, row, &derive(row, &memory.pools))?;
            }
        }
        Ok(())
    }

    fn trim(&mut self, _keep: usize) {}

    fn memory(&self) -> Option<Memory> {
        Some(Arc::clone(&self.memory) as Memory)
    }

    fn rewrite_all(&mut self) {
        let memory = self.memory.read().unwrap_or_else(|e| e.into_inner());
        self.dirty_pools = memory.pools.keys().copied().collect();
        self.dirty_customers = memory.customers.keys().copied().collect();
    }
}

/// The free fields `fields` (a JSON object) with every value [`PURGED`]: what a rebuild
/// folds from a purged customer's `customer.created`, whose values no longer open.
fn purged_fields(fields: &str) -> String {
    let keys: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_str(fields).unwrap_or_default();
    let purged: std::collections::BTreeMap<String, String> = keys
        .into_keys()
        .map(|key| (key, PURGED.to_owned()))
        .collect();
    json(&purged)
}

/// The rule names stored in `deadline_rule`.
pub(crate) fn parse_rule(text: &str) -> Option<RuleKind> {
    RuleKind::parse(text)
}

/// Converts stored microseconds for readers.
pub(crate) fn at(micros: i64) -> DateTime<Utc> {
    instant(micros)
}
