//! Queries of the abandon records.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poolkeeper_domain::event::ReclaimEvidence;
use poolkeeper_domain::rules::RuleKind;
use poolkeeper_domain::{Actor, CustomerId, PoolId, UserId};
use poolkeeper_eventlog::Position;
use rusqlite::types::Value;
use rusqlite::{Connection, Row};

use crate::db::{RowExt, micros};
use crate::error::ProjectionError;
use crate::history::Reversal;
use crate::page::{self, DEFAULT_LIMIT, Key, Page, TimeOrder};
use crate::readpool::ReadPool;

/// What kind of loss a row records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LossKind {
    /// The owner gave it up with a reason (放弃).
    Abandoned,
    /// A pool admin took it back (收回).
    Reclaimed,
    /// It was taken back because its owner was deactivated.
    Deactivation,
    /// A reclaim rule took it back (自动收回).
    AutoReclaimed,
}

impl LossKind {
    /// Every kind.
    pub const ALL: [LossKind; 4] = [
        LossKind::Abandoned,
        LossKind::Reclaimed,
        LossKind::Deactivation,
        LossKind::AutoReclaimed,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            LossKind::Abandoned => "abandoned",
            LossKind::Reclaimed => "reclaimed",
            LossKind::Deactivation => "deactivation",
            LossKind::AutoReclaimed => "auto_reclaimed",
        }
    }

    /// Parses a name produced by [`LossKind::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// One abandon or reclaim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbandonRecord {
    /// The event's log position.
    pub position: Position,
    /// When.
    pub at: DateTime<Utc>,
    /// The customer.
    pub customer_id: CustomerId,
    /// The pool it was in.
    pub pool_id: PoolId,
    /// Abandon, reclaim, deactivation or automatic reclaim.
    pub kind: LossKind,
    /// The owner who lost it (放弃人 for abandons).
    pub from_user: UserId,
    /// Who did it: the abandoner, the pool admin, or the rule.
    pub by: Actor,
    /// The rule, for automatic reclaims.
    pub rule: Option<RuleKind>,
    /// The reason, when given.
    pub reason: Option<String>,
    /// Where an abandoned customer went.
    pub to_pool: Option<PoolId>,
    /// The rule's threshold for this owner, in days.
    pub threshold_days: Option<u32>,
    /// When the rule became due.
    pub due_at: Option<DateTime<Utc>>,
    /// The version of the pool's rules in force.
    pub rules_version: Option<u32>,
    /// The facts the automatic reclaim rests on.
    pub evidence: Option<ReclaimEvidence>,
    /// Its revert, when it was reverted.
    pub reverted: Option<Reversal>,
}

/// An audit listing; every filter is optional, the period is `[since, until)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AbandonRecordQuery {
    /// Only this pool.
    pub pool_id: Option<PoolId>,
    /// Only losses of this owner.
    pub from_user: Option<UserId>,
    /// Only acts of this user.
    pub by_user: Option<UserId>,
    /// Only this reason.
    pub reason: Option<String>,
    /// Only this rule.
    pub rule: Option<RuleKind>,
    /// Only this kind.
    pub kind: Option<LossKind>,
    /// From this instant (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// Until this instant (exclusive).
    pub until: Option<DateTime<Utc>>,
    /// By time.
    pub order: TimeOrder,
    /// Page size (1..=1000); 0 means the default, 50.
    pub limit: u32,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A period for counts, `[since, until)`, optionally one pool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AbandonPeriod {
    /// From (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// Until (exclusive).
    pub until: Option<DateTime<Utc>>,
    /// Only this pool.
    pub pool_id: Option<PoolId>,
}

/// How many rows share a kind, reason and rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReasonCount {
    /// The kind.
    pub kind: LossKind,
    /// The reason (none for automatic reclaims and reasonless reclaims).
    pub reason: Option<String>,
    /// The rule of automatic reclaims.
    pub rule: Option<RuleKind>,
    /// How many.
    pub count: u64,
}

