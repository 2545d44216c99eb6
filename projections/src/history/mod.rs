//! `ownership_history`: every customer's state periods (in pool, pending, owned, frozen,
//! deleted) with how each began and ended; the owned ones are the ownership intervals.
//! Answers "who owned it as of T", "what did this user hold as of T" (an instant or a
//! log position) and the full timeline of a customer.

mod reader;

use poolkeeper_codec::LoggedEvent;
use poolkeeper_domain::event::{EventBody, PURGED};
use poolkeeper_domain::{Actor, CustomerId, PoolId, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};

pub use self::reader::{AsOf, HistoryReader, Mark, Period, Reversal};
use crate::cache::RowCache;
use crate::db::{Id, RowExt, StoredActor, micros};
use crate::lifecycle::{
    Cause, DeactivatedUsers, OwnershipState, Standing, Transition, changes_state, customer_of,
    transition,
};
use crate::name::ProjectionName;
use crate::projector::{ProjectionDefinition, Projector};

pub(crate) static DEFINITION: ProjectionDefinition = ProjectionDefinition {
    name: ProjectionName::OwnershipHistory,
    schema_version: 2,
    tables: include_str!("schema.sql"),
    indexes: include_str!("indexes.sql"),
    open: |db| Ok(Box::new(History::open(db)?)),
};

#[derive(Clone, Debug)]
struct PeriodRow {
    from_position: u64,
    state: OwnershipState,
    pool: PoolId,
    user: Option<UserId>,
    from_at: i64,
    began: Cause,
    began_by: Actor,
    end: Option<End>,
}

#[derive(Clone, Debug)]
struct End {
    position: u64,
    at: i64,
    cause: Cause,
    by: Actor,
    reason: Option<String>,
    to: Option<UserId>,
}

pub(crate) const COLUMNS: &str = "from_position, customer_id, state, pool_id, user_id, from_at, \
    began, began_by, to_position, to_at, ended, ended_by, end_reason, ended_to";

fn read_period(row: &Row<'_>) -> rusqlite::Result<PeriodRow> {
    let end = match row.get::<_, Option<i64>>(8)? {
        Some(position) => Some(End {
            position: position as u64,
            at: row.get(9)?,
            cause: row.parsed(10, Cause::parse)?,
            by: row.actor(11)?,
            reason: row.get(12)?,
            to: row.opt_id(13)?,
        }),
        None => None,
    };
    Ok(PeriodRow {
        from_position: row.get::<_, i64>(0)? as u64,
        state: row.parsed(2, OwnershipState::parse)?,
        pool: row.id(3)?,
        user: row.opt_id(4)?,
        from_at: row.get(5)?,
        began: row.parsed(6, Cause::parse)?,
        began_by: row.actor(7)?,
        end,
    })
}

fn load_open(db: &Connection, id: CustomerId) -> rusqlite::Result<Option<PeriodRow>> {
    db.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM periods WHERE customer_id = ?1 \
         ORDER BY from_position DESC LIMIT 1"
    ))?
    .query_row([Id::from(id)], read_period)
    .optional()
}

