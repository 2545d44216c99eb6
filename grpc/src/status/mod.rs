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

use poolkeeper_domain::StreamRef;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::field_paths::FieldPaths;
use crate::writer::WriteError;

mod domain;
mod errors;
#[cfg(test)]
mod tests;

pub use errors::organization_deactivated;
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

/// A FAILED_PRECONDITION `changed_since` of `customer`: a change a revert names was
/// followed by `later` (its facts for `ErrorInfo.metadata`: position, event id, type).
pub fn changed_since(customer: &str, message: impl Into<String>, later: Metadata) -> Status {
    let message = message.into();
    let mut details = ErrorDetails::new();
    details.add_precondition_failure_violation("CHANGED_SINCE", customer, message.clone());
    let mut metadata = later;
    metadata.insert("resource".to_owned(), customer.to_owned());
    with_info(
        Code::FailedPrecondition,
        message,
        "changed_since",
        metadata,
        details,
    )
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
