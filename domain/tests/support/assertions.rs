//! Looking closer at what a command did: the body of an event, the only event, the
//! auto-assignments among events, and the customer's deadline, ownership and who may see
//! it.

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

/// The auto-assignments among `events`.
pub fn auto_assigned(events: &[Event]) -> Vec<CustomerAutoAssigned> {
    events
        .iter()
        .filter_map(|event| match &event.body {
            EventBody::CustomerAutoAssigned(body) => Some(body.clone()),
            _ => None,
        })
        .collect()
}

/// The customer's next reclaim deadline and the rule that sets it.
pub fn deadline(world: &World, customer_id: CustomerId) -> Option<(DateTime<Utc>, RuleKind)> {
    world.model.customers[&customer_id]
        .deadline
        .map(|deadline| (deadline.at, deadline.rule))
}

/// The customer's ownership; it must be owned.
pub fn ownership(world: &World, customer_id: CustomerId) -> poolkeeper_domain::rules::Ownership {
    match world.state(customer_id) {
        CustomerState::Owned(ownership) => ownership.clone(),
        other => panic!("customer is {}, not owned", other.name()),
    }
}

/// What `viewer` may see of the customer.
pub fn access(world: &World, viewer: UserId, customer_id: CustomerId) -> Access {
    world.model.access(viewer, customer_id)
}
