//! The `poolkeeper.v1` gRPC API: messages, clients and servers generated from the protos
//! beside this crate. This is the only crate that knows protobuf's wire types; the `grpc`
//! crate maps them to and from the domain.

#![allow(missing_docs)]

pub mod codec;

/// Generated code of package `poolkeeper.v1`.
pub mod v1 {
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("poolkeeper.v1");
}

/// The encoded file descriptor set of every proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/poolkeeper_descriptor.bin"));
