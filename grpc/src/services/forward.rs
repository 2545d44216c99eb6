//! Forwarding a command to the node that writes its organization's log (PostgreSQL with
//! several nodes): the same request, with the caller's credentials, acting user,
//! organization, correlation id and deadline, sent to the holder's advertised address;
//! its reply or status comes back unchanged. A forwarded request is marked, and a node
//! never forwards a marked one again (no loops while a lease moves).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use poolkeeper_proto::codec::StrictProstCodec;
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use crate::status::unavailable;

/// The metadata entry that marks a forwarded request.
pub const FORWARDED_HEADER: &str = "x-poolkeeper-forwarded";

/// What a forwarded request carries over from the caller's.
const CARRIED: [&str; 5] = [
    "authorization",
    "x-poolkeeper-user",
    "x-poolkeeper-organization",
    "x-correlation-id",
    "grpc-timeout",
];

/// The longest a forwarded command waits for the writer's node at most (a paused or
/// cut-off node accepts connections and never answers): then UNAVAILABLE, and the
/// caller's retry finds the lease lapsed and this node takes it.
const MAX_FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// Channels to the other nodes, by address.
pub struct Forwarder {
    channels: Mutex<HashMap<String, Channel>>,
    timeout: Duration,
}

/// Whether `metadata` is of a request another node forwarded.
pub fn was_forwarded(metadata: &MetadataMap) -> bool {
    metadata.contains_key(FORWARDED_HEADER)
}

impl Forwarder {
    /// A forwarder for nodes holding leases of `lease`: a writer silent for that long has
    /// lost its lease (or is about to), so a forwarded call waits no longer (nor more
    /// than 5 s).
    pub fn new(lease: Duration) -> Self {
        Self {
            channels: Mutex::default(),
            timeout: lease.min(MAX_FORWARD_TIMEOUT),
        }
    }

    fn channel(&self, address: &str) -> Result<Channel, Status> {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(channel) = channels.get(address) {
            return Ok(channel.clone());
        }
        let channel = Endpoint::from_shared(address.to_owned())
            .map_err(|_| unavailable("writer_unreachable", format!("no such address {address}")))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(2))
            .connect_lazy();
        channels.insert(address.to_owned(), channel.clone());
        Ok(channel)
    }

    /// Sends `message` to the unary method `path` of the node at `address`, as the caller
    /// of `metadata`; its reply, or its status.
    pub async fn forward<Req, Reply>(
        &self,
        address: &str,
        path: &str,
        metadata: &MetadataMap,
        message: Req,
    ) -> Result<Reply, Status>
    where
        Req: prost::Message + Send + 'static,
        Reply: prost::Message + Default + Send + 'static,
    {
        let mut grpc = tonic::client::Grpc::new(self.channel(address)?);
        grpc.ready().await.map_err(|error| {
            unavailable(
                "writer_unreachable",
                format!("the writer's node at {address} is unreachable: {error}"),
            )
        })?;
        let mut request = Request::new(message);
        for key in CARRIED {
            if let Some(value) = metadata.get(key) {
                request.metadata_mut().insert(key, value.clone());
            }
        }
        request.metadata_mut().insert(
            FORWARDED_HEADER,
            tonic::metadata::MetadataValue::from_static("1"),
        );
        let path = path
            .parse()
            .map_err(|_| unavailable("writer_unreachable", format!("bad method path {path}")))?;
        let call = grpc.unary(request, path, StrictProstCodec::<Req, Reply>::default());
        match tokio::time::timeout(self.timeout, call).await {
            Ok(reply) => reply.map(tonic::Response::into_inner),
            Err(_) => Err(unavailable(
                "writer_unreachable",
                format!(
                    "the writer's node at {address} did not answer within {:?}; retry with the same command_id",
                    self.timeout
                ),
            )),
        }
    }
}
