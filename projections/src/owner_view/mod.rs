//! `owner_view`: "my customers" for a user, their subordinates' (recursively, through the
//! users' superiors), related persons' customers and department shares.
//!
//! Resident: the fold keeps every row in [`OwnerMemory`], which the reader answers from
//! while the projection is live; the file is its snapshot (and what a [`crate::Snapshot`]
//! reads, through the SQL of `reader.rs`).

mod memory;
mod reader;

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use poolkeeper_codec::LoggedEvent;
use poolkeeper_domain::event::{EventBody, PURGED};
use poolkeeper_domain::{CustomerId, PoolId, UserId};
use rusqlite::{Connection, Row, params};

pub use self::reader::{
    AccessReason, OwnedCustomer, OwnerQuery, OwnerScope, OwnerViewReader, RelatedCustomer,
    UserSummary,
};

use crate::db::{Id, RowExt, micros};
use crate::lifecycle::{OwnershipState, Standing, Transition, customer_of, transition};
use crate::name::ProjectionName;
use crate::projector::{Memory, ProjectionDefinition, Projector};

pub(crate) use self::memory::OwnerMemory;

pub(crate) static DEFINITION: ProjectionDefinition = ProjectionDefinition {
    name: ProjectionName::OwnerView,
    schema_version: 1,
    tables: include_str!("schema.sql"),
    indexes: include_str!("indexes.sql"),
    open: |db| Ok(Box::new(OwnerView::open(db)?)),
};

