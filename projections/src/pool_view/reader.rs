//! Queries of `pool_view`: from memory (`memory.rs`) when live, else by SQL from a file.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use poolkeeper_domain::rules::{PoolMode, PoolRules, RuleKind, RulesSince};
use poolkeeper_domain::{Actor, CustomerId, PoolId, UserId};
use poolkeeper_eventlog::Position;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row};

use super::{POOL_COLUMNS, PoolMemory, parse_rule, read_pool};
use crate::db::{Id, RowExt, from_json, micros};
use crate::error::ProjectionError;
use crate::lifecycle::OwnershipState;
use crate::page::{self, DEFAULT_LIMIT, Key, Page, TimeOrder};
use crate::readpool::ReadPool;

/// Which customers of a pool to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolFilter {
    /// 未领用: unclaimed.
    Unclaimed,
    /// 待审批: awaiting approval.
    Pending,
    /// 已领用: owned (expired ones included).
    Claimed,
    /// 已过期: owned, not won, with the end of protection at or before `now` (admins only: the
    /// caller checks). The end is the protection rule's or an explicit window's, so in a pool
    /// without the rule a customer assigned with a window is listed from the window's end
    /// until it is reclaimed, transferred, re-protected or won; with the rule the system
    /// reclaims it then, so it is listed only until the scheduler has run.
    Expired {
        /// The instant protection is compared with.
        now: DateTime<Utc>,
    },
    /// 冻结.
    Frozen,
    /// 回收站: deleted.
    RecycleBin,
    /// Every state.
    All,
}

impl PoolFilter {
    /// The state the filter lists (`None`: every state).
    pub(crate) fn state(self) -> Option<OwnershipState> {
        match self {
            PoolFilter::Unclaimed => Some(OwnershipState::InPool),
            PoolFilter::Pending => Some(OwnershipState::Pending),
            PoolFilter::Claimed | PoolFilter::Expired { .. } => Some(OwnershipState::Owned),
            PoolFilter::Frozen => Some(OwnershipState::Frozen),
            PoolFilter::RecycleBin => Some(OwnershipState::Deleted),
            PoolFilter::All => None,
        }
    }
}

/// A pool listing: filters, order and page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolQuery {
    /// The pool.
    pub pool_id: PoolId,
    /// The state filter.
    pub filter: PoolFilter,
    /// Only customers whose name starts with this.
    pub name_prefix: Option<String>,
    /// Only customers owned by this user.
    pub owner: Option<UserId>,
    /// By last change, newest or oldest first.
    pub order: TimeOrder,
    /// Page size (1..=1000).
    pub limit: u32,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl PoolQuery {
    /// The first page of `filter` in `pool_id`, newest first, 50 rows.
    pub fn new(pool_id: PoolId, filter: PoolFilter) -> Self {
        Self {
            pool_id,
            filter,
            name_prefix: None,
            owner: None,
            order: TimeOrder::NewestFirst,
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

/// An application awaiting approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingInfo {
    /// Who applied.
    pub applicant: UserId,
    /// Since when.
    pub since: DateTime<Utc>,
}

/// The next automatic reclaim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadlineInfo {
    /// When it is due.
    pub at: DateTime<Utc>,
    /// The rule that sets it.
    pub rule: RuleKind,
    /// The rule's threshold for this owner, in days.
    pub threshold_days: u32,
}

/// The current ownership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedInfo {
    /// The owner.
    pub owner: UserId,
    /// Since when.
    pub since: DateTime<Utc>,
    /// Where protection counts from.
    pub protection_start: DateTime<Utc>,
    /// The end of protection: an explicit window's (in any pool), else the pool's default
    /// when its protection rule is on.
    pub protection_end: Option<DateTime<Utc>>,
    /// The owner's last follow-up.
    pub last_contact_at: Option<DateTime<Utc>>,
    /// When it was won.
    pub won_at: Option<DateTime<Utc>>,
    /// The next automatic reclaim, when a rule applies.
    pub deadline: Option<DeadlineInfo>,
    /// When the owner will be reminded of it.
    pub reminder_at: Option<DateTime<Utc>>,
}

