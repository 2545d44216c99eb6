//! Queries of `ownership_history`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poolkeeper_domain::{Actor, CustomerId, PoolId, UserId};
use poolkeeper_eventlog::Position;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::COLUMNS;
use crate::db::{Id, RowExt, instant, micros};
use crate::error::ProjectionError;
use crate::lifecycle::{Cause, OwnershipState};
use crate::page::{self, Key, Page};
use crate::readpool::ReadPool;

/// A point of the log's past: an instant (every event with `at <= T` has happened) or a
/// position (every event up to and including it has happened).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOf {
    /// After every event at or before this instant.
    Instant(DateTime<Utc>),
    /// After the event at this position.
    Position(Position),
}

/// A point in the log: an event's instant and position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The event's instant.
    pub at: DateTime<Utc>,
    /// The event's position.
    pub position: Position,
}

/// One state period of a customer; owned periods are ownership intervals. It holds from
/// `from` (inclusive) until `to` (exclusive), or still when `to` is `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    /// The customer.
    pub customer_id: CustomerId,
    /// The state.
    pub state: OwnershipState,
    /// The pool it was in.
    pub pool_id: PoolId,
    /// The owner when owned, the applicant when pending.
    pub user: Option<UserId>,
    /// Where it began.
    pub from: Mark,
    /// How it began.
    pub began: Cause,
    /// Who began it.
    pub began_by: Actor,
    /// Where it ended, if it did.
    pub to: Option<Mark>,
    /// How it ended.
    pub ended: Option<Cause>,
    /// Who ended it (`rule:<name>` for automatic reclaims).
    pub ended_by: Option<Actor>,
    /// The reason given (an abandon's, a reclaim's, a transfer's, a freeze's).
    pub end_reason: Option<String>,
    /// A transfer's new owner.
    pub ended_to: Option<UserId>,
    /// The revert of the change that began it, if it was reverted.
    pub began_reverted: Option<Reversal>,
    /// The revert of the change that ended it, if it was reverted.
    pub end_reverted: Option<Reversal>,
    /// When it began by a revert: the position of the change compensated.
    pub began_compensates: Option<Position>,
    /// When it ended by a revert: the position of the change compensated.
    pub end_compensates: Option<Position>,
}

/// A change's compensation: where, when, by whom and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reversal {
    /// The compensating event's position.
    pub position: Position,
    /// Its instant.
    pub at: DateTime<Utc>,
    /// Who reverted.
    pub by: Actor,
    /// Why.
    pub reason: String,
}

/// Fills in which changes of `periods` were reverted and which reverts compensate what.
fn with_reversals(conn: &Connection, periods: &mut [Period]) -> rusqlite::Result<()> {
    let mut reverted = conn.prepare_cached(
        "SELECT by_position, at, by_actor, reason FROM reverts WHERE position = ?1",
    )?;
    let mut compensated =
        conn.prepare_cached("SELECT position FROM reverts WHERE by_position = ?1")?;
    let mut reversal = |position: Position| {
        reverted
            .query_row([position as i64], |row| {
                Ok(Reversal {
                    position: row.get::<_, i64>(0)? as u64,
                    at: row.at(1)?,
                    by: row.actor(2)?,
                    reason: row.get(3)?,
                })
            })
            .optional()
    };
    for period in periods.iter_mut() {
        period.began_reverted = reversal(period.from.position)?;
        if let Some(to) = period.to {
            period.end_reverted = reversal(to.position)?;
        }
    }
    for period in periods.iter_mut() {
        if period.began == Cause::Reverted {
            period.began_compensates = compensated
                .query_row([period.from.position as i64], |row| row.get::<_, i64>(0))
                .optional()?
                .map(|p| p as u64);
        }
        if let (Some(Cause::Reverted), Some(to)) = (period.ended, period.to) {
            period.end_compensates = compensated
                .query_row([to.position as i64], |row| row.get::<_, i64>(0))
                .optional()?
                .map(|p| p as u64);
        }
    }
    Ok(())
}

fn read(row: &Row<'_>) -> rusqlite::Result<Period> {
    let to = match row.get::<_, Option<i64>>(8)? {
        Some(position) => Some(Mark {
            position: position as u64,
            at: row.at(9)?,
        }),
        None => None,
    };
    Ok(Period {
        customer_id: row.id(1)?,
        state: row.parsed(2, OwnershipState::parse)?,
        pool_id: row.id(3)?,
        user: row.opt_id(4)?,
        from: Mark {
            position: row.get::<_, i64>(0)? as u64,
            at: instant(row.get(5)?),
        },
        began: row.parsed(6, Cause::parse)?,
        began_by: row.actor(7)?,
        to,
        ended: row.opt_parsed(10, Cause::parse)?,
        ended_by: row.opt_actor(11)?,
        end_reason: row.get(12)?,
        ended_to: row.opt_id(13)?,
        began_reverted: None,
        end_reverted: None,
        began_compensates: None,
        end_compensates: None,
    })
}

