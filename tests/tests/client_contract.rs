//! What a client written by someone else relies on: retried creates name what the first
//! one created (also after a restart), malformed bytes are the client's mistake, a point
//! read sees the caller's own write, members see why a customer is back in the pool, and
//! every refusal carries an `ErrorInfo` whose message names resources as the API does.

use std::collections::HashMap;

use futures::StreamExt;
use poolkeeper_proto::v1 as pb;
use poolkeeper_tests::{Harness, command_id, raw, reason, t0};
use tonic::Code;
use tonic_types::StatusExt;

fn new_customer(name: &str) -> pb::NewCustomer {
    pb::NewCustomer {
        display_name: name.into(),
        fields: HashMap::from([("region".into(), "华东".into())]),
        ..Default::default()
    }
}

/// Every create RPC, with the ids left to the server; the replies.
struct Creates {
    customer: (pb::CreateCustomerRequest, pb::CommandResult),
    import: (pb::ImportCustomersRequest, pb::ImportCustomersResult),
    stream: (Vec<pb::ImportCustomersRequest>, pb::ImportCustomersResult),
    pool: (pb::CreatePoolRequest, pb::CommandResult),
    user: (pb::CreateUserRequest, pb::CommandResult),
}

async fn create_everything(harness: &Harness) -> Creates {
    let mut commands = harness.commands(&harness.admin);
    let customer = pb::CreateCustomerRequest {
        command_id: command_id(),
        customer: Some(new_customer("上海某某科技有限公司")),
        ..Default::default()
    };
    let import = pb::ImportCustomersRequest {
        command_id: command_id(),
        customers: ["甲", "乙", "丙"].map(new_customer).to_vec(),
        ..Default::default()
    };
    let stream_id = command_id();
    let stream = vec![
        pb::ImportCustomersRequest {
            command_id: stream_id.clone(),
            customers: ["丁", "戊"].map(new_customer).to_vec(),
            ..Default::default()
        },
        pb::ImportCustomersRequest {
            customers: vec![new_customer("己")],
            ..Default::default()
        },
    ];
    let pool = pb::CreatePoolRequest {
        command_id: command_id(),
        display_name: "华东区客户".into(),
        mode: pb::PoolMode::FreeClaim as i32,
        everyone: true,
        ..Default::default()
    };
    let user = pb::CreateUserRequest {
        command_id: command_id(),
        display_name: "王五".into(),
        ..Default::default()
    };
    Creates {
        customer: (
            customer.clone(),
            commands
                .create_customer(customer)
                .await
                .unwrap()
                .into_inner(),
        ),
        import: (
            import.clone(),
            commands
                .import_customers(import)
                .await
                .unwrap()
                .into_inner(),
        ),
        stream: (
            stream.clone(),
            commands
                .stream_import_customers(futures::stream::iter(stream))
                .await
                .unwrap()
                .into_inner(),
        ),
        pool: (
            pool.clone(),
            commands.create_pool(pool).await.unwrap().into_inner(),
        ),
        user: (
            user.clone(),
            commands.create_user(user).await.unwrap().into_inner(),
        ),
    }
}

