//! Errors mapped to gRPC statuses, in one place, with google.rpc error details.
//!
//! | error | status | details |
//! |---|---|---|
//! | invalid field, malformed message, bad metadata | INVALID_ARGUMENT | `BadRequest` field violation naming the request's field path |
//! | `min_position` beyond the log's last position | OUT_OF_RANGE | `BadRequest` naming the field |
//! | unknown customer/pool/user/follow-up | NOT_FOUND | `ResourceInfo` |
//! | id taken | ALREADY_EXISTS | `ResourceInfo` |
//! | not admin / pool admin / owner / superior / member | PERMISSION_DENIED | `ErrorInfo` |
//! | wrong state, mode, cooldown, reason not listed, beyond maximum | FAILED_PRECONDITION | `PreconditionFailure` |
//! | cap or daily quota reached, import too large | RESOURCE_EXHAUSTED | `QuotaFailure` |
//! | expected version mismatch | ABORTED | `ErrorInfo` with the resource, expected and actual version |
//! | a projection behind its wanted position past the deadline | DEADLINE_EXCEEDED | `ErrorInfo` |
//! | shutting down, log or projections closed | UNAVAILABLE | `ErrorInfo` |
//! | a server fault | INTERNAL | `ErrorInfo` |
//!
//! Every status carries `ErrorInfo { reason, domain: "poolkeeper.v1", metadata }`: `reason`
//! is a stable snake_case code (the domain's own, e.g. `cooldown_active`), `metadata` the
//! facts a client can act on (`resource`, `expected_version`, …). INTERNAL means a fault
//! of the server only, and never carries internals beyond its message.

use std::collections::HashMap;

use poolkeeper_domain::permissions::{ListingRefused, ViewerRefused};
use poolkeeper_domain::{DomainError, ErrorClass, StreamRef};
use poolkeeper_eventlog::{EventLogError, ExpectedVersion};
use poolkeeper_projections::ProjectionError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::convert::{customer_name, pool_name, resource_name, user_name};
use crate::field_paths::FieldPaths;
use crate::organizations::{CatalogError, OrganizationId, OrganizationsError};
use crate::writer::WriteError;

pub use poolkeeper_proto::codec::ERROR_DOMAIN;

/// `ErrorInfo.metadata`: facts about the error, keyed by snake_case names.
type Metadata = HashMap<String, String>;

/// The most bytes of a message, a field path, a description or a metadata value a
/// status carries: a status travels in HTTP/2 headers, which must stay well under the
/// peer's limit (16 KiB by default) whatever the caller sent.
const MAX_TEXT_BYTES: usize = 1024;

/// The most characters of a caller's value a message quotes.
const MAX_QUOTE: usize = 64;

/// `text` cut to at most [`MAX_TEXT_BYTES`] bytes at a character boundary, with an
/// ellipsis when cut.
fn clip(mut text: String) -> String {
    if text.len() > MAX_TEXT_BYTES {
        let mut at = MAX_TEXT_BYTES;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
        text.push('…');
    }
    text
}

/// A caller's value as a message quotes it: in quotes, its first [`MAX_QUOTE`]
/// characters.
pub fn quoted(value: &str) -> String {
    match value.char_indices().nth(MAX_QUOTE) {
        Some((at, _)) => format!("{:?}…", &value[..at]),
        None => format!("{value:?}"),
    }
}

/// A status of `code` with `ErrorInfo { reason, metadata }` and the other `details`.
fn with_info(
    code: Code,
    message: impl Into<String>,
    reason: &str,
    metadata: Metadata,
    mut details: ErrorDetails,
) -> Status {
    let metadata: Metadata = metadata.into_iter().map(|(k, v)| (k, clip(v))).collect();
    details.set_error_info(reason, ERROR_DOMAIN, metadata);
    Status::with_error_details(code, clip(message.into()), details)
}

/// A status whose only detail is its `ErrorInfo`.
pub fn with_reason(code: Code, reason: &str, message: impl Into<String>) -> Status {
    with_info(code, message, reason, Metadata::new(), ErrorDetails::new())
}

/// An INVALID_ARGUMENT naming `field`, the path of a field of the request
/// (`customers[3].display_name`) or a metadata key.
pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Status {
    let (field, description) = (field.into(), description.into());
    let message = format!("invalid {field}: {description}");
    field_violation(
        Code::InvalidArgument,
        message,
        "invalid_argument",
        field,
        description,
    )
}

