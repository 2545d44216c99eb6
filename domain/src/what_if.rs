//! What-if for a pool's rules (a dry run): who would lose what, and when, if the pool's
//! rules changed now.
//!
//! [`Scenario::prepare`] takes the owned customers of one pool out of the write model and
//! applies the proposed rules to them as [`crate::decide()`] would apply the change now
//! (never retroactive, per-user overrides honoured); [`Scenario::run`] then plays the
//! reclaim scheduler forward over the horizon on that copy, with the same
//! [`schedule::due`] and the same `decide` the real scheduler uses, at each instant
//! something falls due, assuming nobody does anything else meanwhile. Nothing is
//! appended and the write model is only read.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::decide::{decide, rules_change};
use crate::error::DomainError;
use crate::event::{Actor, Event, EventBody};
use crate::ids::{CommandId, CustomerId, EventId, PoolId, UserId};
use crate::model::{WriteModel, day_number};
use crate::rules::{Deadline, PoolRules};
use crate::schedule;

/// What the scheduler would do to a customer in the dry run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepKind {
    /// The owner is reminded (提前提醒).
    Reminded,
    /// The owner's superior is notified (逐级上报).
    Escalated,
    /// Protection is extended instead of a reclaim.
    Extended,
    /// Reclaimed back to the pool.
    ReturnedToPool,
    /// Reassigned at the deadline by the escalation ladder.
    Reassigned,
}

impl StepKind {
    /// The stable name: `reminded`, `escalated`, `extended`, `returned_to_pool`, `reassigned`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Reminded => "reminded",
            StepKind::Escalated => "escalated",
            StepKind::Extended => "extended",
            StepKind::ReturnedToPool => "returned_to_pool",
            StepKind::Reassigned => "reassigned",
        }
    }
}

/// One thing the scheduler would do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// When it falls due.
    pub at: DateTime<Utc>,
    /// What it is.
    pub kind: StepKind,
    /// The owner it concerns (the one reminded or who loses the customer).
    pub owner: UserId,
    /// The new owner of a reassignment.
    pub new_owner: Option<UserId>,
}

/// One owned customer of the pool: its deadline now and under the proposed rules, and
/// what the scheduler would do to it within the horizon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerForecast {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its owner now.
    pub owner: UserId,
    /// Its deadline under the rules in force.
    pub current: Option<Deadline>,
    /// Its deadline once the proposed rules are in force.
    pub proposed: Option<Deadline>,
    /// The scheduler's actions within the horizon, in order.
    pub steps: Vec<Step>,
}

/// How many of each action, for one day or one owner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Reminders to owners.
    pub reminders: u32,
    /// Superiors notified.
    pub escalations: u32,
    /// Protections extended instead of a reclaim.
    pub extensions: u32,
    /// Reclaims: customers taken from their owner (back to the pool or reassigned).
    pub reclaims: u32,
    /// Of those, customers that go back to the pool.
    pub returned_to_pool: u32,
    /// Of those, customers reassigned by the escalation ladder.
    pub reassigned: u32,
}

impl Tally {
    fn count(&mut self, kind: StepKind) {
        match kind {
            StepKind::Reminded => self.reminders += 1,
            StepKind::Escalated => self.escalations += 1,
            StepKind::Extended => self.extensions += 1,
            StepKind::ReturnedToPool => {
                self.reclaims += 1;
                self.returned_to_pool += 1;
            }
            StepKind::Reassigned => {
                self.reclaims += 1;
                self.reassigned += 1;
            }
        }
    }
}

/// The dry run's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forecast {
    /// Every customer of the pool owned now, by proposed deadline (none last), then id.
    pub customers: Vec<CustomerForecast>,
    /// Every day of the horizon (the organization's days), with what falls due on it.
    pub days: Vec<(NaiveDate, Tally)>,
    /// Every owner something happens to, by id.
    pub owners: Vec<(UserId, Tally)>,
}

/// A pool's owned customers under proposed rules, ready to be played forward.
#[derive(Clone, Debug)]
pub struct Scenario {
    model: WriteModel,
    start: DateTime<Utc>,
    customers: Vec<CustomerForecast>,
}

