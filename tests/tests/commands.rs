//! CommandService over real gRPC: idempotency, races, caps, and every bad input returning
//! its documented status while the log stays unchanged.

use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::command_service_client::CommandServiceClient;
use poolkeeper_tests::{Harness, command_id, reason};
use tonic::Code;

fn claim(customer: &str, command: &str) -> pb::ClaimCustomerRequest {
    pb::ClaimCustomerRequest {
        command_id: command.into(),
        customer: customer.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_retried_command_returns_the_first_outcome_and_appends_nothing() {
    let harness = Harness::start().await;
    let alice = harness.user("Alice", None).await;
    let customer = harness
        .customer(&harness.default_pool, "上海某某科技")
        .await;
    let id = command_id();
    let first = harness
        .commands(&alice)
        .claim_customer(claim(&customer, &id))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.duplicate);
    assert_eq!(first.event_types, ["customer.claimed"]);
    assert_eq!(first.version, 2);
    let tail = harness.tail().await;
    assert_eq!(tail, first.position);

    let retry = harness
        .commands(&alice)
        .claim_customer(claim(&customer, &id))
        .await
        .unwrap()
        .into_inner();
    assert!(retry.duplicate);
    assert_eq!(
        (retry.position, retry.version),
        (first.position, first.version)
    );
    assert_eq!(retry.event_types, first.event_types);
    assert_eq!(harness.tail().await, tail, "a retry appends nothing");
}

#[tokio::test]
async fn fifty_clients_racing_for_one_customer_yield_exactly_one_owner() {
    let harness = Harness::start().await;
    let customer = harness.customer(&harness.default_pool, "抢手客户").await;
    let mut users = Vec::new();
    for n in 0..50 {
        users.push(harness.user(&format!("sales {n}"), None).await);
    }
    let before = harness.tail().await;
    let claims = users.iter().map(|user| {
        let mut client = harness.commands(user);
        let customer = customer.clone();
        async move { client.claim_customer(claim(&customer, &command_id())).await }
    });
    let results = futures::future::join_all(claims).await;
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "exactly one claim wins");
    for result in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(result.code(), Code::FailedPrecondition);
        assert_eq!(reason(result), "wrong_state");
    }
    assert_eq!(harness.tail().await, before + 1, "only the winner appended");
}

#[tokio::test]
async fn concurrent_claims_by_one_user_never_exceed_the_cap() {
    let harness = Harness::start().await;
    let alice = harness.user("Alice", None).await;
    let rules = pb::PoolRules {
        cap: Some(pb::Limit {
            value: 3,
            ..Default::default()
        }),
        ..Default::default()
    };
    let pool = harness
        .pool(pb::PoolMode::FreeClaim, rules, &[], &[&alice])
        .await;
    let mut customers = Vec::new();
    for n in 0..20 {
        customers.push(harness.customer(&pool, &format!("客户{n}")).await);
    }
    let claims = customers.iter().map(|customer| {
        let mut client = harness.commands(&alice);
        let customer = customer.clone();
        async move { client.claim_customer(claim(&customer, &command_id())).await }
    });
    let results = futures::future::join_all(claims).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert_eq!(reason(refused), "cap_reached");
    }
}

/// Runs one bad call and checks its status, its reason and that the log did not move.
async fn refused<T: std::fmt::Debug>(
    harness: &Harness,
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    code: Code,
    expected_reason: &str,
) -> tonic::Status {
    let before = harness.tail().await;
    let status = call.await.expect_err("the call must be refused");
    assert_eq!(status.code(), code, "{status:?}");
    if !expected_reason.is_empty() {
        assert_eq!(reason(&status), expected_reason, "{status:?}");
    }
    assert_eq!(harness.tail().await, before, "a refused call appended");
    status
}

