//! A customer's ownership history, abandon records and the statistics as messages.

use poolkeeper_domain::permissions::StatisticsSubject;
use poolkeeper_projections::{
    AbandonRecord, DailyActivity, Period, ReasonCount, Reversal, StateCounts, UserCount, UserCounts,
};
use poolkeeper_proto::v1 as pb;
use tonic::Status;

use super::customers::state_pb;
use super::names::{
    actor_user_name, customer_name, optional_user_name, pool, pool_name, user, user_name,
};
use super::rules::{actor_rule, optional_rule_pb};
use super::time::{optional_timestamp, timestamp};
use crate::status::invalid;

/// An ownership interval (a period with an owner, or in a pool) as a message.
pub fn interval_pb(period: &Period) -> pb::OwnershipInterval {
    pb::OwnershipInterval {
        customer: customer_name(period.customer_id),
        owner: optional_user_name(period.user),
        pool: pool_name(period.pool_id),
        start_time: Some(timestamp(period.from.at)),
        start_position: period.from.position,
        began_by: period.began.as_str().to_owned(),
        began_actor: period.began_by.to_string(),
        end_time: optional_timestamp(period.to.map(|m| m.at)),
        end_position: period.to.map_or(0, |m| m.position),
        ended_by: period
            .ended
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        end_actor: period.ended_by.map(|a| a.to_string()).unwrap_or_default(),
        end_reason: period.end_reason.clone().unwrap_or_default(),
        end_rule: actor_rule(period.ended_by) as i32,
        transferred_to: optional_user_name(period.ended_to),
        start_reverted: period.began_reverted.as_ref().map(reversal_pb),
        end_reverted: period.end_reverted.as_ref().map(reversal_pb),
        start_compensates: period.began_compensates.unwrap_or(0),
        end_compensates: period.end_compensates.unwrap_or(0),
    }
}

/// A change's compensation as a message.
fn reversal_pb(reversal: &Reversal) -> pb::Reversal {
    pb::Reversal {
        position: reversal.position,
        time: Some(timestamp(reversal.at)),
        actor: reversal.by.to_string(),
        reason: reversal.reason.clone(),
    }
}

/// A period in one state, for a customer's timeline, as a message.
pub fn state_period_pb(period: &Period) -> pb::StatePeriod {
    pb::StatePeriod {
        state: state_pb(period.state) as i32,
        user: optional_user_name(period.user),
        pool: pool_name(period.pool_id),
        start_time: Some(timestamp(period.from.at)),
        start_position: period.from.position,
        end_time: optional_timestamp(period.to.map(|m| m.at)),
        end_position: period.to.map_or(0, |m| m.position),
        cause: period.began.as_str().to_owned(),
    }
}

/// An abandon audit row as a message.
pub fn abandon_record_pb(row: &AbandonRecord) -> pb::AbandonRecord {
    pb::AbandonRecord {
        position: row.position,
        customer: customer_name(row.customer_id),
        pool: pool_name(row.pool_id),
        kind: row.kind.as_str().to_owned(),
        from_user: user_name(row.from_user),
        by_user: actor_user_name(row.by),
        rule: optional_rule_pb(row.rule) as i32,
        reason: row.reason.clone().unwrap_or_default(),
        time: Some(timestamp(row.at)),
        to_pool: row.to_pool.map(pool_name).unwrap_or_default(),
        threshold_days: row.threshold_days.unwrap_or(0),
        due_time: optional_timestamp(row.due_at),
        rules_version: row.rules_version.unwrap_or(0),
        evidence_json: row
            .evidence
            .as_ref()
            .and_then(|evidence| serde_json::to_string(evidence).ok())
            .unwrap_or_default(),
        reverted: row.reverted.as_ref().map(reversal_pb),
    }
}

/// The abandon counts by reason and by user as a message.
pub fn abandon_statistics_pb(
    by_reason: Vec<ReasonCount>,
    by_user: Vec<UserCount>,
) -> pb::AbandonStatistics {
    pb::AbandonStatistics {
        by_reason: by_reason
            .into_iter()
            .map(|count| pb::abandon_statistics::ReasonCount {
                kind: count.kind.as_str().to_owned(),
                reason: count.reason.unwrap_or_default(),
                rule: optional_rule_pb(count.rule) as i32,
                count: count.count,
            })
            .collect(),
        by_user: by_user
            .into_iter()
            .map(|count| pb::abandon_statistics::UserCount {
                user: user_name(count.user),
                count: count.abandoned
                    + count.reclaimed
                    + count.deactivation
                    + count.auto_reclaimed,
                abandoned: count.abandoned,
                reclaimed: count.reclaimed + count.deactivation,
                auto_reclaimed: count.auto_reclaimed,
            })
            .collect(),
    }
}

/// GetStatistics' `subject`: `pools/{uuid}` or `users/{uuid}`.
pub fn statistics_subject(value: &str) -> Result<StatisticsSubject, Status> {
    let subject = value.trim();
    if subject.starts_with("pools/") {
        pool("subject", subject).map(StatisticsSubject::Pool)
    } else if subject.starts_with("users/") {
        user("subject", subject).map(StatisticsSubject::User)
    } else {
        Err(invalid(
            "subject",
            "must be `pools/{uuid}` or `users/{uuid}`",
        ))
    }
}

/// A customer state and how many customers are in it.
pub type StateCount = (pb::CustomerState, u64);

/// A pool's customers by state.
pub fn pool_state_counts(counts: &StateCounts) -> Vec<StateCount> {
    vec![
        (pb::CustomerState::InPool, counts.in_pool),
        (pb::CustomerState::Pending, counts.pending),
        (pb::CustomerState::Owned, counts.owned),
        (pb::CustomerState::Frozen, counts.frozen),
        (pb::CustomerState::Deleted, counts.deleted),
    ]
}

/// A user's customers by state.
pub fn user_state_counts(counts: &UserCounts) -> Vec<StateCount> {
    vec![
        (pb::CustomerState::Owned, counts.owned),
        (pb::CustomerState::Pending, counts.pending),
    ]
}

/// The statistics of `subject` (as the request named it) as a message.
pub fn statistics_pb(
    subject: &str,
    states: Vec<StateCount>,
    days: Vec<DailyActivity>,
) -> pb::Statistics {
    pb::Statistics {
        subject: subject.to_owned(),
        states: states
            .into_iter()
            .map(|(state, count)| pb::statistics::StateCount {
                state: state as i32,
                count,
            })
            .collect(),
        days: days
            .into_iter()
            .map(|day| pb::statistics::Day {
                date: day.day.to_string(),
                claims: day.claims,
                abandons: day.abandons,
                reclaims: day.reclaims,
                auto_reclaims: day.auto_reclaims,
                assignments: day.assignments,
            })
            .collect(),
    }
}
