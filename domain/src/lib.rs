//! The ownership model of poolkeeper: pure, synchronous, no IO.
//!
//! This crate decides who owns each customer. It knows nothing of SQL, tokio or protobuf
//! and never reads the wall clock: time arrives as an argument, from a [`Clock`] the
//! caller injects.
//!
//! - [`decide()`]: `decide(&WriteModel, &Command, now) -> Result<Vec<Event>, DomainError>`
//! - [`WriteModel::apply`]: `evolve`, folding one event into the write model
//! - [`model::next_state`]: the customer state machine, which the projections read too
//! - [`rules`]: pool rules and the reclaim-deadline arithmetic
//! - [`schedule::due`]: reclaims, reminders and escalations due now
//! - [`what_if`]: a dry run of proposed pool rules
//! - [`permissions`]: who may do and see what

pub mod assignment;
pub mod clock;
pub mod command;
pub mod decide;
pub mod error;
pub mod event;
pub mod ids;
pub mod model;
pub mod permissions;
pub mod rules;
pub mod schedule;
pub mod what_if;

pub use clock::{Clock, ManualClock};
pub use command::{Command, CommandBody, NewCustomer, ProtectionWindow};
pub use decide::decide;
pub use error::{CapScope, DomainError, ErrorClass};
pub use event::{Actor, Event, EventBody, StreamRef};
pub use ids::{CommandId, CustomerId, EventId, FollowUpId, PoolId, UserId};
pub use model::{CustomerState, CustomerStatus, WriteModel};
pub use rules::{PoolMode, PoolRules, RuleKind};
