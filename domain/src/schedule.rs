//! What the reclaim scheduler must do now: due reclaims and reminders.
//!
//! [`due`] walks the write model's deadline and reminder indexes from the earliest
//! instant and stops at the first one in the future, so it never looks at a customer
//! that is not due. Each [`DueAction`] becomes a system command with a deterministic
//! command id, so submitting the same due action twice appends it once.

use chrono::{DateTime, Utc};

use crate::command::{Command, CommandBody};
use crate::event::Actor;
use crate::ids::{CommandId, CustomerId};
use crate::model::{WriteModel, micros};
use crate::rules::RuleKind;

/// Something the scheduler must submit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DueAction {
    /// An automatic reclaim (or, for protection with a recent follow-up, an extension).
    Reclaim {
        /// The customer.
        customer_id: CustomerId,
        /// The rule that is due.
        rule: RuleKind,
        /// Its deadline.
        due_at: DateTime<Utc>,
    },
    /// A notice to the owner's superior before a reclaim (the escalation ladder).
    Escalate {
        /// The customer.
        customer_id: CustomerId,
        /// The rule that will fire.
        rule: RuleKind,
        /// The deadline being escalated.
        due_at: DateTime<Utc>,
    },
    /// A reminder to the owner before a reclaim.
    Remind {
        /// The customer.
        customer_id: CustomerId,
        /// The rule that will fire.
        rule: RuleKind,
        /// The deadline being warned of.
        due_at: DateTime<Utc>,
    },
}

impl DueAction {
    /// A short stable name of the kind of action: `reclaim`, `escalate` or `remind`.
    pub fn kind(&self) -> &'static str {
        match self {
            DueAction::Reclaim { .. } => "reclaim",
            DueAction::Escalate { .. } => "escalate",
            DueAction::Remind { .. } => "remind",
        }
    }

    /// The system command that carries the action out. Its id is derived from the action,
    /// so a repeated submission is recognised as the same command.
    pub fn into_command(self) -> Command {
        let (kind, customer_id, rule, due_at) = match self {
            DueAction::Reclaim {
                customer_id,
                rule,
                due_at,
            } => (1u128, customer_id, rule, due_at),
            DueAction::Remind {
                customer_id,
                rule,
                due_at,
            } => (2u128, customer_id, rule, due_at),
            DueAction::Escalate {
                customer_id,
                rule,
                due_at,
            } => (3u128, customer_id, rule, due_at),
        };
        let micros = u128::from(due_at.timestamp_micros().unsigned_abs());
        let mixed = customer_id.0.as_u128()
            ^ micros.rotate_left(64)
            ^ (kind << 120)
            ^ (rule as u128) << 112;
        let command_id =
            CommandId(uuid::Builder::from_custom_bytes(mixed.to_be_bytes()).into_uuid());
        let body = match self {
            DueAction::Reclaim { .. } => CommandBody::AutoReclaim {
                customer_id,
                rule,
                due_at,
            },
            DueAction::Remind { .. } => CommandBody::RemindReclaim {
                customer_id,
                due_at,
            },
            DueAction::Escalate { .. } => CommandBody::EscalateReclaim {
                customer_id,
                due_at,
            },
        };
        Command::new(command_id, Actor::Rule(rule), body)
    }
}

/// Reclaims and reminders due at `now`, earliest first, at most `limit` actions. Only
/// wake-up entries at or before `now` are read; superseded entries among them are skipped.
pub fn due(model: &WriteModel, now: DateTime<Utc>, limit: usize) -> Vec<DueAction> {
    let now_micros = micros(now);
    let mut actions = Vec::new();
    let entries = model.wakeups.iter().take_while(|(at, _)| *at <= now_micros);
    for &(at, customer_id) in entries {
        if actions.len() >= limit {
            break;
        }
        if !model.is_live_wakeup(at, customer_id) {
            continue;
        }
        let Some(customer) = model.customers.get(&customer_id) else {
            continue;
        };
        let Some(deadline) = customer.deadline else {
            continue;
        };
        if deadline.at <= now {
            actions.push(DueAction::Reclaim {
                customer_id,
                rule: deadline.rule,
                due_at: deadline.at,
            });
        } else if customer.reminder_at.is_some_and(|reminder| reminder <= now) {
            actions.push(DueAction::Remind {
                customer_id,
                rule: deadline.rule,
                due_at: deadline.at,
            });
        } else if model
            .pools
            .get(&customer.pool)
            .and_then(|pool| customer.escalation_at(&pool.rules))
            .is_some_and(|at| at <= now)
        {
            actions.push(DueAction::Escalate {
                customer_id,
                rule: deadline.rule,
                due_at: deadline.at,
            });
        }
    }
    actions
}

/// The earliest instant at which something may be due, so a scheduler can sleep until then.
pub fn next_due_at(model: &WriteModel) -> Option<DateTime<Utc>> {
    let (at, _) = model
        .wakeups
        .iter()
        .find(|(at, customer_id)| model.is_live_wakeup(*at, *customer_id))?;
    DateTime::from_timestamp_micros(*at)
}
