//! Errors mapped to gRPC statuses, in one place, with google.rpc error details.
//!
//! | error | status | details |
//! |---|---|---|
//! | invalid field | INVALID_ARGUMENT | `BadRequest` field violation naming the field |
//! | `min_position` beyond the log's last position | OUT_OF_RANGE | `BadRequest` naming the field |
//! | unknown customer/pool/user/follow-up | NOT_FOUND | `ResourceInfo` |
//! | id taken | ALREADY_EXISTS | `ResourceInfo` |
//! | not admin / pool admin / owner / superior / member | PERMISSION_DENIED | `ErrorInfo` |
//! | wrong state, mode, cooldown, reason not listed, beyond maximum | FAILED_PRECONDITION | `PreconditionFailure` |
//! | cap or daily quota reached | RESOURCE_EXHAUSTED | `QuotaFailure` |
//! | expected version mismatch | ABORTED | `ErrorInfo` |
//!
//! Every status also carries `ErrorInfo { reason, domain: "poolkeeper.v1" }` with the
//! domain's stable reason code (e.g. `cooldown_active`). Storage failures are UNAVAILABLE
//! or INTERNAL and never leak internals beyond their message.

use std::collections::HashMap;

use poolkeeper_domain::{DomainError, ErrorClass};
use poolkeeper_eventlog::EventLogError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::writer::WriteError;

/// The `ErrorInfo.domain` of every error this service returns.
pub const ERROR_DOMAIN: &str = "poolkeeper.v1";

fn with_info(code: Code, message: String, reason: &str, mut details: ErrorDetails) -> Status {
    details.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
    Status::with_error_details(code, message, details)
}

/// An INVALID_ARGUMENT naming `field`.
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
    let mut details = ErrorDetails::new();
    details.add_bad_request_violation(field, description);
    with_info(code, message, reason, details)
}

/// A NOT_FOUND for a resource.
pub fn not_found(resource_type: &str, resource_name: impl Into<String>) -> Status {
    let resource_name = resource_name.into();
    let mut details = ErrorDetails::new();
    details.set_resource_info(resource_type, resource_name.clone(), "", "not found");
    with_info(
        Code::NotFound,
        format!("{resource_type} {resource_name} not found"),
        "not_found",
        details,
    )
}

/// The status of a refused domain command.
pub fn domain_status(error: &DomainError) -> Status {
    let message = error.to_string();
    let reason = error.code();
    let mut details = ErrorDetails::new();
    let code = match error.class() {
        ErrorClass::InvalidArgument => {
            if let DomainError::Invalid { field, reason } = error {
                details.add_bad_request_violation(field.clone(), reason.clone());
            }
            Code::InvalidArgument
        }
        ErrorClass::NotFound => {
            let (kind, name) = match error {
                DomainError::UnknownCustomer(id) => ("customer", format!("customers/{id}")),
                DomainError::UnknownPool(id) => ("pool", format!("pools/{id}")),
                DomainError::UnknownUser(id) => ("user", format!("users/{id}")),
                DomainError::UnknownFollowUp(id) => ("follow_up", format!("followUps/{id}")),
                _ => ("resource", String::new()),
            };
            details.set_resource_info(kind, name, "", message.clone());
            Code::NotFound
        }
        ErrorClass::AlreadyExists => {
            if let DomainError::AlreadyExists { kind, id } = error {
                details.set_resource_info(*kind, id.clone(), "", "already exists");
            }
            Code::AlreadyExists
        }
        ErrorClass::PermissionDenied => Code::PermissionDenied,
        ErrorClass::FailedPrecondition => {
            let subject = match error {
                DomainError::WrongState { customer, .. }
                | DomainError::CooldownActive { customer, .. }
                | DomainError::NotDue { customer, .. } => format!("customers/{customer}"),
                DomainError::WrongMode { pool, .. }
                | DomainError::ReasonNotInList { pool, .. }
                | DomainError::NoProtectionRule(pool) => format!("pools/{pool}"),
                DomainError::DeactivatedUser(user) => format!("users/{user}"),
                _ => String::new(),
            };
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
                | DomainError::DailyQuotaReached { user, .. } => {
                    format!("users/{user}")
                }
                _ => String::new(),
            };
            details.add_quota_failure_violation(subject, message.clone());
            Code::ResourceExhausted
        }
        ErrorClass::Conflict => Code::Aborted,
    };
    with_info(code, message, reason, details)
}

/// The status of a log failure.
pub fn log_status(error: &EventLogError) -> Status {
    match error {
        EventLogError::InvalidInput { field, reason } => invalid(field.clone(), reason.clone()),
        EventLogError::PayloadTooLarge { size, max } => invalid(
            "payload",
            format!("an event of {size} bytes is larger than the {max}-byte limit"),
        ),
        EventLogError::WrongExpectedVersion { .. } => with_info(
            Code::Aborted,
            error.to_string(),
            "version_conflict",
            ErrorDetails::new(),
        ),
        EventLogError::Closed => Status::unavailable("the event log is closed"),
        other => {
            tracing::error!(error = %other, "event log failure");
            Status::internal("the event log failed; the command was not recorded")
        }
    }
}

/// The status of a command the writer did not accept.
pub fn write_status(error: &WriteError) -> Status {
    match error {
        WriteError::Domain(error) => domain_status(error),
        WriteError::Log(error) => log_status(error),
        WriteError::ShuttingDown => Status::unavailable("the service is shutting down"),
        WriteError::Internal(_) => Status::internal("the command could not be recorded"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poolkeeper_domain::{CapScope, CustomerId, PoolId, UserId};

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
            let status = domain_status(&error);
            assert_eq!(status.code(), code, "{error}");
            let info = status.get_details_error_info().expect("error info");
            assert_eq!(info.reason, error.code());
            assert_eq!(info.domain, ERROR_DOMAIN);
        }
        let invalid = domain_status(&DomainError::invalid(
            "customers[3].name",
            "must not be blank",
        ));
        let violations = invalid
            .get_details_bad_request()
            .expect("bad request")
            .field_violations;
        assert_eq!(violations[0].field, "customers[3].name");
    }
}
