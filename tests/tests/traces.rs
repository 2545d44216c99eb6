//! Traces: a call's span continues the caller's W3C `traceparent`, is named after the
//! method and carries the command and correlation ids; the writer's `decide` and
//! `append`, and a query's `projection_wait`, are its children. Spans are collected by
//! an in-memory exporter behind the same `tracing` layer the server exports OTLP with.

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use poolkeeper_grpc::telemetry::tracing::Traces;
use poolkeeper_proto::v1 as pb;
use poolkeeper_tests::{Harness, command_id};
use tracing_subscriber::prelude::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn traceparent(parent: &str) -> tonic::metadata::MetadataValue<tonic::metadata::Ascii> {
    format!("00-{TRACE}-{parent}-01").parse().expect("ascii")
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

fn children<'a>(spans: &'a [SpanData], parent: &SpanData) -> Vec<&'a str> {
    spans
        .iter()
        .filter(|s| s.parent_span_id == parent.span_context.span_id())
        .map(|s| s.name.as_ref())
        .collect()
}

fn call<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name && s.span_context.trace_id() == TraceId::from_hex(TRACE).unwrap())
        .unwrap_or_else(|| panic!("no span {name} in the caller's trace"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calls_span_continues_the_callers_trace_down_to_decide_append_and_projection_wait() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let traces = Traces::with_provider(provider);
    tracing_subscriber::registry().with(traces.layer()).init();

    let h = Harness::start().await;
    let alice = h.user("Alice", None).await;
    let pool = h.free_pool(&[&alice]).await;
    let customer = h.customer(&pool, "甲公司").await;
    let id = command_id();
    let correlation = uuid::Uuid::new_v4().to_string();
    let mut claim = tonic::Request::new(pb::ClaimCustomerRequest {
        command_id: id.clone(),
        customer: customer.clone(),
        ..Default::default()
    });
    claim
        .metadata_mut()
        .insert("traceparent", traceparent("00f067aa0ba902b7"));
    claim
        .metadata_mut()
        .insert("x-correlation-id", correlation.parse().expect("ascii"));
    let claimed = h
        .commands(&alice)
        .claim_customer(claim)
        .await
        .expect("claim")
        .into_inner();
    let mut read = tonic::Request::new(pb::GetCustomerRequest {
        name: customer,
        min_position: claimed.position,
    });
    read.metadata_mut()
        .insert("traceparent", traceparent("b7ad6b7169203331"));
    h.queries(&alice).get_customer(read).await.expect("read");
    h.server.stop().await.expect("a clean stop");
    // (Shutting the provider down would empty the in-memory exporter.)
    let spans = exporter.get_finished_spans().expect("spans");
    let rpc = call(&spans, "CommandService/ClaimCustomer");
    assert_eq!(
        rpc.parent_span_id,
        SpanId::from_hex("00f067aa0ba902b7").unwrap()
    );
    assert_eq!(attribute(rpc, "command_id").as_deref(), Some(id.as_str()));
    assert_eq!(attribute(rpc, "correlation_id"), Some(correlation));
    let mut steps = children(&spans, rpc);
    steps.sort();
    assert_eq!(steps, ["append", "decide"]);
    let query = call(&spans, "QueryService/GetCustomer");
    assert_eq!(
        query.parent_span_id,
        SpanId::from_hex("b7ad6b7169203331").unwrap()
    );
    assert!(children(&spans, query).contains(&"projection_wait"));
    let untraced = spans
        .iter()
        .filter(|s| s.name == "CommandService/CreateCustomer")
        .count();
    assert!(
        untraced >= 1,
        "calls without a traceparent get spans of their own"
    );
}
