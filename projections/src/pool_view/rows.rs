//! The pool view's rows in SQLite: the columns, and reading and writing a pool or a
//! customer row (with its derived columns).

use chrono::{DateTime, Utc};
use poolkeeper_domain::rules::Ownership;
use poolkeeper_domain::{CustomerId, PoolId, UserId};
use rusqlite::{Connection, Row, params};

use super::{CustomerRow, Derived, PoolRow, Reclaim, mode_str, parse_mode};
use crate::db::{Id, RowExt, StoredActor, from_json, json, micros};
use crate::lifecycle::OwnershipState;

pub(super) const CUSTOMER_COLUMNS: &str = "pool_id, state, name, source, fields, created_by, created_at, \
    version, last_position, changed_at, applicant, pending_since, owner, owned_since, \
    protection_start, protection_set, last_contact_at, won_at, reminded_for, abandon_reason, \
    abandoned_by, abandoned_at, reclaimed_from, reclaimed_by, reclaim_reason, reclaimed_at, \
    frozen_by, frozen_reason, frozen_at, deleted_by, deleted_at";

/// A customer row from `CUSTOMER_COLUMNS`, starting at column `first`.
pub(super) fn read_customer(row: &Row<'_>, first: usize) -> rusqlite::Result<CustomerRow> {
    let owner: Option<UserId> = row.opt_id(first + 12)?;
    let ownership = match owner {
        Some(owner) => Some(Ownership {
            owner,
            since: row.at(first + 13)?,
            protection_start: row.at(first + 14)?,
            protection_until: row.opt_at(first + 15)?,
            last_contact_at: row.opt_at(first + 16)?,
            won_at: row.opt_at(first + 17)?,
        }),
        None => None,
    };
    let abandon = match (
        row.get::<_, Option<String>>(first + 19)?,
        row.opt_id::<UserId>(first + 20)?,
        row.get::<_, Option<i64>>(first + 21)?,
    ) {
        (Some(reason), Some(by), Some(at)) => Some(Box::new((reason, by, at))),
        _ => None,
    };
    let reclaim = match (
        row.opt_id::<UserId>(first + 22)?,
        row.opt_actor(first + 23)?,
    ) {
        (Some(from), Some(by)) => Some(Box::new(Reclaim {
            from,
            by,
            reason: row.get(first + 24)?,
            at: row.get(first + 25)?,
        })),
        _ => None,
    };
    let frozen = match row.opt_actor(first + 26)? {
        Some(by) => Some(Box::new((by, row.get(first + 27)?, row.get(first + 28)?))),
        None => None,
    };
    let deleted = match row.opt_actor(first + 29)? {
        Some(by) => Some(Box::new((by, row.get(first + 30)?))),
        None => None,
    };
    Ok(CustomerRow {
        pool: row.id(first)?,
        state: row.parsed(first + 1, OwnershipState::parse)?,
        name: row.get(first + 2)?,
        source: row.get(first + 3)?,
        fields: row.get(first + 4)?,
        created_by: row.id(first + 5)?,
        created_at: row.get(first + 6)?,
        version: row.get::<_, i64>(first + 7)? as u64,
        last_position: row.get::<_, i64>(first + 8)? as u64,
        changed_at: row.get(first + 9)?,
        applicant: row.opt_id(first + 10)?,
        pending_since: row.get(first + 11)?,
        ownership,
        reminded_for: row.get(first + 18)?,
        abandon,
        reclaim,
        frozen,
        deleted,
    })
}

