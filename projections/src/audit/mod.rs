//! `abandon_audit`: every abandon, manual reclaim (a user's deactivation included) and
//! automatic reclaim, with the customer, the pool, from whom, by whom or which rule, the
//! reason, the time and the log position; automatic ones keep threshold and evidence.

mod reader;

use std::collections::BTreeSet;

use poolkeeper_domain::event::{EventBody, ReclaimEvidence};
use poolkeeper_domain::rules::RuleKind;
use poolkeeper_domain::{Actor, CustomerId, PoolId, UserId};
use rusqlite::{Connection, params};

pub use self::reader::{AuditEntry, AuditKind, AuditPeriod, AuditQuery, AuditReader, ReasonCount, UserCount};
use crate::codec::LoggedEvent;
use crate::db::{Id, RowExt, json, micros};
use crate::name::ProjectionName;
use crate::projector::{Kind, Projector};

pub(crate) static KIND: Kind = Kind {
    name: ProjectionName::AbandonAudit,
    schema_version: 1,
    tables: include_str!("schema.sql"),
    indexes: include_str!("indexes.sql"),
    open: |db| Ok(Box::new(Audit::open(db)?)),
};

struct Row {
    position: u64,
    at: i64,
    customer_id: CustomerId,
    pool_id: PoolId,
    kind: AuditKind,
    from_user: UserId,
    by: Actor,
    rule: Option<RuleKind>,
    reason: Option<String>,
    to_pool: Option<PoolId>,
    threshold_days: Option<u32>,
    due_at: Option<i64>,
    rules_version: Option<u32>,
    evidence: Option<ReclaimEvidence>,
}

struct Audit {
    deactivated: BTreeSet<UserId>,
    newly_deactivated: Vec<UserId>,
    rows: Vec<Row>,
}

impl Audit {
    fn open(db: &Connection) -> rusqlite::Result<Self> {
        let deactivated = db
            .prepare("SELECT user_id FROM deactivated")?
            .query_map([], |row| row.id(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Self {
            deactivated,
            newly_deactivated: Vec::new(),
            rows: Vec::new(),
        })
    }
}

impl Projector for Audit {
    fn apply(&mut self, _db: &Connection, event: &LoggedEvent) -> rusqlite::Result<()> {
        let at = micros(event.event.at);
        let actor = event.event.actor;
        let row = |customer_id, pool_id, kind, from_user, by| Row {
            position: event.position,
            at,
            customer_id,
            pool_id,
            kind,
            from_user,
            by,
            rule: None,
            reason: None,
            to_pool: None,
            threshold_days: None,
            due_at: None,
            rules_version: None,
            evidence: None,
        };
        let row = match &event.event.body {
            EventBody::UserDeactivated(e) => {
                if self.deactivated.insert(e.user_id) {
                    self.newly_deactivated.push(e.user_id);
                }
                return Ok(());
            }
            EventBody::CustomerAbandoned(e) => Row {
                reason: Some(e.reason.clone()),
                to_pool: Some(e.to_pool),
                ..row(
                    e.customer_id,
                    e.from_pool,
                    AuditKind::Abandoned,
                    e.abandoner,
                    actor,
                )
            },
            EventBody::CustomerReclaimed(e) => {
                let kind = if self.deactivated.contains(&e.former_owner) {
                    AuditKind::Deactivation
                } else {
                    AuditKind::Reclaimed
                };
                Row {
                    reason: e.reason.clone(),
                    ..row(e.customer_id, e.pool_id, kind, e.former_owner, actor)
                }
            }
            EventBody::CustomerAutoReclaimed(e) => Row {
                rule: Some(e.rule),
                threshold_days: Some(e.threshold_days),
                due_at: Some(micros(e.due_at)),
                rules_version: Some(e.rules_version),
                evidence: Some(e.evidence.clone()),
                ..row(
                    e.customer_id,
                    e.pool_id,
                    AuditKind::AutoReclaimed,
                    e.former_owner,
                    Actor::Rule(e.rule),
                )
            },
            _ => return Ok(()),
        };
        self.rows.push(row);
        Ok(())
    }

    fn flush(&mut self, db: &Connection) -> rusqlite::Result<()> {
        for user in self.newly_deactivated.drain(..) {
            db.prepare_cached("INSERT OR IGNORE INTO deactivated (user_id) VALUES (?1)")?
                .execute([Id::from(user)])?;
        }
        let mut insert = db.prepare_cached(
            "INSERT INTO audit (position, at, customer_id, pool_id, kind, from_user, by_actor, \
             by_user, rule, reason, to_pool, threshold_days, due_at, rules_version, evidence) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?;
        for row in self.rows.drain(..) {
            insert.execute(params![
                row.position as i64,
                row.at,
                Id::from(row.customer_id),
                Id::from(row.pool_id),
                row.kind.as_str(),
                Id::from(row.from_user),
                row.by.to_string(),
                row.by.user().map(Id::from),
                row.rule.map(RuleKind::as_str),
                row.reason,
                row.to_pool.map(Id::from),
                row.threshold_days,
                row.due_at,
                row.rules_version,
                row.evidence.as_ref().map(json),
            ])?;
        }
        Ok(())
    }

    fn trim(&mut self, _keep: usize) {}
}
