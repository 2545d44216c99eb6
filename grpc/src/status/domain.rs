//! Domain refusals as statuses: the message callers read (API names, RPCs, enum values),
//! the facts for `ErrorInfo.metadata`, and the code and details of each error class.

use poolkeeper_domain::{DomainError, ErrorClass, StreamRef};
use tonic::{Code, Status};
use tonic_types::ErrorDetails;

use crate::convert::{customer_name, pool_name, resource_name, user_name};
use crate::field_paths::FieldPaths;

use super::*;

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
        "purge_customer" => "PurgeCustomer",
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
        DomainError::Purged { customer, action } => format!(
            "{} was purged; {} would record personal data of it",
            customer_name(*customer),
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
        DomainError::NotRevertible { event, event_type } => {
            put("event_id", event.to_string());
            put("event_type", (*event_type).to_owned());
        }
        _ => {}
    }
    metadata
}

/// The status of a refused domain command on `target` (the request's resource, named in
/// an ABORTED's metadata); `paths` names its fields as the request does.
pub(super) fn domain_status(
    error: &DomainError,
    target: Option<StreamRef>,
    paths: FieldPaths,
) -> Status {
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
