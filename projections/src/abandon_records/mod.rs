//! The abandon records: every abandon, manual reclaim (a user's deactivation included) and
//! automatic reclaim, with the customer, the pool, from whom, by whom or which rule, the
//! reason, the time and the log position; automatic ones keep threshold and evidence.
//!
//! Its stored name (the file `abandon_audit.db`, the `projection` of its `meta` table,
//! the name status and rebuild requests use) stays `abandon_audit`, the name it had
//! before the module was named for what it holds, so existing directories keep opening.

mod reader;

use chrono::{DateTime, Utc};
use poolkeeper_codec::LoggedEvent;
use poolkeeper_domain::RuleKind;
use poolkeeper_domain::event::{
    CustomerAutoReclaimed, CustomerReclaimReassigned, EventBody, ReassignedVia, ReclaimEvidence,
};
use poolkeeper_domain::{Actor, CustomerId, PoolId, UserId};
use rusqlite::{Connection, params};

pub use self::reader::{
    AbandonPeriod, AbandonRecord, AbandonRecordQuery, AbandonRecordsReader, LossKind, ReasonCount,
    UserCount,
};
use crate::db::{Id, StoredActor, micros};
use crate::lifecycle::DeactivatedUsers;
use crate::name::ProjectionName;
use crate::projector::{ProjectionDefinition, Projector};

pub(crate) static DEFINITION: ProjectionDefinition = ProjectionDefinition {
    name: ProjectionName::AbandonRecords,
    schema_version: 2,
    tables: include_str!("schema.sql"),
    indexes: include_str!("indexes.sql"),
    open: |db| Ok(Box::new(AbandonRecords::open(db)?)),
};

struct AbandonRecords {
    deactivated: DeactivatedUsers,
}

impl AbandonRecords {
    fn open(db: &Connection) -> rusqlite::Result<Self> {
        Ok(Self {
            deactivated: DeactivatedUsers::load(db)?,
        })
    }
}

/// What a rule's loss records besides the common columns.
#[derive(Clone, Copy)]
struct Automatic<'a> {
    rule: RuleKind,
    threshold_days: u32,
    due_at: DateTime<Utc>,
    rules_version: u32,
    evidence: &'a ReclaimEvidence,
}

impl<'a> From<&'a CustomerAutoReclaimed> for Automatic<'a> {
    fn from(e: &'a CustomerAutoReclaimed) -> Self {
        Self {
            rule: e.rule,
            threshold_days: e.threshold_days,
            due_at: e.due_at,
            rules_version: e.rules_version,
            evidence: &e.evidence,
        }
    }
}

impl<'a> From<&'a CustomerReclaimReassigned> for Automatic<'a> {
    fn from(e: &'a CustomerReclaimReassigned) -> Self {
        Self {
            rule: e.rule,
            threshold_days: e.threshold_days,
            due_at: e.due_at,
            rules_version: e.rules_version,
            evidence: &e.evidence,
        }
    }
}

/// Inserts one row (rows are final: written as they are folded).
#[allow(clippy::too_many_arguments)]
fn insert(
    db: &Connection,
    event: &LoggedEvent,
    customer_id: CustomerId,
    pool_id: PoolId,
    kind: LossKind,
    from_user: UserId,
    by: Actor,
    reason: Option<&str>,
    to_pool: Option<PoolId>,
    automatic: Option<Automatic<'_>>,
) -> rusqlite::Result<()> {
    let evidence = automatic.map(|e| e.evidence);
    db.prepare_cached(
        "INSERT INTO audit (position, at, customer_id, pool_id, kind, from_user, by_actor, \
         by_user, rule, reason, to_pool, threshold_days, due_at, rules_version, owned_since, \
         last_contact_at, won_at, counted_from, protection_until) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?19)",
    )?
    .execute(params![
        event.position as i64,
        micros(event.event.at),
        Id::from(customer_id),
        Id::from(pool_id),
        kind.as_str(),
        Id::from(from_user),
        StoredActor(by),
        by.user().map(Id::from),
        automatic.map(|e| e.rule.as_str()),
        reason,
        to_pool.map(Id::from),
        automatic.map(|e| e.threshold_days),
        automatic.map(|e| micros(e.due_at)),
        automatic.map(|e| e.rules_version),
        evidence.map(|e| micros(e.owned_since)),
        evidence.and_then(|e| e.last_contact_at.map(micros)),
        evidence.and_then(|e| e.won_at.map(micros)),
        evidence.map(|e| micros(e.counted_from)),
        evidence.and_then(|e| e.protection_until.map(micros)),
    ])?;
    Ok(())
}

impl Projector for AbandonRecords {
    fn apply(&mut self, db: &Connection, event: &LoggedEvent) -> rusqlite::Result<()> {
        let actor = event.event.actor;
        match &event.event.body {
            EventBody::UserDeactivated(e) => {
                self.deactivated.insert(e.user_id);
                Ok(())
            }
            EventBody::CustomerAbandoned(e) => insert(
                db,
                event,
                e.customer_id,
                e.from_pool,
                LossKind::Abandoned,
                e.abandoner,
                actor,
                Some(&e.reason),
                Some(e.to_pool),
                None,
            ),
            EventBody::CustomerReclaimed(e) => {
                let kind = if self.deactivated.contains(e.former_owner) {
                    LossKind::Deactivation
                } else {
                    LossKind::Reclaimed
                };
                insert(
                    db,
                    event,
                    e.customer_id,
                    e.pool_id,
                    kind,
                    e.former_owner,
                    actor,
                    e.reason.as_deref(),
                    None,
                    None,
                )
            }
            EventBody::CustomerAutoReclaimed(e) => insert(
                db,
                event,
                e.customer_id,
                e.pool_id,
                LossKind::AutoReclaimed,
                e.former_owner,
                Actor::Rule(e.rule),
                e.escalation_fallback.as_deref(),
                None,
                Some(e.into()),
            ),
            // A reassignment at the deadline is the former owner's automatic loss too; the
            // reason says where the customer went.
            EventBody::CustomerReclaimReassigned(e) => insert(
                db,
                event,
                e.customer_id,
                e.pool_id,
                LossKind::AutoReclaimed,
                e.former_owner,
                Actor::Rule(e.rule),
                Some(match e.via {
                    ReassignedVia::Superior => "reassigned_to_superior",
                    ReassignedVia::AutoAssign => "reassigned_by_auto_assign",
                }),
                None,
                Some(e.into()),
            ),
            EventBody::CustomerChangeReverted(e) => {
                db.prepare_cached(
                    "UPDATE audit SET reverted_position = ?2, reverted_at = ?3, \
                     reverted_by = ?4, revert_reason = ?5 WHERE position = ?1",
                )?
                .execute(params![
                    e.compensates_position as i64,
                    event.position as i64,
                    micros(event.event.at),
                    StoredActor(actor),
                    e.reason
                ])?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn flush(&mut self, db: &Connection) -> rusqlite::Result<()> {
        self.deactivated.flush(db)
    }

    fn trim(&mut self, _keep: usize) {}
}