/// One owner's losses in a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserCount {
    /// The owner who lost customers.
    pub user: UserId,
    /// Abandons.
    pub abandoned: u64,
    /// Manual reclaims.
    pub reclaimed: u64,
    /// Reclaims of the user's deactivation.
    pub deactivation: u64,
    /// Automatic reclaims.
    pub auto_reclaimed: u64,
}

const COLUMNS: &str = "position, at, customer_id, pool_id, kind, from_user, by_actor, rule, \
    reason, to_pool, threshold_days, due_at, rules_version, owned_since, last_contact_at, \
    won_at, counted_from, protection_until, reverted_position, reverted_at, reverted_by, \
    revert_reason";

fn read_entry(row: &Row<'_>) -> rusqlite::Result<AbandonRecord> {
    Ok(AbandonRecord {
        position: row.get::<_, i64>(0)? as u64,
        at: row.at(1)?,
        customer_id: row.id(2)?,
        pool_id: row.id(3)?,
        kind: row.parsed(4, LossKind::parse)?,
        from_user: row.id(5)?,
        by: row.actor(6)?,
        rule: row.opt_parsed(7, RuleKind::parse)?,
        reason: row.get(8)?,
        to_pool: row.opt_id(9)?,
        threshold_days: row.get(10)?,
        due_at: row.opt_at(11)?,
        rules_version: row.get(12)?,
        evidence: match row.opt_at(13)? {
            Some(owned_since) => Some(ReclaimEvidence {
                owned_since,
                last_contact_at: row.opt_at(14)?,
                won_at: row.opt_at(15)?,
                counted_from: row.at(16)?,
                protection_until: row.opt_at(17)?,
            }),
            None => None,
        },
        reverted: match row.get::<_, Option<i64>>(18)? {
            Some(position) => Some(Reversal {
                position: position as u64,
                at: row.at(19)?,
                by: row.actor(20)?,
                reason: row.get(21)?,
            }),
            None => None,
        },
    })
}

fn blob(id: uuid::Uuid) -> Value {
    Value::Blob(id.as_bytes().to_vec())
}

/// SQL conditions and their parameters.
#[derive(Default)]
struct Conditions {
    sql: Vec<String>,
    params: Vec<Value>,
}

impl Conditions {
    /// The conditions of a period's counts: its instants and its pool.
    fn of_period(period: &AbandonPeriod) -> Self {
        let mut conditions = Conditions::default();
        conditions.period(period.since, period.until);
        if let Some(pool) = period.pool_id {
            conditions.add("pool_id = ?", blob(pool.0));
        }
        conditions
    }

    fn add(&mut self, condition: &str, value: Value) {
        self.params.push(value);
        self.sql
            .push(condition.replace('?', &format!("?{}", self.params.len())));
    }

    fn period(&mut self, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) {
        if let Some(since) = since {
            self.add("at >= ?", Value::Integer(micros(since)));
        }
        if let Some(until) = until {
            self.add("at < ?", Value::Integer(micros(until)));
        }
    }

    fn clause(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.sql.join(" AND "))
        }
    }
}

/// Queries the abandon records. Cheap to clone.
#[derive(Clone)]
pub struct AbandonRecordsReader {
    pub(crate) pool: Arc<ReadPool>,
}

impl std::fmt::Debug for AbandonRecordsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbandonRecordsReader")
            .finish_non_exhaustive()
    }
}

impl AbandonRecordsReader {
    /// One page of abandons and reclaims matching every given filter, by time.
    pub async fn list(
        &self,
        query: AbandonRecordQuery,
    ) -> Result<Page<AbandonRecord>, ProjectionError> {
        self.pool.run(move |conn| list(conn, &query)).await
    }

