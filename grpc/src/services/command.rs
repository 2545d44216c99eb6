//! CommandService: one RPC per domain command. Each handler parses its request into a
//! [`CommandBody`] (every malformed field is an INVALID_ARGUMENT before anything reaches
//! the writer), submits it through the [`CommandWriter`], and answers with the target's
//! new version and the log position.

use std::collections::BTreeMap;

use futures::StreamExt;
use poolkeeper_domain::command::{NewCustomer, ProtectionWindow};
use poolkeeper_domain::{Command, CommandBody, CustomerId, PoolId, StreamRef, UserId};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::command_service_server::CommandService;
use tonic::{Request, Response, Status, Streaming};

use crate::auth;
use crate::codec;
use crate::convert;
use crate::field_paths::FieldPaths;
use crate::status::{IntoStatus, Refused, invalid, resource_exhausted, resource_name};
use crate::writer::{CommandWriter, Outcome};

/// The CommandService implementation.
#[derive(Clone)]
pub struct CommandApi {
    writer: CommandWriter,
    max_import: usize,
}

impl CommandApi {
    /// Commands go through `writer`; imports take at most `max_import` customers.
    pub fn new(writer: CommandWriter, max_import: usize) -> Self {
        Self { writer, max_import }
    }

    /// Submits `body` for the request's acting user and reports on `target`.
    async fn run<T>(
        &self,
        request: &Request<T>,
        command_id: &str,
        expected_version: Option<u64>,
        target: StreamRef,
        body: CommandBody,
    ) -> Result<Response<pb::CommandResult>, Status> {
        let command_id = convert::command_id(command_id)?;
        let actor = auth::actor(request)?;
        let paths = FieldPaths::of(&body);
        let command = Command {
            command_id,
            actor,
            expected_version,
            body,
        };
        let outcome = self
            .writer
            .submit(command, auth::correlation_id(request)?)
            .await
            .map_err(|error| {
                Refused {
                    error,
                    target: Some(target),
                    paths,
                }
                .into_status()
            })?;
        Ok(Response::new(self.result(target, &outcome)))
    }

    /// The reply naming `target`, or what the command created: a retried create names
    /// what the first one created, whatever the retry's request says.
    fn result(&self, target: StreamRef, outcome: &Outcome) -> pb::CommandResult {
        let target = outcome.created.first().copied().unwrap_or(target);
        let stream = target.to_string();
        let version = outcome
            .version_of(&stream)
            .unwrap_or_else(|| codec::stream_version(&self.writer.model(), target));
        pb::CommandResult {
            name: resource_name(target),
            version,
            position: outcome.last_position,
            first_position: outcome.first_position,
            event_types: outcome.event_types.clone(),
            duplicate: outcome.duplicate,
        }
    }

    /// Runs a command on the request's customer; `body` builds it from the message and
    /// the customer's id.
    async fn on_customer<M: CustomerRequest>(
        &self,
        request: Request<M>,
        body: impl FnOnce(M, CustomerId) -> Result<CommandBody, Status>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        let (meta, message) = split(request);
        let (command_id, expected_version) =
            (message.command_id().to_owned(), message.expected_version());
        let customer_id = convert::customer("customer", message.customer())?;
        let body = body(message, customer_id)?;
        self.run(
            &meta,
            &command_id,
            expected_version,
            StreamRef::Customer(customer_id),
            body,
        )
        .await
    }

