//! Every error type of the service as its status ([`IntoStatus`]).

use poolkeeper_domain::DomainError;
use poolkeeper_domain::permissions::{ListingRefused, ViewerRefused};
use poolkeeper_eventlog::{EventLogError, ExpectedVersion};
use poolkeeper_projections::ProjectionError;
use tonic::{Code, Status};
use tonic_types::ErrorDetails;

use crate::convert::{pool_name, user_name};
use crate::field_paths::FieldPaths;
use crate::organizations::{CatalogError, OrganizationId, OrganizationsError};
use crate::writer::WriteError;

use super::domain::domain_status;
use super::*;

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