pub(super) fn write_customer(
    db: &Connection,
    id: CustomerId,
    row: &CustomerRow,
    derived: &Derived,
) -> rusqlite::Result<()> {
    let ownership = row.ownership.as_ref();
    let opt_micros = |at: Option<DateTime<Utc>>| at.map(micros);
    db.prepare_cached(
        "INSERT OR REPLACE INTO customers (customer_id, pool_id, state, name, source, fields, \
         created_by, created_at, version, last_position, changed_at, applicant, pending_since, \
         owner, owned_since, protection_start, protection_set, last_contact_at, won_at, \
         reminded_for, protection_end, deadline_at, deadline_rule, deadline_days, reminder_at, \
         abandon_reason, abandoned_by, abandoned_at, reclaimed_from, reclaimed_by, \
         reclaim_reason, reclaimed_at, frozen_by, frozen_reason, frozen_at, deleted_by, \
         deleted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
         ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, \
         ?33, ?34, ?35, ?36, ?37)",
    )?
    .execute(params![
        Id::from(id),
        Id::from(row.pool),
        row.state.as_str(),
        row.name,
        row.source,
        row.fields,
        Id::from(row.created_by),
        row.created_at,
        row.version as i64,
        row.last_position as i64,
        row.changed_at,
        row.applicant.map(Id::from),
        row.pending_since,
        ownership.map(|o| Id::from(o.owner)),
        ownership.map(|o| micros(o.since)),
        ownership.map(|o| micros(o.protection_start)),
        opt_micros(ownership.and_then(|o| o.protection_until)),
        opt_micros(ownership.and_then(|o| o.last_contact_at)),
        opt_micros(ownership.and_then(|o| o.won_at)),
        row.reminded_for,
        derived.protection_end,
        derived.deadline.map(|d| micros(d.at)),
        derived.deadline.map(|d| d.rule.as_str()),
        derived.deadline.map(|d| i64::from(d.threshold_days)),
        derived.reminder_at,
        row.abandon.as_ref().map(|a| a.0.as_str()),
        row.abandon.as_ref().map(|a| Id::from(a.1)),
        row.abandon.as_ref().map(|a| a.2),
        row.reclaim.as_ref().map(|r| Id::from(r.from)),
        row.reclaim.as_ref().map(|r| StoredActor(r.by)),
        row.reclaim.as_ref().and_then(|r| r.reason.as_deref()),
        row.reclaim.as_ref().map(|r| r.at),
        row.frozen.as_ref().map(|f| StoredActor(f.0)),
        row.frozen.as_ref().and_then(|f| f.1.as_deref()),
        row.frozen.as_ref().map(|f| f.2),
        row.deleted.as_ref().map(|d| StoredActor(d.0)),
        row.deleted.as_ref().map(|d| d.1),
    ])?;
    Ok(())
}

pub(super) fn read_pool(row: &Row<'_>) -> rusqlite::Result<(PoolId, PoolRow)> {
    Ok((
        row.id(0)?,
        PoolRow {
            name: row.get(1)?,
            mode: row.parsed(2, parse_mode)?,
            is_default: row.get(3)?,
            everyone: row.get(4)?,
            admins: from_json(row, 5)?,
            members: from_json(row, 6)?,
            rules: from_json(row, 7)?,
            rules_since: from_json(row, 8)?,
            rules_version: row.get(9)?,
            version: row.get::<_, i64>(10)? as u64,
            created_at: row.get(11)?,
            changed_at: row.get(12)?,
        },
    ))
}

pub(super) const POOL_COLUMNS: &str = "pool_id, name, mode, is_default, everyone, admins, \
    members, rules, rules_since, rules_version, version, created_at, changed_at";

pub(super) fn write_pool(db: &Connection, id: PoolId, pool: &PoolRow) -> rusqlite::Result<()> {
    db.prepare_cached(&format!(
        "INSERT OR REPLACE INTO pools ({POOL_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))?
    .execute(params![
        Id::from(id),
        pool.name,
        mode_str(pool.mode),
        pool.is_default,
        pool.everyone,
        json(&pool.admins),
        json(&pool.members),
        json(&pool.rules),
        json(&pool.rules_since),
        pool.rules_version,
        pool.version as i64,
        pool.created_at,
        pool.changed_at,
    ])?;
    Ok(())
}