    async fn import(
        &self,
        request: &Request<()>,
        command_id: &str,
        parent: &str,
        customers: Vec<pb::NewCustomer>,
    ) -> Result<Response<pb::ImportCustomersResult>, Status> {
        let command_id = convert::command_id(command_id)?;
        let pool_id = convert::optional_pool("parent", parent)?;
        if customers.is_empty() {
            return Err(invalid("customers", "must hold at least one customer"));
        }
        if customers.len() > self.max_import {
            return Err(too_many(self.max_import, customers.len()));
        }
        let customers = customers
            .into_iter()
            .enumerate()
            .map(|(index, customer)| {
                new_customer(&format!("customers[{index}]"), pool_id, customer)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let actor = auth::actor(request)?;
        let body = CommandBody::ImportCustomers { customers };
        let paths = FieldPaths::of(&body);
        let command = Command::new(command_id, actor, body);
        let outcome = self
            .writer
            .submit(command, auth::correlation_id(request)?)
            .await
            .map_err(|error| {
                Refused {
                    error,
                    target: None,
                    paths,
                }
                .into_status()
            })?;
        let names = outcome.created.iter().map(|c| resource_name(*c)).collect();
        let auto_assigned = outcome
            .event_types
            .iter()
            .filter(|t| *t == "customer.auto_assigned")
            .count();
        Ok(Response::new(pb::ImportCustomersResult {
            names,
            first_position: outcome.first_position,
            position: outcome.last_position,
            auto_assigned: u32::try_from(auto_assigned).unwrap_or(u32::MAX),
            duplicate: outcome.duplicate,
        }))
    }
}

/// The status of an import larger than `max` customers.
fn too_many(max: usize, customers: usize) -> Status {
    resource_exhausted(
        "import_too_large",
        "",
        format!("an import holds at most {max} customers, this one has {customers}"),
    )
}

fn new_customer(
    field: &str,
    pool_id: Option<PoolId>,
    customer: pb::NewCustomer,
) -> Result<NewCustomer, Status> {
    let customer_id = CustomerId(convert::chosen_or_new(
        &format!("{field}.customer_id"),
        &customer.customer_id,
        "customers",
    )?);
    Ok(NewCustomer {
        customer_id,
        pool_id,
        name: customer.display_name,
        source: (!customer.source.trim().is_empty()).then_some(customer.source),
        fields: customer.fields.into_iter().collect::<BTreeMap<_, _>>(),
        keep: customer.keep,
    })
}

/// A request that changes one customer.
trait CustomerRequest {
    /// The command id.
    fn command_id(&self) -> &str;
    /// The expected version of the customer, if any.
    fn expected_version(&self) -> Option<u64>;
    /// The customer's name.
    fn customer(&self) -> &str;
}

macro_rules! customer_requests {
    ($($message:ident),* $(,)?) => {$(
        impl CustomerRequest for pb::$message {
            fn command_id(&self) -> &str {
                &self.command_id
            }
            fn expected_version(&self) -> Option<u64> {
                self.expected_version
            }
            fn customer(&self) -> &str {
                &self.customer
            }
        }
    )*};
}

customer_requests!(
    AssignCustomerRequest,
    ClaimCustomerRequest,
    RequestClaimRequest,
    ApproveClaimRequest,
    RejectClaimRequest,
    AbandonCustomerRequest,
    ReclaimCustomerRequest,
    TransferCustomerRequest,
    FreezeCustomerRequest,
    UnfreezeCustomerRequest,
    MoveCustomerRequest,
    DeleteCustomerRequest,
    RestoreCustomerRequest,
    LogFollowUpRequest,
    CommentFollowUpRequest,
    MarkWonRequest,
    ExtendProtectionRequest,
    ShareCustomerRequest,
);

fn optional_text(value: String) -> Option<String> {
    (!value.trim().is_empty()).then_some(value)
}

/// Splits a request into its metadata-only twin (for the actor) and its message.
fn split<T>(request: Request<T>) -> (Request<()>, T) {
    let (metadata, extensions, message) = request.into_parts();
    (Request::from_parts(metadata, extensions, ()), message)
}

#[tonic::async_trait]
impl CommandService for CommandApi {
    async fn create_customer(
        &self,
        request: Request<pb::CreateCustomerRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        let (meta, message) = split(request);
        let pool_id = convert::optional_pool("parent", &message.parent)?;
        let customer = message
            .customer
            .ok_or_else(|| invalid("customer", "is required"))?;
        let new = new_customer("customer", pool_id, customer)?;
        let target = StreamRef::Customer(new.customer_id);
        self.run(
            &meta,
            &message.command_id,
            message.expected_version,
            target,
            CommandBody::CreateCustomer(new),
        )
        .await
    }

    async fn import_customers(
        &self,
        request: Request<pb::ImportCustomersRequest>,
    ) -> Result<Response<pb::ImportCustomersResult>, Status> {
        let (meta, message) = split(request);
        self.import(
            &meta,
            &message.command_id,
            &message.parent,
            message.customers,
        )
        .await
    }

    async fn stream_import_customers(
        &self,
        request: Request<Streaming<pb::ImportCustomersRequest>>,
    ) -> Result<Response<pb::ImportCustomersResult>, Status> {
        let (meta, mut chunks) = split(request);
        let Some(first) = chunks.next().await.transpose()? else {
            return Err(invalid("customers", "the stream carried no chunk"));
        };
        let (command_id, parent, mut customers) = (first.command_id, first.parent, first.customers);
        while let Some(chunk) = chunks.next().await.transpose()? {
            customers.extend(chunk.customers);
            if customers.len() > self.max_import {
                return Err(too_many(self.max_import, customers.len()));
            }
        }
        self.import(&meta, &command_id, &parent, customers).await
    }

    async fn assign_customer(
        &self,
        request: Request<pb::AssignCustomerRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |m, customer_id| {
            let assignee = convert::user("assignee", &m.assignee)?;
            let protection = match (
                convert::optional_instant("protection_start", &m.protection_start)?,
                convert::optional_instant("protection_end", &m.protection_end)?,
            ) {
                (None, None) => None,
                (Some(start), Some(end)) => Some(ProtectionWindow { start, end }),
                _ => {
                    return Err(invalid(
                        "protection_end",
                        "protection_start and protection_end go together",
                    ));
                }
            };
            Ok(CommandBody::Assign {
                customer_id,
                assignee,
                protection,
            })
        })
        .await
    }

    async fn claim_customer(
        &self,
        request: Request<pb::ClaimCustomerRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |_, customer_id| {
            Ok(CommandBody::Claim { customer_id })
        })
        .await
    }

