//! Customer search: by id (opens the customer) or by name prefix in every pool and view
//! the session may read.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::query_service_server::QueryService;
use serde::Deserialize;
use tonic::Status;
use uuid::Uuid;

use super::customer::state_name;
use super::html::{esc, page, respond, table};
use super::{Console, Session, refused};

/// `?q=` of the search page.
#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// GET /customers?q=: an id opens the customer; a name prefix lists matches in every
/// pool the session may read.
pub async fn search(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(query): Query<SearchQuery>,
) -> Response {
    let Some(session) = Session::from_headers(&headers) else {
        return super::session::to_login();
    };
    let q = query.q.trim();
    if let Ok(id) = Uuid::parse_str(q.trim_start_matches("customers/")) {
        return Redirect::to(&format!("/customers/{id}")).into_response();
    }
    let rows = if q.is_empty() {
        Vec::new()
    } else {
        match matches(&console, &session, q).await {
            Ok(rows) => rows,
            Err(status) => return refused(&session, status),
        }
    };
    let results = if q.is_empty() {
        String::new()
    } else if rows.is_empty() {
        format!(
            "<p id=\"no-match\">No customer starts with “{}”.</p>",
            esc(q)
        )
    } else {
        table(
            "results",
            &["Customer", "Name", "Pool", "State", "Owner"],
            &rows,
        )
    };
    let body = format!(
        "<form class=\"inline\" method=\"get\" action=\"/customers\">\
         <input name=\"q\" id=\"q\" value=\"{}\" placeholder=\"name prefix or customers/…\" size=\"40\">\
         <button id=\"search\">Search</button></form>{results}",
        esc(q)
    );
    respond(
        StatusCode::OK,
        page("Customers", Some(&session.describe()), &body),
    )
}

/// The customers whose name starts with `prefix`, in every pool and view the session
/// may read (views it may not read are skipped).
async fn matches(
    console: &Console,
    session: &Session,
    prefix: &str,
) -> Result<Vec<Vec<String>>, Status> {
    let pools = console
        .query
        .list_pools(console.read(session, pb::ListPoolsRequest::default())?)
        .await?
        .into_inner()
        .pools;
    let views = [
        pb::PoolView::Unclaimed,
        pb::PoolView::Pending,
        pb::PoolView::Claimed,
        pb::PoolView::Frozen,
        pb::PoolView::RecycleBin,
    ];
    let mut rows = Vec::new();
    for pool in &pools {
        for view in views {
            let request = pb::ListPoolCustomersRequest {
                pool: pool.name.clone(),
                view: view as i32,
                name_prefix: prefix.to_owned(),
                page_size: 50,
                ..Default::default()
            };
            let Ok(found) = console
                .query
                .list_pool_customers(console.read(session, request)?)
                .await
            else {
                continue;
            };
            for customer in found.into_inner().customers {
                rows.push(customer_row(&customer, &pool.display_name));
            }
        }
    }
    Ok(rows)
}

fn customer_row(customer: &pb::Customer, pool: &str) -> Vec<String> {
    let id = customer.name.trim_start_matches("customers/");
    vec![
        format!(
            "<a class=\"customer\" href=\"/customers/{}\">{}</a>",
            esc(id),
            esc(&customer.name)
        ),
        esc(&customer.display_name),
        esc(pool),
        esc(state_name(customer.state)),
        esc(&customer.owner),
    ]
}
