//! The gRPC services.

pub mod admin;
pub mod audit;
pub mod command;
pub mod execute;
pub mod forward;
pub mod freshness;
pub mod organizations;
pub mod partitions;
pub mod query;
mod revert;
pub mod what_if;

use tonic::Request;

/// Splits a request into its metadata-only twin (for the acting user, the correlation id
/// and the deadline) and its message.
fn split<T>(request: Request<T>) -> (Request<()>, T) {
    let (metadata, extensions, message) = request.into_parts();
    (Request::from_parts(metadata, extensions, ()), message)
}