    async fn request_claim(
        &self,
        request: Request<pb::RequestClaimRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |_, customer_id| {
            Ok(CommandBody::RequestClaim { customer_id })
        })
        .await
    }

    async fn approve_claim(
        &self,
        request: Request<pb::ApproveClaimRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |_, customer_id| {
            Ok(CommandBody::ApproveClaim { customer_id })
        })
        .await
    }

    async fn reject_claim(
        &self,
        request: Request<pb::RejectClaimRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |m, customer_id| {
            Ok(CommandBody::RejectClaim {
                customer_id,
                reason: optional_text(m.reason),
            })
        })
        .await
    }

    async fn abandon_customer(
        &self,
        request: Request<pb::AbandonCustomerRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |m, customer_id| {
            if m.reason.trim().is_empty() {
                return Err(invalid("reason", "an abandon needs a reason"));
            }
            let return_to = convert::optional_pool("return_to", &m.return_to)?;
            Ok(CommandBody::Abandon {
                customer_id,
                reason: m.reason,
                return_to,
            })
        })
        .await
    }

    async fn reclaim_customer(
        &self,
        request: Request<pb::ReclaimCustomerRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |m, customer_id| {
            Ok(CommandBody::Reclaim {
                customer_id,
                reason: optional_text(m.reason),
            })
        })
        .await
    }

    async fn transfer_customer(
        &self,
        request: Request<pb::TransferCustomerRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |m, customer_id| {
            let new_owner = convert::user("new_owner", &m.new_owner)?;
            Ok(CommandBody::Transfer {
                customer_id,
                new_owner,
                reason: optional_text(m.reason),
            })
        })
        .await
    }

    async fn freeze_customer(
        &self,
        request: Request<pb::FreezeCustomerRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |m, customer_id| {
            Ok(CommandBody::Freeze {
                customer_id,
                reason: optional_text(m.reason),
            })
        })
        .await
    }

    async fn unfreeze_customer(
        &self,
        request: Request<pb::UnfreezeCustomerRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |_, customer_id| {
            Ok(CommandBody::Unfreeze { customer_id })
        })
        .await
    }

    async fn move_customer(
        &self,
        request: Request<pb::MoveCustomerRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |m, customer_id| {
            let destination_pool = convert::pool("destination_pool", &m.destination_pool)?;
            Ok(CommandBody::Move {
                customer_id,
                destination_pool,
            })
        })
        .await
    }

    async fn delete_customer(
        &self,
        request: Request<pb::DeleteCustomerRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |_, customer_id| {
            Ok(CommandBody::Delete { customer_id })
        })
        .await
    }

    async fn restore_customer(
        &self,
        request: Request<pb::RestoreCustomerRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |_, customer_id| {
            Ok(CommandBody::Restore { customer_id })
        })
        .await
    }

    async fn log_follow_up(
        &self,
        request: Request<pb::LogFollowUpRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |m, customer_id| {
            let follow_up_id = convert::follow_up_id(&m.follow_up_id)?;
            let kind = convert::follow_up_kind(m.kind)?;
            Ok(CommandBody::LogFollowUp {
                customer_id,
                follow_up_id,
                kind,
                note: m.note,
            })
        })
        .await
    }

    async fn comment_follow_up(
        &self,
        request: Request<pb::CommentFollowUpRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |m, customer_id| {
            let follow_up_id = poolkeeper_domain::FollowUpId(convert::parse_uuid(
                "follow_up_id",
                &m.follow_up_id,
                "followUps",
            )?);
            Ok(CommandBody::CommentFollowUp {
                customer_id,
                follow_up_id,
                comment: m.comment,
            })
        })
        .await
    }

    async fn mark_won(
        &self,
        request: Request<pb::MarkWonRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |_, customer_id| {
            Ok(CommandBody::MarkWon { customer_id })
        })
        .await
    }

    async fn extend_protection(
        &self,
        request: Request<pb::ExtendProtectionRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |m, customer_id| {
            let until = convert::optional_instant("protection_end", &m.protection_end)?
                .ok_or_else(|| invalid("protection_end", "is required"))?;
            Ok(CommandBody::ExtendProtection { customer_id, until })
        })
        .await
    }

    async fn share_customer(
        &self,
        request: Request<pb::ShareCustomerRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        self.on_customer(request, |m, customer_id| {
            Ok(CommandBody::Share {
                customer_id,
                department: m.department,
            })
        })
        .await
    }

    async fn create_pool(
        &self,
        request: Request<pb::CreatePoolRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        let (meta, m) = split(request);
        let pool_id = PoolId(convert::chosen_or_new("pool_id", &m.pool_id, "pools")?);
        let body = CommandBody::CreatePool {
            pool_id,
            name: m.display_name,
            mode: convert::pool_mode("mode", m.mode)?,
            admins: convert::users("admins", &m.admins)?,
            members: convert::users("members", &m.members)?,
            everyone: m.everyone,
            default: m.default,
            rules: convert::pool_rules(&m.rules)?,
        };
        self.run(&meta, &m.command_id, None, StreamRef::Pool(pool_id), body)
            .await
    }

    async fn set_pool_mode(
        &self,
        request: Request<pb::SetPoolModeRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        let (meta, m) = split(request);
        let pool_id = convert::pool("pool", &m.pool)?;
        let body = CommandBody::SetPoolMode {
            pool_id,
            mode: convert::pool_mode("mode", m.mode)?,
        };
        self.run(
            &meta,
            &m.command_id,
            m.expected_version,
            StreamRef::Pool(pool_id),
            body,
        )
        .await
    }

    async fn set_pool_admins(
        &self,
        request: Request<pb::SetPoolAdminsRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        let (meta, m) = split(request);
        let pool_id = convert::pool("pool", &m.pool)?;
        let body = CommandBody::SetPoolAdmins {
            pool_id,
            admins: convert::users("admins", &m.admins)?,
        };
        self.run(
            &meta,
            &m.command_id,
            m.expected_version,
            StreamRef::Pool(pool_id),
            body,
        )
        .await
    }

    async fn set_pool_members(
        &self,
        request: Request<pb::SetPoolMembersRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        let (meta, m) = split(request);
        let pool_id = convert::pool("pool", &m.pool)?;
        let body = CommandBody::SetPoolMembers {
            pool_id,
            members: convert::users("members", &m.members)?,
            everyone: m.everyone,
        };
        self.run(
            &meta,
            &m.command_id,
            m.expected_version,
            StreamRef::Pool(pool_id),
            body,
        )
        .await
    }

    async fn set_pool_rules(
        &self,
        request: Request<pb::SetPoolRulesRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        let (meta, m) = split(request);
        let pool_id = convert::pool("pool", &m.pool)?;
        let body = CommandBody::SetPoolRules {
            pool_id,
            rules: convert::pool_rules(&m.rules)?,
        };
        self.run(
            &meta,
            &m.command_id,
            m.expected_version,
            StreamRef::Pool(pool_id),
            body,
        )
        .await
    }

    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        let (meta, m) = split(request);
        let user_id = UserId(convert::chosen_or_new("user_id", &m.user_id, "users")?);
        let body = CommandBody::CreateUser {
            user_id,
            name: m.display_name,
            superior: convert::optional_user("superior", &m.superior)?,
            department: optional_text(m.department),
            admin: m.admin,
        };
        self.run(&meta, &m.command_id, None, StreamRef::User(user_id), body)
            .await
    }

    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        let (meta, m) = split(request);
        let user_id = convert::user("user", &m.user)?;
        let body = CommandBody::UpdateUser {
            user_id,
            name: m.display_name,
            superior: convert::optional_user("superior", &m.superior)?,
            department: optional_text(m.department),
            admin: m.admin,
        };
        self.run(
            &meta,
            &m.command_id,
            m.expected_version,
            StreamRef::User(user_id),
            body,
        )
        .await
    }

    async fn deactivate_user(
        &self,
        request: Request<pb::DeactivateUserRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        let (meta, m) = split(request);
        let user_id = convert::user("user", &m.user)?;
        let successor = convert::optional_user("successor", &m.successor)?;
        let body = CommandBody::DeactivateUser { user_id, successor };
        self.run(
            &meta,
            &m.command_id,
            m.expected_version,
            StreamRef::User(user_id),
            body,
        )
        .await
    }

    async fn set_organization_settings(
        &self,
        request: Request<pb::SetOrganizationSettingsRequest>,
    ) -> Result<Response<pb::CommandResult>, Status> {
        let (meta, m) = split(request);
        let body = CommandBody::SetOrganizationSettings {
            overall_cap: convert::overall_cap(&m.overall_cap)?,
            day_offset_minutes: m.day_offset_minutes,
        };
        self.run(
            &meta,
            &m.command_id,
            m.expected_version,
            StreamRef::Organization,
            body,
        )
        .await
    }
}
