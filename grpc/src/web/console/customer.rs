//! A customer's page: its ownership timeline, its events with positions and hashes, and
//! its owner as of an instant.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, Utc};
use poolkeeper_domain::{Clock, CustomerId, StreamRef};
use poolkeeper_eventlog::{RecordedEvent, StreamId};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::query_service_server::QueryService;
use serde::Deserialize;
use tonic::Status;
use uuid::Uuid;

use super::chart::{self, Band};
use super::html::{esc, instant, page, respond, table, when};
use super::{Console, Session, refused};
use crate::convert::timestamp;
use crate::status::OrStatus;

/// The most events listed under the timeline.
const MOST_EVENTS: usize = 1_000;

/// How the console names a customer state.
pub(super) fn state_name(state: i32) -> &'static str {
    match pb::CustomerState::try_from(state) {
        Ok(pb::CustomerState::InPool) => "unclaimed",
        Ok(pb::CustomerState::Pending) => "pending",
        Ok(pb::CustomerState::Owned) => "claimed",
        Ok(pb::CustomerState::Frozen) => "frozen",
        Ok(pb::CustomerState::Deleted) => "recycle bin",
        _ => "unknown",
    }
}

/// `?as_of=` of the customer page: `2026-03-01T09:30` (a date-time picker's value), UTC.
#[derive(Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    as_of: String,
}

/// GET /customers/{id}.
pub async fn show(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Response {
    let Some(session) = Session::from_headers(&headers) else {
        return super::session::to_login();
    };
    match render(&console, &session, &id, &query.as_of).await {
        Ok(body) => respond(StatusCode::OK, body),
        Err(status) => refused(&session, status),
    }
}

/// The parsed `as_of`, or an INVALID_ARGUMENT naming it.
fn parse_as_of(text: &str) -> Result<Option<DateTime<Utc>>, Status> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|at| Some(at.and_utc()))
        .ok_or_else(|| {
            crate::status::invalid("as_of", "must be a date and time such as 2026-03-01T09:30")
        })
}

async fn render(
    console: &Console,
    session: &Session,
    id: &str,
    as_of: &str,
) -> Result<String, Status> {
    let uuid =
        Uuid::parse_str(id).map_err(|_| crate::status::invalid("customer", "must be a UUID"))?;
    let name = format!("customers/{uuid}");
    let as_of = parse_as_of(as_of)?;
    let request = console.read(
        session,
        pb::GetCustomerRequest {
            name: name.clone(),
            min_position: 0,
        },
    )?;
    let partition = console.partitions.for_read(&request).await?;
    let customer = console.query.get_customer(request).await?.into_inner();
    let history = console
        .query
        .get_ownership_history(console.read(
            session,
            pb::GetOwnershipHistoryRequest {
                customer: name.clone(),
                as_of: as_of.map(timestamp),
                ..Default::default()
            },
        )?)
        .await?
        .into_inner();
    // The raw events are the log's: shown to sessions whose token has the audit scope.
    let events = if console.audits(session) {
        let stream =
            StreamId::new(StreamRef::Customer(CustomerId(uuid)).to_string()).or_status()?;
        let events = partition
            .sealed_store()
            .read_stream(&stream, 1, MOST_EVENTS);
        Some(events.await.or_status()?)
    } else {
        None
    };
    let names = user_names(console, session, &history).await;
    let now = console.clock.now();
    let mut body = summary(&customer, &names);
    body.push_str(&owner_as_of(id, as_of, &history, &names));
    body.push_str("<h2>Ownership timeline</h2>");
    body.push_str(&chart::timeline(&bands(&history, &names), now));
    body.push_str(&intervals(&history, &names));
    body.push_str(&event_list(events.as_deref()));
    Ok(page(
        &customer.display_name,
        Some(&session.describe()),
        &body,
    ))
}

/// Display names of the users in `history`, where the session may read them.
async fn user_names(
    console: &Console,
    session: &Session,
    history: &pb::OwnershipHistory,
) -> HashMap<String, String> {
    let mut names = HashMap::new();
    for interval in &history.intervals {
        if names.contains_key(&interval.owner) {
            continue;
        }
        let request = pb::GetUserRequest {
            name: interval.owner.clone(),
            min_position: 0,
        };
        let Ok(request) = console.read(session, request) else {
            continue;
        };
        if let Ok(user) = console.query.get_user(request).await {
            names.insert(interval.owner.clone(), user.into_inner().display_name);
        }
    }
    names
}

fn label(names: &HashMap<String, String>, user: &str) -> String {
    match names.get(user) {
        Some(name) if !name.is_empty() => format!("{name} ({user})"),
        _ => user.to_owned(),
    }
}