/// The columns and bound an [`AsOf`] compares.
fn as_of(point: AsOf) -> (&'static str, &'static str, i64) {
    match point {
        AsOf::Instant(at) => ("from_at", "to_at", micros(at)),
        AsOf::Position(position) => ("from_position", "to_position", position as i64),
    }
}

/// Queries `ownership_history`. Cheap to clone.
#[derive(Clone)]
pub struct HistoryReader {
    pub(crate) pool: Arc<ReadPool>,
}

impl std::fmt::Debug for HistoryReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryReader").finish_non_exhaustive()
    }
}

impl HistoryReader {
    /// The customer's state period as of a point (`None`: it did not exist yet).
    pub async fn state_at(
        &self,
        customer: CustomerId,
        point: AsOf,
    ) -> Result<Option<Period>, ProjectionError> {
        self.pool
            .run(move |conn| period_at(conn, customer, point, false))
            .await
    }

    /// The ownership interval covering a point (`None`: not owned then).
    pub async fn owner_at(
        &self,
        customer: CustomerId,
        point: AsOf,
    ) -> Result<Option<Period>, ProjectionError> {
        self.pool
            .run(move |conn| period_at(conn, customer, point, true))
            .await
    }

    /// Everything `user` owned as of a point, by customer id.
    pub async fn holdings(
        &self,
        user: UserId,
        point: AsOf,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Page<Period>, ProjectionError> {
        self.pool
            .run(move |conn| holdings(conn, user, point, limit, cursor))
            .await
    }

    /// Every state period of the customer, oldest first: its full timeline.
    pub async fn timeline(&self, customer: CustomerId) -> Result<Vec<Period>, ProjectionError> {
        self.pool
            .run(move |conn| periods(conn, customer, false))
            .await
    }

    /// The customer's ownership intervals, oldest first.
    pub async fn ownership(&self, customer: CustomerId) -> Result<Vec<Period>, ProjectionError> {
        self.pool
            .run(move |conn| periods(conn, customer, true))
            .await
    }
}

fn period_at(
    conn: &Connection,
    customer: CustomerId,
    point: AsOf,
    owned_only: bool,
) -> Result<Option<Period>, ProjectionError> {
    let (from, to, bound) = as_of(point);
    let owned = if owned_only {
        " AND state = 'owned'"
    } else {
        ""
    };
    let period = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM periods WHERE customer_id = ?1{owned} \
             AND {from} <= ?2 AND ({to} IS NULL OR {to} > ?2) \
             ORDER BY from_position DESC LIMIT 1"
        ))?
        .query_row(params![Id::from(customer), bound], read)
        .optional()?;
    let mut periods: Vec<Period> = period.into_iter().collect();
    with_reversals(conn, &mut periods)?;
    Ok(periods.pop())
}

fn periods(
    conn: &Connection,
    customer: CustomerId,
    owned_only: bool,
) -> Result<Vec<Period>, ProjectionError> {
    let owned = if owned_only {
        " AND state = 'owned'"
    } else {
        ""
    };
    let mut periods: Vec<Period> = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM periods WHERE customer_id = ?1{owned} ORDER BY from_position"
        ))?
        .query_map([Id::from(customer)], read)?
        .collect::<rusqlite::Result<_>>()?;
    with_reversals(conn, &mut periods)?;
    Ok(periods)
}

fn holdings(
    conn: &Connection,
    user: UserId,
    point: AsOf,
    limit: u32,
    cursor: Option<String>,
) -> Result<Page<Period>, ProjectionError> {
    let limit = page::limit(limit)?;
    let tag = match point {
        AsOf::Instant(at) => format!("hi{:x}", micros(at) as u64),
        AsOf::Position(position) => format!("hp{position:x}"),
    };
    let after = match cursor {
        Some(cursor) => {
            match page::decode(&tag, &cursor, &[Key::Id(uuid::Uuid::nil())])?.as_slice() {
                [Key::Id(id)] => *id,
                _ => return Err(ProjectionError::invalid("cursor", "malformed")),
            }
        }
        None => uuid::Uuid::nil(),
    };
    let (from, to, bound) = as_of(point);
    // Keys first, from the index alone (a WITHOUT ROWID table cannot defer the row
    // lookup), then the rows of the page.
    let keys = conn
        .prepare_cached(&format!(
            "SELECT customer_id, from_position FROM periods INDEXED BY periods_by_owner \
             WHERE user_id = ?1 AND state = 'owned' AND customer_id > ?2 \
             AND {from} <= ?3 AND ({to} IS NULL OR {to} > ?3) \
             ORDER BY customer_id LIMIT ?4"
        ))?
        .query_map(
            params![Id::from(user), Id(after), bound, limit as i64 + 1],
            |row| Ok((row.get::<_, Id>(0)?, row.get::<_, i64>(1)?)),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut fetch = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM periods WHERE customer_id = ?1 AND from_position = ?2"
    ))?;
    let mut rows = keys
        .into_iter()
        .map(|(customer, position)| fetch.query_row(params![customer, position], read))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    with_reversals(conn, &mut rows)?;
    Ok(page::page(rows, limit, |row| {
        page::encode(&tag, &[Key::Id(row.customer_id.0)])
    }))
}
