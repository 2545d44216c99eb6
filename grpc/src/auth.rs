//! Who is calling: the calling service (a bearer token with scopes and organizations),
//! the organization it acts in, and the acting user.
//!
//! Each internal service gets a token with scopes (`command`, `query`, `audit`, `admin`,
//! `platform`) and the organizations it may act for (`*`: all). A missing or unknown token
//! is UNAUTHENTICATED; a token without the service's scope is PERMISSION_DENIED. The
//! organization travels in `x-poolkeeper-organization` (`default` when absent); one the
//! token may not act for is NOT_FOUND, exactly like one that does not exist, so tokens
//! learn nothing of other organizations. The acting user travels in the
//! `x-poolkeeper-user` metadata entry and is then checked by the domain's permission
//! rules; only an `admin`-scoped token may act as `system`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use poolkeeper_domain::Actor;
use serde::{Deserialize, Serialize};
use tonic::metadata::MetadataMap;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Status};
use uuid::Uuid;

use crate::organizations::OrganizationId;
use crate::status;

/// The metadata entry naming the acting user.
pub const USER_HEADER: &str = "x-poolkeeper-user";
/// The optional metadata entry carrying a correlation id (a UUID).
pub const CORRELATION_HEADER: &str = "x-correlation-id";
/// The metadata entry naming the organization a request acts in.
pub const ORGANIZATION_HEADER: &str = "x-poolkeeper-organization";

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
    /// OrganizationService: creating, listing and deactivating organizations.
    Platform,
    /// Reading customers' personal fields opened in AuditService's stream and export
    /// (with `audit`); without it they are delivered sealed.
    PersonalData,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 6] = [
        Scope::Command,
        Scope::Query,
        Scope::Audit,
        Scope::Admin,
        Scope::Platform,
        Scope::PersonalData,
    ];
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Scope::Command => "command",
            Scope::Query => "query",
            Scope::Audit => "audit",
            Scope::Admin => "admin",
            Scope::Platform => "platform",
            Scope::PersonalData => "personal_data",
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
    /// The organizations it may act for: ids, or `*` for all (a platform token). Only
    /// `default` when absent.
    #[serde(default = "default_organizations")]
    pub organizations: Vec<OrganizationGrant>,
}

fn default_organizations() -> Vec<OrganizationGrant> {
    vec![OrganizationGrant::One(
        OrganizationId::default_organization(),
    )]
}

/// One entry of a token's organizations: `*` or an organization id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum OrganizationGrant {
    /// Every organization, present and future.
    All,
    /// This one.
    One(OrganizationId),
}

impl TryFrom<String> for OrganizationGrant {
    type Error = crate::organizations::InvalidOrganizationId;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        if text.trim() == "*" {
            Ok(Self::All)
        } else {
            OrganizationId::parse(&text).map(Self::One)
        }
    }
}

impl From<OrganizationGrant> for String {
    fn from(grant: OrganizationGrant) -> Self {
        match grant {
            OrganizationGrant::All => "*".to_owned(),
            OrganizationGrant::One(id) => id.into(),
        }
    }
}

/// The authenticated calling service, put in each request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Its name.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<Scope>,
    /// The organizations it may act for.
    pub organizations: Vec<OrganizationGrant>,
}

impl Caller {
    /// Whether it holds `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Whether it may act for organization `id`.
    pub fn may_act_for(&self, id: &OrganizationId) -> bool {
        self.organizations.iter().any(|grant| match grant {
            OrganizationGrant::All => true,
            OrganizationGrant::One(one) => one == id,
        })
    }

    /// Whether it may act for every organization.
    pub fn acts_for_all(&self) -> bool {
        self.organizations.contains(&OrganizationGrant::All)
    }
}

/// Checks bearer tokens. Each caller is shared (`Arc`), so a request carries a pointer to
/// it rather than a copy of its name, scopes and organizations.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    callers: Arc<HashMap<String, Arc<Caller>>>,
}

impl Authenticator {
    /// An authenticator accepting `tokens`.
    pub fn new(tokens: &[TokenConfig]) -> Self {
        let callers = tokens
            .iter()
            .map(|t| {
                (
                    t.token.clone(),
                    Arc::new(Caller {
                        name: t.name.clone(),
                        scopes: t.scopes.clone(),
                        organizations: t.organizations.clone(),
                    }),
                )
            })
            .collect();
        Self {
            callers: Arc::new(callers),
        }
    }

    /// The caller behind a request's `authorization: Bearer …` entry, if it holds `scope`.
    pub fn authenticate(
        &self,
        metadata: &MetadataMap,
        scope: Scope,
    ) -> Result<Arc<Caller>, Status> {
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
        Ok(Arc::clone(caller))
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
            if scope != Scope::Platform {
                let organization = organization_of(request.metadata(), &caller)?;
                request.extensions_mut().insert(organization);
            }
            request.extensions_mut().insert(caller);
            Ok(request)
        }
    }
}

