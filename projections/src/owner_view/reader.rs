//! Queries of `owner_view`: from memory (`memory.rs`) when live, else by SQL from a file.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use poolkeeper_domain::{CustomerId, PoolId, UserId};
use poolkeeper_eventlog::Position;
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use super::{OwnerMemory, read_user};
use crate::db::{Id, RowExt, micros};
use crate::error::ProjectionError;
use crate::lifecycle::OwnershipState;
use crate::page::{self, DEFAULT_LIMIT, Key, Page, TimeOrder};
use crate::readpool::{ReadPool, snapshot};

/// Whose customers to list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OwnerScope {
    /// The user's own customers.
    #[default]
    Own,
    /// Customers owned by the user's subordinates, recursively (not the user's own).
    Subordinates,
    /// Both.
    OwnAndSubordinates,
}

/// A "my customers" listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerQuery {
    /// The user.
    pub user: UserId,
    /// Whose customers.
    pub scope: OwnerScope,
    /// By last change.
    pub order: TimeOrder,
    /// Page size (1..=1000).
    pub limit: u32,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl OwnerQuery {
    /// The first page of `user`'s customers in `scope`, newest first, 50 rows.
    pub fn new(user: UserId, scope: OwnerScope) -> Self {
        Self {
            user,
            scope,
            order: TimeOrder::NewestFirst,
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

impl OwnerQuery {
    /// Whose customers the listing merges: the user, their subordinates (found by
    /// `subordinates`), or both.
    pub(crate) fn owners<E>(
        &self,
        subordinates: impl FnOnce() -> Result<Vec<UserId>, E>,
    ) -> Result<Vec<UserId>, E> {
        let mut owners = Vec::new();
        if self.scope != OwnerScope::Subordinates {
            owners.push(self.user);
        }
        if self.scope != OwnerScope::Own {
            owners.extend(subordinates()?);
        }
        Ok(owners)
    }
}

/// A customer as the owner view lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedCustomer {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: OwnershipState,
    /// Its owner, when owned.
    pub owner: Option<UserId>,
    /// Since when the owner has it.
    pub owned_since: Option<DateTime<Utc>>,
    /// Who created it.
    pub created_by: UserId,
    /// Events on its stream.
    pub version: u64,
    /// Its last event's position.
    pub last_position: Position,
    /// Its last event's instant.
    pub changed_at: DateTime<Utc>,
}

/// A customer a user or department was given read access to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelatedCustomer {
    /// The customer now.
    pub customer: OwnedCustomer,
    /// When access was granted (the reclaim or the share).
    pub since: DateTime<Utc>,
    /// The position of that event.
    pub since_position: Position,
}

/// A user's profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSummary {
    /// The user.
    pub user_id: UserId,
    /// Display name.
    pub name: String,
    /// Direct superior.
    pub superior: Option<UserId>,
    /// Department.
    pub department: Option<String>,
    /// An organization admin.
    pub admin: bool,
    /// False once deactivated.
    pub active: bool,
    /// Events on the user's stream.
    pub version: u64,
}

/// Why a user may read a customer outside the pools (strongest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AccessReason {
    /// The user owns it.
    Owner,
    /// The user is a superior (recursively) of its owner.
    Superior,
    /// The user created it.
    Creator,
    /// The user is a related person (a former owner whose ownership was reclaimed).
    Related,
    /// It was shared with the user's department.
    Shared,
}

const COLUMNS: &str = "customer_id, pool_id, name, state, owner, owned_since, created_by, \
    version, last_position, changed_at";

fn read_customer(row: &Row<'_>) -> rusqlite::Result<OwnedCustomer> {
    Ok(OwnedCustomer {
        customer_id: row.id(0)?,
        pool_id: row.id(1)?,
        name: row.get(2)?,
        state: row.parsed(3, OwnershipState::parse)?,
        owner: row.opt_id(4)?,
        owned_since: row.opt_at(5)?,
        created_by: row.id(6)?,
        version: row.get::<_, i64>(7)? as u64,
        last_position: row.get::<_, i64>(8)? as u64,
        changed_at: row.at(9)?,
    })
}

