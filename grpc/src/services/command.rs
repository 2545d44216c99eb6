//! CommandService: one RPC per domain command. Every command takes one path: its request
//! parses into a [`CommandBody`] and the resource it targets ([`IntoCommand`]; every
//! malformed field is an INVALID_ARGUMENT before anything reaches the writer), the
//! command is submitted through its organization's [`CommandWriter`] (found by
//! [`PartitionFinder`]), and the reply names the target's new version and the log
//! position. Imports take the same path with a reply of their own.
//!
//! A new command is a request message, a domain command, its [`IntoCommand`] in
//! `convert/commands.rs`, and one line in the table at the end of this file.

use futures::StreamExt;
use poolkeeper_domain::{Command, CommandBody, StreamRef};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::command_service_server::CommandService;
use tonic::{Request, Response, Status, Streaming};

use std::sync::Arc;
use std::time::Duration;

use super::forward::{Forwarder, was_forwarded};
use super::partitions::PartitionFinder;
use super::split;
use crate::auth;
use crate::codec;
use crate::convert::{self, CommandRequest, IntoCommand, resource_name};
use crate::field_paths::FieldPaths;
use crate::status::{IntoStatus, Refused, invalid, resource_exhausted, unavailable};
use crate::writer::{CommandWriter, Outcome};

/// The CommandService implementation.
#[derive(Clone)]
pub struct CommandApi {
    pub(super) partitions: PartitionFinder,
    max_import: usize,
    forwarder: Arc<Forwarder>,
}

impl CommandApi {
    /// Commands go through the writer of their organization's partition (forwarded to
    /// its node when another node holds its lease, of `lease`); imports take at most
    /// `max_import` customers.
    pub fn new(partitions: PartitionFinder, max_import: usize, lease: Duration) -> Self {
        Self {
            partitions,
            max_import,
            forwarder: Arc::new(Forwarder::new(lease)),
        }
    }

    /// Sends `message` to the node writing `partition`'s log (`path` is the RPC), unless
    /// it already came from another node: then this node lost the lease meanwhile.
    pub(super) async fn forward<M, Reply>(
        &self,
        holder: &str,
        path: &str,
        metadata: &Request<()>,
        message: M,
    ) -> Result<Reply, Status>
    where
        M: prost::Message + Send + 'static,
        Reply: prost::Message + Default + Send + 'static,
    {
        if was_forwarded(metadata.metadata()) {
            return Err(unavailable(
                "writer_moved",
                "the organization's writer moved; retry with the same command_id",
            ));
        }
        let address = self.partitions.writer_address(holder).await?;
        self.forwarder
            .forward(&address, path, metadata.metadata(), message)
            .await
    }

