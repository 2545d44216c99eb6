//! The poolkeeper gRPC service: the command writer, the reclaim scheduler, the tonic
//! services and the server runtime. This is the only crate that knows protobuf; it maps
//! requests to domain commands, domain errors to gRPC statuses, and projection rows to
//! query replies.

pub mod auth;
pub mod cli;
pub mod client;
pub mod clock;
pub mod codec;
pub mod config;
pub mod convert;
pub mod data_dir;
pub mod field_paths;
pub mod organizations;
pub mod protocol_errors;
pub mod scheduler;
pub mod seen;
pub mod server;
pub mod services;
pub mod status;
pub mod telemetry;
pub mod web;
pub mod writer;
