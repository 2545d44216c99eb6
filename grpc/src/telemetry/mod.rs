//! What the people who run the service see of it: Prometheus metrics ([`metrics`],
//! [`gauges`]) and traces ([`tracing`]), both fed by the layer every gRPC call passes
//! ([`rpc`]).

pub mod gauges;
pub mod metrics;
pub mod rpc;
pub mod tracing;

pub use self::metrics::{metrics, render};
pub use self::rpc::RpcTelemetry;