/// An OUT_OF_RANGE naming `field`: a value past what exists now (a log position beyond
/// the tail), which may become valid later.
pub fn out_of_range(field: impl Into<String>, description: impl Into<String>) -> Status {
    let (field, description) = (field.into(), description.into());
    let message = format!("{field} out of range: {description}");
    field_violation(
        Code::OutOfRange,
        message,
        "out_of_range",
        field,
        description,
    )
}

/// A status with a `BadRequest` violation naming `field`.
fn field_violation(
    code: Code,
    message: String,
    reason: &str,
    field: String,
    description: String,
) -> Status {
    let (field, description) = (clip(field), clip(description));
    let mut details = ErrorDetails::new();
    details.add_bad_request_violation(field.clone(), description);
    with_info(
        code,
        message,
        reason,
        Metadata::from([("field".to_owned(), field)]),
        details,
    )
}

/// A NOT_FOUND for a resource: `resource_type` is `customer`, `pool`, `user`…,
/// `resource_name` its API name (`customers/{uuid}`).
pub fn not_found(resource_type: &str, resource_name: impl Into<String>) -> Status {
    let resource_name = resource_name.into();
    let mut details = ErrorDetails::new();
    details.set_resource_info(resource_type, resource_name.clone(), "", "not found");
    with_info(
        Code::NotFound,
        format!("{resource_name} not found"),
        &format!("unknown_{resource_type}"),
        Metadata::from([("resource".to_owned(), resource_name)]),
        details,
    )
}

/// A PERMISSION_DENIED with the stable `reason`.
pub fn permission_denied(reason: &str, message: impl Into<String>) -> Status {
    with_reason(Code::PermissionDenied, reason, message)
}

/// A FAILED_PRECONDITION of `subject` (a resource name, or empty) with the stable `reason`.
pub fn failed_precondition(reason: &str, subject: &str, message: impl Into<String>) -> Status {
    let message = message.into();
    let mut details = ErrorDetails::new();
    details.add_precondition_failure_violation(
        reason.to_uppercase(),
        subject.to_owned(),
        message.clone(),
    );
    let metadata = if subject.is_empty() {
        Metadata::new()
    } else {
        Metadata::from([("resource".to_owned(), subject.to_owned())])
    };
    with_info(Code::FailedPrecondition, message, reason, metadata, details)
}

/// A RESOURCE_EXHAUSTED of `subject` with the stable `reason`.
pub fn resource_exhausted(reason: &str, subject: &str, message: impl Into<String>) -> Status {
    let message = message.into();
    let mut details = ErrorDetails::new();
    details.add_quota_failure_violation(subject.to_owned(), message.clone());
    with_info(
        Code::ResourceExhausted,
        message,
        reason,
        Metadata::new(),
        details,
    )
}

/// An UNAUTHENTICATED with the stable `reason`.
pub fn unauthenticated(reason: &str, message: impl Into<String>) -> Status {
    with_reason(Code::Unauthenticated, reason, message)
}

/// An INVALID_ARGUMENT of a client tool's credentials, refused before anything is sent
/// (a metadata value must be ASCII).
pub fn invalid_credentials(message: impl Into<String>) -> Status {
    with_reason(Code::InvalidArgument, "invalid_credentials", message)
}

/// An INTERNAL: a fault of the server, never of the caller.
pub fn internal(message: impl Into<String>) -> Status {
    with_reason(Code::Internal, "internal", message)
}

/// An UNAVAILABLE: the call may succeed when retried later (elsewhere).
pub fn unavailable(reason: &str, message: impl Into<String>) -> Status {
    with_reason(Code::Unavailable, reason, message)
}

/// The RPC that runs a domain action, as callers know it (`request_claim` → `RequestClaim`).
fn rpc_of(action: &str) -> &str {
    match action {
        "assign" => "AssignCustomer",
        "claim" => "ClaimCustomer",
        "request_claim" => "RequestClaim",
        "approve_claim" => "ApproveClaim",
        "reject_claim" => "RejectClaim",
        "abandon" => "AbandonCustomer",
        "reclaim" => "ReclaimCustomer",
        "transfer" => "TransferCustomer",
        "freeze" => "FreezeCustomer",
        "unfreeze" => "UnfreezeCustomer",
        "move" => "MoveCustomer",
        "delete" => "DeleteCustomer",
        "restore" => "RestoreCustomer",
        "log_follow_up" => "LogFollowUp",
        "comment_follow_up" => "CommentFollowUp",
        "mark_won" => "MarkWon",
        "extend_protection" => "ExtendProtection",
        "share" => "ShareCustomer",
        "auto_reclaim" => "an automatic reclaim",
        "remind_reclaim" => "a reclaim reminder",
        other => other,
    }
}

