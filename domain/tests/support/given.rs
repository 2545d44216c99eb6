//! Given / when / then, in the style of cqrs-es' `TestFramework` and disintegrate's
//! `TestHarness`: a history (given), one command (when), and what must come of it (then).
//!
//! The history is a [`World`]: built command by command with its helpers
//! ([`World::standard`], [`World::customer_in`], [`World::ok`]…), or folded from events
//! with [`given`]. [`World::when`] decides one command against it; the [`Then`] it returns
//! says what must have come of it:
//!
//! - [`Then::then`]: accepted, with exactly these events;
//! - [`Then::then_nothing`]: accepted, with no event (it asked for what already holds);
//! - [`Then::then_types`] / [`Then::then_accepted`]: accepted, for a closer look at the
//!   events it returns;
//! - [`Then::then_error`]: refused, of this class and for this reason;
//!   [`Then::then_refused`]: refused, for a closer look at the error.
//!
//! An accepted command is folded into the world, so a test can go on; a refused one must
//! have appended nothing and changed nothing, which every `then_error` checks.
//!
//! ```ignore
//! let mut world = World::standard();
//! let customer = world.customer_in(DEFAULT_POOL);
//! world
//!     .when(as_user(ALICE), claim(customer))
//!     .then([EventBody::CustomerClaimed(CustomerClaimed {
//!         customer_id: customer,
//!         pool_id: DEFAULT_POOL,
//!         owner: ALICE,
//!     })]);
//! ```

use poolkeeper_domain::*;

/// The classes `then_error` names, bare.
#[allow(unused_imports)]
pub use poolkeeper_domain::ErrorClass::{
    AlreadyExists, Conflict, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied,
    ResourceExhausted,
};

use super::{World, types};

/// Given: a world whose history is `events`, folded in order, its clock at the last
/// event's instant (or the harness's day 1).
pub fn given(events: impl IntoIterator<Item = Event>) -> World {
    let mut world = World::empty();
    for event in events {
        world.model.apply(&event);
        world.now = world.now.max(event.at);
        world.log.push(event);
    }
    world
}

impl World {
    /// When: `actor` issues `body`, against the world so far.
    pub fn when(&mut self, actor: Actor, body: CommandBody) -> Then<'_> {
        let command = Command::new(self.command_id(), actor, body);
        self.when_command(command)
    }

    /// When: `actor` issues `body` for a target at `expected_version`.
    pub fn when_expecting(
        &mut self,
        actor: Actor,
        expected_version: u64,
        body: CommandBody,
    ) -> Then<'_> {
        let command = Command {
            command_id: self.command_id(),
            actor,
            expected_version: Some(expected_version),
            body,
        };
        self.when_command(command)
    }

    /// When: a prepared command.
    pub fn when_command(&mut self, command: Command) -> Then<'_> {
        let before = self.model.clone();
        let log_len = self.log.len();
        let result = self.submit(&command);
        Then {
            world: self,
            command,
            before,
            log_len,
            result,
        }
    }
}

/// What came of one command; a `then_…` method says what must have.
#[must_use = "a command is only checked by one of the `then` methods"]
pub struct Then<'w> {
    world: &'w mut World,
    command: Command,
    before: WriteModel,
    log_len: usize,
    result: Result<Vec<Event>, DomainError>,
}

impl Then<'_> {
    /// Then: accepted, with exactly these event bodies, in order. Returns the events.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = EventBody>) -> Vec<Event> {
        let events = self.then_accepted();
        let bodies: Vec<EventBody> = events.iter().map(|event| event.body.clone()).collect();
        let expected: Vec<EventBody> = expected.into_iter().collect();
        assert_eq!(bodies, expected, "the events");
        events
    }

    /// Then: accepted, with no event: it asked for what already holds.
    #[track_caller]
    pub fn then_nothing(self) {
        let events = self.then_accepted();
        assert!(events.is_empty(), "{:?}", types(&events));
    }

    /// Then: accepted, with events of these types, in order. Returns the events.
    #[track_caller]
    pub fn then_types(self, expected: &[&str]) -> Vec<Event> {
        let events = self.then_accepted();
        assert_eq!(types(&events), expected);
        events
    }

    /// Then: accepted. Returns the events, for a closer look.
    #[track_caller]
    pub fn then_accepted(self) -> Vec<Event> {
        let Command { actor, body, .. } = &self.command;
        match self.result {
            Ok(events) => events,
            Err(error) => panic!("{} by {actor} was refused: {error}", body.name()),
        }
    }

    /// Then: refused, of `class`, for a `reason` (a test of the error, usually a
    /// `matches!`), having appended nothing and changed nothing. Returns the error.
    #[track_caller]
    pub fn then_error(
        self,
        class: ErrorClass,
        reason: impl FnOnce(&DomainError) -> bool,
    ) -> DomainError {
        let error = self.then_refused();
        assert!(reason(&error), "unexpected error: {error:?}");
        assert_eq!(error.class(), class, "class of {error:?}");
        error
    }

    /// Then: refused, having appended nothing and changed nothing. Returns the error, for a
    /// closer look.
    #[track_caller]
    pub fn then_refused(self) -> DomainError {
        let Command { actor, body, .. } = &self.command;
        match self.result {
            Ok(events) => panic!("{} by {actor} was accepted: {events:?}", body.name()),
            Err(error) => {
                assert_eq!(
                    self.world.log.len(),
                    self.log_len,
                    "a refused command appended events"
                );
                assert!(
                    self.world.model == self.before,
                    "a refused command changed the model"
                );
                error
            }
        }
    }
}

/// The reason of a refusal that is exactly `expected`.
pub fn exactly(expected: DomainError) -> impl FnOnce(&DomainError) -> bool {
    move |error| *error == expected
}

/// The reason of a refusal for an invalid `field`.
pub fn invalid(field: &str) -> impl FnOnce(&DomainError) -> bool + '_ {
    move |error| matches!(error, DomainError::Invalid { field: named, .. } if named == field)
}
