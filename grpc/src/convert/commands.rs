//! Requests into domain commands: each CommandService request parses into the
//! [`CommandBody`] it asks for and the resource its reply names ([`IntoCommand`]). The
//! request's own fields are checked first, in the order they are written here; its
//! `command_id` after them.

use std::collections::BTreeMap;

use poolkeeper_domain::command::{NewCustomer, ProtectionWindow};
use poolkeeper_domain::event::FollowUpKind;
use poolkeeper_domain::{CommandBody, CustomerId, FollowUpId, PoolId, StreamRef, UserId};
use poolkeeper_proto::v1 as pb;
use tonic::Status;

use super::names::{
    self, chosen_or_new, follow_up_id, optional_pool, optional_user, parse_uuid, users,
};
use super::rules::{overall_cap, pool_mode, pool_rules};
use super::time::optional_instant;
use crate::status::invalid;

/// A command request parsed: what the writer decides, and what the reply names.
#[derive(Clone, Debug)]
pub struct CommandRequest {
    /// The command id as the caller wrote it (parsed after the command's own fields).
    pub command_id: String,
    /// The version of the target the command applies to, when the caller set one.
    pub expected_version: Option<u64>,
    /// The resource the reply names, unless the command creates one.
    pub target: StreamRef,
    /// The command.
    pub body: CommandBody,
}

impl CommandRequest {
    /// A request creating `target`: there is no version of it to expect.
    fn create(command_id: String, target: StreamRef, body: CommandBody) -> Self {
        Self {
            command_id,
            expected_version: None,
            target,
            body,
        }
    }
}

/// A request message that runs one domain command.
pub trait IntoCommand {
    /// The request parsed; every malformed field is an INVALID_ARGUMENT naming it.
    fn into_command(self) -> Result<CommandRequest, Status>;
}

/// The commands on the resource a request names in its field `$field` (`customer`,
/// `pool` or `user`), parsed first into `$id`; `$body` builds the command from the
/// request `$m` and that id.
macro_rules! commands_on {
    ($($request:ident on $stream:ident($field:ident) => |$m:ident, $id:ident| $body:expr;)*) => {$(
        impl IntoCommand for pb::$request {
            fn into_command(self) -> Result<CommandRequest, Status> {
                let $m = self;
                let $id = names::$field(stringify!($field), &$m.$field)?;
                let body = $body;
                Ok(CommandRequest {
                    command_id: $m.command_id,
                    expected_version: $m.expected_version,
                    target: StreamRef::$stream($id),
                    body,
                })
            }
        }
    )*};
}