/// A domain error's message as callers read it: resources by their API names, actions by
/// their RPCs and states by their enum values.
fn domain_message(error: &DomainError) -> String {
    match error {
        DomainError::WrongState {
            customer,
            action,
            expected,
            actual,
        } => format!(
            "{} is {}; {} needs it {}",
            customer_name(*customer),
            actual.to_uppercase(),
            rpc_of(action),
            expected.to_uppercase().replace(" OR ", " or "),
        ),
        DomainError::WrongMode { pool, mode, action } => format!(
            "{} is {}; {} is not allowed there",
            pool_name(*pool),
            mode.as_str(),
            rpc_of(action)
        ),
        DomainError::SystemOnly { action } => {
            format!("only the system may run {}", rpc_of(action))
        }
        DomainError::NotDue {
            customer,
            action,
            due_at,
        } => format!(
            "{} has nothing due for {} at {due_at}",
            customer_name(*customer),
            rpc_of(action)
        ),
        other => other.to_string(),
    }
}

/// The facts of a domain error a client can act on, for `ErrorInfo.metadata`.
fn domain_metadata(error: &DomainError) -> Metadata {
    let mut metadata = Metadata::new();
    let mut put = |key: &str, value: String| {
        metadata.insert(key.to_owned(), value);
    };
    match error {
        DomainError::UnknownCustomer(id) => put("resource", customer_name(*id)),
        DomainError::UnknownPool(id) => put("resource", pool_name(*id)),
        DomainError::UnknownUser(id) | DomainError::DeactivatedUser(id) => {
            put("resource", user_name(*id))
        }
        DomainError::UnknownFollowUp(id) => put("resource", format!("followUps/{id}")),
        DomainError::WrongState {
            customer,
            expected,
            actual,
            ..
        } => {
            put("resource", customer_name(*customer));
            put("state", actual.to_uppercase());
            put("required_state", expected.to_uppercase());
        }
        DomainError::CooldownActive {
            user,
            customer,
            until,
        } => {
            put("resource", customer_name(*customer));
            put("user", user_name(*user));
            put("until", until.to_rfc3339());
        }
        DomainError::CapReached {
            user, cap, owned, ..
        } => {
            put("user", user_name(*user));
            put("cap", cap.to_string());
            put("owned", owned.to_string());
        }
        DomainError::DailyQuotaReached { user, pool, quota } => {
            put("user", user_name(*user));
            put("pool", pool_name(*pool));
            put("quota", quota.to_string());
        }
        DomainError::VersionConflict { expected, actual } => {
            put("expected_version", expected.to_string());
            put("actual_version", actual.to_string());
        }
        DomainError::ProtectionBeyondMaximum { max, .. } => put("max", max.to_rfc3339()),
        _ => {}
    }
    metadata
}

/// The status of a refused domain command on `target` (the request's resource, named in
/// an ABORTED's metadata); `paths` names its fields as the request does.
fn domain_status(error: &DomainError, target: Option<StreamRef>, paths: FieldPaths) -> Status {
    if let DomainError::Invalid { field, reason } = error {
        return invalid(paths.request_path(field), reason.clone());
    }
    let message = domain_message(error);
    let reason = error.code();
    let mut metadata = domain_metadata(error);
    let mut details = ErrorDetails::new();
    let code = match error.class() {
        ErrorClass::InvalidArgument => Code::InvalidArgument,
        ErrorClass::NotFound => {
            let (resource_type, name) = match error {
                DomainError::UnknownCustomer(id) => ("customer", customer_name(*id)),
                DomainError::UnknownPool(id) => ("pool", pool_name(*id)),
                DomainError::UnknownUser(id) => ("user", user_name(*id)),
                DomainError::UnknownFollowUp(id) => ("follow_up", format!("followUps/{id}")),
                _ => ("resource", String::new()),
            };
            details.set_resource_info(resource_type, name, "", message.clone());
            Code::NotFound
        }
        ErrorClass::AlreadyExists => {
            if let DomainError::AlreadyExists {
                kind: resource_type,
                id,
            } = error
            {
                details.set_resource_info(*resource_type, id.clone(), "", "already exists");
            }
            Code::AlreadyExists
        }
        ErrorClass::PermissionDenied => Code::PermissionDenied,
        ErrorClass::FailedPrecondition => {
            let subject = match error {
                DomainError::WrongState { customer, .. }
                | DomainError::CooldownActive { customer, .. }
                | DomainError::NotDue { customer, .. } => customer_name(*customer),
                DomainError::WrongMode { pool, .. }
                | DomainError::ReasonNotInList { pool, .. }
                | DomainError::NoProtectionRule(pool) => pool_name(*pool),
                DomainError::DeactivatedUser(user) => user_name(*user),
                _ => target.map(resource_name).unwrap_or_default(),
            };
            if !subject.is_empty() {
                metadata
                    .entry("resource".to_owned())
                    .or_insert_with(|| subject.clone());
            }
            details.add_precondition_failure_violation(
                reason.to_uppercase(),
                subject,
                message.clone(),
            );
            Code::FailedPrecondition
        }
        ErrorClass::ResourceExhausted => {
            let subject = match error {
                DomainError::CapReached { user, .. }
                | DomainError::DailyQuotaReached { user, .. } => user_name(*user),
                _ => String::new(),
            };
            details.add_quota_failure_violation(subject, message.clone());
            Code::ResourceExhausted
        }
        ErrorClass::Conflict => {
            if let Some(target) = target {
                metadata.insert("resource".to_owned(), resource_name(target));
            }
            Code::Aborted
        }
    };
    with_info(code, message, reason, metadata, details)
}