    /// The one path of every command: find the organization's writer (forwarding the
    /// request to its node when that is another one), parse, submit, reply. `rpc` names
    /// the method, for forwarding.
    pub(super) async fn run_command<M: IntoCommand + prost::Message + 'static>(
        &self,
        request: Request<M>,
        rpc: &str,
    ) -> Result<Response<pb::CommandResult>, Status> {
        let (metadata, message) = split(request);
        let partition = self.partitions.for_command(&metadata).await?;
        if let Some(holder) = partition.holder() {
            let path = format!("/poolkeeper.v1.CommandService/{rpc}");
            let reply = self.forward(holder, &path, &metadata, message).await?;
            return Ok(Response::new(reply));
        }
        let CommandRequest {
            command_id,
            expected_version,
            target,
            body,
        } = message.into_command()?;
        let command_id = convert::command_id(&command_id)?;
        let command = Command {
            command_id,
            actor: auth::actor(&metadata)?,
            expected_version,
            body,
        };
        let writer = partition.writer();
        let outcome = submit(writer, &metadata, command, Some(target)).await?;
        Ok(Response::new(result(writer, target, &outcome)))
    }

    /// Imports `customers` into the `parent` pool (the default pool when empty).
    async fn import(
        &self,
        request: &Request<()>,
        command_id: &str,
        parent: &str,
        customers: Vec<pb::NewCustomer>,
    ) -> Result<Response<pb::ImportCustomersResult>, Status> {
        let partition = self.partitions.for_command(request).await?;
        if let Some(holder) = partition.holder() {
            let message = pb::ImportCustomersRequest {
                command_id: command_id.to_string(),
                parent: parent.to_owned(),
                customers,
            };
            let path = "/poolkeeper.v1.CommandService/ImportCustomers";
            let reply = self.forward(holder, path, request, message).await?;
            return Ok(Response::new(reply));
        }
        let command_id = convert::command_id(command_id)?;
        let pool_id = convert::optional_pool("parent", parent)?;
        if customers.is_empty() {
            return Err(invalid("customers", "must hold at least one customer"));
        }
        self.check_import_size(customers.len())?;
        let customers = convert::repeated("customers", customers, |field, customer| {
            convert::new_customer(field, pool_id, customer)
        })?;
        let actor = auth::actor(request)?;
        let body = CommandBody::ImportCustomers { customers };
        let command = Command::new(command_id, actor, body);
        let outcome = submit(partition.writer(), request, command, None).await?;
        Ok(Response::new(import_result(&outcome)))
    }

    /// Refuses an import larger than `max_import` customers.
    fn check_import_size(&self, customers: usize) -> Result<(), Status> {
        if customers <= self.max_import {
            return Ok(());
        }
        let max = self.max_import;
        Err(resource_exhausted(
            "import_too_large",
            "",
            format!("an import holds at most {max} customers, this one has {customers}"),
        ))
    }

    async fn import_batch(
        &self,
        request: Request<pb::ImportCustomersRequest>,
    ) -> Result<Response<pb::ImportCustomersResult>, Status> {
        let (metadata, message) = split(request);
        let customers = message.customers;
        self.import(&metadata, &message.command_id, &message.parent, customers)
            .await
    }

    async fn import_stream(
        &self,
        request: Request<Streaming<pb::ImportCustomersRequest>>,
    ) -> Result<Response<pb::ImportCustomersResult>, Status> {
        let (metadata, mut chunks) = split(request);
        let Some(first) = chunks.next().await.transpose()? else {
            return Err(invalid("customers", "the stream carried no chunk"));
        };
        let (command_id, parent, mut customers) = (first.command_id, first.parent, first.customers);
        while let Some(chunk) = chunks.next().await.transpose()? {
            customers.extend(chunk.customers);
            self.check_import_size(customers.len())?;
        }
        self.import(&metadata, &command_id, &parent, customers)
            .await
    }
}

/// Submits `command` for the request to `writer` and waits until it is durable or
/// refused; a refusal names `target` and the request's field paths.
pub(super) async fn submit(
    writer: &CommandWriter,
    request: &Request<()>,
    command: Command,
    target: Option<StreamRef>,
) -> Result<Outcome, Status> {
    let paths = FieldPaths::of(&command.body);
    writer
        .submit(command, auth::correlation_id(request)?)
        .await
        .map_err(|error| {
            Refused {
                error,
                target,
                paths,
            }
            .into_status()
        })
}

/// The reply naming `target`, or what the command created: a retried create names what
/// the first one created, whatever the retry's request says.
pub(super) fn result(
    writer: &CommandWriter,
    target: StreamRef,
    outcome: &Outcome,
) -> pb::CommandResult {
    let target = outcome.created.first().copied().unwrap_or(target);
    let stream = target.to_string();
    let version = outcome
        .version_of(&stream)
        .unwrap_or_else(|| codec::stream_version(&writer.model(), target));
    pb::CommandResult {
        name: resource_name(target),
        version,
        position: outcome.last_position,
        first_position: outcome.first_position,
        event_types: outcome.event_types.clone(),
        duplicate: outcome.duplicate,
    }
}

