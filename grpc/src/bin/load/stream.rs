//! `--stream`: one `CommandService.Execute` stream creating customers as fast as the
//! server answers (each reply comes once its command is durable), as a nightly sync
//! from an ERP would; prints the stream's commands/s and the servers' CPU per command.

use std::time::Instant;

use poolkeeper_grpc::client::AuthedChannel;
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::command_service_client::CommandServiceClient;
use poolkeeper_proto::v1::execute_request::Command;
use poolkeeper_proto::v1::execute_response::Outcome;

use super::{Failure, command_id, cpu_micros, cpu_per_call, metric};

/// Sends `count` creations into `pool` on one stream and reads every reply.
pub async fn run(
    mut commands: CommandServiceClient<AuthedChannel>,
    pool: String,
    count: usize,
    server_pids: &[u32],
) -> Result<(), Failure> {
    let pids: Vec<String> = server_pids.iter().map(u32::to_string).collect();
    let server_before = cpu_micros(&pids);
    let requests = futures::stream::iter((0..count).map(move |n| pb::ExecuteRequest {
        command: Some(Command::CreateCustomer(pb::CreateCustomerRequest {
            command_id: command_id(),
            parent: pool.clone(),
            customer: Some(pb::NewCustomer {
                display_name: format!("同步客户 {n}"),
                ..Default::default()
            }),
            ..Default::default()
        })),
    }));
    let started = Instant::now();
    let mut replies = commands.execute(requests).await?.into_inner();
    let (mut done, mut refused) = (0usize, 0usize);
    while let Some(reply) = replies.message().await? {
        match reply.outcome {
            Some(Outcome::Result(_)) => done += 1,
            _ => refused += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    metric(
        "stream_commands_per_s",
        format!("{:.0}", (done + refused) as f64 / elapsed),
        "commands/s",
    );
    metric("stream_commands", done + refused, "commands");
    metric("stream_refused", refused, "commands");
    cpu_per_call("stream", "server", &pids, server_before, done + refused);
    Ok(())
}