#[derive(Clone, Debug)]
pub(crate) struct UserRow {
    name: String,
    superior: Option<UserId>,
    department: Option<String>,
    admin: bool,
    active: bool,
    version: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct CustomerRow {
    pool: PoolId,
    name: String,
    state: OwnershipState,
    user: Option<UserId>,
    owned_since: Option<i64>,
    created_by: UserId,
    version: u64,
    last_position: u64,
    changed_at: i64,
}

impl CustomerRow {
    /// The owner column: the user, when owned (a pending row's user is its applicant).
    fn owner(&self) -> Option<UserId> {
        (self.state == OwnershipState::Owned)
            .then_some(self.user)
            .flatten()
    }
}

const CUSTOMER_COLUMNS: &str = "pool_id, name, state, owner, owned_since, created_by, version, \
    last_position, changed_at";

/// A customer row from `CUSTOMER_COLUMNS`, starting at column `first`.
fn read_customer_row(row: &Row<'_>, first: usize) -> rusqlite::Result<CustomerRow> {
    Ok(CustomerRow {
        pool: row.id(first)?,
        name: row.get(first + 1)?,
        state: row.parsed(first + 2, OwnershipState::parse)?,
        user: row.opt_id(first + 3)?,
        owned_since: row.get(first + 4)?,
        created_by: row.id(first + 5)?,
        version: row.get::<_, i64>(first + 6)? as u64,
        last_position: row.get::<_, i64>(first + 7)? as u64,
        changed_at: row.get(first + 8)?,
    })
}

fn read_user(row: &Row<'_>) -> rusqlite::Result<(UserId, UserRow)> {
    Ok((
        row.id(0)?,
        UserRow {
            name: row.get(1)?,
            superior: row.opt_id(2)?,
            department: row.get(3)?,
            admin: row.get(4)?,
            active: row.get(5)?,
            version: row.get::<_, i64>(6)? as u64,
        },
    ))
}

/// An access grant waiting to be inserted: (key, customer, at, position).
type Grant<K> = (K, CustomerId, i64, u64);

/// The fold: every row in [`OwnerMemory`] (which the reader answers from), and what
/// changed since the file was last written.
struct OwnerView {
    memory: Arc<RwLock<OwnerMemory>>,
    dirty_users: BTreeSet<UserId>,
    dirty_customers: BTreeSet<CustomerId>,
    related: Vec<Grant<UserId>>,
    shares: Vec<Grant<String>>,
}

impl OwnerView {
    /// Loads every row of the file into memory.
    fn open(db: &Connection) -> rusqlite::Result<Self> {
        let mut memory = OwnerMemory::default();
        let mut statement = db.prepare(
            "SELECT user_id, name, superior, department, admin, active, version FROM users",
        )?;
        for user in statement.query_map([], read_user)? {
            let (id, user) = user?;
            memory.put_user(id, user);
        }
        let mut statement = db.prepare(&format!(
            "SELECT customer_id, {CUSTOMER_COLUMNS} FROM customers"
        ))?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let id: CustomerId = row.id(0)?;
            memory.change_customer(id, Some(read_customer_row(row, 1)?), |_| {});
        }
        let mut statement =
            db.prepare("SELECT user_id, customer_id, since_at, since_position FROM related")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            memory.relate(
                row.id(0)?,
                row.id(1)?,
                row.get(2)?,
                row.get::<_, i64>(3)? as u64,
            );
        }
        let mut statement =
            db.prepare("SELECT department, customer_id, since_at, since_position FROM shares")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let department: String = row.get(0)?;
            memory.share(
                &department,
                row.id(1)?,
                row.get(2)?,
                row.get::<_, i64>(3)? as u64,
            );
        }
        Ok(Self {
            memory: Arc::new(RwLock::new(memory)),
            dirty_users: BTreeSet::new(),
            dirty_customers: BTreeSet::new(),
            related: Vec::new(),
            shares: Vec::new(),
        })
    }

    fn user_event(&mut self, event: &LoggedEvent) {
        let mut memory = self.memory.write().unwrap_or_else(|e| e.into_inner());
        let (id, mut user) = match &event.event.body {
            EventBody::UserCreated(e) => (
                e.user_id,
                UserRow {
                    name: e.name.clone(),
                    superior: e.superior,
                    department: e.department.clone(),
                    admin: e.admin,
                    active: true,
                    version: event.stream_version,
                },
            ),
            EventBody::UserUpdated(e) => {
                let Some(user) = memory.users.get(&e.user_id) else {
                    return;
                };
                let mut user = user.clone();
                user.name.clone_from(&e.name);
                user.superior = e.superior;
                user.department.clone_from(&e.department);
                user.admin = e.admin;
                (e.user_id, user)
            }
            EventBody::UserDeactivated(e) => {
                let Some(user) = memory.users.get(&e.user_id) else {
                    return;
                };
                let mut user = user.clone();
                user.active = false;
                (e.user_id, user)
            }
            _ => return,
        };
        user.version = event.stream_version;
        memory.put_user(id, user);
        self.dirty_users.insert(id);
    }

    fn customer_event(&mut self, event: &LoggedEvent) {
        let body = &event.event.body;
        let Some(id) = customer_of(body) else {
            return;
        };
        let at = micros(event.event.at);
        let mut memory = self.memory.write().unwrap_or_else(|e| e.into_inner());
        if let EventBody::CustomerCreated(e) = body {
            let mut row = CustomerRow {
                pool: e.pool_id,
                name: e.name.clone(),
                state: OwnershipState::InPool,
                user: None,
                owned_since: None,
                created_by: e.created_by,
                version: event.stream_version,
                last_position: event.position,
                changed_at: at,
            };
            if let Transition::To(standing) = transition(None, body) {
                enter(&mut row, standing, body, at);
            }
            memory.change_customer(id, Some(row), |_| {});
            self.dirty_customers.insert(id);
            return;
        }
        let Some(row) = memory.customers.get(&id) else {
            return;
        };
        let standing = Standing {
            pool: row.pool,
            state: row.state,
            user: row.user,
        };
        let transition = transition(Some(&standing), body);
        if transition == Transition::Ignore {
            return;
        }
        memory.change_customer(id, None, |row| {
            if let Transition::To(standing) = transition {
                enter(row, standing, body, at);
            }
            if matches!(body, EventBody::CustomerPurged(_)) {
                row.name = PURGED.to_owned();
            }
            row.version = event.stream_version;
            row.last_position = event.position;
            row.changed_at = at;
        });
        self.dirty_customers.insert(id);
        let former_owner = match body {
            EventBody::CustomerReclaimed(e) => Some(e.former_owner),
            EventBody::CustomerAutoReclaimed(e) => Some(e.former_owner),
            EventBody::CustomerReclaimReassigned(e) => Some(e.former_owner),
            _ => None,
        };
        if let Some(user) = former_owner
            && memory.relate(user, id, at, event.position)
        {
            self.related.push((user, id, at, event.position));
        }
        if let EventBody::CustomerShared(e) = body
            && memory.share(&e.department, id, at, event.position)
        {
            self.shares
                .push((e.department.clone(), id, at, event.position));
        }
    }
}