    /// Counts per kind, reason and rule in a period, most frequent first.
    pub async fn counts_by_reason(
        &self,
        period: AbandonPeriod,
    ) -> Result<Vec<ReasonCount>, ProjectionError> {
        self.pool
            .run(move |conn| {
                let conditions = Conditions::of_period(&period);
                let sql = format!(
                    "SELECT kind, reason, rule, count(*) AS n FROM audit{} \
                     GROUP BY kind, reason, rule ORDER BY n DESC, kind, reason, rule",
                    conditions.clause()
                );
                let counts = conn
                    .prepare_cached(&sql)?
                    .query_map(rusqlite::params_from_iter(conditions.params), |row| {
                        Ok(ReasonCount {
                            kind: row.parsed(0, LossKind::parse)?,
                            reason: row.get(1)?,
                            rule: row.opt_parsed(2, RuleKind::parse)?,
                            count: row.get::<_, i64>(3)? as u64,
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(counts)
            })
            .await
    }

    /// Losses per owner in a period, by owner id.
    pub async fn counts_by_user(
        &self,
        period: AbandonPeriod,
    ) -> Result<Vec<UserCount>, ProjectionError> {
        self.pool
            .run(move |conn| {
                let conditions = Conditions::of_period(&period);
                let sql = format!(
                    "SELECT from_user, sum(kind = 'abandoned'), sum(kind = 'reclaimed'), \
                     sum(kind = 'deactivation'), sum(kind = 'auto_reclaimed') FROM audit{} \
                     GROUP BY from_user ORDER BY from_user",
                    conditions.clause()
                );
                let counts = conn
                    .prepare_cached(&sql)?
                    .query_map(rusqlite::params_from_iter(conditions.params), |row| {
                        Ok(UserCount {
                            user: row.id(0)?,
                            abandoned: row.get::<_, i64>(1)? as u64,
                            reclaimed: row.get::<_, i64>(2)? as u64,
                            deactivation: row.get::<_, i64>(3)? as u64,
                            auto_reclaimed: row.get::<_, i64>(4)? as u64,
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(counts)
            })
            .await
    }
}

fn list(
    conn: &Connection,
    query: &AbandonRecordQuery,
) -> Result<Page<AbandonRecord>, ProjectionError> {
    let limit = page::limit(if query.limit == 0 {
        DEFAULT_LIMIT
    } else {
        query.limit
    })?;
    let tag = format!("au-{}", query.order.tag());
    let after = match query.cursor.as_deref() {
        Some(cursor) => match page::decode(&tag, cursor, &[Key::Int(0), Key::Int(0)])?.as_slice() {
            [Key::Int(at), Key::Int(position)] => Some((*at, *position)),
            _ => return Err(ProjectionError::invalid("cursor", "malformed")),
        },
        None => None,
    };
    let mut conditions = Conditions::default();
    if let Some(pool) = query.pool_id {
        conditions.add("pool_id = ?", blob(pool.0));
    }
    if let Some(user) = query.from_user {
        conditions.add("from_user = ?", blob(user.0));
    }
    if let Some(user) = query.by_user {
        conditions.add("by_user = ?", blob(user.0));
    }
    if let Some(reason) = &query.reason {
        conditions.add("reason = ?", Value::Text(reason.clone()));
    }
    if let Some(rule) = query.rule {
        conditions.add("rule = ?", Value::Text(rule.as_str().into()));
    }
    if let Some(kind) = query.kind {
        conditions.add("kind = ?", Value::Text(kind.as_str().into()));
    }
    conditions.period(query.since, query.until);
    if let Some((at, position)) = after {
        conditions.params.push(Value::Integer(at));
        conditions.params.push(Value::Integer(position));
        let n = conditions.params.len();
        conditions.sql.push(format!(
            "(at, position) {} (?{}, ?{n})",
            query.order.after(),
            n - 1
        ));
    }
    conditions.params.push(Value::Integer(limit as i64 + 1));
    let sql = format!(
        "SELECT {COLUMNS} FROM audit{} ORDER BY at {order}, position {order} LIMIT ?{}",
        conditions.clause(),
        conditions.params.len(),
        order = query.order.sql()
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(rusqlite::params_from_iter(conditions.params), read_entry)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(page::page(rows, limit, |row| {
        page::encode(
            &tag,
            &[Key::Int(micros(row.at)), Key::Int(row.position as i64)],
        )
    }))
}
