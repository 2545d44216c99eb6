//! The read-only audit console: server-rendered pages for auditors and ops, on the HTTP
//! listener beside `/metrics` (`console = true`).
//!
//! Every page is read through the same service implementations as gRPC, in process, with
//! the session's token: the interceptor checks it exactly as for a gRPC call, so a page
//! shows what the token may see and nothing else. A token with the `query` scope reads
//! as the session's user; one with only the `audit` scope reads the whole organization
//! (it may already export its whole log). No page can change anything.
//!
//! Pages: [`search`] and [`customer`] (the ownership timeline as a chart, the customer's
//! events, the owner as of an instant), [`pool`] (counts, abandon reasons per month, a
//! user's holdings on a day) and [`log`] (head, verify, projection lag and rebuilds).

mod chart;
mod customer;
mod html;
mod log;
mod pool;
mod search;
mod session;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Request, Status};

use crate::auth::{
    Authenticator, CORRELATION_HEADER, ConsoleAuditor, ORGANIZATION_HEADER, Scope, USER_HEADER,
};
use crate::clock::ServiceClock;
use crate::services::audit::AuditApi;
use crate::services::partitions::PartitionFinder;
use crate::services::query::QueryApi;
pub use session::Session;

/// What the console reads with.
#[derive(Clone)]
pub struct Console {
    authenticator: Authenticator,
    query: QueryApi,
    audit: AuditApi,
    partitions: PartitionFinder,
    clock: ServiceClock,
}

impl Console {
    /// A console reading through `query` and `audit`, checking tokens with
    /// `authenticator`.
    pub fn new(
        authenticator: Authenticator,
        query: QueryApi,
        audit: AuditApi,
        partitions: PartitionFinder,
        clock: ServiceClock,
    ) -> Self {
        Self {
            authenticator,
            query,
            audit,
            partitions,
            clock,
        }
    }

    /// The console's routes.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(|| async { Redirect::to("/customers") }))
            .route("/login", get(session::login_form).post(session::login))
            .route("/logout", post(session::logout))
            .route("/customers", get(search::search))
            .route("/customers/{id}", get(customer::show))
            .route("/pools", get(pool::list))
            .route("/pools/{id}", get(pool::show))
            .route("/log", get(log::show))
            .with_state(self)
    }

    /// A request carrying `message` as `session` would send it for a service needing
    /// `scope`, through the same interceptor as a gRPC call.
    fn request<T>(
        &self,
        session: &Session,
        scope: Scope,
        message: T,
    ) -> Result<Request<T>, Status> {
        let mut metadata = MetadataMap::new();
        let bearer = format!("Bearer {}", session.token);
        metadata.insert("authorization", value(&bearer)?);
        metadata.insert(ORGANIZATION_HEADER, value(&session.organization)?);
        if let Some(user) = &session.user {
            metadata.insert(USER_HEADER, value(user)?);
        }
        metadata.insert(
            CORRELATION_HEADER,
            value(&uuid::Uuid::new_v4().to_string())?,
        );
        let checked = (self.authenticator.interceptor(scope))(Request::from_parts(
            metadata,
            Default::default(),
            (),
        ))?;
        let (metadata, extensions, ()) = checked.into_parts();
        Ok(Request::from_parts(metadata, extensions, message))
    }

    /// A read of customers and pools: with the `query` scope as the session's user, or
    /// with the `audit` scope for the whole organization.
    fn read<T>(&self, session: &Session, message: T) -> Result<Request<T>, Status> {
        if session.user.is_some() {
            return self.request(session, Scope::Query, message);
        }
        let mut request = self.request(session, Scope::Audit, message)?;
        request.extensions_mut().insert(ConsoleAuditor);
        Ok(request)
    }

    /// Whether `session`'s token has the `audit` scope in its organization.
    fn audits(&self, session: &Session) -> bool {
        self.request(session, Scope::Audit, ()).is_ok()
    }

    /// Whether `session` may read: its token is known and has the scope its reads need,
    /// the organization is one it may read, and the user (if any) exists.
    async fn check_login(&self, session: &Session) -> Result<(), Status> {
        let request = self.read(session, poolkeeper_proto::v1::ListPoolsRequest::default())?;
        use poolkeeper_proto::v1::query_service_server::QueryService;
        self.query.list_pools(request).await.map(|_| ())
    }
}

fn value(text: &str) -> Result<MetadataValue<tonic::metadata::Ascii>, Status> {
    text.parse()
        .map_err(|_| Status::unauthenticated("the session's cookies are not ASCII"))
}

/// The page for a refused read: the login page when the token no longer works, else
/// the status's message.
fn refused(session: &Session, status: Status) -> Response {
    let code = match status.code() {
        Code::Unauthenticated => return session::to_login(),
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = format!(
        "<p class=\"error\" id=\"refused\">{:?}: {}</p>",
        status.code(),
        html::esc(status.message())
    );
    html::respond(
        code,
        html::page("Not shown", Some(&session.describe()), &body),
    )
}
