//! Ids and resource names, both ways: `customers/{uuid}`, `pools/{uuid}`, `users/{uuid}`
//! (a bare UUID is accepted too), command and follow-up ids.

use std::collections::BTreeSet;

use poolkeeper_domain::{Actor, CommandId, CustomerId, FollowUpId, PoolId, StreamRef, UserId};
use tonic::Status;
use uuid::Uuid;

use crate::status::{invalid, quoted};

/// Parses `prefix/{uuid}` or a bare UUID.
pub fn parse_uuid(field: &str, value: &str, prefix: &str) -> Result<Uuid, Status> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(invalid(field, "is required"));
    }
    let id = trimmed
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(trimmed);
    match Uuid::parse_str(id) {
        Ok(uuid) if !uuid.is_nil() => Ok(uuid),
        Ok(_) => Err(invalid(field, "must not be the nil UUID")),
        Err(_) => Err(invalid(
            field,
            format!("must be `{prefix}/{{uuid}}`, got {}", quoted(trimmed)),
        )),
    }
}

/// A required customer name.
pub fn customer(field: &str, value: &str) -> Result<CustomerId, Status> {
    parse_uuid(field, value, "customers").map(CustomerId)
}

/// A required pool name.
pub fn pool(field: &str, value: &str) -> Result<PoolId, Status> {
    parse_uuid(field, value, "pools").map(PoolId)
}

/// A required user name.
pub fn user(field: &str, value: &str) -> Result<UserId, Status> {
    parse_uuid(field, value, "users").map(UserId)
}

/// An optional pool name (empty means none).
pub fn optional_pool(field: &str, value: &str) -> Result<Option<PoolId>, Status> {
    if value.trim().is_empty() {
        Ok(None)
    } else {
        pool(field, value).map(Some)
    }
}

/// An optional user name (empty means none).
pub fn optional_user(field: &str, value: &str) -> Result<Option<UserId>, Status> {
    if value.trim().is_empty() {
        Ok(None)
    } else {
        user(field, value).map(Some)
    }
}

/// The command id: a UUID chosen by the caller (`commands/{uuid}` is accepted too, but
/// the API documents and names the bare UUID).
pub fn command_id(value: &str) -> Result<CommandId, Status> {
    let trimmed = value.trim();
    let id = trimmed.strip_prefix("commands/").unwrap_or(trimmed);
    match Uuid::parse_str(id) {
        Ok(uuid) if !uuid.is_nil() => Ok(CommandId(uuid)),
        Ok(_) => Err(invalid("command_id", "must not be the nil UUID")),
        Err(_) if trimmed.is_empty() => Err(invalid("command_id", "is required (a UUID)")),
        Err(_) => Err(invalid(
            "command_id",
            format!("must be a UUID, got {}", quoted(trimmed)),
        )),
    }
}

/// A caller-chosen id, or a fresh UUID v7 when empty.
pub fn chosen_or_new(field: &str, value: &str, prefix: &str) -> Result<Uuid, Status> {
    if value.trim().is_empty() {
        Ok(Uuid::now_v7())
    } else {
        parse_uuid(field, value, prefix)
    }
}

/// A follow-up id chosen by the caller, or a fresh one.
pub fn follow_up_id(value: &str) -> Result<FollowUpId, Status> {
    chosen_or_new("follow_up_id", value, "followUps").map(FollowUpId)
}

/// The elements of the repeated field `field`, each parsed by `parse` with its path
/// (`field[index]`).
pub fn repeated<T, U, C: FromIterator<U>>(
    field: &str,
    items: impl IntoIterator<Item = T>,
    mut parse: impl FnMut(&str, T) -> Result<U, Status>,
) -> Result<C, Status> {
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| parse(&format!("{field}[{index}]"), item))
        .collect()
}

/// A list of user names.
pub fn users(field: &str, values: &[String]) -> Result<BTreeSet<UserId>, Status> {
    repeated(field, values, |field, name| user(field, name))
}

/// `customers/{id}`.
pub fn customer_name(id: CustomerId) -> String {
    format!("customers/{id}")
}

/// `pools/{id}`.
pub fn pool_name(id: PoolId) -> String {
    format!("pools/{id}")
}

/// `users/{id}`.
pub fn user_name(id: UserId) -> String {
    format!("users/{id}")
}

/// An optional user as a name, empty when none.
pub fn optional_user_name(id: Option<UserId>) -> String {
    id.map(user_name).unwrap_or_default()
}

/// The acting user's name, empty when the system or a rule acted.
pub fn actor_user_name(actor: Actor) -> String {
    optional_user_name(actor.user())
}

/// The API's name of the resource behind a stream.
pub fn resource_name(stream: StreamRef) -> String {
    match stream {
        StreamRef::Customer(id) => customer_name(id),
        StreamRef::Pool(id) => pool_name(id),
        StreamRef::User(id) => user_name(id),
        StreamRef::Organization => "organization".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bare_uuids_parse_and_garbage_names_its_field() {
        let id = Uuid::now_v7();
        assert_eq!(
            customer("customer", &format!("customers/{id}")).unwrap().0,
            id
        );
        assert_eq!(customer("customer", &id.to_string()).unwrap().0, id);
        let status = customer("customer", "customers/not-a-uuid").unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains("customer"));
        assert_eq!(
            customer("customer", "").unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            command_id(&Uuid::nil().to_string()).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }
}