impl Scenario {
    /// The owned customers of `pool_id` with `rules` applied as a change made at `now`.
    /// Refused as `SetPoolRules` would refuse the rules (unknown pool, invalid rules).
    pub fn prepare(
        model: &WriteModel,
        pool_id: PoolId,
        rules: &PoolRules,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        let change = rules_change(model, pool_id, rules, now)?;
        let mut model = model.with_customers_of(pool_id);
        let current: Vec<(CustomerId, UserId, Option<Deadline>)> = model
            .customers
            .iter()
            .filter_map(|(id, c)| c.state.owner().map(|owner| (*id, owner, c.deadline)))
            .collect();
        if let Some(change) = change {
            model.apply(&Event {
                event_id: EventId::from_u128(0),
                command_id: CommandId::from_u128(0),
                at: now,
                actor: Actor::System,
                body: EventBody::PoolRulesChanged(change),
            });
        }
        let mut customers: Vec<CustomerForecast> = current
            .into_iter()
            .map(|(customer_id, owner, current)| CustomerForecast {
                customer_id,
                owner,
                current,
                proposed: model.customers.get(&customer_id).and_then(|c| c.deadline),
                steps: Vec::new(),
            })
            .collect();
        customers.sort_by_key(|c| {
            let at = c.proposed.map(|d| d.at);
            (at.is_none(), at, c.customer_id)
        });
        Ok(Self {
            model,
            start: now,
            customers,
        })
    }

    /// Plays the scheduler forward for `horizon`, from the instant of the change.
    pub fn run(mut self, horizon: Duration) -> Forecast {
        let end = self.start + horizon;
        let mut steps: BTreeMap<CustomerId, Vec<Step>> = BTreeMap::new();
        while let Some(at) = schedule::next_due_at(&self.model).filter(|at| *at <= end) {
            let at = at.max(self.start);
            let mut applied = 0;
            for action in schedule::due(&self.model, at, usize::MAX) {
                let Ok(events) = decide(&self.model, &action.into_command(), at) else {
                    continue;
                };
                for event in &events {
                    if let Some((customer, step)) = step_of(&event.body, at) {
                        steps.entry(customer).or_default().push(step);
                    }
                    self.model.apply(event);
                    applied += 1;
                }
            }
            if applied == 0 {
                // Nothing the scheduler would do either: it would retry the same refusal.
                break;
            }
        }
        self.forecast(steps, end)
    }

    fn forecast(
        mut self,
        mut steps: BTreeMap<CustomerId, Vec<Step>>,
        end: DateTime<Utc>,
    ) -> Forecast {
        let offset = self.model.settings.day_offset_minutes;
        let mut days: BTreeMap<i64, Tally> = (day_number(self.start, offset)
            ..=day_number(end, offset))
            .map(|day| (day, Tally::default()))
            .collect();
        let mut owners: BTreeMap<UserId, Tally> = BTreeMap::new();
        for customer in &mut self.customers {
            customer.steps = steps.remove(&customer.customer_id).unwrap_or_default();
            for step in &customer.steps {
                days.entry(day_number(step.at, offset))
                    .or_default()
                    .count(step.kind);
                owners.entry(step.owner).or_default().count(step.kind);
            }
        }
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        Forecast {
            customers: self.customers,
            days: days
                .into_iter()
                .map(|(day, tally)| (epoch + Duration::days(day), tally))
                .collect(),
            owners: owners.into_iter().collect(),
        }
    }
}

/// The step of the dry run that an event of the scheduler at `at` is, if it is one, and
/// its customer: what a dry run predicts is what the log would then record.
pub fn step_of(body: &EventBody, at: DateTime<Utc>) -> Option<(CustomerId, Step)> {
    let step = |owner, kind, new_owner| Step {
        at,
        kind,
        owner,
        new_owner,
    };
    Some(match body {
        EventBody::ReclaimReminded(e) => (e.customer_id, step(e.owner, StepKind::Reminded, None)),
        EventBody::ReclaimEscalated(e) => (e.customer_id, step(e.owner, StepKind::Escalated, None)),
        EventBody::ProtectionExtended(e) => {
            (e.customer_id, step(e.owner, StepKind::Extended, None))
        }
        EventBody::CustomerAutoReclaimed(e) => (
            e.customer_id,
            step(e.former_owner, StepKind::ReturnedToPool, None),
        ),
        EventBody::CustomerReclaimReassigned(e) => (
            e.customer_id,
            step(e.former_owner, StepKind::Reassigned, Some(e.new_owner)),
        ),
        _ => return None,
    })
}
