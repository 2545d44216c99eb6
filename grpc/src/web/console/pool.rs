//! Pool pages: every pool the session may read, and one pool's counts (unclaimed,
//! claimed, pending, expired, frozen, recycle bin), its abandon reasons per month as a
//! chart, and a user's holdings on a chosen day.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use poolkeeper_domain::Clock;
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::query_service_server::QueryService;
use serde::Deserialize;
use tonic::Status;

use super::chart;
use super::html::{esc, page, respond, table, when};
use super::{Console, Session, refused};
use crate::convert::timestamp;

/// Months of abandon reasons charted, the current one last.
const MONTHS: u32 = 12;
/// The most pages of expired customers counted.
const MOST_EXPIRED_PAGES: usize = 20;

/// GET /pools.
pub async fn list(State(console): State<Console>, headers: HeaderMap) -> Response {
    let Some(session) = Session::from_headers(&headers) else {
        return super::session::to_login();
    };
    let pools = match console.read(&session, pb::ListPoolsRequest::default()) {
        Ok(request) => console.query.list_pools(request).await,
        Err(status) => Err(status),
    };
    let pools = match pools {
        Ok(pools) => pools.into_inner().pools,
        Err(status) => return refused(&session, status),
    };
    let rows: Vec<Vec<String>> = pools
        .iter()
        .map(|pool| {
            let id = pool.name.trim_start_matches("pools/");
            vec![
                format!(
                    "<a class=\"pool\" href=\"/pools/{}\">{}</a>",
                    esc(id),
                    esc(&pool.display_name)
                ),
                esc(&pool.name),
                if pool.default {
                    "default".into()
                } else {
                    String::new()
                },
                pool.rules_version.to_string(),
            ]
        })
        .collect();
    let body = table("pools", &["Pool", "Name", "", "Rules version"], &rows);
    respond(
        StatusCode::OK,
        page("Pools", Some(&session.describe()), &body),
    )
}

/// `?user=&day=` of a pool page: whose holdings, on which day (`YYYY-MM-DD`, its end).
#[derive(Deserialize)]
pub struct PoolQuery {
    #[serde(default)]
    user: String,
    #[serde(default)]
    day: String,
}

/// GET /pools/{id}.
pub async fn show(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<PoolQuery>,
) -> Response {
    let Some(session) = Session::from_headers(&headers) else {
        return super::session::to_login();
    };
    match render(&console, &session, &id, &query).await {
        Ok(body) => respond(StatusCode::OK, body),
        Err(status) => refused(&session, status),
    }
}

async fn render(
    console: &Console,
    session: &Session,
    id: &str,
    query: &PoolQuery,
) -> Result<String, Status> {
    let name = format!("pools/{id}");
    let pool = console
        .query
        .get_pool(console.read(
            session,
            pb::GetPoolRequest {
                name: name.clone(),
                min_position: 0,
            },
        )?)
        .await?
        .into_inner();
    let mut body = counts(console, session, &name).await?;
    body.push_str("<h2>Abandon reasons per month</h2>");
    body.push_str(&reasons_chart(console, session, &name).await?);
    body.push_str(&holdings(console, session, id, query).await?);
    Ok(page(&pool.display_name, Some(&session.describe()), &body))
}

/// The pool's customers per state, and its expired ones (pool admins only: `—` else).
async fn counts(console: &Console, session: &Session, pool: &str) -> Result<String, Status> {
    let statistics = console
        .query
        .get_statistics(console.read(
            session,
            pb::GetStatisticsRequest {
                subject: pool.to_owned(),
                ..Default::default()
            },
        )?)
        .await?
        .into_inner();
    let count = |state: pb::CustomerState| {
        statistics
            .states
            .iter()
            .find(|s| s.state == state as i32)
            .map_or(0, |s| s.count)
            .to_string()
    };
    let expired = expired_count(console, session, pool).await?;
    let expired = expired.map_or("—".into(), |n| n.to_string());
    let cells = [
        ("unclaimed", count(pb::CustomerState::InPool)),
        ("claimed", count(pb::CustomerState::Owned)),
        ("pending", count(pb::CustomerState::Pending)),
        ("expired", expired),
        ("frozen", count(pb::CustomerState::Frozen)),
        ("recycle-bin", count(pb::CustomerState::Deleted)),
    ]
    .map(|(id, value)| format!("<span id=\"count-{id}\">{value}</span>"))
    .to_vec();
    let head = [
        "Unclaimed",
        "Claimed",
        "Pending",
        "Expired",
        "Frozen",
        "Recycle bin",
    ];
    Ok(format!(
        "<div class=\"counts\">{}</div>",
        table("counts", &head, &[cells])
    ))
}

