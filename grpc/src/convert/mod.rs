//! Between protobuf messages and domain types, and from projection rows to replies.
//! Every parse failure is an INVALID_ARGUMENT naming the field. Resource names are
//! `customers/{uuid}`, `pools/{uuid}`, `users/{uuid}`; a bare UUID is accepted too.
//!
//! - [`names`]: ids and resource names, both ways
//! - [`time`]: instants, time ranges, points in the log, days
//! - [`pages`]: page sizes and tokens
//! - [`rules`]: pool rules and limits, pool modes, reclaim rules
//! - [`commands`]: CommandService requests into domain commands ([`IntoCommand`])
//! - [`customers`]: customer rows as messages, and the listings' parameters
//! - [`pools_and_users`]: pools and users as messages
//! - [`history`]: ownership history, abandon records and statistics as messages
//! - [`operations`]: log events, log verification, projection status and rebuilds

pub mod commands;
pub mod customers;
pub mod history;
pub mod names;
pub mod operations;
pub mod pages;
pub mod pools_and_users;
pub mod rules;
pub mod time;

pub use commands::*;
pub use customers::*;
pub use history::*;
pub use names::*;
pub use operations::*;
pub use pages::*;
pub use pools_and_users::*;
pub use rules::*;
pub use time::*;