/// An error as the status a caller reads. Every error of the service becomes a status
/// this one way (`.or_status()?` on a result), each with its `ErrorInfo`.
pub trait IntoStatus {
    /// The status.
    fn into_status(self) -> Status;
}

/// `.or_status()?`: a result whose error becomes its status.
pub trait OrStatus<T> {
    /// The result with its error as a status.
    fn or_status(self) -> Result<T, Status>;
}

impl<T, E: IntoStatus> OrStatus<T> for Result<T, E> {
    fn or_status(self) -> Result<T, Status> {
        self.map_err(IntoStatus::into_status)
    }
}

/// A command the writer did not accept, with what its request named: the resource (an
/// ABORTED names it in its metadata) and the request's own field paths.
#[derive(Debug)]
pub struct Refused {
    /// Why it was not accepted.
    pub error: WriteError,
    /// The request's resource, if it names one.
    pub target: Option<StreamRef>,
    /// The request's names for the fields the domain names.
    pub paths: FieldPaths,
}

impl IntoStatus for Refused {
    fn into_status(self) -> Status {
        match self.error {
            WriteError::Domain(error) => domain_status(&error, self.target, self.paths),
            WriteError::Log(error) => log_status(&error),
            WriteError::ShuttingDown => {
                unavailable("shutting_down", "the service is shutting down")
            }
            WriteError::Internal(_) => internal("the command could not be recorded"),
        }
    }
}

/// A refusal of no request in particular: no resource, the domain's field paths.
impl IntoStatus for WriteError {
    fn into_status(self) -> Status {
        Refused {
            error: self,
            target: None,
            paths: FieldPaths::NONE,
        }
        .into_status()
    }
}

impl IntoStatus for DomainError {
    fn into_status(self) -> Status {
        WriteError::Domain(self).into_status()
    }
}

impl IntoStatus for EventLogError {
    fn into_status(self) -> Status {
        log_status(&self)
    }
}

impl IntoStatus for ProjectionError {
    fn into_status(self) -> Status {
        let error = self;
        match &error {
            ProjectionError::Lagging { .. } => with_reason(
                Code::DeadlineExceeded,
                "projection_lagging",
                format!(
                    "{error}; retry, or raise the deadline: the projection is catching up with the log"
                ),
            ),
            ProjectionError::Halted { .. } => {
                with_reason(Code::Unavailable, "projection_halted", error.to_string())
            }
            ProjectionError::Closed => unavailable("projections_closed", error.to_string()),
            ProjectionError::InvalidArgument { field, reason } => {
                let field = match *field {
                    "cursor" => "page_token",
                    "limit" => "page_size",
                    other => other,
                };
                invalid(field, reason.clone())
            }
            ProjectionError::RebuildRunning(name) => {
                failed_precondition("rebuild_running", name.as_str(), error.to_string())
            }
            other => {
                tracing::error!(error = %other, "projection read failed");
                internal("a projection could not be read")
            }
        }
    }
}