/// The user's subordinates, recursively (cycle-safe, at most 64 levels).
fn subordinates(conn: &Connection, user: UserId) -> rusqlite::Result<Vec<UserId>> {
    conn.prepare_cached(
        "WITH RECURSIVE below(user_id, depth) AS ( \
             SELECT user_id, 1 FROM users WHERE superior = ?1 \
             UNION \
             SELECT users.user_id, below.depth + 1 FROM users JOIN below \
                 ON users.superior = below.user_id WHERE below.depth < 64) \
         SELECT DISTINCT user_id FROM below WHERE user_id != ?1 ORDER BY user_id",
    )?
    .query_map([Id::from(user)], |row| row.id(0))?
    .collect()
}

/// Queries `owner_view`: the live projection's memory when it has one (no blocking
/// hand-off, no file), else the file. Cheap to clone.
#[derive(Clone)]
pub struct OwnerViewReader {
    pub(crate) pool: Arc<ReadPool>,
    pub(crate) memory: Option<Arc<RwLock<OwnerMemory>>>,
}

impl std::fmt::Debug for OwnerViewReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerViewReader").finish_non_exhaustive()
    }
}

impl OwnerViewReader {
    /// The rows in memory, when the reader has them.
    fn memory(&self) -> Option<std::sync::RwLockReadGuard<'_, OwnerMemory>> {
        self.memory
            .as_ref()
            .map(|memory| memory.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// One page of the customers owned by the user, their subordinates, or both, by last
    /// change. Subordinates' pages merge one index range per subordinate.
    pub async fn customers(
        &self,
        query: OwnerQuery,
    ) -> Result<Page<OwnedCustomer>, ProjectionError> {
        if let Some(memory) = self.memory() {
            return memory.customers(&query);
        }
        self.pool
            .run(move |conn| snapshot(conn, |conn| customers(conn, &query)))
            .await
    }

    /// The user's subordinates, recursively.
    pub async fn subordinates(&self, user: UserId) -> Result<Vec<UserId>, ProjectionError> {
        if let Some(memory) = self.memory() {
            return Ok(memory.subordinates(user));
        }
        self.pool
            .run(move |conn| Ok(subordinates(conn, user)?))
            .await
    }

    /// A user's profile.
    pub async fn user(&self, user: UserId) -> Result<Option<UserSummary>, ProjectionError> {
        if let Some(memory) = self.memory() {
            return Ok(memory.user(user));
        }
        self.pool
            .run(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT user_id, name, superior, department, admin, active, version \
                         FROM users WHERE user_id = ?1",
                    )?
                    .query_row([Id::from(user)], read_user)
                    .optional()?
                    .map(|(user_id, user)| UserSummary {
                        user_id,
                        name: user.name,
                        superior: user.superior,
                        department: user.department,
                        admin: user.admin,
                        active: user.active,
                        version: user.version,
                    }))
            })
            .await
    }

    /// Customers the user is a related person of, most recent grant first.
    pub async fn related(
        &self,
        user: UserId,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Page<RelatedCustomer>, ProjectionError> {
        if let Some(memory) = self.memory() {
            return memory.related(user, limit, cursor);
        }
        self.pool
            .run(move |conn| {
                grants(
                    conn,
                    "rel",
                    "related",
                    "user_id",
                    rusqlite::types::Value::Blob(user.0.as_bytes().to_vec()),
                    limit,
                    cursor,
                )
            })
            .await
    }

    /// Customers shared with a department, most recent share first.
    pub async fn shared_with(
        &self,
        department: String,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Page<RelatedCustomer>, ProjectionError> {
        if let Some(memory) = self.memory() {
            return memory.shared_with(&department, limit, cursor);
        }
        self.pool
            .run(move |conn| {
                grants(
                    conn,
                    "shr",
                    "shares",
                    "department",
                    rusqlite::types::Value::Text(department),
                    limit,
                    cursor,
                )
            })
            .await
    }

    /// Every reason `user` may read `customer` outside the pools, strongest first (empty:
    /// none; pool membership and admin rights are checked by the caller).
    pub async fn access(
        &self,
        user: UserId,
        customer: CustomerId,
    ) -> Result<Vec<AccessReason>, ProjectionError> {
        if let Some(memory) = self.memory() {
            return Ok(memory.access(user, customer));
        }
        self.pool
            .run(move |conn| snapshot(conn, |conn| access(conn, user, customer)))
            .await
    }
}

fn access(
    conn: &Connection,
    user: UserId,
    customer: CustomerId,
) -> Result<Vec<AccessReason>, ProjectionError> {
    let mut reasons = Vec::new();
    let Some(row) = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM customers WHERE customer_id = ?1"
        ))?
        .query_row([Id::from(customer)], read_customer)
        .optional()?
    else {
        return Ok(reasons);
    };
    if row.state == OwnershipState::Deleted {
        return Ok(reasons);
    }
    if row.owner == Some(user) {
        reasons.push(AccessReason::Owner);
    }
    if let Some(owner) = row.owner
        && subordinates(conn, user)?.contains(&owner)
    {
        reasons.push(AccessReason::Superior);
    }
    if row.created_by == user {
        reasons.push(AccessReason::Creator);
    }
    let related: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM related WHERE user_id = ?1 AND customer_id = ?2")?
        .query_row(params![Id::from(user), Id::from(customer)], |row| {
            row.get(0)
        })
        .optional()?;
    if related.is_some() {
        reasons.push(AccessReason::Related);
    }
    let shared: Option<i64> = conn
        .prepare_cached(
            "SELECT 1 FROM shares JOIN users ON users.department = shares.department \
             WHERE users.user_id = ?1 AND shares.customer_id = ?2",
        )?
        .query_row(params![Id::from(user), Id::from(customer)], |row| {
            row.get(0)
        })
        .optional()?;
    if shared.is_some() {
        reasons.push(AccessReason::Shared);
    }
    Ok(reasons)
}