/// A user's display name, or the start of its id: short enough for the chart.
fn short_label(names: &HashMap<String, String>, user: &str) -> String {
    match names.get(user) {
        Some(name) if !name.is_empty() => name.chars().take(28).collect(),
        _ => user.chars().take(20).chain("…".chars()).collect(),
    }
}

fn summary(customer: &pb::Customer, names: &HashMap<String, String>) -> String {
    let rows = vec![
        vec![
            "Customer".into(),
            format!("<span id=\"customer-name\">{}</span>", esc(&customer.name)),
        ],
        vec![
            "State".into(),
            format!("<span id=\"state\">{}</span>", state_name(customer.state)),
        ],
        vec!["Pool".into(), esc(&customer.pool)],
        vec![
            "Owner".into(),
            format!(
                "<span id=\"owner\">{}</span>",
                esc(&label(names, &customer.owner))
            ),
        ],
        vec!["Owner since".into(), when(&customer.owner_since)],
        vec![
            "Version / position".into(),
            format!("{} / {}", customer.version, customer.position),
        ],
    ];
    table("summary", &["", ""], &rows)
}

fn owner_as_of(
    id: &str,
    as_of: Option<DateTime<Utc>>,
    history: &pb::OwnershipHistory,
    names: &HashMap<String, String>,
) -> String {
    let value = as_of
        .map(|at| at.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default();
    let mut out = format!(
        "<form class=\"inline\" method=\"get\" action=\"/customers/{}\"><label>Owner as of \
         <input type=\"datetime-local\" name=\"as_of\" id=\"as-of\" value=\"{value}\"></label> (UTC)\
         <button id=\"ask-owner\">Show</button></form>",
        esc(id)
    );
    if as_of.is_some() {
        let answer = match &history.owner_as_of {
            Some(interval) => format!(
                "<span id=\"owner-as-of\" data-owner=\"{}\">{}</span>, since {}",
                esc(&interval.owner),
                esc(&label(names, &interval.owner)),
                when(&interval.start_time)
            ),
            None => "<span id=\"owner-as-of\" data-owner=\"\">nobody</span>".into(),
        };
        out.push_str(&format!("<p>Owner at {value}: {answer}</p>"));
    }
    out
}

fn bands(history: &pb::OwnershipHistory, names: &HashMap<String, String>) -> Vec<Band> {
    history
        .intervals
        .iter()
        .filter_map(|interval| {
            Some(Band {
                owner: short_label(names, &interval.owner),
                owner_name: interval.owner.clone(),
                start: instant(&interval.start_time)?,
                end: instant(&interval.end_time),
                ended_by: interval.ended_by.clone(),
                detail: end_detail(interval),
            })
        })
        .collect()
}

fn end_detail(interval: &pb::OwnershipInterval) -> String {
    let rule = pb::ReclaimRule::try_from(interval.end_rule)
        .ok()
        .filter(|rule| *rule != pb::ReclaimRule::Unspecified)
        .map(|rule| rule.as_str_name().to_lowercase());
    match (interval.end_reason.as_str(), rule) {
        ("", Some(rule)) => rule,
        (reason, Some(rule)) => format!("{reason} ({rule})"),
        (reason, None) => reason.to_owned(),
    }
}

fn intervals(history: &pb::OwnershipHistory, names: &HashMap<String, String>) -> String {
    let rows: Vec<Vec<String>> = history
        .intervals
        .iter()
        .map(|i| {
            vec![
                esc(&label(names, &i.owner)),
                when(&i.start_time),
                esc(&i.began_by),
                when(&i.end_time),
                esc(&i.ended_by),
                esc(&end_detail(i)),
                if i.start_reverted.is_some() || i.end_reverted.is_some() {
                    "reverted".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    table(
        "intervals",
        &[
            "Owner",
            "From",
            "Began by",
            "Until",
            "Ended by",
            "Reason / rule",
            "",
        ],
        &rows,
    )
}

fn event_list(events: Option<&[RecordedEvent]>) -> String {
    let Some(events) = events else {
        return "<h2>Events</h2><p id=\"events-hidden\">The log's events need a token with the \
                audit scope.</p>"
            .into();
    };
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let hash: String = e.hash.iter().map(|b| format!("{b:02x}")).collect();
            vec![
                e.position.to_string(),
                e.stream_version.to_string(),
                esc(&e.event_type),
                e.metadata
                    .recorded_at
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                esc(&e.metadata.actor),
                format!(
                    "<span class=\"mono\" title=\"{hash}\">{}…</span>",
                    &hash[..16]
                ),
            ]
        })
        .collect();
    format!(
        "<h2>Events</h2>{}",
        table(
            "events",
            &["Position", "Version", "Type", "Recorded", "Actor", "Hash"],
            &rows
        )
    )
}