impl IntoStatus for OrganizationsError {
    fn into_status(self) -> Status {
        match self {
            OrganizationsError::NotFound(id) => not_found("organization", id.name()),
            OrganizationsError::Catalog(error) => error.into_status(),
            OrganizationsError::Log(error) => log_status(&error),
            OrganizationsError::Partition {
                organization,
                source,
            } => {
                tracing::error!(%organization, error = %source, "an organization could not open");
                unavailable(
                    "organization_unavailable",
                    format!("{} cannot be opened now", organization.name()),
                )
            }
        }
    }
}

impl IntoStatus for CatalogError {
    fn into_status(self) -> Status {
        match self {
            CatalogError::AlreadyExists(id) => {
                let mut details = ErrorDetails::new();
                details.set_resource_info("organization", id.name(), "", "already exists");
                with_info(
                    Code::AlreadyExists,
                    format!("{} already exists", id.name()),
                    "already_exists",
                    Metadata::from([("resource".to_owned(), id.name())]),
                    details,
                )
            }
            CatalogError::NotFound(id) => not_found("organization", id.name()),
            CatalogError::Log(error) => log_status(&error),
            CatalogError::Unreadable { .. } => {
                tracing::error!(error = %self, "the platform log");
                internal("the catalog of organizations could not be read")
            }
        }
    }
}

/// A command in a deactivated organization.
pub fn organization_deactivated(id: &OrganizationId) -> Status {
    failed_precondition(
        "organization_deactivated",
        &id.name(),
        format!(
            "{} is deactivated: its data is readable, it takes no command",
            id.name()
        ),
    )
}

impl IntoStatus for ViewerRefused {
    fn into_status(self) -> Status {
        match self {
            ViewerRefused::UnknownUser(user) => not_found("user", user_name(user)),
            ViewerRefused::Deactivated(user) => permission_denied(
                "inactive_actor",
                format!("the acting user {} is deactivated", user_name(user)),
            ),
        }
    }
}

impl IntoStatus for ListingRefused {
    fn into_status(self) -> Status {
        match self {
            ListingRefused::UnknownPool(pool) => not_found("pool", pool_name(pool)),
            ListingRefused::NotMember { user, pool } => permission_denied(
                "not_pool_member",
                format!("{} is not a member of {}", user_name(user), pool_name(pool)),
            ),
            ListingRefused::AdminsOnly => {
                permission_denied("not_pool_admin", "this pool view is for the pool's admins")
            }
        }
    }
}

