//! `owner_view`: "my customers" for a user, their subordinates' (recursively, through the
//! users' superiors), related persons' customers and department shares.

mod reader;

use std::collections::BTreeSet;

use poolkeeper_codec::LoggedEvent;
use poolkeeper_domain::event::EventBody;
use poolkeeper_domain::{CustomerId, PoolId, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};

pub use self::reader::{
    AccessReason, OwnedCustomer, OwnerQuery, OwnerScope, OwnerViewReader, RelatedCustomer,
    UserSummary,
};
use crate::cache::{Map, RowCache};
use crate::db::{Id, RowExt, micros};
use crate::lifecycle::{OwnershipState, Standing, Transition, customer_of, transition};
use crate::name::ProjectionName;
use crate::projector::{ProjectionDefinition, Projector};

pub(crate) static DEFINITION: ProjectionDefinition = ProjectionDefinition {
    name: ProjectionName::OwnerView,
    schema_version: 1,
    tables: include_str!("schema.sql"),
    indexes: include_str!("indexes.sql"),
    open: |db| Ok(Box::new(OwnerView::open(db)?)),
};

#[derive(Clone, Debug)]
struct UserRow {
    name: String,
    superior: Option<UserId>,
    department: Option<String>,
    admin: bool,
    active: bool,
    version: u64,
}

#[derive(Clone, Debug)]
struct CustomerRow {
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

fn load_customer(db: &Connection, id: CustomerId) -> rusqlite::Result<Option<CustomerRow>> {
    db.prepare_cached(
        "SELECT pool_id, name, state, owner, owned_since, created_by, version, last_position, \
         changed_at FROM customers WHERE customer_id = ?1",
    )?
    .query_row([Id::from(id)], |row| {
        Ok(CustomerRow {
            pool: row.id(0)?,
            name: row.get(1)?,
            state: row.parsed(2, OwnershipState::parse)?,
            user: row.opt_id(3)?,
            owned_since: row.get(4)?,
            created_by: row.id(5)?,
            version: row.get::<_, i64>(6)? as u64,
            last_position: row.get::<_, i64>(7)? as u64,
            changed_at: row.get(8)?,
        })
    })
    .optional()
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

struct OwnerView {
    users: Map<UserId, UserRow>,
    dirty_users: BTreeSet<UserId>,
    customers: RowCache<CustomerId, CustomerRow>,
    related: Vec<Grant<UserId>>,
    shares: Vec<Grant<String>>,
}

impl OwnerView {
    fn open(db: &Connection) -> rusqlite::Result<Self> {
        let mut users = Map::default();
        let mut statement = db.prepare(
            "SELECT user_id, name, superior, department, admin, active, version FROM users",
        )?;
        for user in statement.query_map([], read_user)? {
            let (id, user) = user?;
            users.insert(id, user);
        }
        Ok(Self {
            users,
            dirty_users: BTreeSet::new(),
            customers: RowCache::default(),
            related: Vec::new(),
            shares: Vec::new(),
        })
    }

    fn user_event(&mut self, event: &LoggedEvent) {
        let (id, change): (UserId, Option<UserRow>) = match &event.event.body {
            EventBody::UserCreated(e) => (
                e.user_id,
                Some(UserRow {
                    name: e.name.clone(),
                    superior: e.superior,
                    department: e.department.clone(),
                    admin: e.admin,
                    active: true,
                    version: event.stream_version,
                }),
            ),
            EventBody::UserUpdated(e) => {
                let Some(user) = self.users.get_mut(&e.user_id) else {
                    return;
                };
                user.name.clone_from(&e.name);
                user.superior = e.superior;
                user.department.clone_from(&e.department);
                user.admin = e.admin;
                (e.user_id, None)
            }
            EventBody::UserDeactivated(e) => {
                let Some(user) = self.users.get_mut(&e.user_id) else {
                    return;
                };
                user.active = false;
                (e.user_id, None)
            }
            _ => return,
        };
        if let Some(user) = change {
            self.users.insert(id, user);
        }
        if let Some(user) = self.users.get_mut(&id) {
            user.version = event.stream_version;
        }
        self.dirty_users.insert(id);
    }

    fn customer_event(&mut self, db: &Connection, event: &LoggedEvent) -> rusqlite::Result<()> {
        let body = &event.event.body;
        let Some(id) = customer_of(body) else {
            return Ok(());
        };
        let at = micros(event.event.at);
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
            self.customers.put(id, row);
            return Ok(());
        }
        let Some(row) = self.customers.get_mut(id, |id| load_customer(db, *id))? else {
            return Ok(());
        };
        let standing = Standing {
            pool: row.pool,
            state: row.state,
            user: row.user,
        };
        match transition(Some(&standing), body) {
            Transition::Ignore => return Ok(()),
            Transition::Touch => {}
            Transition::To(standing) => enter(row, standing, body, at),
        }
        row.version = event.stream_version;
        row.last_position = event.position;
        row.changed_at = at;
        match body {
            EventBody::CustomerReclaimed(e) => {
                self.related.push((e.former_owner, id, at, event.position));
            }
            EventBody::CustomerAutoReclaimed(e) => {
                self.related.push((e.former_owner, id, at, event.position));
            }
            EventBody::CustomerShared(e) => {
                self.shares
                    .push((e.department.clone(), id, at, event.position));
            }
            _ => {}
        }
        Ok(())
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
    fn apply(&mut self, db: &Connection, event: &LoggedEvent) -> rusqlite::Result<()> {
        match event.event.stream() {
            poolkeeper_domain::StreamRef::User(_) => {
                self.user_event(event);
                Ok(())
            }
            poolkeeper_domain::StreamRef::Customer(_) => self.customer_event(db, event),
            _ => Ok(()),
        }
    }

    fn flush(&mut self, db: &Connection) -> rusqlite::Result<()> {
        for id in std::mem::take(&mut self.dirty_users) {
            if let Some(user) = self.users.get(&id) {
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
        self.customers.flush(|id, row| {
            let owner = (row.state == OwnershipState::Owned)
                .then_some(row.user)
                .flatten();
            db.prepare_cached(
                "INSERT OR REPLACE INTO customers (customer_id, pool_id, name, state, owner, \
                 owned_since, created_by, version, last_position, changed_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                Id::from(*id),
                Id::from(row.pool),
                row.name,
                row.state.as_str(),
                owner.map(Id::from),
                row.owned_since,
                Id::from(row.created_by),
                row.version as i64,
                row.last_position as i64,
                row.changed_at,
            ])?;
            Ok(())
        })?;
        // Sorted by key, so the inserts walk the b-tree in order; the earliest grant of a
        // key comes first and is the one kept.
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

    fn trim(&mut self, keep: usize) {
        self.customers.trim(keep);
    }
}