/// The organization a request acts in: `x-poolkeeper-organization` (`default` when
/// absent), if `caller` may act for it; NOT_FOUND otherwise, as for one that does not exist.
fn organization_of(metadata: &MetadataMap, caller: &Caller) -> Result<OrganizationId, Status> {
    let id = match metadata.get(ORGANIZATION_HEADER) {
        None => OrganizationId::default_organization(),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|text| OrganizationId::parse(text).ok())
            .ok_or_else(|| {
                status::invalid(
                    ORGANIZATION_HEADER,
                    "must be an organization id such as `acme` or `organizations/acme`",
                )
            })?,
    };
    if caller.may_act_for(&id) {
        Ok(id)
    } else {
        Err(status::not_found("organization", id.name()))
    }
}

/// Refuses `request` (PERMISSION_DENIED, `missing_scope`) unless its caller's token
/// also holds `scope`, which `wanted` (a request field's path) asks for.
pub fn require_scope<T>(request: &Request<T>, scope: Scope, wanted: &str) -> Result<(), Status> {
    let caller = request
        .extensions()
        .get::<Arc<Caller>>()
        .ok_or_else(|| status::internal("the request went through no authentication"))?;
    if caller.has(scope) {
        return Ok(());
    }
    Err(status::permission_denied(
        "missing_scope",
        format!(
            "{wanted} needs the {scope} scope, which token {:?} lacks",
            caller.name
        ),
    ))
}

/// The organization the interceptor resolved for `request`.
pub fn organization<T>(request: &Request<T>) -> Result<OrganizationId, Status> {
    request
        .extensions()
        .get::<OrganizationId>()
        .cloned()
        .ok_or_else(|| status::internal("the request went through no organization check"))
}

/// Marks a request the audit console built for an `audit`-scoped session naming no user.
/// Only the console, in process, can put it in a request's extensions; nothing a remote
/// caller sends can.
#[derive(Clone, Copy, Debug)]
pub struct ConsoleAuditor;

/// Who reads in a query: the acting user ([`actor`]), or the system for the audit
/// console's auditor (an `audit` token, which may already export the whole log).
pub fn reader<T>(request: &Request<T>) -> Result<Actor, Status> {
    let auditor = request.extensions().get::<ConsoleAuditor>().is_some()
        && request
            .extensions()
            .get::<Arc<Caller>>()
            .is_some_and(|caller| caller.has(Scope::Audit));
    if auditor && request.metadata().get(USER_HEADER).is_none() {
        return Ok(Actor::System);
    }
    actor(request)
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
            .get::<Arc<Caller>>()
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
            organizations: default_organizations(),
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
    fn a_request_acts_in_the_named_organization_if_the_token_may_else_not_found() {
        let acme = OrganizationId::parse("acme").unwrap();
        let caller = Caller {
            name: "acme-crm".into(),
            scopes: vec![Scope::Query],
            organizations: vec![OrganizationGrant::One(acme.clone())],
        };
        let with = |header: Option<&str>| {
            let mut metadata = MetadataMap::new();
            if let Some(value) = header {
                metadata.insert(ORGANIZATION_HEADER, value.parse().unwrap());
            }
            organization_of(&metadata, &caller)
        };
        assert_eq!(with(Some("acme")).unwrap(), acme);
        assert_eq!(with(Some("organizations/acme")).unwrap(), acme);
        assert_eq!(
            with(Some("globex")).unwrap_err().code(),
            tonic::Code::NotFound
        );
        assert_eq!(with(None).unwrap_err().code(), tonic::Code::NotFound);
        assert_eq!(
            with(Some("Not An Id")).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        let platform = Caller {
            organizations: vec![OrganizationGrant::All],
            ..caller.clone()
        };
        let mut metadata = MetadataMap::new();
        assert_eq!(
            organization_of(&metadata, &platform).unwrap(),
            OrganizationId::default_organization()
        );
        metadata.insert(ORGANIZATION_HEADER, "globex".parse().unwrap());
        assert_eq!(
            organization_of(&metadata, &platform).unwrap().as_str(),
            "globex"
        );
    }

    #[test]
    fn only_admin_tokens_act_as_system() {
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert(USER_HEADER, "system".parse().unwrap());
        request.extensions_mut().insert(Arc::new(Caller {
            name: "ops".into(),
            scopes: vec![Scope::Command],
            organizations: default_organizations(),
        }));
        assert_eq!(
            actor(&request).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        request.extensions_mut().insert(Arc::new(Caller {
            name: "ops".into(),
            scopes: vec![Scope::Admin],
            organizations: default_organizations(),
        }));
        assert_eq!(actor(&request).unwrap(), Actor::System);
    }
}