/// The status of a log failure.
fn log_status(error: &EventLogError) -> Status {
    match error {
        EventLogError::InvalidInput { field, reason } => invalid(field.clone(), reason.clone()),
        EventLogError::PayloadTooLarge { size, max } => resource_exhausted(
            "payload_too_large",
            "",
            format!("the command's events take {size} bytes, more than the {max}-byte limit"),
        ),
        EventLogError::WrongExpectedVersion {
            stream,
            expected,
            actual,
        } => {
            let expected = match expected {
                ExpectedVersion::Any => "any".to_owned(),
                ExpectedVersion::NoStream => "0".to_owned(),
                ExpectedVersion::Exact(version) => version.to_string(),
            };
            let metadata = Metadata::from([
                ("stream".to_owned(), stream.to_string()),
                ("expected_version".to_owned(), expected),
                ("actual_version".to_owned(), actual.unwrap_or(0).to_string()),
            ]);
            with_info(
                Code::Aborted,
                error.to_string(),
                "version_conflict",
                metadata,
                ErrorDetails::new(),
            )
        }
        EventLogError::Closed => unavailable("log_closed", "the event log is closed"),
        EventLogError::Fenced { .. } | EventLogError::ReadOnly { .. } => unavailable(
            "writer_moved",
            "another node writes this organization's log now; retry with the same command_id",
        ),
        EventLogError::Backend(error) => {
            tracing::warn!(%error, "the log's database failed");
            unavailable(
                "log_unavailable",
                "the log's database is unreachable; retry with the same command_id",
            )
        }
        other => {
            tracing::error!(error = %other, "event log failure");
            internal("the event log failed; the command was not recorded")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poolkeeper_domain::{CapScope, CommandBody, CustomerId, PoolId, UserId};

    #[test]
    fn every_error_class_maps_to_its_code_and_keeps_its_reason() {
        let customer = CustomerId::from_u128(1);
        let cases = [
            (
                DomainError::invalid("reason", "must not be blank"),
                Code::InvalidArgument,
            ),
            (DomainError::UnknownCustomer(customer), Code::NotFound),
            (
                DomainError::AlreadyExists {
                    kind: "customer",
                    id: customer.to_string(),
                },
                Code::AlreadyExists,
            ),
            (
                DomainError::NotPoolAdmin {
                    actor: "user:x".into(),
                    pool: PoolId::from_u128(2),
                },
                Code::PermissionDenied,
            ),
            (
                DomainError::WrongState {
                    customer,
                    action: "claim",
                    expected: "in_pool",
                    actual: "owned",
                },
                Code::FailedPrecondition,
            ),
            (
                DomainError::CapReached {
                    user: UserId::from_u128(3),
                    scope: CapScope::Overall,
                    cap: 1,
                    owned: 1,
                },
                Code::ResourceExhausted,
            ),
            (
                DomainError::VersionConflict {
                    expected: 1,
                    actual: 2,
                },
                Code::Aborted,
            ),
        ];
        for (error, code) in cases {
            let status = domain_status(
                &error,
                None,
                FieldPaths::of(&CommandBody::MarkWon {
                    customer_id: CustomerId::from_u128(1),
                }),
            );
            assert_eq!(status.code(), code, "{error}");
            let info = status.get_details_error_info().expect("error info");
            assert_eq!(info.reason, error.code());
            assert_eq!(info.domain, ERROR_DOMAIN);
        }
        let invalid = domain_status(
            &DomainError::invalid("customers[3].name", "must not be blank"),
            None,
            FieldPaths::of(&CommandBody::ImportCustomers {
                customers: Vec::new(),
            }),
        );
        let violations = invalid
            .get_details_bad_request()
            .expect("bad request")
            .field_violations;
        assert_eq!(violations[0].field, "customers[3].display_name");
    }

    #[test]
    fn a_status_stays_small_whatever_the_caller_sent() {
        let huge = "长".repeat(5_000);
        let status = invalid(format!("fields[\"{huge}\"]"), format!("got {huge:?}"));
        let most = MAX_TEXT_BYTES + '…'.len_utf8();
        assert!(status.message().len() <= most);
        let violation = &status.get_details_bad_request().unwrap().field_violations[0];
        assert!(violation.field.len() <= most);
        assert!(violation.description.len() <= most);
        assert_eq!(quoted(&huge).chars().count(), MAX_QUOTE + 3);
    }

    #[test]
    fn a_version_conflict_names_the_resource_and_both_versions() {
        let customer = CustomerId::from_u128(7);
        let status = domain_status(
            &DomainError::VersionConflict {
                expected: 1,
                actual: 2,
            },
            Some(StreamRef::Customer(customer)),
            FieldPaths::of(&CommandBody::MarkWon {
                customer_id: customer,
            }),
        );
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.metadata["resource"], customer_name(customer));
        assert_eq!(info.metadata["expected_version"], "1");
        assert_eq!(info.metadata["actual_version"], "2");
    }

    #[test]
    fn messages_name_resources_and_rpcs_as_the_api_does() {
        let customer = CustomerId::from_u128(9);
        let status = domain_status(
            &DomainError::WrongState {
                customer,
                action: "request_claim",
                expected: "in_pool",
                actual: "owned",
            },
            None,
            FieldPaths::of(&CommandBody::MarkWon {
                customer_id: customer,
            }),
        );
        assert_eq!(
            status.message(),
            format!("customers/{customer} is OWNED; RequestClaim needs it IN_POOL")
        );
    }

    #[test]
    fn refused_reads_name_the_user_or_pool_as_the_api_does() {
        let user = UserId::from_u128(4);
        let pool = PoolId::from_u128(5);
        let cases = [
            (
                ViewerRefused::UnknownUser(user).into_status(),
                Code::NotFound,
                "unknown_user",
            ),
            (
                ViewerRefused::Deactivated(user).into_status(),
                Code::PermissionDenied,
                "inactive_actor",
            ),
            (
                ListingRefused::UnknownPool(pool).into_status(),
                Code::NotFound,
                "unknown_pool",
            ),
            (
                ListingRefused::NotMember { user, pool }.into_status(),
                Code::PermissionDenied,
                "not_pool_member",
            ),
            (
                ListingRefused::AdminsOnly.into_status(),
                Code::PermissionDenied,
                "not_pool_admin",
            ),
        ];
        for (status, code, reason) in cases {
            assert_eq!(status.code(), code, "{reason}");
            assert_eq!(status.get_details_error_info().unwrap().reason, reason);
        }
        let not_member = ListingRefused::NotMember { user, pool }.into_status();
        assert_eq!(
            not_member.message(),
            format!("{} is not a member of {}", user_name(user), pool_name(pool))
        );
    }
}
