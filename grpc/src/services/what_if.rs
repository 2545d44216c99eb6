//! `QueryService.SimulatePoolRules`: what-if for a pool's rules. The domain's dry run
//! (`poolkeeper_domain::what_if`) takes the pool's owned customers from the write model
//! under its read lock, then plays the scheduler forward on a blocking thread; this module
//! parses the request, authorizes pool admins, and pages the answer (AIP-158, earliest
//! proposed deadline first). Nothing is appended.

use chrono::Duration;
use poolkeeper_domain::rules::Deadline;
use poolkeeper_domain::what_if::{CustomerForecast, Forecast, Scenario, Step, Tally};
use poolkeeper_domain::{Clock, CustomerId};
use poolkeeper_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::query::{QueryApi, allow};
use super::split;
use crate::convert::{self, customer_name, pool_name, rule_pb, timestamp, user_name};
use crate::status::{IntoStatus, internal, invalid, not_found};

/// The horizon when the request names none, and the longest one.
const DEFAULT_HORIZON_DAYS: u32 = 30;
const MAX_HORIZON_DAYS: u32 = 366;

/// Simulates `rules` on the request's pool and answers one page of it.
pub(super) async fn simulate_pool_rules(
    api: &QueryApi,
    request: Request<pb::SimulatePoolRulesRequest>,
) -> Result<Response<pb::SimulatePoolRulesResponse>, Status> {
    let (metadata, m) = split(request);
    let reads = api.reads(&metadata, m.min_position).await?;
    let pool = convert::pool("pool", &m.pool)?;
    let rules = convert::pool_rules(&m.rules)?;
    let horizon = horizon(m.horizon_days)?;
    let limit = convert::page_size(m.page_size)? as usize;
    let after = convert::cursor(m.page_token)
        .map(|t| Cursor::parse(&t))
        .transpose()?;
    let viewer = reads.viewer(&metadata)?;
    let now = reads.clock.now();
    let scenario = {
        let model = reads.writer.model();
        if !model.pools.contains_key(&pool) {
            return Err(not_found("pool", pool_name(pool)));
        }
        allow(
            model.may_simulate_rules(viewer, pool),
            "not_pool_admin",
            "only the pool's admins may simulate its rules",
        )?;
        Scenario::prepare(&model, pool, &rules, now).map_err(IntoStatus::into_status)?
    };
    let forecast = tokio::task::spawn_blocking(move || scenario.run(horizon))
        .await
        .map_err(|error| internal(format!("the simulation failed: {error}")))?;
    Ok(Response::new(page(forecast, after, limit, now)))
}

fn horizon(days: u32) -> Result<Duration, Status> {
    match days {
        0 => Ok(Duration::days(i64::from(DEFAULT_HORIZON_DAYS))),
        1..=MAX_HORIZON_DAYS => Ok(Duration::days(i64::from(days))),
        _ => Err(invalid(
            "horizon_days",
            format!("must be between 1 and {MAX_HORIZON_DAYS}"),
        )),
    }
}

/// Where a page ends: the last customer's proposed deadline (none sorts last) and id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Cursor {
    no_deadline: bool,
    at_micros: i64,
    customer: CustomerId,
}

impl Cursor {
    fn of(customer: &CustomerForecast) -> Self {
        Self {
            no_deadline: customer.proposed.is_none(),
            at_micros: customer.proposed.map_or(0, |d| d.at.timestamp_micros()),
            customer: customer.customer_id,
        }
    }

    fn parse(token: &str) -> Result<Self, Status> {
        let bad = || invalid("page_token", "is not a token this method returned");
        let (at, id) = token.split_once('/').ok_or_else(bad)?;
        let customer = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
        let (no_deadline, at_micros) = match at {
            "none" => (true, 0),
            micros => (false, micros.parse().map_err(|_| bad())?),
        };
        Ok(Self {
            no_deadline,
            at_micros,
            customer: CustomerId(customer),
        })
    }

    fn token(&self) -> String {
        let at = if self.no_deadline {
            "none".to_owned()
        } else {
            self.at_micros.to_string()
        };
        format!("{at}/{}", self.customer.0)
    }
}

fn page(
    forecast: Forecast,
    after: Option<Cursor>,
    limit: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> pb::SimulatePoolRulesResponse {
    let total = forecast.customers.len();
    let mut rest = forecast
        .customers
        .iter()
        .filter(|c| after.is_none_or(|after| Cursor::of(c) > after));
    let customers: Vec<&CustomerForecast> = rest.by_ref().take(limit).collect();
    let next_page_token = match (rest.next(), customers.last()) {
        (Some(_), Some(last)) => Cursor::of(last).token(),
        _ => String::new(),
    };
    pb::SimulatePoolRulesResponse {
        customers: customers.into_iter().map(customer_pb).collect(),
        next_page_token,
        days: forecast
            .days
            .iter()
            .map(|(date, tally)| pb::SimulatedDay {
                date: date.format("%Y-%m-%d").to_string(),
                tally: Some(tally_pb(tally)),
            })
            .collect(),
        owners: forecast
            .owners
            .iter()
            .map(|(owner, tally)| pb::SimulatedOwner {
                owner: user_name(*owner),
                tally: Some(tally_pb(tally)),
            })
            .collect(),
        simulated_from: Some(timestamp(now)),
        total_customers: u32::try_from(total).unwrap_or(u32::MAX),
    }
}

fn customer_pb(customer: &CustomerForecast) -> pb::SimulatedCustomer {
    pb::SimulatedCustomer {
        customer: customer_name(customer.customer_id),
        owner: user_name(customer.owner),
        current: customer.current.as_ref().map(deadline_pb),
        proposed: customer.proposed.as_ref().map(deadline_pb),
        steps: customer.steps.iter().map(step_pb).collect(),
    }
}

fn deadline_pb(deadline: &Deadline) -> pb::SimulatedDeadline {
    pb::SimulatedDeadline {
        time: Some(timestamp(deadline.at)),
        rule: rule_pb(deadline.rule) as i32,
        threshold_days: deadline.threshold_days,
    }
}

fn step_pb(step: &Step) -> pb::SimulatedStep {
    pb::SimulatedStep {
        time: Some(timestamp(step.at)),
        kind: step.kind.as_str().to_owned(),
        owner: user_name(step.owner),
        new_owner: step.new_owner.map(user_name).unwrap_or_default(),
    }
}

fn tally_pb(tally: &Tally) -> pb::SimulationTally {
    pb::SimulationTally {
        reminders: tally.reminders,
        escalations: tally.escalations,
        extensions: tally.extensions,
        reclaims: tally.reclaims,
        returned_to_pool: tally.returned_to_pool,
        reassigned: tally.reassigned,
    }
}
