//! The log page: the head position, the hash chain's verification on request (the
//! `audit` scope), and each projection's lag and rebuild. Rebuilding stays behind the
//! admin scope, in AdminService.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::audit_service_server::AuditService;
use serde::Deserialize;
use tonic::Status;

use super::html::{esc, page, respond, table};
use super::{Console, Session, refused};
use crate::auth::Scope;
use crate::status::OrStatus;

/// `?verify=1` runs the verification.
#[derive(Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    verify: Option<String>,
}

/// GET /log.
pub async fn show(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(query): Query<LogQuery>,
) -> Response {
    let Some(session) = Session::from_headers(&headers) else {
        return super::session::to_login();
    };
    match render(&console, &session, query.verify.is_some()).await {
        Ok(body) => respond(StatusCode::OK, body),
        Err(status) => refused(&session, status),
    }
}

async fn render(console: &Console, session: &Session, verify: bool) -> Result<String, Status> {
    // The log page is the audit scope's, as AuditService is.
    let request = console.request(session, Scope::Audit, ())?;
    let partition = console.partitions.for_read(&request).await?;
    let head = partition.store().tail().await.or_status()?;
    let mut body = format!(
        "<p>Head position: <b id=\"head\">{head}</b> · organization <b>{}</b></p>\
         <form class=\"inline\" method=\"get\" action=\"/log\"><input type=\"hidden\" name=\"verify\" value=\"1\">\
         <button id=\"verify\">Verify the hash chain</button></form>",
        esc(&session.organization)
    );
    if verify {
        body.push_str(&verification(console, session).await);
    }
    body.push_str("<h2>Projections</h2>");
    body.push_str(&projections(&partition));
    Ok(page("Log", Some(&session.describe()), &body))
}

/// The chain's verification, or why the session may not run it.
async fn verification(console: &Console, session: &Session) -> String {
    let answer = match console.request(session, Scope::Audit, pb::VerifyLogRequest {}) {
        Ok(request) => console
            .audit
            .verify_log(request)
            .await
            .map(|r| r.into_inner()),
        Err(status) => Err(status),
    };
    match answer {
        Ok(report) if report.intact => format!(
            "<p class=\"ok\" id=\"verify-result\" data-intact=\"true\">Intact: {} events checked up to position {}.</p>",
            report.events_checked, report.tail
        ),
        Ok(report) => format!(
            "<p class=\"error\" id=\"verify-result\" data-intact=\"false\">Broken at position {}: {}</p>",
            report.first_broken_position,
            esc(&report.reason)
        ),
        Err(status) => format!(
            "<p class=\"error\" id=\"verify-result\" data-intact=\"\">Not verified: {}</p>",
            esc(status.message())
        ),
    }
}

fn projections(partition: &crate::organizations::Partition) -> String {
    let rows: Vec<Vec<String>> = partition
        .projections()
        .status()
        .iter()
        .map(|status| {
            let rebuild = status
                .rebuilding
                .as_ref()
                .map_or(String::new(), |progress| {
                    format!(
                        "{:?}: {} of {} events ({:.0}/s)",
                        progress.phase,
                        progress.events_done,
                        progress.events_total,
                        progress.events_per_second
                    )
                });
            vec![
                esc(status.name.as_str()),
                status.checkpoint.to_string(),
                status.lag_positions.to_string(),
                format!("{:.3}", status.lag_seconds),
                esc(&rebuild),
                esc(status.error.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    table(
        "projections",
        &[
            "Projection",
            "Checkpoint",
            "Lag (events)",
            "Lag (s)",
            "Rebuild",
            "Error",
        ],
        &rows,
    )
}