commands_on! {
    AssignCustomerRequest on Customer(customer) => |m, customer_id| CommandBody::Assign {
        customer_id,
        assignee: names::user("assignee", &m.assignee)?,
        protection: protection_window(&m)?,
    };
    ClaimCustomerRequest on Customer(customer) => |m, customer_id| CommandBody::Claim { customer_id };
    RequestClaimRequest on Customer(customer) => |m, customer_id| CommandBody::RequestClaim { customer_id };
    ApproveClaimRequest on Customer(customer) => |m, customer_id| CommandBody::ApproveClaim { customer_id };
    RejectClaimRequest on Customer(customer) => |m, customer_id| CommandBody::RejectClaim {
        customer_id,
        reason: optional_text(m.reason),
    };
    AbandonCustomerRequest on Customer(customer) => |m, customer_id| CommandBody::Abandon {
        customer_id,
        reason: abandon_reason(m.reason)?,
        return_to: optional_pool("return_to", &m.return_to)?,
    };
    ReclaimCustomerRequest on Customer(customer) => |m, customer_id| CommandBody::Reclaim {
        customer_id,
        reason: optional_text(m.reason),
    };
    TransferCustomerRequest on Customer(customer) => |m, customer_id| CommandBody::Transfer {
        customer_id,
        new_owner: names::user("new_owner", &m.new_owner)?,
        reason: optional_text(m.reason),
    };
    FreezeCustomerRequest on Customer(customer) => |m, customer_id| CommandBody::Freeze {
        customer_id,
        reason: optional_text(m.reason),
    };
    UnfreezeCustomerRequest on Customer(customer) => |m, customer_id| CommandBody::Unfreeze { customer_id };
    MoveCustomerRequest on Customer(customer) => |m, customer_id| CommandBody::Move {
        customer_id,
        destination_pool: names::pool("destination_pool", &m.destination_pool)?,
    };
    DeleteCustomerRequest on Customer(customer) => |m, customer_id| CommandBody::Delete { customer_id };
    RestoreCustomerRequest on Customer(customer) => |m, customer_id| CommandBody::Restore { customer_id };
    PurgeCustomerRequest on Customer(customer) => |m, customer_id| CommandBody::PurgeCustomer {
        customer_id,
        reason: m.reason,
        force: m.force,
    };
    LogFollowUpRequest on Customer(customer) => |m, customer_id| CommandBody::LogFollowUp {
        customer_id,
        follow_up_id: follow_up_id(&m.follow_up_id)?,
        kind: follow_up_kind(m.kind)?,
        note: m.note,
    };
    CommentFollowUpRequest on Customer(customer) => |m, customer_id| CommandBody::CommentFollowUp {
        customer_id,
        follow_up_id: FollowUpId(parse_uuid("follow_up_id", &m.follow_up_id, "followUps")?),
        comment: m.comment,
    };
    MarkWonRequest on Customer(customer) => |m, customer_id| CommandBody::MarkWon { customer_id };
    ExtendProtectionRequest on Customer(customer) => |m, customer_id| CommandBody::ExtendProtection {
        customer_id,
        until: optional_instant("protection_end", &m.protection_end)?
            .ok_or_else(|| invalid("protection_end", "is required"))?,
    };
    ShareCustomerRequest on Customer(customer) => |m, customer_id| CommandBody::Share {
        customer_id,
        department: m.department,
    };
    SetPoolModeRequest on Pool(pool) => |m, pool_id| CommandBody::SetPoolMode {
        pool_id,
        mode: pool_mode("mode", m.mode)?,
    };
    SetPoolAdminsRequest on Pool(pool) => |m, pool_id| CommandBody::SetPoolAdmins {
        pool_id,
        admins: users("admins", &m.admins)?,
    };
    SetPoolMembersRequest on Pool(pool) => |m, pool_id| CommandBody::SetPoolMembers {
        pool_id,
        members: users("members", &m.members)?,
        everyone: m.everyone,
    };
    SetPoolRulesRequest on Pool(pool) => |m, pool_id| CommandBody::SetPoolRules {
        pool_id,
        rules: pool_rules(&m.rules)?,
    };
    UpdateUserRequest on User(user) => |m, user_id| CommandBody::UpdateUser {
        user_id,
        name: m.display_name,
        superior: optional_user("superior", &m.superior)?,
        department: optional_text(m.department),
        admin: m.admin,
    };
    DeactivateUserRequest on User(user) => |m, user_id| CommandBody::DeactivateUser {
        user_id,
        successor: optional_user("successor", &m.successor)?,
    };
}

impl IntoCommand for pb::CreateCustomerRequest {
    fn into_command(self) -> Result<CommandRequest, Status> {
        let pool_id = optional_pool("parent", &self.parent)?;
        let customer = self
            .customer
            .ok_or_else(|| invalid("customer", "is required"))?;
        let new = new_customer("customer", pool_id, customer)?;
        Ok(CommandRequest {
            command_id: self.command_id,
            expected_version: self.expected_version,
            target: StreamRef::Customer(new.customer_id),
            body: CommandBody::CreateCustomer(new),
        })
    }
}