/// An import's reply: what it created, in order, and how many it assigned at once.
fn import_result(outcome: &Outcome) -> pb::ImportCustomersResult {
    let auto_assigned = outcome
        .event_types
        .iter()
        .filter(|t| *t == "customer.auto_assigned")
        .count();
    pb::ImportCustomersResult {
        names: outcome.created.iter().map(|c| resource_name(*c)).collect(),
        first_position: outcome.first_position,
        position: outcome.last_position,
        auto_assigned: u32::try_from(auto_assigned).unwrap_or(u32::MAX),
        duplicate: outcome.duplicate,
    }
}

/// The CommandService: each line an RPC and its request, which runs on the one path of
/// [`CommandApi::run_command`]; the imports answer with their own reply, and `Execute`
/// runs a stream of them (`execute.rs`).
macro_rules! command_service {
    ($($rpc:ident($request:ident);)*) => {
        #[tonic::async_trait]
        impl CommandService for CommandApi {
            $(
                async fn $rpc(
                    &self,
                    request: Request<pb::$request>,
                ) -> Result<Response<pb::CommandResult>, Status> {
                    let rpc = stringify!($request).trim_end_matches("Request");
                    self.run_command(request, rpc).await
                }
            )*

            async fn import_customers(
                &self,
                request: Request<pb::ImportCustomersRequest>,
            ) -> Result<Response<pb::ImportCustomersResult>, Status> {
                self.import_batch(request).await
            }

            async fn stream_import_customers(
                &self,
                request: Request<Streaming<pb::ImportCustomersRequest>>,
            ) -> Result<Response<pb::ImportCustomersResult>, Status> {
                self.import_stream(request).await
            }

            async fn revert_ownership_change(
                &self,
                request: Request<pb::RevertOwnershipChangeRequest>,
            ) -> Result<Response<pb::CommandResult>, Status> {
                self.revert_change(request).await
            }

            async fn revert_command(
                &self,
                request: Request<pb::RevertCommandRequest>,
            ) -> Result<Response<pb::CommandResult>, Status> {
                self.revert_command_changes(request).await
            }

            type ExecuteStream = super::execute::ExecuteStream;

            async fn execute(
                &self,
                request: Request<Streaming<pb::ExecuteRequest>>,
            ) -> Result<Response<Self::ExecuteStream>, Status> {
                self.execute_stream(request).await
            }
        }
    };
}

command_service! {
    create_customer(CreateCustomerRequest);
    assign_customer(AssignCustomerRequest);
    claim_customer(ClaimCustomerRequest);
    request_claim(RequestClaimRequest);
    approve_claim(ApproveClaimRequest);
    reject_claim(RejectClaimRequest);
    abandon_customer(AbandonCustomerRequest);
    reclaim_customer(ReclaimCustomerRequest);
    transfer_customer(TransferCustomerRequest);
    freeze_customer(FreezeCustomerRequest);
    unfreeze_customer(UnfreezeCustomerRequest);
    move_customer(MoveCustomerRequest);
    delete_customer(DeleteCustomerRequest);
    restore_customer(RestoreCustomerRequest);
    purge_customer(PurgeCustomerRequest);
    log_follow_up(LogFollowUpRequest);
    comment_follow_up(CommentFollowUpRequest);
    mark_won(MarkWonRequest);
    extend_protection(ExtendProtectionRequest);
    share_customer(ShareCustomerRequest);
    create_pool(CreatePoolRequest);
    set_pool_mode(SetPoolModeRequest);
    set_pool_admins(SetPoolAdminsRequest);
    set_pool_members(SetPoolMembersRequest);
    set_pool_rules(SetPoolRulesRequest);
    create_user(CreateUserRequest);
    update_user(UpdateUserRequest);
    deactivate_user(DeactivateUserRequest);
    set_organization_settings(SetOrganizationSettingsRequest);
}