/// The last abandon (放弃原因 / 放弃人).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbandonInfo {
    /// The reason.
    pub reason: String,
    /// Who gave it up.
    pub abandoner: UserId,
    /// When.
    pub at: DateTime<Utc>,
}

/// The last reclaim (收回).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReclaimInfo {
    /// Who owned it.
    pub former_owner: UserId,
    /// The pool admin (`user:…`) or the rule (`rule:…`).
    pub by: Actor,
    /// Why, for a manual reclaim.
    pub reason: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// Frozen: by whom and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrozenInfo {
    /// Who froze it.
    pub by: Actor,
    /// Why.
    pub reason: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// In the recycle bin: by whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletedInfo {
    /// Who deleted it.
    pub by: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

/// One customer of a pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolCustomer {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its pool.
    pub pool_id: PoolId,
    /// Its state.
    pub state: OwnershipState,
    /// Company or person name.
    pub name: String,
    /// Where it came from.
    pub source: Option<String>,
    /// Free fields.
    pub fields: BTreeMap<String, String>,
    /// Who created it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Events on its stream.
    pub version: u64,
    /// The position of its last event.
    pub last_position: Position,
    /// The instant of its last event (the listing's sort key).
    pub changed_at: DateTime<Utc>,
    /// Set when pending.
    pub pending: Option<PendingInfo>,
    /// Set when owned.
    pub owned: Option<OwnedInfo>,
    /// The last abandon, whatever the state now.
    pub last_abandon: Option<AbandonInfo>,
    /// The last reclaim, whatever the state now.
    pub last_reclaim: Option<ReclaimInfo>,
    /// Set when frozen.
    pub frozen: Option<FrozenInfo>,
    /// Set when in the recycle bin.
    pub deleted: Option<DeletedInfo>,
}

impl PoolCustomer {
    /// Owned, not won, with protection ended at or before `now` ([`PoolFilter::Expired`]).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.owned
            .as_ref()
            .filter(|owned| owned.won_at.is_none())
            .and_then(|owned| owned.protection_end)
            .is_some_and(|end| end <= now)
    }
}

/// A pool's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSummary {
    /// The pool.
    pub pool_id: PoolId,
    /// Display name.
    pub name: String,
    /// How members take customers.
    pub mode: PoolMode,
    /// The default pool.
    pub is_default: bool,
    /// Every user is a member.
    pub everyone: bool,
    /// Pool admins.
    pub admins: BTreeSet<UserId>,
    /// Named members.
    pub members: BTreeSet<UserId>,
    /// The rules in force.
    pub rules: PoolRules,
    /// From when each reclaim rule is in force.
    pub rules_since: RulesSince,
    /// The rules' version.
    pub rules_version: u32,
    /// Events on the pool's stream.
    pub version: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its last change.
    pub changed_at: DateTime<Utc>,
}

const READ_COLUMNS: &str = "customer_id, pool_id, state, name, source, fields, created_by, \
    created_at, version, last_position, changed_at, applicant, pending_since, owner, \
    owned_since, protection_start, protection_end, last_contact_at, won_at, deadline_at, \
    deadline_rule, deadline_days, reminder_at, abandon_reason, abandoned_by, abandoned_at, \
    reclaimed_from, reclaimed_by, reclaim_reason, reclaimed_at, frozen_by, frozen_reason, \
    frozen_at, deleted_by, deleted_at";

