//! `--organizations 1,4,64`: the concurrent phase once per count, its clients spread
//! round robin over that many fresh organizations (each with its own pool, customers and
//! users), to show organizations committing side by side. With several servers (nodes),
//! organization k is created and seeded through server k, and its clients are spread
//! round robin over all of them.

use std::time::Duration;

use poolkeeper_grpc::client::{self, Credentials};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::admin_service_client::AdminServiceClient;
use poolkeeper_proto::v1::command_service_client::CommandServiceClient;
use poolkeeper_proto::v1::organization_service_client::OrganizationServiceClient;
use poolkeeper_proto::v1::query_service_client::QueryServiceClient;

use super::{Failure, Worker, catch_up, command_id, phase, seed, server_of};

/// What one organizations phase needs.
pub struct Spread<'a> {
    /// The servers; clients are spread round robin over them, seeding goes to the first.
    pub servers: &'a [String],
    /// A token for every organization (it creates them).
    pub credentials: &'a Credentials,
    /// Concurrent clients in all.
    pub clients: usize,
    /// Customers each client works on.
    pub per_client: usize,
    /// How long the phase runs.
    pub duration: Duration,
    /// The servers' process ids, for CPU per call.
    pub server_pids: &'a [u32],
}

impl Spread<'_> {
    /// Runs the concurrent phase with the clients spread over `organizations` new ones.
    pub async fn run(&self, organizations: usize) -> Result<(), Failure> {
        let organizations = organizations.clamp(1, self.clients);
        let run = uuid::Uuid::now_v7().simple().to_string();
        let mut workers = Vec::with_capacity(self.clients);
        let mut ids = Vec::with_capacity(organizations);
        for k in 0..organizations {
            // Created and seeded through server k: on several nodes, each takes the
            // writer's lease of its share of the organizations.
            let channel = client::connect(server_of(self.servers, k)).await?;
            let mut platform = OrganizationServiceClient::new(self.credentials.on(channel.clone()));
            let id = format!("load-{}-{organizations}-{k}", &run[run.len() - 8..]);
            let created = platform
                .create_organization(pb::CreateOrganizationRequest {
                    command_id: command_id(),
                    organization_id: id.clone(),
                    display_name: id.clone(),
                })
                .await?
                .into_inner();
            let in_org = self.credentials.in_organization(&id)?;
            let mut admin_commands = CommandServiceClient::new(
                in_org.acting_as(&created.admin_user)?.on(channel.clone()),
            )
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
            let count = (0..self.clients).filter(|n| n % organizations == k).count();
            let (customers, users) =
                seed(&mut admin_commands, count * self.per_client, count, false).await?;
            for j in 0..count {
                let connection = client::connect(server_of(self.servers, workers.len())).await?;
                let acting = in_org.acting_as(&users[j])?;
                workers.push(Worker {
                    commands: CommandServiceClient::new(acting.on(connection.clone())),
                    queries: QueryServiceClient::new(acting.on(connection)),
                    user: users[j].clone(),
                    next_user: users[(j + 1) % count].clone(),
                    unowned: customers[j * self.per_client..(j + 1) * self.per_client].to_vec(),
                    owned: Vec::new(),
                    rng: 0x9E37_79B9_7F4A_7C15 ^ ((k * self.clients + j) as u64 + 1),
                });
            }
            ids.push(in_org);
        }
        let channel = client::connect(server_of(self.servers, 0)).await?;
        for in_org in &ids {
            catch_up(&mut AdminServiceClient::new(in_org.on(channel.clone()))).await?;
        }
        let name = format!("organizations_{organizations}_clients_{}", self.clients);
        phase(&name, workers, self.duration, self.server_pids).await;
        Ok(())
    }
}
