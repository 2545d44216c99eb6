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
use crate::model::WriteModel;
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
        };
        Command::new(command_id, Actor::Rule(rule), body)
    }
}

/// Reclaims and reminders due at `now`, earliest first, at most `limit` of each.
pub fn due(model: &WriteModel, now: DateTime<Utc>, limit: usize) -> Vec<DueAction> {
    let mut actions = Vec::new();
    for &(at, customer_id) in model
        .reminders
        .iter()
        .take_while(|(at, _)| *at <= now)
        .take(limit)
    {
        if let Some(deadline) = model.customers.get(&customer_id).and_then(|c| c.deadline) {
            // A reminder that is only due together with its reclaim is pointless.
            if deadline.at > now && at <= now {
                actions.push(DueAction::Remind {
                    customer_id,
                    rule: deadline.rule,
                    due_at: deadline.at,
                });
            }
        }
    }
    for &(at, customer_id) in model
        .deadlines
        .iter()
        .take_while(|(at, _)| *at <= now)
        .take(limit)
    {
        if let Some(deadline) = model.customers.get(&customer_id).and_then(|c| c.deadline) {
            actions.push(DueAction::Reclaim {
                customer_id,
                rule: deadline.rule,
                due_at: at,
            });
        }
    }
    actions
}

/// The earliest instant at which something will be due, so a scheduler can sleep until then.
pub fn next_due_at(model: &WriteModel) -> Option<DateTime<Utc>> {
    let reminder = model.reminders.first().map(|(at, _)| *at);
    let deadline = model.deadlines.first().map(|(at, _)| *at);
    match (reminder, deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
