//! Who is calling: the calling service (a bearer token with scopes) and the acting user.
//!
//! Each internal service gets a token with scopes (`command`, `query`, `audit`, `admin`).
//! A missing or unknown token is UNAUTHENTICATED; a token without the service's scope is
//! PERMISSION_DENIED. The acting user travels in the `x-poolkeeper-user` metadata entry and
//! is then checked by the domain's permission rules; only an `admin`-scoped token may act
//! as `system`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use poolkeeper_domain::Actor;
use serde::{Deserialize, Serialize};
use tonic::metadata::MetadataMap;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Status};
use uuid::Uuid;

use crate::status;

/// The metadata entry naming the acting user.
pub const USER_HEADER: &str = "x-poolkeeper-user";
/// The optional metadata entry carrying a correlation id (a UUID).
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// CommandService.
    Command,
    /// QueryService.
    Query,
    /// AuditService.
    Audit,
    /// AdminService, and acting as `system`.
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 4] = [Scope::Command, Scope::Query, Scope::Audit, Scope::Admin];
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Scope::Command => "command",
            Scope::Query => "query",
            Scope::Audit => "audit",
            Scope::Admin => "admin",
        };
        f.write_str(name)
    }
}

/// One calling service's credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenConfig {
    /// The calling service's name, for logs.
    pub name: String,
    /// The bearer token.
    pub token: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

/// The authenticated calling service, put in each request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Its name.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<Scope>,
}

impl Caller {
    /// Whether it holds `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// Checks bearer tokens.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    callers: Arc<HashMap<String, Caller>>,
}

impl Authenticator {
    /// An authenticator accepting `tokens`.
    pub fn new(tokens: &[TokenConfig]) -> Self {
        let callers = tokens
            .iter()
            .map(|t| {
                (
                    t.token.clone(),
                    Caller {
                        name: t.name.clone(),
                        scopes: t.scopes.clone(),
                    },
                )
            })
            .collect();
        Self {
            callers: Arc::new(callers),
        }
    }

    /// The caller behind a request's `authorization: Bearer …` entry, if it holds `scope`.
    pub fn authenticate(&self, metadata: &MetadataMap, scope: Scope) -> Result<Caller, Status> {
        let header = metadata.get("authorization").ok_or_else(|| {
            status::unauthenticated("missing_token", "missing `authorization: Bearer <token>`")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .ok_or_else(|| {
                status::unauthenticated(
                    "malformed_token",
                    "the authorization entry is not a bearer token",
                )
            })?;
        let caller = self
            .callers
            .get(token.trim())
            .ok_or_else(|| status::unauthenticated("unknown_token", "unknown token"))?;
        if !caller.has(scope) {
            return Err(status::permission_denied(
                "missing_scope",
                format!("token {:?} lacks the {scope} scope", caller.name),
            ));
        }
        Ok(caller.clone())
    }

    /// `service`, answering only callers whose token holds `scope`.
    pub fn guard<S>(
        &self,
        scope: Scope,
        service: S,
    ) -> InterceptedService<
        S,
        impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + use<S>,
    > {
        InterceptedService::new(service, self.interceptor(scope))
    }

    /// An interceptor for a service needing `scope`: authenticates and records the caller.
    pub fn interceptor(
        &self,
        scope: Scope,
    ) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + use<> {
        let authenticator = self.clone();
        move |mut request: Request<()>| {
            let caller = authenticator.authenticate(request.metadata(), scope)?;
            request.extensions_mut().insert(caller);
            Ok(request)
        }
    }
}

/// The acting user of a request: `x-poolkeeper-user: users/{uuid}` (or a bare UUID), or
/// `system` for admin-scoped callers.
pub fn actor<T>(request: &Request<T>) -> Result<Actor, Status> {
    let Some(value) = request.metadata().get(USER_HEADER) else {
        return Err(status::invalid(USER_HEADER, "the acting user is required"));
    };
    let value = value
        .to_str()
        .map_err(|_| status::invalid(USER_HEADER, "must be ASCII"))?
        .trim();
    if value == "system" {
        let admin = request
            .extensions()
            .get::<Caller>()
            .is_some_and(|caller| caller.has(Scope::Admin));
        return if admin {
            Ok(Actor::System)
        } else {
            Err(status::permission_denied(
                "system_needs_admin_scope",
                "only an admin-scoped token may act as system",
            ))
        };
    }
    crate::convert::user(USER_HEADER, value).map(Actor::User)
}

/// The request's correlation id, when the caller sent one. A value that is not a UUID is
/// refused (INVALID_ARGUMENT naming the header) rather than silently replaced.
pub fn correlation_id<T>(request: &Request<T>) -> Result<Option<Uuid>, Status> {
    let Some(value) = request.metadata().get(CORRELATION_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
        .map(Some)
        .ok_or_else(|| status::invalid(CORRELATION_HEADER, "must be a UUID"))
}

/// A fresh random token: 256 bits, hex.
pub fn generate_token() -> String {
    format!("pk_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator() -> Authenticator {
        Authenticator::new(&[TokenConfig {
            name: "crm-web".into(),
            token: "secret".into(),
            scopes: vec![Scope::Query],
        }])
    }

    fn metadata(authorization: Option<&str>) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        if let Some(value) = authorization {
            metadata.insert("authorization", value.parse().unwrap());
        }
        metadata
    }

    #[test]
    fn missing_or_unknown_tokens_are_unauthenticated_and_wrong_scopes_denied() {
        let auth = authenticator();
        assert_eq!(
            auth.authenticate(&metadata(None), Scope::Query)
                .unwrap_err()
                .code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            auth.authenticate(&metadata(Some("Bearer nope")), Scope::Query)
                .unwrap_err()
                .code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            auth.authenticate(&metadata(Some("Bearer secret")), Scope::Command)
                .unwrap_err()
                .code(),
            tonic::Code::PermissionDenied
        );
        assert_eq!(
            auth.authenticate(&metadata(Some("Bearer secret")), Scope::Query)
                .unwrap()
                .name,
            "crm-web"
        );
    }

    #[test]
    fn only_admin_tokens_act_as_system() {
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert(USER_HEADER, "system".parse().unwrap());
        request.extensions_mut().insert(Caller {
            name: "ops".into(),
            scopes: vec![Scope::Command],
        });
        assert_eq!(
            actor(&request).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        request.extensions_mut().insert(Caller {
            name: "ops".into(),
            scopes: vec![Scope::Admin],
        });
        assert_eq!(actor(&request).unwrap(), Actor::System);
    }
}
