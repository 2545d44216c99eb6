//! `statistics`: per pool and per user counts of each state, and claims, assignments,
//! abandons and reclaims (manual and automatic) per organization day.
//!
//! Days are the organization's: UTC shifted by the offset of the last
//! `organization.settings_changed` before the event (as the domain counts daily claim
//! quotas), so a day's figures never move when the offset changes later.

mod reader;

use poolkeeper_codec::LoggedEvent;
use poolkeeper_domain::event::{CustomerAutoReclaimed, CustomerReclaimReassigned, EventBody};
use poolkeeper_domain::model::day_number;
use poolkeeper_domain::{CustomerId, PoolId, UserId};
use rusqlite::{Connection, OptionalExtension, params};

pub use self::reader::{DailyActivity, DailyQuery, StateCounts, StatisticsReader, UserCounts};
use crate::cache::{Map, RowCache};
use crate::db::{self, Id, RowExt};
use crate::lifecycle::{
    OwnershipState, Standing, Transition, changes_state, customer_of, transition,
};
use crate::name::ProjectionName;
use crate::projector::{ProjectionDefinition, Projector};

pub(crate) static DEFINITION: ProjectionDefinition = ProjectionDefinition {
    name: ProjectionName::Statistics,
    schema_version: 1,
    tables: include_str!("schema.sql"),
    indexes: include_str!("indexes.sql"),
    open: |db| Ok(Box::new(Statistics::open(db)?)),
};

/// Daily counters, in the order of the `daily` columns.
#[derive(Clone, Copy, Debug, Default)]
struct Activity([i64; 5]);

const CLAIMS: usize = 0;
const ASSIGNMENTS: usize = 1;
const ABANDONS: usize = 2;
const RECLAIMS: usize = 3;
const AUTO_RECLAIMS: usize = 4;

fn load_customer(db: &Connection, id: CustomerId) -> rusqlite::Result<Option<Standing>> {
    db.prepare_cached("SELECT pool_id, state, user_id FROM customers WHERE customer_id = ?1")?
        .query_row([Id::from(id)], |row| {
            Ok(Standing {
                pool: row.id(0)?,
                state: row.parsed(1, OwnershipState::parse)?,
                user: row.opt_id(2)?,
            })
        })
        .optional()
}

struct Statistics {
    day_offset_minutes: i32,
    offset_changed: bool,
    customers: RowCache<CustomerId, Standing>,
    pool_states: Map<(PoolId, OwnershipState), i64>,
    user_states: Map<(UserId, PoolId, OwnershipState), i64>,
    daily: Map<(i64, PoolId, UserId), Activity>,
}

impl Statistics {
    fn open(db: &Connection) -> rusqlite::Result<Self> {
        Ok(Self {
            day_offset_minutes: db::meta_int(db, "day_offset_minutes")?.unwrap_or(0) as i32,
            offset_changed: false,
            customers: RowCache::default(),
            pool_states: Map::default(),
            user_states: Map::default(),
            daily: Map::default(),
        })
    }

    fn count(&mut self, standing: &Standing, delta: i64) {
        *self
            .pool_states
            .entry((standing.pool, standing.state))
            .or_default() += delta;
        if let Some(user) = standing.user
            && matches!(
                standing.state,
                OwnershipState::Owned | OwnershipState::Pending
            )
        {
            *self
                .user_states
                .entry((user, standing.pool, standing.state))
                .or_default() += delta;
        }
    }

    fn activity(&mut self, event: &LoggedEvent, pool: PoolId, user: UserId, counter: usize) {
        let day = day_number(event.event.at, self.day_offset_minutes);
        self.daily.entry((day, pool, user)).or_default().0[counter] += 1;
    }
}