#[tokio::test]
async fn bad_inputs_return_their_documented_status_and_leave_the_log_unchanged() {
    let harness = Harness::start().await;
    let alice = harness.user("Alice", None).await;
    let bob = harness.user("Bob", None).await;
    let customer = harness.customer(&harness.default_pool, "客户").await;
    harness
        .commands(&alice)
        .claim_customer(claim(&customer, &command_id()))
        .await
        .unwrap();

    // Malformed ids name their field.
    let status = refused(
        &harness,
        harness
            .commands(&alice)
            .claim_customer(claim("customers/not-a-uuid", &command_id())),
        Code::InvalidArgument,
        "invalid_argument",
    )
    .await;
    assert!(status.message().contains("customer"));
    refused(
        &harness,
        harness
            .commands(&alice)
            .claim_customer(claim(&customer, "x")),
        Code::InvalidArgument,
        "",
    )
    .await;

    // An empty reason.
    let status = refused(
        &harness,
        harness
            .commands(&alice)
            .abandon_customer(pb::AbandonCustomerRequest {
                command_id: command_id(),
                customer: customer.clone(),
                reason: "  ".into(),
                ..Default::default()
            }),
        Code::InvalidArgument,
        "invalid_argument",
    )
    .await;
    use tonic_types::StatusExt;
    assert_eq!(
        status.get_details_bad_request().unwrap().field_violations[0].field,
        "reason"
    );

    // An unknown customer.
    let unknown = format!("customers/{}", uuid::Uuid::now_v7());
    refused(
        &harness,
        harness
            .commands(&alice)
            .claim_customer(claim(&unknown, &command_id())),
        Code::NotFound,
        "unknown_customer",
    )
    .await;

    // A forbidden state change: Bob cannot claim what Alice owns.
    refused(
        &harness,
        harness
            .commands(&bob)
            .claim_customer(claim(&customer, &command_id())),
        Code::FailedPrecondition,
        "wrong_state",
    )
    .await;

    // A member trying an admin command.
    refused(
        &harness,
        harness
            .commands(&bob)
            .reclaim_customer(pb::ReclaimCustomerRequest {
                command_id: command_id(),
                customer: customer.clone(),
                ..Default::default()
            }),
        Code::PermissionDenied,
        "not_pool_admin",
    )
    .await;

    // A stale expected version.
    refused(
        &harness,
        harness.commands(&alice).mark_won(pb::MarkWonRequest {
            command_id: command_id(),
            customer: customer.clone(),
            expected_version: Some(1),
        }),
        Code::Aborted,
        "version_conflict",
    )
    .await;

    // No acting user.
    refused(
        &harness,
        CommandServiceClient::new(harness.credentials.on(harness.channel.clone()))
            .claim_customer(claim(&customer, &command_id())),
        Code::InvalidArgument,
        "invalid_argument",
    )
    .await;

    // A query waiting for a position the log has not reached.
    let beyond = harness.tail().await + 1_000;
    let status = refused(
        &harness,
        harness
            .queries(&alice)
            .get_customer(pb::GetCustomerRequest {
                name: customer.clone(),
                min_position: beyond,
            }),
        Code::OutOfRange,
        "out_of_range",
    )
    .await;
    assert_eq!(
        status.get_details_bad_request().unwrap().field_violations[0].field,
        "min_position"
    );

    // A missing token, an unknown token, and a token without the command scope.
    let mut anonymous = CommandServiceClient::new(harness.channel.clone());
    refused(
        &harness,
        anonymous.claim_customer(claim(&customer, &command_id())),
        Code::Unauthenticated,
        "",
    )
    .await;
    let stranger = poolkeeper_grpc::client::Credentials::new("not-a-token").unwrap();
    refused(
        &harness,
        CommandServiceClient::new(
            stranger
                .acting_as(&alice)
                .unwrap()
                .on(harness.channel.clone()),
        )
        .claim_customer(claim(&customer, &command_id())),
        Code::Unauthenticated,
        "",
    )
    .await;
}

#[tokio::test]
async fn a_token_without_the_command_scope_is_denied() {
    use poolkeeper_grpc::auth::{OrganizationGrant, Scope, TokenConfig};
    let harness = Harness::start_with(|config| {
        config.tokens = vec![
            TokenConfig {
                name: "ops".into(),
                token: "all".into(),
                scopes: Scope::ALL.to_vec(),
                organizations: vec![OrganizationGrant::All],
            },
            TokenConfig {
                name: "reports".into(),
                token: "read-only".into(),
                scopes: vec![Scope::Query],
                organizations: vec![OrganizationGrant::All],
            },
        ];
    })
    .await;
    let reader = poolkeeper_grpc::client::Credentials::new("read-only").unwrap();
    let before = harness.tail().await;
    let status = CommandServiceClient::new(
        reader
            .acting_as(&harness.admin)
            .unwrap()
            .on(harness.channel.clone()),
    )
    .create_user(pb::CreateUserRequest {
        command_id: command_id(),
        display_name: "x".into(),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(harness.tail().await, before);
}
