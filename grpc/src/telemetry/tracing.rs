//! Traces: one `rpc` span per gRPC call, named by its service and method and carrying
//! the correlation id and the command id; its children are each command's `decide` and
//! `append` in the writer and a query's `projection_wait`. With `otlp_endpoint` set,
//! spans are exported over OTLP/gRPC ([`Traces`]), and an incoming W3C `traceparent`
//! makes the call's span a child of the caller's.
//!
//! The spans are at DEBUG level: the log lines' filter (`RUST_LOG`, `info`) leaves them
//! disabled, so without an exporter a call pays nothing for them; the exporter's layer
//! has its own filter that takes them ([`Traces::filter`]).

use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing::subscriber::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::auth::CORRELATION_HEADER;

/// The span of one gRPC call, a child of the caller's `traceparent` when it sent one.
pub fn rpc_span<B>(request: &http::Request<B>, service: &str, method: &str) -> Span {
    let correlation_id = request
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let span = tracing::debug_span!(
        "rpc",
        otel.name = %format_args!("{service}/{method}"),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        correlation_id,
        command_id = tracing::field::Empty,
    );
    if request.headers().contains_key("traceparent") {
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&Headers(request.headers()))
        });
        let _ = span.set_parent(parent);
    }
    span
}

/// A child span of `parent` named `name` (`decide`, `append`), or none when the parent is
/// none (a command of the scheduler, outside any call).
pub fn child(parent: &Span, name: &'static str) -> Span {
    if parent.is_disabled() {
        return Span::none();
    }
    match name {
        "decide" => tracing::debug_span!(parent: parent, "decide"),
        _ => tracing::debug_span!(parent: parent, "append"),
    }
}

/// A request's headers, read by the W3C trace-context propagator.
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Spans exported over OTLP/gRPC; shut it down at exit to send what is buffered.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Exports to the collector at `endpoint` (`http://127.0.0.1:4317`), in batches, and
    /// honours incoming W3C `traceparent` headers. Call inside the Tokio runtime.
    pub fn export_to(endpoint: &str) -> Result<Self, opentelemetry_otlp::ExporterBuildError> {
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name("poolkeeper").build())
            .build();
        Ok(Self::with_provider(provider))
    }

    /// Exports through `provider` (tests give one with an in-memory exporter).
    pub fn with_provider(provider: SdkTracerProvider) -> Self {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        Self { provider }
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans.
    pub fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer("poolkeeper"))
    }

    /// What the exporter's layer takes: this crate's spans from DEBUG (the calls, decide,
    /// append, projection waits), everything else from INFO.
    pub fn filter() -> tracing_subscriber::filter::Targets {
        tracing_subscriber::filter::Targets::new()
            .with_default(tracing::Level::INFO)
            .with_target("poolkeeper_grpc", tracing::Level::DEBUG)
    }

    /// Sends what is buffered and stops exporting.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "the trace exporter did not shut down cleanly");
        }
    }
}
