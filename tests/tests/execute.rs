//! `CommandService.Execute` over real gRPC: many commands on one stream, each answered in
//! order with what its unary RPC would have answered (its result, or its refusal with the
//! status code and `ErrorInfo` reason), each durable; a retried command id is a
//! duplicate; a caller that stops reading the replies stops the server reading commands.

use std::time::Duration;

use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::command_service_client::CommandServiceClient;
use poolkeeper_proto::v1::execute_request::Command;
use poolkeeper_proto::v1::execute_response::Outcome;
use poolkeeper_tests::{Harness, command_id, new_customer};
use tonic::Code;

fn create(name: &str) -> pb::ExecuteRequest {
    pb::ExecuteRequest {
        command: Some(Command::CreateCustomer(new_customer(name))),
    }
}

/// A claim of a customer that does not exist: NOT_FOUND.
fn claim_of_nobody() -> pb::ExecuteRequest {
    pb::ExecuteRequest {
        command: Some(Command::ClaimCustomer(pb::ClaimCustomerRequest {
            command_id: command_id(),
            customer: format!("customers/{}", uuid::Uuid::now_v7()),
            ..Default::default()
        })),
    }
}

async fn execute(harness: &Harness, requests: Vec<pb::ExecuteRequest>) -> Vec<pb::ExecuteResponse> {
    let mut replies = harness
        .commands(&harness.admin)
        .execute(futures::stream::iter(requests))
        .await
        .expect("the stream is accepted")
        .into_inner();
    let mut all = Vec::new();
    while let Some(reply) = replies.message().await.expect("a reply") {
        all.push(reply);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_is_answered_in_order_with_its_unary_outcome() {
    let harness = Harness::start().await;
    let before = harness.tail().await;
    let mut requests = Vec::new();
    for n in 0..300 {
        requests.push(match n % 50 {
            7 => claim_of_nobody(),
            13 => pb::ExecuteRequest { command: None },
            _ => create(&format!("批量客户 {n}")),
        });
    }
    let replies = execute(&harness, requests.clone()).await;
    assert_eq!(replies.len(), requests.len());
    let mut created = Vec::new();
    for (n, reply) in replies.iter().enumerate() {
        assert_eq!(reply.index, n as u64, "in order");
        match (n % 50, reply.outcome.as_ref().expect("an outcome")) {
            (7, Outcome::Refusal(refusal)) => {
                assert_eq!(refusal.code, Code::NotFound as i32, "{refusal:?}");
                assert!(!refusal.reason.is_empty() && !refusal.details.is_empty());
            }
            (13, Outcome::Refusal(refusal)) => {
                assert_eq!(refusal.code, Code::InvalidArgument as i32, "{refusal:?}")
            }
            (_, Outcome::Result(result)) => {
                assert!(!result.duplicate);
                created.push(result.clone());
            }
            (_, other) => panic!("command {n}: {other:?}"),
        }
    }
    assert_eq!(created.len(), 288);
    // Each reply came once its command was durable and readable.
    let tail = harness.tail().await;
    assert_eq!(tail, created.iter().map(|r| r.position).max().unwrap());
    assert!(tail > before);
    let last = created.last().unwrap();
    let customer = harness.customer_as(&harness.admin, &last.name, 0).await;
    assert_eq!(customer.display_name, "批量客户 299");

    // The same stream again: every command is a duplicate with its first reply.
    let again = execute(&harness, requests).await;
    let duplicates: Vec<_> = again
        .iter()
        .filter_map(|r| match &r.outcome {
            Some(Outcome::Result(result)) => Some(result),
            _ => None,
        })
        .collect();
    assert_eq!(duplicates.len(), created.len());
    for (first, retry) in created.iter().zip(duplicates) {
        assert!(retry.duplicate && retry.position == first.position && retry.name == first.name);
    }
    assert_eq!(
        harness.tail().await,
        tail,
        "a retried stream appends nothing"
    );
}

/// A caller that reads no reply: the server runs 1,024 commands, buffers 1,024 replies,
/// and HTTP/2 holds what its windows and send buffer take (a 64 KiB window here, and the
/// server's 400 KiB send buffer: about 4,500 replies of ~100 bytes); then it stops
/// reading commands until replies are taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_stops_reading_replies_stops_the_server_reading_commands() {
    let harness = Harness::start().await;
    let before = harness.tail().await;
    let count = 20_000;
    let channel = tonic::transport::Endpoint::from_shared(harness.server.endpoint())
        .unwrap()
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    let credentials = harness.credentials.acting_as(&harness.admin).unwrap();
    let mut commands = CommandServiceClient::new(credentials.on(channel));
    let requests: Vec<_> = (0..count).map(|n| create(&format!("客户 {n}"))).collect();
    let mut replies = commands
        .execute(futures::stream::iter(requests))
        .await
        .expect("the stream is accepted")
        .into_inner();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ahead = harness.tail().await - before;
    eprintln!("{ahead} commands ran while no reply was read");
    assert!(ahead > 0, "the server started");
    assert!(ahead <= 10_000, "{ahead} commands ran ahead of the replies");
    let mut answered = 0;
    while let Some(reply) = replies.message().await.expect("a reply") {
        assert_eq!(reply.index, answered);
        assert!(
            matches!(reply.outcome, Some(Outcome::Result(_))),
            "{reply:?}"
        );
        answered += 1;
    }
    assert_eq!(answered, count as u64);
    assert_eq!(harness.tail().await - before, count as u64);
}
