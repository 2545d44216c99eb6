//! The service's generic surfaces: the standard health service, server reflection (v1 and
//! v1alpha, as grpcurl uses them), and the manual clock's refusal on a system-clock server.

use futures::StreamExt;
use poolkeeper_grpc::config::Config;
use poolkeeper_grpc::server::{RunningServer, ServeOptions};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::admin_service_client::AdminServiceClient;
use poolkeeper_tests::Harness;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn health_reports_serving_without_a_token() {
    let harness = Harness::start().await;
    let mut health = HealthClient::new(harness.channel.clone());
    for service in [
        "",
        "poolkeeper.v1.CommandService",
        "poolkeeper.v1.AuditService",
    ] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|status| panic!("{service}: {status:?}"))
            .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service}");
    }
}

#[tokio::test]
async fn reflection_lists_every_service_in_v1_and_v1alpha() {
    let harness = Harness::start().await;

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut client = ServerReflectionClient::new(harness.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(Ok(response)) = responses.next().await else {
        panic!("no reflection answer")
    };
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("not a service list")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in [
        "poolkeeper.v1.CommandService",
        "poolkeeper.v1.AuditService",
        "poolkeeper.v1.AdminService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == service),
            "{service} missing from {names:?}"
        );
    }

    use tonic_reflection::pb::v1alpha::ServerReflectionRequest as AlphaReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as AlphaClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as AlphaResponse;
    let mut alpha = AlphaClient::new(harness.channel.clone());
    let request = AlphaReflectionRequest {
        host: String::new(),
        message_request: Some(AlphaRequest::FileContainingSymbol(
            "poolkeeper.v1.CommandService".into(),
        )),
    };
    let mut responses = alpha
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(Ok(response)) = responses.next().await else {
        panic!("no v1alpha answer")
    };
    let Some(AlphaResponse::FileDescriptorResponse(files)) = response.message_response else {
        panic!("no descriptor")
    };
    assert!(!files.file_descriptor_proto.is_empty());
}

#[tokio::test]
async fn the_clock_cannot_be_moved_unless_the_server_runs_on_a_manual_clock() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    let server = RunningServer::start(ServeOptions {
        config,
        manual_clock: None,
    })
    .await
    .unwrap();
    let channel = poolkeeper_grpc::client::connect(&server.endpoint())
        .await
        .unwrap();
    let credentials = poolkeeper_grpc::client::Credentials::new(&server.token).unwrap();
    let mut admin = AdminServiceClient::new(credentials.on(channel));
    let clock = admin
        .get_clock(pb::GetClockRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!clock.manual);
    let refused = admin
        .set_clock(pb::SetClockRequest {
            change: Some(pb::set_clock_request::Change::AdvanceSeconds(60)),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_manual_clock_never_goes_back() {
    let harness = Harness::start().await;
    let state = harness.advance(3_600).await;
    assert!(state.manual);
    let earlier = prost_types::Timestamp {
        seconds: poolkeeper_tests::t0().timestamp(),
        nanos: 0,
    };
    let refused = harness
        .admin_service()
        .set_clock(pb::SetClockRequest {
            change: Some(pb::set_clock_request::Change::Instant(earlier)),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
}
