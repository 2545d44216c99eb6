//! `RevertOwnershipChange` and `RevertCommand`: undo by compensation. Unlike the other
//! commands these read the log before deciding: the change at a position, or every
//! ownership change of one command, becomes the domain's `RevertChanges` with each event
//! as recorded (position and stream version), so the domain can check that nothing
//! changed since. A refusal because the customer changed since names the later change.

use poolkeeper_domain::command::RecordedChange;
use poolkeeper_domain::model::changes_state;
use poolkeeper_domain::{Command, CommandBody, CustomerId, DomainError, EventBody, StreamRef};
use poolkeeper_eventlog::{EventStore, RecordedEvent, StreamId};
use poolkeeper_proto::v1 as pb;
use tonic::{Request, Response, Status};

use std::collections::HashMap;

use super::command::{CommandApi, result};
use super::split;
use crate::auth;

use crate::convert::{self, customer_name};
use crate::field_paths::FieldPaths;
use crate::status::{IntoStatus, OrStatus, Refused, changed_since, internal, invalid, not_found};
use crate::writer::{CommandWriter, Outcome, WriteError};

impl CommandApi {
    /// Reverts the ownership change at the request's position.
    pub(super) async fn revert_change(
        &self,
        request: Request<pb::RevertOwnershipChangeRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        let (metadata, message) = split(request);
        let partition = self.partitions.for_command(&metadata).await?;
        if let Some(holder) = partition.holder() {
            let path = "/poolkeeper.v1.CommandService/RevertOwnershipChange";
            let reply = self.forward(holder, path, &metadata, message).await?;
            return Ok(Response::new(reply));
        }
        let command_id = convert::command_id(&message.command_id)?;
        if message.position == 0 {
            return Err(invalid(
                "position",
                "is required: the change's log position",
            ));
        }
        let store = partition.store().as_ref();
        let change = recorded_at(store, message.position).await?;
        let StreamRef::Customer(customer) = change.event.stream() else {
            return Err(not_revertible(&change));
        };
        let body = CommandBody::RevertChanges {
            changes: vec![change],
            reason: message.reason,
        };
        let command = Command::new(command_id, auth::actor(&metadata)?, body);
        let writer = partition.writer();
        let target = StreamRef::Customer(customer);
        let outcome = submit_revert(writer, store, &metadata, command, Some(target)).await?;
        Ok(Response::new(result(writer, target, &outcome)))
    }

    /// Reverts every ownership change of the request's command, all or none.
    pub(super) async fn revert_command_changes(
        &self,
        request: Request<pb::RevertCommandRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        let (metadata, message) = split(request);
        let partition = self.partitions.for_command(&metadata).await?;
        if let Some(holder) = partition.holder() {
            let path = "/poolkeeper.v1.CommandService/RevertCommand";
            let reply = self.forward(holder, path, &metadata, message).await?;
            return Ok(Response::new(reply));
        }
        let command_id = convert::command_id(&message.command_id)?;
        let reverted = uuid::Uuid::parse_str(message.reverted_command_id.trim())
            .map_err(|_| invalid("reverted_command_id", "must be a UUID"))?;
        let store = partition.store().as_ref();
        let outcome = store.command_outcome(reverted).await.or_status()?;
        let outcome =
            outcome.ok_or_else(|| not_found("command", format!("commands/{reverted}")))?;
        let count = (outcome.last_position + 1).saturating_sub(outcome.first_position) as usize;
        let mut changes = Vec::new();
        for recorded in store
            .read_all(outcome.first_position, count)
            .await
            .or_status()?
        {
            let change = recorded_change(recorded)?;
            if is_ownership_change(&change.event.body) {
                changes.push(change);
            }
        }
        let first = changes.first().map(|c| c.event.stream());
        let body = CommandBody::RevertChanges {
            changes,
            reason: message.reason,
        };
        let command = Command::new(command_id, auth::actor(&metadata)?, body);
        let writer = partition.writer();
        let outcome = submit_revert(writer, store, &metadata, command, first).await?;
        let target = first.unwrap_or(StreamRef::Organization);
        Ok(Response::new(result(writer, target, &outcome)))
    }
}

/// Whether an event changed its customer's state (what a command's revert reverses;
/// creations stay).
fn is_ownership_change(body: &EventBody) -> bool {
    !matches!(body, EventBody::CustomerCreated(_)) && changes_state(body)
}

/// The event at `position` as recorded; NOT_FOUND past the log's end.
async fn recorded_at(store: &dyn EventStore, position: u64) -> Result<RecordedChange, Status> {
    let mut found = store.read_all(position, 1).await.or_status()?;
    match found.pop() {
        Some(recorded) if recorded.position == position => recorded_change(recorded),
        _ => Err(not_found("event", format!("events/{position}"))),
    }
}

fn recorded_change(recorded: RecordedEvent) -> Result<RecordedChange, Status> {
    let event = poolkeeper_codec::decode(&recorded).map_err(|error| {
        internal(format!(
            "event {} does not decode: {error}",
            recorded.position
        ))
    })?;
    Ok(RecordedChange {
        event,
        position: recorded.position,
        stream_version: recorded.stream_version,
    })
}

fn not_revertible(change: &RecordedChange) -> Status {
    DomainError::NotRevertible {
        event: change.event.event_id,
        event_type: change.event.body.event_type(),
    }
    .into_status()
}

/// Submits a revert; a refusal because the customer changed since names the later change
/// (its position, event id and type).
async fn submit_revert(
    writer: &CommandWriter,
    store: &dyn EventStore,
    request: &Request<()>,
    command: Command,
    target: Option<StreamRef>,
) -> Result<Outcome, Status> {
    let paths = FieldPaths::of(&command.body);
    let error = match writer.submit(command, auth::correlation_id(request)?).await {
        Ok(outcome) => return Ok(outcome),
        Err(error) => error,
    };
    if let WriteError::Domain(DomainError::ChangedSince {
        customer,
        changed_version,
        ..
    }) = &error
        && let Some(later) = later_change(store, *customer, *changed_version).await
    {
        let name = customer_name(*customer);
        let message = format!(
            "{name} changed since: the {} at position {} (events/{}) came later, so the \
             change can no longer be reverted; revert that one first",
            later.event_type, later.position, later.event_id
        );
        let facts = HashMap::from([
            ("later_position".to_owned(), later.position.to_string()),
            ("later_event_id".to_owned(), later.event_id.to_string()),
            ("later_event_type".to_owned(), later.event_type),
        ]);
        return Err(changed_since(&name, message, facts));
    }
    Err(Refused {
        error,
        target,
        paths,
    }
    .into_status())
}

/// The event at `version` of the customer's stream.
async fn later_change(
    store: &dyn EventStore,
    customer: CustomerId,
    version: u64,
) -> Option<RecordedEvent> {
    let stream = StreamId::new(StreamRef::Customer(customer).to_string()).ok()?;
    let mut events = store.read_stream(&stream, version, 1).await.ok()?;
    events.pop()
}
