//! The layer every gRPC call passes: it times the call for
//! `poolkeeper_rpc_duration_seconds{service,method}` (until the response headers, which
//! for a unary call is the whole call) and runs it in an `rpc` span, a child of the
//! caller's W3C `traceparent` when one came (see [`super::tracing`]).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use prost::Message;
use prost_types::FileDescriptorSet;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;

use super::metrics::metrics;

/// The layer; see the module docs.
#[derive(Clone, Copy, Debug, Default)]
pub struct RpcTelemetry;

impl<S> Layer<S> for RpcTelemetry {
    type Service = RpcTelemetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcTelemetryService { inner }
    }
}

/// The service the layer wraps around the router.
#[derive(Clone, Debug)]
pub struct RpcTelemetryService<S> {
    inner: S,
}

impl<S, Body, ResponseBody> Service<http::Request<Body>> for RpcTelemetryService<S>
where
    S: Service<http::Request<Body>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<ResponseBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let started = Instant::now();
        let (service, method) = split_path(request.uri().path());
        let span = super::tracing::rpc_span(&request, &service, &method);
        let answer = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        Box::pin(
            async move {
                let response = answer.await?;
                // Only methods that exist become label values: the set stays bounded.
                let labels = if is_known(&service, &method) {
                    [service.as_str(), method.as_str()]
                } else {
                    ["unknown", "unknown"]
                };
                metrics()
                    .rpc_seconds
                    .with_label_values(&labels)
                    .observe(started.elapsed().as_secs_f64());
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// `("QueryService", "GetCustomer")` of `/poolkeeper.v1.QueryService/GetCustomer`.
fn split_path(path: &str) -> (String, String) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default();
    let method = parts.next().unwrap_or_default();
    let service = service.rsplit('.').next().unwrap_or_default();
    (service.to_owned(), method.to_owned())
}

/// Whether `service`/`method` is one of the RPCs served: ours and health's, from their
/// descriptor sets, and reflection's. Whatever else a caller sends (even one refused
/// before routing) never becomes a label value.
fn is_known(service: &str, method: &str) -> bool {
    static KNOWN: OnceLock<HashMap<String, HashSet<String>>> = OnceLock::new();
    let known = KNOWN.get_or_init(|| {
        let mut known: HashMap<String, HashSet<String>> = HashMap::new();
        for bytes in [
            poolkeeper_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ] {
            let Ok(set) = FileDescriptorSet::decode(bytes) else {
                continue;
            };
            for service in set.file.iter().flat_map(|file| &file.service) {
                let methods = known.entry(service.name().to_owned()).or_default();
                methods.extend(service.method.iter().map(|m| m.name().to_owned()));
            }
        }
        known
            .entry("ServerReflection".into())
            .or_default()
            .insert("ServerReflectionInfo".into());
        known
    });
    known
        .get(service)
        .is_some_and(|methods| methods.contains(method))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            split_path("/poolkeeper.v1.QueryService/GetCustomer"),
            ("QueryService".to_owned(), "GetCustomer".to_owned())
        );
        assert_eq!(split_path("/grpc.health.v1.Health/Check").1, "Check");
        assert_eq!(split_path("/"), (String::new(), String::new()));
    }

    #[test]
    fn only_served_methods_are_known() {
        assert!(is_known("QueryService", "GetCustomer"));
        assert!(is_known("Health", "Check"));
        assert!(!is_known("QueryService", "NoSuchMethod"));
        assert!(!is_known("Nothing", "GetCustomer"));
    }
}