fn read_row(row: &Row<'_>) -> rusqlite::Result<PoolCustomer> {
    let pending = match row.opt_id::<UserId>(11)? {
        Some(applicant) => Some(PendingInfo {
            applicant,
            since: row.at(12)?,
        }),
        None => None,
    };
    let owned = match row.opt_id::<UserId>(13)? {
        Some(owner) => Some(OwnedInfo {
            owner,
            since: row.at(14)?,
            protection_start: row.at(15)?,
            protection_end: row.opt_at(16)?,
            last_contact_at: row.opt_at(17)?,
            won_at: row.opt_at(18)?,
            deadline: match row.opt_at(19)? {
                Some(at) => Some(DeadlineInfo {
                    at,
                    rule: row.parsed(20, parse_rule)?,
                    threshold_days: row.get(21)?,
                }),
                None => None,
            },
            reminder_at: row.opt_at(22)?,
        }),
        None => None,
    };
    let last_abandon = match row.get::<_, Option<String>>(23)? {
        Some(reason) => Some(AbandonInfo {
            reason,
            abandoner: row.id(24)?,
            at: row.at(25)?,
        }),
        None => None,
    };
    let last_reclaim = match row.opt_id::<UserId>(26)? {
        Some(former_owner) => Some(ReclaimInfo {
            former_owner,
            by: row.actor(27)?,
            reason: row.get(28)?,
            at: row.at(29)?,
        }),
        None => None,
    };
    let frozen = match row.opt_actor(30)? {
        Some(by) => Some(FrozenInfo {
            by,
            reason: row.get(31)?,
            at: row.at(32)?,
        }),
        None => None,
    };
    let deleted = match row.opt_actor(33)? {
        Some(by) => Some(DeletedInfo {
            by,
            at: row.at(34)?,
        }),
        None => None,
    };
    Ok(PoolCustomer {
        customer_id: row.id(0)?,
        pool_id: row.id(1)?,
        state: row.parsed(2, OwnershipState::parse)?,
        name: row.get(3)?,
        source: row.get(4)?,
        fields: from_json(row, 5)?,
        created_by: row.id(6)?,
        created_at: row.at(7)?,
        version: row.get::<_, i64>(8)? as u64,
        last_position: row.get::<_, i64>(9)? as u64,
        changed_at: row.at(10)?,
        pending,
        owned,
        last_abandon,
        last_reclaim,
        frozen,
        deleted,
    })
}

/// The smallest string greater than every string starting with `prefix` (binary order),
/// or `None` when there is none.
pub(crate) fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..0xE000).contains(&next) {
            next = 0xE000;
        }
        if let Some(next) = char::from_u32(next) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Queries `pool_view`: the live projection's memory when it has one (no blocking
/// hand-off, no file), else the file. Cheap to clone.
#[derive(Clone)]
pub struct PoolViewReader {
    pub(crate) pool: Arc<ReadPool>,
    pub(crate) memory: Option<Arc<RwLock<PoolMemory>>>,
}

impl std::fmt::Debug for PoolViewReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolViewReader").finish_non_exhaustive()
    }
}

impl PoolViewReader {
    /// The rows in memory, when the reader has them.
    fn memory(&self) -> Option<std::sync::RwLockReadGuard<'_, PoolMemory>> {
        self.memory
            .as_ref()
            .map(|memory| memory.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// One page of a pool listing.
    pub async fn list(&self, query: PoolQuery) -> Result<Page<PoolCustomer>, ProjectionError> {
        if let Some(memory) = self.memory() {
            return memory.list(&query);
        }
        self.pool.run(move |conn| list(conn, &query)).await
    }

    /// One customer, whatever its state.
    pub async fn get(
        &self,
        customer_id: CustomerId,
    ) -> Result<Option<PoolCustomer>, ProjectionError> {
        if let Some(memory) = self.memory() {
            return Ok(memory.get(customer_id));
        }
        self.pool
            .run(move |conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT {READ_COLUMNS} FROM customers WHERE customer_id = ?1"
                    ))?
                    .query_row([Id::from(customer_id)], read_row)
                    .optional()?)
            })
            .await
    }

    /// One pool's configuration.
    pub async fn pool(&self, pool_id: PoolId) -> Result<Option<PoolSummary>, ProjectionError> {
        if let Some(memory) = self.memory() {
            return Ok(memory.pool(pool_id));
        }
        self.pool
            .run(move |conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT {POOL_COLUMNS} FROM pools WHERE pool_id = ?1"
                    ))?
                    .query_row([Id::from(pool_id)], read_pool)
                    .optional()?
                    .map(|(id, pool)| summary(id, pool)))
            })
            .await
    }

    /// Every pool, by name.
    pub async fn pools(&self) -> Result<Vec<PoolSummary>, ProjectionError> {
        if let Some(memory) = self.memory() {
            return Ok(memory.pools());
        }
        self.pool
            .run(move |conn| {
                let mut statement = conn.prepare_cached(&format!(
                    "SELECT {POOL_COLUMNS} FROM pools ORDER BY name, pool_id"
                ))?;
                let pools = statement
                    .query_map([], read_pool)?
                    .map(|pool| pool.map(|(id, pool)| summary(id, pool)))
                    .collect::<rusqlite::Result<_>>()?;
                Ok(pools)
            })
            .await
    }
}