impl IntoCommand for pb::CreatePoolRequest {
    fn into_command(self) -> Result<CommandRequest, Status> {
        let pool_id = PoolId(chosen_or_new("pool_id", &self.pool_id, "pools")?);
        let body = CommandBody::CreatePool {
            pool_id,
            name: self.display_name,
            mode: pool_mode("mode", self.mode)?,
            admins: users("admins", &self.admins)?,
            members: users("members", &self.members)?,
            everyone: self.everyone,
            default: self.default,
            rules: pool_rules(&self.rules)?,
        };
        Ok(CommandRequest::create(
            self.command_id,
            StreamRef::Pool(pool_id),
            body,
        ))
    }
}

impl IntoCommand for pb::CreateUserRequest {
    fn into_command(self) -> Result<CommandRequest, Status> {
        let user_id = UserId(chosen_or_new("user_id", &self.user_id, "users")?);
        let body = CommandBody::CreateUser {
            user_id,
            name: self.display_name,
            superior: optional_user("superior", &self.superior)?,
            department: optional_text(self.department),
            admin: self.admin,
        };
        Ok(CommandRequest::create(
            self.command_id,
            StreamRef::User(user_id),
            body,
        ))
    }
}

impl IntoCommand for pb::SetOrganizationSettingsRequest {
    fn into_command(self) -> Result<CommandRequest, Status> {
        let body = CommandBody::SetOrganizationSettings {
            overall_cap: overall_cap(&self.overall_cap)?,
            day_offset_minutes: self.day_offset_minutes,
        };
        Ok(CommandRequest {
            command_id: self.command_id,
            expected_version: self.expected_version,
            target: StreamRef::Organization,
            body,
        })
    }
}

/// A new customer at `field` (`customer`, `customers[3]`), in `pool_id` (the default
/// pool when `None`).
pub fn new_customer(
    field: &str,
    pool_id: Option<PoolId>,
    customer: pb::NewCustomer,
) -> Result<NewCustomer, Status> {
    let customer_id = CustomerId(chosen_or_new(
        &format!("{field}.customer_id"),
        &customer.customer_id,
        "customers",
    )?);
    Ok(NewCustomer {
        customer_id,
        pool_id,
        name: customer.display_name,
        source: optional_text(customer.source),
        fields: customer.fields.into_iter().collect::<BTreeMap<_, _>>(),
        keep: customer.keep,
    })
}

/// AssignCustomer's explicit protection window: both ends or neither.
fn protection_window(
    request: &pb::AssignCustomerRequest,
) -> Result<Option<ProtectionWindow>, Status> {
    match (
        optional_instant("protection_start", &request.protection_start)?,
        optional_instant("protection_end", &request.protection_end)?,
    ) {
        (None, None) => Ok(None),
        (Some(start), Some(end)) => Ok(Some(ProtectionWindow { start, end })),
        _ => Err(invalid(
            "protection_end",
            "protection_start and protection_end go together",
        )),
    }
}

/// An abandon's reason, which it must give.
fn abandon_reason(reason: String) -> Result<String, Status> {
    if reason.trim().is_empty() {
        return Err(invalid("reason", "an abandon needs a reason"));
    }
    Ok(reason)
}

/// A follow-up kind; UNSPECIFIED is refused.
fn follow_up_kind(value: i32) -> Result<FollowUpKind, Status> {
    match pb::FollowUpKind::try_from(value) {
        Ok(pb::FollowUpKind::Call) => Ok(FollowUpKind::Call),
        Ok(pb::FollowUpKind::Visit) => Ok(FollowUpKind::Visit),
        Ok(pb::FollowUpKind::Message) => Ok(FollowUpKind::Message),
        Ok(pb::FollowUpKind::Note) => Ok(FollowUpKind::Note),
        _ => Err(invalid("kind", "must be CALL, VISIT, MESSAGE or NOTE")),
    }
}

/// Free text, `None` when blank.
fn optional_text(value: String) -> Option<String> {
    (!value.trim().is_empty()).then_some(value)
}