/// Writes (or rewrites) a period.
fn write_period(db: &Connection, customer: CustomerId, row: &PeriodRow) -> rusqlite::Result<()> {
    let end = row.end.as_ref();
    db.prepare_cached(&format!(
        "INSERT OR REPLACE INTO periods ({COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    ))?
    .execute(params![
        row.from_position as i64,
        Id::from(customer),
        row.state.as_str(),
        Id::from(row.pool),
        row.user.map(Id::from),
        row.from_at,
        row.began.as_str(),
        StoredActor(row.began_by),
        end.map(|e| e.position as i64),
        end.map(|e| e.at),
        end.map(|e| e.cause.as_str()),
        end.map(|e| StoredActor(e.by)),
        end.and_then(|e| e.reason.as_deref()),
        end.and_then(|e| e.to.map(Id::from)),
    ])?;
    Ok(())
}

/// Records that the change at `position` was reverted by `event`.
fn record_revert(
    db: &Connection,
    event: &LoggedEvent,
    position: u64,
    reason: &str,
) -> rusqlite::Result<()> {
    db.prepare_cached(
        "INSERT OR REPLACE INTO reverts (position, by_position, at, by_actor, reason) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        position as i64,
        event.position as i64,
        micros(event.event.at),
        StoredActor(event.event.actor),
        reason
    ])?;
    Ok(())
}

/// The reason an ending event gives, if any.
fn reason_of(body: &EventBody) -> Option<String> {
    match body {
        EventBody::CustomerAbandoned(e) => Some(e.reason.clone()),
        EventBody::CustomerReclaimed(e) => e.reason.clone(),
        EventBody::CustomerTransferred(e) => e.reason.clone(),
        EventBody::CustomerFrozen(e) => e.reason.clone(),
        EventBody::ClaimRejected(e) => e.reason.clone(),
        EventBody::CustomerRestored(e) => e.note.clone(),
        EventBody::CustomerChangeReverted(e) => Some(e.reason.clone()),
        _ => None,
    }
}

struct History {
    deactivated: DeactivatedUsers,
    /// Each customer's open period.
    open: RowCache<CustomerId, PeriodRow>,
    /// Periods closed since the last flush, written with the open ones in key order.
    closed: Vec<(CustomerId, PeriodRow)>,
}

impl History {
    fn open(db: &Connection) -> rusqlite::Result<Self> {
        Ok(Self {
            deactivated: DeactivatedUsers::load(db)?,
            open: RowCache::default(),
            closed: Vec::new(),
        })
    }
}

impl History {
    /// A purge: the remarks of the customer's rejected applications (personal, sealed in
    /// the log) read [`PURGED`], as a rebuild folds them once the key is gone.
    fn purge_rejection_remarks(
        &mut self,
        db: &Connection,
        customer: CustomerId,
    ) -> rusqlite::Result<()> {
        let rejection = |period: &PeriodRow| {
            period.state == OwnershipState::Pending
                && period.end.as_ref().is_some_and(|end| {
                    matches!(end.cause, Cause::Rejected | Cause::Deactivation)
                        && end.reason.is_some()
                })
        };
        for (_, period) in self.closed.iter_mut().filter(|(id, _)| *id == customer) {
            if rejection(period)
                && let Some(end) = period.end.as_mut()
            {
                end.reason = Some(PURGED.to_owned());
            }
        }
        db.prepare_cached(
            "UPDATE periods SET end_reason = ?2 WHERE customer_id = ?1 AND state = 'pending' \
             AND ended IN ('rejected', 'deactivation') AND end_reason IS NOT NULL",
        )?
        .execute(params![Id::from(customer), PURGED])?;
        Ok(())
    }
}

impl Projector for History {
    fn apply(&mut self, db: &Connection, event: &LoggedEvent) -> rusqlite::Result<()> {
        let body = &event.event.body;
        if let EventBody::UserDeactivated(e) = body {
            self.deactivated.insert(e.user_id);
            return Ok(());
        }
        if let EventBody::CustomerChangeReverted(e) = body {
            record_revert(db, event, e.compensates_position, &e.reason)?;
        }
        if let EventBody::CustomerPurged(e) = body {
            return self.purge_rejection_remarks(db, e.customer_id);
        }
        let Some(id) = customer_of(body).filter(|_| changes_state(body)) else {
            return Ok(());
        };
        let at = micros(event.event.at);
        let deactivated = &self.deactivated;
        let Some(cause) = Cause::of(body, |user| deactivated.contains(user)) else {
            return Ok(());
        };
        let period = |next: Standing| PeriodRow {
            from_position: event.position,
            state: next.state,
            pool: next.pool,
            user: next.user,
            from_at: at,
            began: cause,
            began_by: event.event.actor,
            end: None,
        };
        if matches!(body, EventBody::CustomerCreated(_)) {
            if let Transition::To(next) = transition(None, body) {
                self.open.put(id, period(next));
            }
            return Ok(());
        }
        let Some(current) = self.open.get_mut(id, |id| load_open(db, *id))? else {
            return Ok(());
        };
        let standing = Standing {
            pool: current.pool,
            state: current.state,
            user: current.user,
        };
        let Transition::To(next) = transition(Some(&standing), body) else {
            return Ok(());
        };
        // The open period ends here; the new one replaces it in the cache.
        let mut previous = std::mem::replace(current, period(next));
        previous.end = Some(End {
            position: event.position,
            at,
            cause,
            by: event.event.actor,
            reason: reason_of(body),
            to: match body {
                EventBody::CustomerTransferred(e) => Some(e.to),
                _ => None,
            },
        });
        self.closed.push((id, previous));
        Ok(())
    }

    fn flush(&mut self, db: &Connection) -> rusqlite::Result<()> {
        self.deactivated.flush(db)?;
        // Closed and open periods merged in (customer, position) order (a customer's open
        // period comes after its closed ones): on a fresh table, as a rebuild flushes once,
        // every write appends to the clustered b-tree.
        let mut closed = std::mem::take(&mut self.closed);
        closed.sort_unstable_by_key(|(customer, period)| (*customer, period.from_position));
        let mut closed = closed.into_iter().peekable();
        self.open.flush(|customer, period| {
            while let Some((earlier, done)) = closed.next_if(|(c, _)| c <= customer) {
                write_period(db, earlier, &done)?;
            }
            write_period(db, *customer, period)
        })?;
        for (customer, period) in closed {
            write_period(db, customer, &period)?;
        }
        Ok(())
    }

    fn trim(&mut self, keep: usize) {
        self.open.trim(keep);
    }
}
