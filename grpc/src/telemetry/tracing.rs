//! Spans: one `rpc` span per gRPC call, named by its service and method and carrying the
//! correlation id, and (in the handlers) the command id; the writer's `decide` and
//! `append`, and a query's projection wait, are its children.

use tracing::Span;

use crate::auth::CORRELATION_HEADER;

/// The span of one gRPC call.
pub fn rpc_span<B>(request: &http::Request<B>, service: &str, method: &str) -> Span {
    let correlation_id = request
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "rpc",
        otel.name = %format_args!("{service}/{method}"),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        correlation_id,
        command_id = tracing::field::Empty,
    )
}