pub(super) fn summary(pool_id: PoolId, pool: super::PoolRow) -> PoolSummary {
    PoolSummary {
        pool_id,
        name: pool.name,
        mode: pool.mode,
        is_default: pool.is_default,
        everyone: pool.everyone,
        admins: pool.admins,
        members: pool.members,
        rules: pool.rules,
        rules_since: pool.rules_since,
        rules_version: pool.rules_version,
        version: pool.version,
        created_at: super::at(pool.created_at),
        changed_at: super::at(pool.changed_at),
    }
}

fn list(conn: &Connection, query: &PoolQuery) -> Result<Page<PoolCustomer>, ProjectionError> {
    let limit = page::limit(query.limit)?;
    let tag = format!("pv-{}", query.order.tag());
    let after = page::decode_time_id(&tag, query.cursor.as_deref())?;
    let mut sql = format!("SELECT {READ_COLUMNS} FROM customers");
    let mut params: Vec<Value> = vec![Value::Blob(query.pool_id.0.as_bytes().to_vec())];
    let mut conditions = vec!["pool_id = ?1".to_owned()];
    let mut push = |condition: String, value: Value, params: &mut Vec<Value>| {
        params.push(value);
        conditions.push(condition.replace('?', &format!("?{}", params.len())));
    };
    if let Some(prefix) = query.name_prefix.as_deref().filter(|p| !p.is_empty()) {
        sql.push_str(" INDEXED BY customers_by_name");
        push(
            "name >= ?".into(),
            Value::Text(prefix.to_owned()),
            &mut params,
        );
        if let Some(end) = prefix_end(prefix) {
            push("name < ?".into(), Value::Text(end), &mut params);
        }
    }
    if let Some(state) = query.filter.state() {
        push(
            "state = ?".into(),
            Value::Text(state.as_str().into()),
            &mut params,
        );
    }
    if let PoolFilter::Expired { now } = query.filter {
        push(
            "protection_end <= ? AND won_at IS NULL".into(),
            Value::Integer(micros(now)),
            &mut params,
        );
    }
    if let Some(owner) = query.owner {
        push(
            "owner = ?".into(),
            Value::Blob(owner.0.as_bytes().to_vec()),
            &mut params,
        );
    }
    if let Some((time, id)) = after {
        params.push(Value::Integer(time));
        params.push(Value::Blob(id.as_bytes().to_vec()));
        conditions.push(format!(
            "(changed_at, customer_id) {} (?{}, ?{})",
            query.order.after(),
            params.len() - 1,
            params.len()
        ));
    }
    params.push(Value::Integer(limit as i64 + 1));
    sql.push_str(&format!(
        " WHERE {} ORDER BY changed_at {order}, customer_id {order} LIMIT ?{}",
        conditions.join(" AND "),
        params.len(),
        order = query.order.sql(),
    ));
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(rusqlite::params_from_iter(params), read_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(page::page(rows, limit, |row| {
        page::encode(
            &tag,
            &[Key::Int(micros(row.changed_at)), Key::Id(row.customer_id.0)],
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_bounds_every_extension() {
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end("上海").as_deref(), Some("上浸"));
        assert_eq!(prefix_end("").as_deref(), None);
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
    }
}
