//! `CommandService.Execute`: many commands over one stream, for bulk callers. Each
//! command takes the unary path (`CommandApi::run_command`) with the
//! stream's credentials; up to [`IN_FLIGHT`] run at once, so the writer commits them in
//! large groups, and their outcomes go back in the order the commands came, each once
//! durable. A slow reader of the replies stops the reading of the commands.

use std::pin::Pin;
use std::sync::Arc;

use futures::stream::{FuturesOrdered, Stream, StreamExt};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::execute_response::Outcome;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tonic_types::StatusExt;

use super::command::CommandApi;
use super::split;
use crate::auth::{self, Caller};

/// Commands of one stream running at once.
pub const IN_FLIGHT: usize = 1024;

/// The replies of an `Execute` stream.
pub type ExecuteStream = Pin<Box<dyn Stream<Item = Result<pb::ExecuteResponse, Status>> + Send>>;

type Replies = mpsc::Sender<Result<pb::ExecuteResponse, Status>>;

impl CommandApi {
    /// Runs the stream's commands in a task of their own; their outcomes, in order.
    pub(super) async fn execute_stream(
        &self,
        request: Request<Streaming<pb::ExecuteRequest>>,
    ) -> Result<Response<ExecuteStream>, Status> {
        let (metadata, commands) = split(request);
        auth::organization(&metadata)?;
        let (replies, outcomes) = mpsc::channel(IN_FLIGHT);
        let api = self.clone();
        tokio::spawn(async move { api.run_stream(metadata, commands, replies).await });
        Ok(Response::new(Box::pin(ReceiverStream::new(outcomes))))
    }

    /// Reads commands while fewer than [`IN_FLIGHT`] are pending, and sends each outcome
    /// as soon as those before it are sent. A message that cannot be read ends the
    /// stream with its status, after the outcomes of the commands before it.
    async fn run_stream(
        self,
        metadata: Request<()>,
        mut commands: Streaming<pb::ExecuteRequest>,
        replies: Replies,
    ) {
        let mut pending = FuturesOrdered::new();
        let (mut index, mut reading, mut failed) = (0u64, true, None);
        loop {
            tokio::select! {
                incoming = commands.next(), if reading && pending.len() < IN_FLIGHT => {
                    match incoming {
                        Some(Ok(request)) => {
                            pending.push_back(self.execute_one(copy(&metadata), index, request));
                            index += 1;
                        }
                        Some(Err(status)) => (reading, failed) = (false, Some(status)),
                        None => reading = false,
                    }
                }
                Some(outcome) = pending.next(), if !pending.is_empty() => {
                    if replies.send(Ok(outcome)).await.is_err() {
                        return; // the caller went away
                    }
                }
                else => break,
            }
        }
        if let Some(status) = failed {
            let _ = replies.send(Err(status)).await;
        }
    }

    /// One command of the stream and its outcome.
    async fn execute_one(
        &self,
        metadata: Request<()>,
        index: u64,
        request: pb::ExecuteRequest,
    ) -> pb::ExecuteResponse {
        let outcome = match request.command {
            Some(command) => self.dispatch(metadata, command).await,
            None => Err(crate::status::invalid("command", "must hold a command")),
        };
        pb::ExecuteResponse {
            index,
            outcome: Some(match outcome {
                Ok(result) => Outcome::Result(result),
                Err(status) => Outcome::Refusal(refusal(&status)),
            }),
        }
    }
}

/// The stream's metadata and credentials, for one of its commands.
fn copy(metadata: &Request<()>) -> Request<()> {
    let mut request = Request::new(());
    *request.metadata_mut() = metadata.metadata().clone();
    if let Some(caller) = metadata.extensions().get::<Arc<Caller>>() {
        request.extensions_mut().insert(Arc::clone(caller));
    }
    if let Ok(organization) = auth::organization(metadata) {
        request.extensions_mut().insert(organization);
    }
    request
}

/// What the unary RPC's status carries, as a stream item.
fn refusal(status: &Status) -> pb::CommandRefusal {
    let reason = status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default();
    pb::CommandRefusal {
        code: status.code() as i32,
        message: status.message().to_owned(),
        reason,
        details: status.details().to_vec(),
    }
}

/// Calls the unary handler of `$variant`'s RPC for each command of the oneof.
macro_rules! execute_dispatch {
    ($($variant:ident;)*) => {
        impl CommandApi {
            async fn dispatch(
                &self,
                metadata: Request<()>,
                command: pb::execute_request::Command,
            ) -> Result<pb::CommandResult, Status> {
                use pb::execute_request::Command;
                let (metadata, extensions, ()) = metadata.into_parts();
                match command {
                    $(
                        Command::$variant(message) => {
                            let request = Request::from_parts(metadata, extensions, message);
                            self.run_command(request, stringify!($variant))
                                .await
                                .map(Response::into_inner)
                        }
                    )*
                }
            }
        }
    };
}

execute_dispatch! {
    CreateCustomer;
    AssignCustomer;
    ClaimCustomer;
    RequestClaim;
    ApproveClaim;
    RejectClaim;
    AbandonCustomer;
    ReclaimCustomer;
    TransferCustomer;
    FreezeCustomer;
    UnfreezeCustomer;
    MoveCustomer;
    DeleteCustomer;
    RestoreCustomer;
    PurgeCustomer;
    LogFollowUp;
    CommentFollowUp;
    MarkWon;
    ExtendProtection;
    ShareCustomer;
    CreatePool;
    SetPoolMode;
    SetPoolAdmins;
    SetPoolMembers;
    SetPoolRules;
    CreateUser;
    UpdateUser;
    DeactivateUser;
    SetOrganizationSettings;
}