/// A new state period: the owner's `owned_since` restarts with every ownership.
fn enter(row: &mut CustomerRow, standing: Standing, body: &EventBody, at: i64) {
    let moved = matches!(body, EventBody::CustomerMoved(_));
    row.pool = standing.pool;
    if !moved {
        row.state = standing.state;
        row.user = standing.user;
        row.owned_since = (standing.state == OwnershipState::Owned).then_some(at);
    }
}

impl Projector for OwnerView {
    fn apply(&mut self, _db: &Connection, event: &LoggedEvent) -> rusqlite::Result<()> {
        match event.event.stream() {
            poolkeeper_domain::StreamRef::User(_) => self.user_event(event),
            poolkeeper_domain::StreamRef::Customer(_) => self.customer_event(event),
            _ => {}
        }
        Ok(())
    }

    fn flush(&mut self, db: &Connection) -> rusqlite::Result<()> {
        let memory = self.memory.read().unwrap_or_else(|e| e.into_inner());
        for id in std::mem::take(&mut self.dirty_users) {
            if let Some(user) = memory.users.get(&id) {
                db.prepare_cached(
                    "INSERT OR REPLACE INTO users (user_id, name, superior, department, admin, \
                     active, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    Id::from(id),
                    user.name,
                    user.superior.map(Id::from),
                    user.department,
                    user.admin,
                    user.active,
                    user.version as i64,
                ])?;
            }
        }
        for id in std::mem::take(&mut self.dirty_customers) {
            let Some(row) = memory.customers.get(&id) else {
                continue;
            };
            db.prepare_cached(&format!(
                "INSERT OR REPLACE INTO customers (customer_id, {CUSTOMER_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ))?
            .execute(params![
                Id::from(id),
                Id::from(row.pool),
                row.name,
                row.state.as_str(),
                row.owner().map(Id::from),
                row.owned_since,
                Id::from(row.created_by),
                row.version as i64,
                row.last_position as i64,
                row.changed_at,
            ])?;
        }
        drop(memory);
        // Sorted by key, so the inserts walk the b-tree in order.
        self.related
            .sort_unstable_by_key(|(user, customer, _, position)| (*user, *customer, *position));
        for (user, customer, at, position) in self.related.drain(..) {
            db.prepare_cached(
                "INSERT OR IGNORE INTO related (user_id, customer_id, since_at, since_position) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                Id::from(user),
                Id::from(customer),
                at,
                position as i64
            ])?;
        }
        self.shares
            .sort_unstable_by(|a, b| (&a.0, a.1, a.3).cmp(&(&b.0, b.1, b.3)));
        for (department, customer, at, position) in self.shares.drain(..) {
            db.prepare_cached(
                "INSERT OR IGNORE INTO shares (department, customer_id, since_at, since_position) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![department, Id::from(customer), at, position as i64])?;
        }
        Ok(())
    }

    fn trim(&mut self, _keep: usize) {}

    fn memory(&self) -> Option<Memory> {
        Some(Arc::clone(&self.memory) as Memory)
    }

    fn rewrite_all(&mut self) {
        let memory = self.memory.read().unwrap_or_else(|e| e.into_inner());
        self.dirty_users = memory.users.keys().copied().collect();
        self.dirty_customers = memory.customers.keys().copied().collect();
        (self.related, self.shares) = memory.grants();
    }
}
