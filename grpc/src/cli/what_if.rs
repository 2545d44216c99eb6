//! `poolkeeper simulate-rules`: what-if for a pool's rules from the command line. The
//! proposed rules come from a TOML file (the fields of the domain's `PoolRules`); the
//! dry run runs on a running server (`SimulatePoolRules`, at its clock) or, when none
//! runs, on the data directory's log folded here, and prints a table per day and per owner.

use poolkeeper_domain::PoolRules;
use poolkeeper_domain::what_if::{Scenario, Tally};

use super::*;
use crate::convert::{self, pool_rules_pb, user_name};

/// What `simulate-rules` was asked.
pub(super) struct Request {
    pub target: Target,
    pub pool: String,
    pub rules: PathBuf,
    pub horizon: String,
}

/// Runs the dry run and prints its tables.
pub(super) async fn simulate_rules(request: Request) -> Result<(), Failure> {
    let pool = convert::pool("pool", &request.pool).map_err(|s| s.message().to_owned())?;
    let text = std::fs::read_to_string(&request.rules)
        .map_err(|error| format!("cannot read {}: {error}", request.rules.display()))?;
    let rules: PoolRules = toml::from_str(&text).map_err(|error| {
        format!(
            "{} is not valid pool rules: {error}",
            request.rules.display()
        )
    })?;
    let days = horizon_days(&request.horizon)?;
    let (from, days_table, owners, total) = match &request.target.server {
        Some(server) => remote(&request.target, server, pool, &rules, days).await?,
        None => local(&request.target, pool, &rules, days).await?,
    };
    println!("pools/{pool}: {total} owned customers, rules applied at {from}, {days} days ahead");
    print_table("date", &days_table);
    println!();
    print_table("owner", &owners);
    Ok(())
}

type Rows = Vec<(String, Tally)>;

/// `30d`, `30` or `2w`: days, 1 to 366.
fn horizon_days(text: &str) -> Result<u32, Failure> {
    let text = text.trim();
    let (number, unit) = match text.strip_suffix('w') {
        Some(weeks) => (weeks, 7),
        None => (text.strip_suffix('d').unwrap_or(text), 1),
    };
    let days = number
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|d| (1..=366).contains(d))
        .ok_or_else(|| format!("--horizon {text}: give 1 to 366 days, e.g. 30d or 4w"))?;
    Ok(days)
}

async fn remote(
    target: &Target,
    server: &str,
    pool: poolkeeper_domain::PoolId,
    rules: &PoolRules,
    days: u32,
) -> Result<(String, Rows, Rows, u32), Failure> {
    let credentials = target.credentials()?.acting_as("system")?;
    let mut queries = QueryServiceClient::new(credentials.on(client::connect(server).await?));
    let answer = queries
        .simulate_pool_rules(pb::SimulatePoolRulesRequest {
            pool: format!("pools/{pool}"),
            rules: Some(pool_rules_pb(rules)),
            horizon_days: days,
            page_size: 1,
            ..Default::default()
        })
        .await?
        .into_inner();
    let tally = |t: Option<pb::SimulationTally>| {
        let t = t.unwrap_or_default();
        Tally {
            reminders: t.reminders,
            escalations: t.escalations,
            extensions: t.extensions,
            reclaims: t.reclaims,
            returned_to_pool: t.returned_to_pool,
            reassigned: t.reassigned,
        }
    };
    let from = answer
        .simulated_from
        .and_then(|t| DateTime::from_timestamp(t.seconds, 0))
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    let days_table = answer.days.into_iter().map(|d| (d.date, tally(d.tally)));
    let owners = answer.owners.into_iter().map(|o| (o.owner, tally(o.tally)));
    Ok((
        from,
        days_table.collect(),
        owners.collect(),
        answer.total_customers,
    ))
}

async fn local(
    target: &Target,
    pool: poolkeeper_domain::PoolId,
    rules: &PoolRules,
    days: u32,
) -> Result<(String, Rows, Rows, u32), Failure> {
    let (_lock, store) = open_local(target)?;
    let restored = crate::writer::restore(&store).await?;
    store.close().await?;
    let now = Utc::now();
    let scenario = Scenario::prepare(&restored.model, pool, rules, now)?;
    let forecast = scenario.run(chrono::Duration::days(i64::from(days)));
    let days_table = forecast
        .days
        .iter()
        .map(|(date, tally)| (date.format("%Y-%m-%d").to_string(), *tally));
    let owners = forecast.owners.iter().map(|(u, t)| (user_name(*u), *t));
    let total = u32::try_from(forecast.customers.len()).unwrap_or(u32::MAX);
    Ok((
        now.to_rfc3339(),
        days_table.collect(),
        owners.collect(),
        total,
    ))
}

fn print_table(first: &str, rows: &Rows) {
    let width = rows
        .iter()
        .map(|(key, _)| key.len())
        .max()
        .unwrap_or(0)
        .max(first.len());
    println!("{first:<width$}  reminders  escalations  extensions  reclaims  to_pool  reassigned");
    let mut total = Tally::default();
    for (key, t) in rows {
        print_row(key, t, width);
        total.reminders += t.reminders;
        total.escalations += t.escalations;
        total.extensions += t.extensions;
        total.reclaims += t.reclaims;
        total.returned_to_pool += t.returned_to_pool;
        total.reassigned += t.reassigned;
    }
    print_row("total", &total, width);
}

fn print_row(key: &str, t: &Tally, width: usize) {
    println!(
        "{key:<width$}  {:>9}  {:>11}  {:>10}  {:>8}  {:>7}  {:>10}",
        t.reminders, t.escalations, t.extensions, t.reclaims, t.returned_to_pool, t.reassigned
    );
}
