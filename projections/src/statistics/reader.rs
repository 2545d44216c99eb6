//! Queries of `statistics`.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate};
use poolkeeper_domain::{PoolId, UserId};
use rusqlite::types::Value;

use crate::db::{self, Id, RowExt};
use crate::error::ProjectionError;
use crate::lifecycle::OwnershipState;
use crate::readpool::ReadPool;

/// Customers per state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// Unclaimed.
    pub in_pool: u64,
    /// Awaiting approval.
    pub pending: u64,
    /// Owned.
    pub owned: u64,
    /// Frozen.
    pub frozen: u64,
    /// In the recycle bin.
    pub deleted: u64,
}

impl StateCounts {
    fn add(&mut self, state: OwnershipState, count: u64) {
        match state {
            OwnershipState::InPool => self.in_pool += count,
            OwnershipState::Pending => self.pending += count,
            OwnershipState::Owned => self.owned += count,
            OwnershipState::Frozen => self.frozen += count,
            OwnershipState::Deleted => self.deleted += count,
        }
    }

    /// Every customer.
    pub fn total(&self) -> u64 {
        self.in_pool + self.pending + self.owned + self.frozen + self.deleted
    }
}

/// One user's customers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserCounts {
    /// Owned across pools.
    pub owned: u64,
    /// Applications awaiting approval across pools.
    pub pending: u64,
    /// Per pool: (pool, owned, pending).
    pub per_pool: Vec<(PoolId, u64, u64)>,
}

/// Daily activity filters; days are inclusive organization days.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyQuery {
    /// Only this pool.
    pub pool_id: Option<PoolId>,
    /// Only this user.
    pub user: Option<UserId>,
    /// The first day.
    pub from: NaiveDate,
    /// The last day.
    pub to: NaiveDate,
}

/// Activity on one organization day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailyActivity {
    /// The organization day.
    pub day: NaiveDate,
    /// Claims (free claims and approved applications).
    pub claims: u64,
    /// Assignments (manual and automatic).
    pub assignments: u64,
    /// Abandons.
    pub abandons: u64,
    /// Manual reclaims, deactivations included.
    pub reclaims: u64,
    /// Automatic reclaims.
    pub auto_reclaims: u64,
}

/// The day number (days since 1970-01-01) of a date.
pub(crate) fn day_of(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .map_or(0, |at| at.and_utc().timestamp().div_euclid(86_400))
}

/// The date of a day number.
pub(crate) fn date_of(day: i64) -> NaiveDate {
    DateTime::from_timestamp(day * 86_400, 0).map_or(NaiveDate::MIN, |at| at.date_naive())
}

/// Queries `statistics`. Cheap to clone.
#[derive(Clone)]
pub struct StatisticsReader {
    pub(crate) pool: Arc<ReadPool>,
}

impl std::fmt::Debug for StatisticsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatisticsReader").finish_non_exhaustive()
    }
}

impl StatisticsReader {
    /// Customers of a pool per state.
    pub async fn pool_counts(&self, pool: PoolId) -> Result<StateCounts, ProjectionError> {
        self.pool
            .run(move |conn| {
                let mut counts = StateCounts::default();
                let mut statement =
                    conn.prepare_cached("SELECT state, count FROM pool_states WHERE pool_id = ?1")?;
                let rows = statement.query_map([Id::from(pool)], |row| {
                    Ok((row.parsed(0, OwnershipState::parse)?, row.get::<_, i64>(1)?))
                })?;
                for row in rows {
                    let (state, count) = row?;
                    counts.add(state, count.max(0) as u64);
                }
                Ok(counts)
            })
            .await
    }

    /// Every pool's counts, by pool id.
    pub async fn all_pools(&self) -> Result<Vec<(PoolId, StateCounts)>, ProjectionError> {
        self.pool
            .run(move |conn| {
                let mut all: Vec<(PoolId, StateCounts)> = Vec::new();
                let mut statement = conn.prepare_cached(
                    "SELECT pool_id, state, count FROM pool_states ORDER BY pool_id",
                )?;
                let rows = statement.query_map([], |row| {
                    Ok((
                        row.id::<PoolId>(0)?,
                        row.parsed(1, OwnershipState::parse)?,
                        row.get::<_, i64>(2)?,
                    ))
                })?;
                for row in rows {
                    let (pool, state, count) = row?;
                    if all.last().is_none_or(|(last, _)| *last != pool) {
                        all.push((pool, StateCounts::default()));
                    }
                    if let Some((_, counts)) = all.last_mut() {
                        counts.add(state, count.max(0) as u64);
                    }
                }
                Ok(all)
            })
            .await
    }

    /// A user's owned customers and applications, overall and per pool.
    pub async fn user_counts(&self, user: UserId) -> Result<UserCounts, ProjectionError> {
        self.pool
            .run(move |conn| {
                let mut counts = UserCounts::default();
                let mut statement = conn.prepare_cached(
                    "SELECT pool_id, sum(CASE state WHEN 'owned' THEN count ELSE 0 END), \
                     sum(CASE state WHEN 'pending' THEN count ELSE 0 END) FROM user_states \
                     WHERE user_id = ?1 GROUP BY pool_id ORDER BY pool_id",
                )?;
                let rows = statement.query_map([Id::from(user)], |row| {
                    Ok((
                        row.id::<PoolId>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                })?;
                for row in rows {
                    let (pool, owned, pending) = row?;
                    let (owned, pending) = (owned.max(0) as u64, pending.max(0) as u64);
                    counts.owned += owned;
                    counts.pending += pending;
                    counts.per_pool.push((pool, owned, pending));
                }
                Ok(counts)
            })
            .await
    }

    /// Activity per organization day in `[from, to]`, for a pool, a user, both or all;
    /// days without activity are left out.
    pub async fn daily(&self, query: DailyQuery) -> Result<Vec<DailyActivity>, ProjectionError> {
        self.pool
            .run(move |conn| {
                let mut sql = "SELECT day, sum(claims), sum(assignments), sum(abandons), \
                     sum(reclaims), sum(auto_reclaims) FROM daily WHERE day >= ?1 AND day <= ?2"
                    .to_owned();
                let mut values = vec![
                    Value::Integer(day_of(query.from)),
                    Value::Integer(day_of(query.to)),
                ];
                if let Some(pool) = query.pool_id {
                    values.push(Value::Blob(pool.0.as_bytes().to_vec()));
                    sql.push_str(&format!(" AND pool_id = ?{}", values.len()));
                }
                if let Some(user) = query.user {
                    values.push(Value::Blob(user.0.as_bytes().to_vec()));
                    sql.push_str(&format!(" AND user_id = ?{}", values.len()));
                }
                sql.push_str(" GROUP BY day ORDER BY day");
                let days = conn
                    .prepare_cached(&sql)?
                    .query_map(rusqlite::params_from_iter(values), |row| {
                        let count = |i| row.get::<_, i64>(i).map(|n| n.max(0) as u64);
                        Ok(DailyActivity {
                            day: date_of(row.get(0)?),
                            claims: count(1)?,
                            assignments: count(2)?,
                            abandons: count(3)?,
                            reclaims: count(4)?,
                            auto_reclaims: count(5)?,
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(days)
            })
            .await
    }

    /// The organization's day offset in force at the checkpoint, in minutes.
    pub async fn day_offset_minutes(&self) -> Result<i32, ProjectionError> {
        self.pool
            .run(move |conn| Ok(db::meta_int(conn, "day_offset_minutes")?.unwrap_or(0) as i32))
            .await
    }
}