fn customers(
    conn: &Connection,
    query: &OwnerQuery,
) -> Result<Page<OwnedCustomer>, ProjectionError> {
    let limit = page::limit(query.limit)?;
    let tag = format!("ov-{}", query.order.tag());
    let after = page::decode_time_id(&tag, query.cursor.as_deref())?;
    let owners = query.owners(|| subordinates(conn, query.user))?;
    let order = query.order.sql();
    let keys_sql = match after {
        None => format!(
            "SELECT changed_at, customer_id FROM customers WHERE owner = ?1 \
             ORDER BY changed_at {order}, customer_id {order} LIMIT ?2"
        ),
        Some(_) => format!(
            "SELECT changed_at, customer_id FROM customers WHERE owner = ?1 \
             AND (changed_at, customer_id) {} (?3, ?4) \
             ORDER BY changed_at {order}, customer_id {order} LIMIT ?2",
            query.order.after()
        ),
    };
    let mut keys: Vec<(i64, Uuid)> = Vec::new();
    let mut statement = conn.prepare_cached(&keys_sql)?;
    for owner in owners {
        let rows = match after {
            None => statement.query_map(params![Id::from(owner), limit as i64 + 1], read_key)?,
            Some((time, id)) => statement.query_map(
                params![Id::from(owner), limit as i64 + 1, time, Id(id)],
                read_key,
            )?,
        };
        for key in rows {
            keys.push(key?);
        }
    }
    page::sort_keys(&mut keys, query.order);
    keys.truncate(limit + 1);
    let mut fetch = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM customers WHERE customer_id = ?1"
    ))?;
    let rows = keys
        .iter()
        .map(|(_, id)| fetch.query_row([Id(*id)], read_customer))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(page::page(rows, limit, |row| {
        page::encode(
            &tag,
            &[Key::Int(micros(row.changed_at)), Key::Id(row.customer_id.0)],
        )
    }))
}

fn read_key(row: &Row<'_>) -> rusqlite::Result<(i64, Uuid)> {
    Ok((row.get(0)?, row.get::<_, Id>(1)?.0))
}

fn grants(
    conn: &Connection,
    tag: &str,
    table: &str,
    key_column: &str,
    key: rusqlite::types::Value,
    limit: u32,
    cursor: Option<String>,
) -> Result<Page<RelatedCustomer>, ProjectionError> {
    let limit = page::limit(limit)?;
    let before = page::decode_before(tag, cursor.as_deref())?;
    let prefixed = COLUMNS
        .split(", ")
        .map(|column| format!("c.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {prefixed}, g.since_at, g.since_position FROM {table} g \
             JOIN customers c ON c.customer_id = g.customer_id \
             WHERE g.{key_column} = ?1 AND g.since_position < ?2 \
             ORDER BY g.since_position DESC LIMIT ?3"
        ))?
        .query_map(params![key, before, limit as i64 + 1], |row| {
            Ok(RelatedCustomer {
                customer: read_customer(row)?,
                since: row.at(10)?,
                since_position: row.get::<_, i64>(11)? as u64,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(page::page(rows, limit, |row| {
        page::encode(tag, &[Key::Int(row.since_position as i64)])
    }))
}