impl Projector for Statistics {
    fn apply(&mut self, db: &Connection, event: &LoggedEvent) -> rusqlite::Result<()> {
        let body = &event.event.body;
        if let EventBody::OrganizationSettingsChanged(e) = body {
            self.day_offset_minutes = e.day_offset_minutes;
            self.offset_changed = true;
            return Ok(());
        }
        let Some(id) = customer_of(body).filter(|_| changes_state(body)) else {
            return Ok(());
        };
        let before = if matches!(body, EventBody::CustomerCreated(_)) {
            None
        } else {
            self.customers
                .get(id, |id| load_customer(db, *id))?
                .copied()
        };
        let Transition::To(after) = transition(before.as_ref(), body) else {
            return Ok(());
        };
        if let Some(before) = before {
            self.count(&before, -1);
        }
        self.count(&after, 1);
        self.customers.put(id, after);
        let pool = before.map_or(after.pool, |b| b.pool);
        match body {
            EventBody::CustomerClaimed(e) => self.activity(event, pool, e.owner, CLAIMS),
            EventBody::ClaimApproved(e) => self.activity(event, pool, e.applicant, CLAIMS),
            EventBody::CustomerAssigned(e) => self.activity(event, pool, e.assignee, ASSIGNMENTS),
            EventBody::CustomerAutoAssigned(e) => {
                self.activity(event, pool, e.assignee, ASSIGNMENTS);
            }
            EventBody::CustomerAbandoned(e) => {
                self.activity(event, e.from_pool, e.abandoner, ABANDONS);
            }
            EventBody::CustomerReclaimed(e) => {
                self.activity(event, pool, e.former_owner, RECLAIMS);
            }
            EventBody::CustomerAutoReclaimed(CustomerAutoReclaimed { former_owner, .. })
            | EventBody::CustomerReclaimReassigned(CustomerReclaimReassigned {
                former_owner,
                ..
            }) => {
                self.activity(event, pool, *former_owner, AUTO_RECLAIMS);
            }
            _ => {}
        }
        Ok(())
    }

    fn flush(&mut self, db: &Connection) -> rusqlite::Result<()> {
        if std::mem::take(&mut self.offset_changed) {
            db::set_meta(db, "day_offset_minutes", i64::from(self.day_offset_minutes))?;
        }
        self.customers.flush(|id, standing| {
            db.prepare_cached(
                "INSERT OR REPLACE INTO customers (customer_id, pool_id, state, user_id) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                Id::from(*id),
                Id::from(standing.pool),
                standing.state.as_str(),
                standing.user.map(Id::from)
            ])?;
            Ok(())
        })?;
        for ((pool, state), delta) in self.pool_states.drain() {
            if delta == 0 {
                continue;
            }
            db.prepare_cached(
                "INSERT INTO pool_states (pool_id, state, count) VALUES (?1, ?2, ?3) \
                 ON CONFLICT DO UPDATE SET count = count + excluded.count",
            )?
            .execute(params![Id::from(pool), state.as_str(), delta])?;
            db.prepare_cached(
                "DELETE FROM pool_states WHERE pool_id = ?1 AND state = ?2 AND count = 0",
            )?
            .execute(params![Id::from(pool), state.as_str()])?;
        }
        for ((user, pool, state), delta) in self.user_states.drain() {
            if delta == 0 {
                continue;
            }
            db.prepare_cached(
                "INSERT INTO user_states (user_id, pool_id, state, count) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT DO UPDATE SET count = count + excluded.count",
            )?
            .execute(params![
                Id::from(user),
                Id::from(pool),
                state.as_str(),
                delta
            ])?;
            db.prepare_cached(
                "DELETE FROM user_states WHERE user_id = ?1 AND pool_id = ?2 AND state = ?3 \
                 AND count = 0",
            )?
            .execute(params![Id::from(user), Id::from(pool), state.as_str()])?;
        }
        for ((day, pool, user), Activity(counts)) in self.daily.drain() {
            db.prepare_cached(
                "INSERT INTO daily (day, pool_id, user_id, claims, assignments, abandons, \
                 reclaims, auto_reclaims) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                 ON CONFLICT DO UPDATE SET claims = claims + excluded.claims, \
                 assignments = assignments + excluded.assignments, \
                 abandons = abandons + excluded.abandons, \
                 reclaims = reclaims + excluded.reclaims, \
                 auto_reclaims = auto_reclaims + excluded.auto_reclaims",
            )?
            .execute(params![
                day,
                Id::from(pool),
                Id::from(user),
                counts[CLAIMS],
                counts[ASSIGNMENTS],
                counts[ABANDONS],
                counts[RECLAIMS],
                counts[AUTO_RECLAIMS]
            ])?;
        }
        Ok(())
    }

    fn trim(&mut self, keep: usize) {
        self.customers.trim(keep);
    }
}