/// Retries every create and checks each reply is the first one, marked as a duplicate,
/// and that every name it gives can be read.
async fn retry_everything(harness: &Harness, first: &Creates) {
    let mut commands = harness.commands(&harness.admin);
    let customer = commands
        .create_customer(first.customer.0.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        customer,
        pb::CommandResult {
            duplicate: true,
            ..first.customer.1.clone()
        }
    );
    let import = commands
        .import_customers(first.import.0.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        import,
        pb::ImportCustomersResult {
            duplicate: true,
            ..first.import.1.clone()
        }
    );
    let stream = commands
        .stream_import_customers(futures::stream::iter(first.stream.0.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stream,
        pb::ImportCustomersResult {
            duplicate: true,
            ..first.stream.1.clone()
        }
    );
    let pool = commands
        .create_pool(first.pool.0.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        pool,
        pb::CommandResult {
            duplicate: true,
            ..first.pool.1.clone()
        }
    );
    let user = commands
        .create_user(first.user.0.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        user,
        pb::CommandResult {
            duplicate: true,
            ..first.user.1.clone()
        }
    );

    let mut queries = harness.queries(&harness.admin);
    let names = std::iter::once(&customer.name)
        .chain(&import.names)
        .chain(&stream.names);
    let expected = ["上海某某科技有限公司", "甲", "乙", "丙", "丁", "戊", "己"];
    for (name, display_name) in names.zip(expected) {
        let read = queries
            .get_customer(pb::GetCustomerRequest {
                name: name.clone(),
                min_position: 0,
            })
            .await
            .unwrap_or_else(|status| panic!("{name}: {status:?}"))
            .into_inner();
        assert_eq!(read.display_name, display_name);
    }
    let read_pool = queries
        .get_pool(pb::GetPoolRequest {
            name: pool.name.clone(),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read_pool.display_name, "华东区客户");
    let read_user = queries
        .get_user(pb::GetUserRequest {
            name: user.name.clone(),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read_user.display_name, "王五");
}

#[tokio::test]
async fn a_retried_create_returns_the_first_reply_before_and_after_a_restart() {
    let harness = Harness::start().await;
    let first = create_everything(&harness).await;
    let tail = harness.tail().await;
    retry_everything(&harness, &first).await;
    assert_eq!(harness.tail().await, tail, "a retry appends nothing");

    let harness = harness.restart(t0()).await;
    retry_everything(&harness, &first).await;
    assert_eq!(harness.tail().await, tail, "a retry appends nothing");
}

#[tokio::test]
async fn bytes_that_are_not_a_message_are_invalid_argument_and_append_nothing() {
    let harness = Harness::start().await;
    let tail = harness.tail().await;
    let path = "/poolkeeper.v1.CommandService/CreateCustomer";
    let cases: [(&str, Vec<u8>); 3] = [
        // Field 1 (command_id) with a length varint that never ends.
        ("a truncated varint", vec![0x0a, 0x80]),
        // Field 1 with 2 bytes that are not UTF-8.
        ("a string that is not UTF-8", vec![0x0a, 0x02, 0xff, 0xfe]),
        // Field 4 (customer) longer than the bytes that follow.
        ("a message cut short", vec![0x22, 0x10, 0x12, 0x01]),
    ];
    for (what, bytes) in cases {
        let status = raw::unary(
            &harness.channel,
            &harness.server.token,
            &harness.admin,
            path,
            bytes,
        )
        .await
        .expect_err(what);
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
        assert_eq!(reason(&status), "malformed_message", "{what}");
    }
    assert_eq!(harness.tail().await, tail, "nothing appended");
}

#[tokio::test]
async fn point_reads_see_the_callers_own_writes_without_min_position() {
    // Projections that gather for a minute: only a waiting reader makes them commit.
    let harness = Harness::start_with(|config| config.projection_commit_ms = 60_000).await;
    let alice = harness.user("Alice", None).await;
    let created = harness
        .commands(&alice)
        .create_customer(pb::CreateCustomerRequest {
            command_id: command_id(),
            customer: Some(new_customer("南京某某贸易")),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut queries = harness.queries(&alice);
    let read = queries
        .get_customer(pb::GetCustomerRequest {
            name: created.name.clone(),
            min_position: 0,
        })
        .await
        .expect("the creator reads its creation at once")
        .into_inner();
    assert_eq!(read.version, created.version);

    let claimed = harness
        .commands(&alice)
        .claim_customer(pb::ClaimCustomerRequest {
            command_id: command_id(),
            customer: created.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let read = queries
        .get_customer(pb::GetCustomerRequest {
            name: created.name.clone(),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (read.owner.as_str(), read.version),
        (alice.as_str(), claimed.version)
    );
    let history = queries
        .get_ownership_history(pb::GetOwnershipHistoryRequest {
            customer: created.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.intervals.len(), 1);
    assert_eq!(history.intervals[0].owner, alice);
}

#[tokio::test]
async fn members_see_why_an_unclaimed_customer_is_back_and_who_gave_it_up() {
    let harness = Harness::start().await;
    let alice = harness.user("Alice", None).await;
    let bob = harness.user("Bob", None).await;
    let customer = harness.customer(&harness.default_pool, "杭州某某").await;
    let mut commands = harness.commands(&alice);
    commands
        .claim_customer(pb::ClaimCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let abandoned = commands
        .abandon_customer(pb::AbandonCustomerRequest {
            command_id: command_id(),
            customer: customer.clone(),
            reason: "无意向".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut queries = harness.queries(&bob);
    let page = queries
        .list_pool_customers(pb::ListPoolCustomersRequest {
            pool: harness.default_pool.clone(),
            min_position: abandoned.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let row = page
        .customers
        .iter()
        .find(|c| c.name == customer)
        .expect("the customer is back in the pool");
    let abandon = row
        .last_abandon
        .as_ref()
        .expect("the member sees the abandon");
    assert_eq!(
        (abandon.reason.as_str(), abandon.abandoner.as_str()),
        ("无意向", alice.as_str())
    );
    assert!(row.fields.is_empty(), "the pool hides details from members");
    let read = queries
        .get_customer(pb::GetCustomerRequest {
            name: customer.clone(),
            min_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.last_abandon.map(|a| a.abandoner), Some(alice));
}

/// Asserts `status` has `code` and a poolkeeper `ErrorInfo`, and that its message names
/// resources the API's way; returns the info.
fn error_info(status: &tonic::Status, code: Code) -> tonic_types::ErrorInfo {
    assert_eq!(status.code(), code, "{status:?}");
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("{code:?} without ErrorInfo: {status:?}"));
    assert_eq!(info.domain, "poolkeeper.v1");
    assert!(!info.reason.is_empty());
    let message = status.message();
    for internal in [
        "user:",
        "rule:",
        "request_claim",
        "log_follow_up",
        "mark_won",
        "claim_with",
    ] {
        assert!(
            !message.contains(internal),
            "{message:?} contains {internal:?}"
        );
    }
    info
}

#[tokio::test]
async fn every_status_the_api_returns_carries_an_error_info() {
    let harness = Harness::start_with(|config| config.max_import = 2).await;
    let admin = harness.admin.clone();
    let alice = harness.user("Alice", None).await;
    let bob = harness.user("Bob", None).await;
    let capped = harness
        .pool(
            pb::PoolMode::FreeClaim,
            pb::PoolRules {
                cap: Some(pb::Limit {
                    value: 1,
                    ..Default::default()
                }),
                ..Default::default()
            },
            &[],
            &[&alice, &bob],
        )
        .await;
    let first = harness.customer(&capped, "一").await;
    let second = harness.customer(&capped, "二").await;
    let mut as_alice = harness.commands(&alice);
    let claim = |customer: &str| pb::ClaimCustomerRequest {
        command_id: command_id(),
        customer: customer.into(),
        ..Default::default()
    };
    let claimed = as_alice
        .claim_customer(claim(&first))
        .await
        .unwrap()
        .into_inner();

    // INVALID_ARGUMENT: a blank name, named by the request's own field path.
    let status = harness
        .commands(&admin)
        .create_customer(pb::CreateCustomerRequest {
            command_id: command_id(),
            customer: Some(new_customer("  ")),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let info = error_info(&status, Code::InvalidArgument);
    assert_eq!(info.metadata["field"], "customer.display_name");
    // NOT_FOUND.
    let unknown = format!("customers/{}", uuid::Uuid::now_v7());
    let status = as_alice.claim_customer(claim(&unknown)).await.unwrap_err();
    assert_eq!(
        error_info(&status, Code::NotFound).metadata["resource"],
        unknown
    );
    // ALREADY_EXISTS.
    let id = uuid::Uuid::now_v7().to_string();
    let with_id = |command: String| pb::CreateCustomerRequest {
        command_id: command,
        customer: Some(pb::NewCustomer {
            customer_id: id.clone(),
            ..new_customer("重复")
        }),
        ..Default::default()
    };
    let mut as_admin = harness.commands(&admin);
    as_admin
        .create_customer(with_id(command_id()))
        .await
        .unwrap();
    let status = as_admin
        .create_customer(with_id(command_id()))
        .await
        .unwrap_err();
    error_info(&status, Code::AlreadyExists);
    // PERMISSION_DENIED, from the domain and from the query service.
    let status = harness
        .commands(&bob)
        .reclaim_customer(pb::ReclaimCustomerRequest {
            command_id: command_id(),
            customer: first.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    error_info(&status, Code::PermissionDenied);
    let status = harness
        .queries(&bob)
        .list_pool_customers(pb::ListPoolCustomersRequest {
            pool: capped.clone(),
            view: pb::PoolView::RecycleBin as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    error_info(&status, Code::PermissionDenied);
    // FAILED_PRECONDITION, naming the RPC and the state as the API spells them.
    let status = harness
        .commands(&bob)
        .claim_customer(claim(&first))
        .await
        .unwrap_err();
    let info = error_info(&status, Code::FailedPrecondition);
    assert_eq!(info.metadata["resource"], first);
    assert_eq!(
        status.message(),
        format!("{first} is OWNED; ClaimCustomer needs it IN_POOL")
    );
    let status = harness
        .commands(&bob)
        .request_claim(pb::RequestClaimRequest {
            command_id: command_id(),
            customer: second.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let info = error_info(&status, Code::FailedPrecondition);
    assert_eq!(info.metadata["resource"], capped);
    assert!(
        status.message().contains("RequestClaim"),
        "{}",
        status.message()
    );
    // RESOURCE_EXHAUSTED: the cap, and an import over the limit.
    let status = as_alice.claim_customer(claim(&second)).await.unwrap_err();
    assert_eq!(
        error_info(&status, Code::ResourceExhausted).metadata["user"],
        alice
    );
    let status = as_admin
        .import_customers(pb::ImportCustomersRequest {
            command_id: command_id(),
            customers: ["a", "b", "c"].map(new_customer).to_vec(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    error_info(&status, Code::ResourceExhausted);
    // ABORTED, with the resource and both versions.
    let status = as_alice
        .log_follow_up(pb::LogFollowUpRequest {
            command_id: command_id(),
            customer: first.clone(),
            expected_version: Some(claimed.version - 1),
            kind: pb::FollowUpKind::Call as i32,
            note: "电话".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let info = error_info(&status, Code::Aborted);
    assert_eq!(info.metadata["resource"], first);
    assert_eq!(
        info.metadata["expected_version"],
        (claimed.version - 1).to_string()
    );
    assert_eq!(info.metadata["actual_version"], claimed.version.to_string());
    // OUT_OF_RANGE.
    let status = harness
        .queries(&alice)
        .get_customer(pb::GetCustomerRequest {
            name: first.clone(),
            min_position: 1_000_000,
        })
        .await
        .unwrap_err();
    error_info(&status, Code::OutOfRange);
    // FAILED_PRECONDITION from the manual clock refusing to go back.
    let status = harness
        .admin_service()
        .set_clock(pb::SetClockRequest {
            change: Some(pb::set_clock_request::Change::Instant(
                prost_types::Timestamp {
                    seconds: t0().timestamp() - 3600,
                    nanos: 0,
                },
            )),
        })
        .await
        .unwrap_err();
    assert_eq!(
        error_info(&status, Code::FailedPrecondition).reason,
        "clock_goes_back"
    );
    // UNAUTHENTICATED.
    let status = raw::unary(
        &harness.channel,
        "not-a-token",
        &admin,
        "/poolkeeper.v1.QueryService/ListPools",
        Vec::new(),
    )
    .await
    .unwrap_err();
    error_info(&status, Code::Unauthenticated);
    // UNIMPLEMENTED: a method that does not exist.
    let status = raw::unary(
        &harness.channel,
        &harness.server.token,
        &admin,
        "/poolkeeper.v1.CommandService/Teleport",
        Vec::new(),
    )
    .await
    .unwrap_err();
    error_info(&status, Code::Unimplemented);
}

#[tokio::test]
async fn a_correlation_id_that_is_not_a_uuid_is_refused() {
    let harness = Harness::start().await;
    let tail = harness.tail().await;
    let mut request = tonic::Request::new(pb::CreateCustomerRequest {
        command_id: command_id(),
        customer: Some(new_customer("关联")),
        ..Default::default()
    });
    request
        .metadata_mut()
        .insert("x-correlation-id", "order-4711".parse().unwrap());
    let status = harness
        .commands(&harness.admin)
        .create_customer(request)
        .await
        .unwrap_err();
    let info = error_info(&status, Code::InvalidArgument);
    assert_eq!(info.metadata["field"], "x-correlation-id");
    assert_eq!(harness.tail().await, tail);
}

#[tokio::test]
async fn streaming_an_unknown_event_type_is_refused_with_the_known_ones() {
    let harness = Harness::start().await;
    let status = harness
        .audit()
        .stream_events(pb::StreamEventsRequest {
            from_position: 1,
            event_types: vec!["customer.claimed".into(), "customer.teleported".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    let info = error_info(&status, Code::InvalidArgument);
    assert_eq!(info.metadata["field"], "event_types[1]");
    assert!(
        status.message().contains("customer.abandoned"),
        "{}",
        status.message()
    );

    // A known type streams.
    let mut events = harness
        .audit()
        .stream_events(pb::StreamEventsRequest {
            from_position: 1,
            event_types: vec!["pool.created".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first = events.next().await.expect("an event").unwrap();
    assert_eq!(first.event_type, "pool.created");
}
