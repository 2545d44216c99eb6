use poolkeeper_domain::permissions::{ListingRefused, ViewerRefused};
use poolkeeper_domain::{CapScope, CommandBody, CustomerId, DomainError, PoolId, UserId};

use super::domain::domain_status;
use super::*;
use crate::convert::{customer_name, pool_name, user_name};

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
