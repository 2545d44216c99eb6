//! Raw gRPC calls: request bytes as given, to any method, with the harness's credentials.
//! For what a generated client cannot send (malformed messages, unknown methods) and for
//! requests built from the file descriptor set alone (`prost-reflect`).

use bytes::{Buf, BufMut};
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Status};

/// Bytes in, bytes out.
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> Self::Encoder {
        BytesCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesCodec
    }
}

impl Encoder for BytesCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

impl Decoder for BytesCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut bytes = vec![0; src.remaining()];
        src.copy_to_slice(&mut bytes);
        Ok(Some(bytes))
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

/// Calls the unary method at `path` (`/poolkeeper.v1.CommandService/CreateCustomer`) with
/// `body` as the message bytes, authenticated by `token` and acting as `user`.
pub async fn unary(
    channel: &Channel,
    token: &str,
    user: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<Vec<u8>, Status> {
    unary_in(channel, token, user, None, path, body).await
}

/// [`unary`] in `organization` (`x-poolkeeper-organization`; none: the default).
pub async fn unary_in(
    channel: &Channel,
    token: &str,
    user: &str,
    organization: Option<&str>,
    path: &str,
    body: Vec<u8>,
) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    let mut request = Request::new(body);
    let metadata = request.metadata_mut();
    let bearer: MetadataValue<_> = format!("Bearer {token}").parse().expect("ascii token");
    metadata.insert("authorization", bearer);
    metadata.insert("x-poolkeeper-user", user.parse().expect("ascii user"));
    if let Some(organization) = organization {
        let organization = organization.parse().expect("ascii organization");
        metadata.insert("x-poolkeeper-organization", organization);
    }
    let path = path.parse().expect("a method path");
    grpc.unary(request, path, BytesCodec)
        .await
        .map(tonic::Response::into_inner)
}
