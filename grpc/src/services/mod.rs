//! The gRPC services.

pub mod admin;
pub mod audit;
pub mod command;
pub mod query;
