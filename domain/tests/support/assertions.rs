//! Looking closer at what a command did: the body of an event, the only event, a refusal
//! of a kind and class, the auto-assignments among events, and the customer's deadline,
//! ownership and who may see it.

use chrono::{DateTime, Utc};
use poolkeeper_domain::event::{CustomerAutoAssigned, EventBody};
use poolkeeper_domain::permissions::Access;
use poolkeeper_domain::*;

use super::World;

/// The body of `$event`, which must be an `EventBody::$variant`.
#[allow(unused_macros)]
macro_rules! body {
    ($event:expr, $variant:ident) => {
        match &$event.body {
            EventBody::$variant(body) => body.clone(),
            other => panic!(
                "expected {}, got {}",
                stringify!($variant),
                other.event_type()
            ),
        }
    };
}
#[allow(unused_imports)]
pub(crate) use body;

/// The body of the only event in `$events`, which must be an `EventBody::$variant`.
#[allow(unused_macros)]
macro_rules! only {
    ($events:expr, $variant:ident) => {{
        let events: &[Event] = &$events;
        assert_eq!(
            events.len(),
            1,
            "expected exactly one event, got {:?}",
            types(events)
        );
        body!(events[0], $variant)
    }};
}
#[allow(unused_imports)]
pub(crate) use only;

/// Asserts the error matches the pattern and belongs to the class; returns it.
#[allow(unused_macros)]
macro_rules! refused {
    ($error:expr, $pattern:pat $(if $guard:expr)?, $class:ident) => {{
        let error: DomainError = $error;
        assert!(
            matches!(&error, $pattern $(if $guard)?),
            "unexpected error: {error:?}"
        );
        assert_eq!(error.class(), ErrorClass::$class, "class of {error:?}");
        error
    }};
}
#[allow(unused_imports)]
pub(crate) use refused;

pub fn auto_assigned(events: &[Event]) -> Vec<CustomerAutoAssigned> {
    events
        .iter()
        .filter_map(|event| match &event.body {
            EventBody::CustomerAutoAssigned(body) => Some(body.clone()),
            _ => None,
        })
        .collect()
}

/// Submits `body` with an expected version. A refusal must leave everything unchanged.
pub fn submit_expecting(
    world: &mut World,
    actor: Actor,
    expected_version: u64,
    body: CommandBody,
) -> Result<Vec<Event>, DomainError> {
    let before = world.model.clone();
    let log_len = world.log.len();
    let command = Command {
        command_id: world.command_id(),
        actor,
        expected_version: Some(expected_version),
        body,
    };
    let result = world.submit(&command);
    if result.is_err() {
        assert_eq!(world.log.len(), log_len);
        assert!(world.model == before, "a refused command changed the model");
    }
    result
}

pub fn deadline(world: &World, customer_id: CustomerId) -> Option<(DateTime<Utc>, RuleKind)> {
    world.model.customers[&customer_id]
        .deadline
        .map(|deadline| (deadline.at, deadline.rule))
}

pub fn ownership(world: &World, customer_id: CustomerId) -> poolkeeper_domain::rules::Ownership {
    match world.state(customer_id) {
        CustomerState::Owned(ownership) => ownership.clone(),
        other => panic!("customer is {}, not owned", other.name()),
    }
}

pub fn access(world: &World, viewer: UserId, customer_id: CustomerId) -> Access {
    world.model.access(viewer, customer_id)
}