/// Expired customers (已过期), counted page by page; `None` when the session may not
/// list them.
async fn expired_count(
    console: &Console,
    session: &Session,
    pool: &str,
) -> Result<Option<u64>, Status> {
    let mut total = 0u64;
    let mut token = String::new();
    for _ in 0..MOST_EXPIRED_PAGES {
        let request = pb::ListPoolCustomersRequest {
            pool: pool.to_owned(),
            view: pb::PoolView::Expired as i32,
            page_size: 500,
            page_token: token.clone(),
            ..Default::default()
        };
        let page = match console
            .query
            .list_pool_customers(console.read(session, request)?)
            .await
        {
            Ok(page) => page.into_inner(),
            Err(status) if status.code() == tonic::Code::PermissionDenied => return Ok(None),
            Err(status) => return Err(status),
        };
        total += page.customers.len() as u64;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    Ok(Some(total))
}

/// The last [`MONTHS`] months' abandons, reclaims and automatic reclaims by reason.
async fn reasons_chart(console: &Console, session: &Session, pool: &str) -> Result<String, Status> {
    let now = console.clock.now();
    let this_month = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap_or_default();
    let mut months = Vec::new();
    for back in (0..MONTHS).rev() {
        let start = this_month - Months::new(back);
        let end = start + Months::new(1);
        let period = pb::TimeRange {
            start: Some(timestamp(midnight(start))),
            end: Some(timestamp(midnight(end))),
        };
        let request = pb::GetAbandonStatisticsRequest {
            pool: pool.to_owned(),
            period: Some(period),
            min_position: 0,
        };
        let statistics = console
            .query
            .get_abandon_statistics(console.read(session, request)?)
            .await?
            .into_inner();
        let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
        for reason in statistics.by_reason {
            let label = if reason.reason.is_empty() {
                reason.kind.clone()
            } else {
                reason.reason.clone()
            };
            *by_reason.entry(label).or_default() += reason.count;
        }
        months.push((
            start.format("%Y-%m").to_string(),
            by_reason.into_iter().collect(),
        ));
    }
    Ok(chart::stacked_months("abandon-reasons", &months))
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// The form for a user's holdings on a day and, when asked, its answer: every customer
/// the user owned at the end of that day.
async fn holdings(
    console: &Console,
    session: &Session,
    id: &str,
    query: &PoolQuery,
) -> Result<String, Status> {
    let mut out = format!(
        "<h2>Holdings on a day</h2><form class=\"inline\" method=\"get\" action=\"/pools/{}\">\
         <label>User <input name=\"user\" id=\"holdings-user\" value=\"{}\" placeholder=\"users/…\" size=\"44\"></label>\
         <label>Day <input type=\"date\" name=\"day\" id=\"holdings-day\" value=\"{}\"></label>\
         <button id=\"ask-holdings\">Show</button></form>",
        esc(id),
        esc(&query.user),
        esc(&query.day)
    );
    if query.user.trim().is_empty() || query.day.trim().is_empty() {
        return Ok(out);
    }
    let day = NaiveDate::parse_from_str(query.day.trim(), "%Y-%m-%d")
        .map_err(|_| crate::status::invalid("day", "must be a date such as 2026-03-01"))?;
    let next_day = day
        .checked_add_days(chrono::Days::new(1))
        .ok_or_else(|| crate::status::invalid("day", "is out of range"))?;
    let end_of_day = midnight(next_day) - chrono::Duration::microseconds(1);
    let request = pb::ListHoldingsAsOfRequest {
        owner: query.user.trim().to_owned(),
        as_of: Some(timestamp(end_of_day)),
        page_size: 500,
        ..Default::default()
    };
    let intervals = console
        .query
        .list_holdings_as_of(console.read(session, request)?)
        .await?
        .into_inner()
        .intervals;
    let pool = format!("pools/{id}");
    let rows: Vec<Vec<String>> = intervals
        .iter()
        .filter(|i| i.pool == pool)
        .map(|i| {
            let customer = i.customer.trim_start_matches("customers/");
            vec![
                format!(
                    "<a class=\"holding\" href=\"/customers/{}\">{}</a>",
                    esc(customer),
                    esc(&i.customer)
                ),
                esc(&i.pool),
                when(&i.start_time),
                esc(&i.began_by),
            ]
        })
        .collect();
    out.push_str(&format!(
        "<p id=\"holdings-count\">{} customers of this pool at the end of {}</p>",
        rows.len(),
        esc(&query.day)
    ));
    out.push_str(&table(
        "holdings",
        &["Customer", "Pool", "Since", "Began by"],
        &rows,
    ));
    Ok(out)
}
