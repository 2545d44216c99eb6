//! Organizations over gRPC: two companies in one server, with the same user and pool
//! names, each behind its own token. Every RPC is tried across the boundary with both
//! tokens, and nothing of one ever appears in the other's replies, streams or exports.

use poolkeeper_grpc::auth::{OrganizationGrant, Scope, TokenConfig};
use poolkeeper_grpc::client::{AuthedChannel, Credentials};
use poolkeeper_grpc::organizations::OrganizationId;
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::admin_service_client::AdminServiceClient;
use poolkeeper_proto::v1::audit_service_client::AuditServiceClient;
use poolkeeper_proto::v1::command_service_client::CommandServiceClient;
use poolkeeper_proto::v1::query_service_client::QueryServiceClient;
use poolkeeper_tests::{Harness, command_id, new_customer, raw, reason};
use prost_reflect::DescriptorPool;
use tonic::Code;

const PLATFORM: &str = "platform-token";

/// One organization as its own token sees it.
struct Company {
    id: &'static str,
    token: &'static str,
    admin: String,
    pool: String,
    alice: String,
    customer: String,
}

impl Company {
    fn credentials(&self, harness: &Harness, user: &str) -> AuthedChannel {
        Credentials::new(self.token)
            .and_then(|c| c.in_organization(self.id))
            .and_then(|c| c.acting_as(user))
            .expect("ascii credentials")
            .on(harness.channel.clone())
    }

    fn commands(&self, harness: &Harness) -> CommandServiceClient<AuthedChannel> {
        CommandServiceClient::new(self.credentials(harness, &self.admin))
    }

    fn queries(&self, harness: &Harness) -> QueryServiceClient<AuthedChannel> {
        QueryServiceClient::new(self.credentials(harness, &self.admin))
    }

    fn audit(&self, harness: &Harness) -> AuditServiceClient<AuthedChannel> {
        AuditServiceClient::new(self.credentials(harness, "system"))
    }

    /// The ids (UUIDs) this company created.
    fn ids(&self) -> Vec<String> {
        [&self.admin, &self.pool, &self.alice, &self.customer]
            .iter()
            .map(|name| name.rsplit('/').next().unwrap_or_default().to_owned())
            .collect()
    }
}

fn token(name: &str, token: &str, organizations: Vec<OrganizationGrant>) -> TokenConfig {
    TokenConfig {
        name: name.into(),
        token: token.into(),
        scopes: Scope::ALL.to_vec(),
        organizations,
    }
}

fn only(id: &str) -> Vec<OrganizationGrant> {
    vec![OrganizationGrant::One(OrganizationId::parse(id).unwrap())]
}

/// A server with a platform token and one token per company, and both companies set up
/// alike: a user `Alice`, a pool `Leads`, a customer `Same Name Co` owned by Alice.
async fn two_companies() -> (Harness, Company, Company) {
    let harness = Harness::start_with(|config| {
        config.tokens = vec![
            token("platform", PLATFORM, vec![OrganizationGrant::All]),
            token("acme", "acme-token", only("acme")),
            token("globex", "globex-token", only("globex")),
        ];
    })
    .await;
    let acme = company(&harness, "acme", "acme-token").await;
    let globex = company(&harness, "globex", "globex-token").await;
    (harness, acme, globex)
}

async fn company(harness: &Harness, id: &'static str, token: &'static str) -> Company {
    let created = harness
        .organizations()
        .create_organization(pb::CreateOrganizationRequest {
            command_id: command_id(),
            organization_id: id.into(),
            display_name: format!("{id} Ltd."),
        })
        .await
        .expect("the platform token creates an organization")
        .into_inner();
    let mut company = Company {
        id,
        token,
        admin: created.admin_user,
        pool: String::new(),
        alice: String::new(),
        customer: String::new(),
    };
    let mut commands = company.commands(harness);
    company.alice = commands
        .create_user(pb::CreateUserRequest {
            command_id: command_id(),
            display_name: "Alice".into(),
            ..Default::default()
        })
        .await
        .expect("create Alice")
        .into_inner()
        .name;
    company.pool = commands
        .create_pool(pb::CreatePoolRequest {
            command_id: command_id(),
            display_name: "Leads".into(),
            mode: pb::PoolMode::FreeClaim as i32,
            everyone: true,
            ..Default::default()
        })
        .await
        .expect("create Leads")
        .into_inner()
        .name;
    company.customer = commands
        .create_customer(pb::CreateCustomerRequest {
            command_id: command_id(),
            parent: company.pool.clone(),
            customer: Some(pb::NewCustomer {
                display_name: "Same Name Co".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("create the customer")
        .into_inner()
        .name;
    commands
        .assign_customer(pb::AssignCustomerRequest {
            command_id: command_id(),
            customer: company.customer.clone(),
            assignee: company.alice.clone(),
            ..Default::default()
        })
        .await
        .expect("assign the customer to Alice");
    company
}

/// Every unary method of the organization-scoped services, from the descriptor set.
fn unary_methods() -> Vec<String> {
    let pool = DescriptorPool::decode(poolkeeper_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut paths = Vec::new();
    for service in pool.services() {
        if service.name() == "OrganizationService" || !service.full_name().starts_with("poolkeeper")
        {
            continue;
        }
        for method in service.methods() {
            if !method.is_client_streaming() && !method.is_server_streaming() {
                paths.push(format!("/{}/{}", service.full_name(), method.name()));
            }
        }
    }
    assert!(
        paths.len() > 40,
        "the four services' unary methods: {paths:?}"
    );
    paths
}

fn assert_unknown_organization(status: &tonic::Status, what: &str) {
    assert_eq!(status.code(), Code::NotFound, "{what}: {status:?}");
    assert_eq!(reason(status), "unknown_organization", "{what}: {status:?}");
}

#[tokio::test]
async fn a_token_gets_not_found_for_every_rpc_in_another_organization() {
    let (harness, acme, globex) = two_companies().await;
    for path in unary_methods() {
        for (me, other) in [(&acme, &globex), (&globex, &acme)] {
            let answer = raw::unary_in(
                &harness.channel,
                me.token,
                &me.admin,
                Some(other.id),
                &path,
                Vec::new(),
            )
            .await;
            let status = answer.expect_err(&path);
            assert_unknown_organization(&status, &format!("{} in {}: {path}", me.id, other.id));
            // Without an organization a call acts in `default`, which neither token names.
            let answer = raw::unary_in(
                &harness.channel,
                me.token,
                &me.admin,
                None,
                &path,
                Vec::new(),
            )
            .await;
            assert_unknown_organization(&answer.expect_err(&path), &path);
        }
    }
    // The streaming RPCs, too.
    let intruder = Company {
        id: globex.id,
        ..acme
    };
    let mut audit = intruder.audit(&harness);
    let status = audit
        .stream_events(pb::StreamEventsRequest::default())
        .await
        .expect_err("StreamEvents across the boundary");
    assert_unknown_organization(&status, "StreamEvents");
    let status = audit
        .export_log(pb::ExportLogRequest {
            from_position: 1,
            ..Default::default()
        })
        .await
        .expect_err("ExportLog across the boundary");
    assert_unknown_organization(&status, "ExportLog");
    let mut admin = AdminServiceClient::new(intruder.credentials(&harness, "system"));
    let status = admin
        .rebuild_projection(pb::RebuildProjectionRequest::default())
        .await
        .expect_err("RebuildProjection across the boundary");
    assert_unknown_organization(&status, "RebuildProjection");
    let chunk = pb::ImportCustomersRequest {
        command_id: command_id(),
        customers: vec![pb::NewCustomer {
            display_name: "Smuggled".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let status = intruder
        .commands(&harness)
        .stream_import_customers(futures::stream::iter([chunk]))
        .await
        .expect_err("StreamImportCustomers across the boundary");
    assert_unknown_organization(&status, "StreamImportCustomers");
}

#[tokio::test]
async fn another_organizations_ids_are_not_found_inside_ones_own() {
    let (harness, acme, globex) = two_companies().await;
    let mut queries = acme.queries(&harness);
    let status = queries
        .get_customer(pb::GetCustomerRequest {
            name: globex.customer.clone(),
            min_position: 0,
        })
        .await
        .expect_err("globex's customer in acme");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = queries
        .get_pool(pb::GetPoolRequest {
            name: globex.pool.clone(),
            ..Default::default()
        })
        .await
        .expect_err("globex's pool in acme");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = queries
        .get_user(pb::GetUserRequest {
            name: globex.alice.clone(),
            ..Default::default()
        })
        .await
        .expect_err("globex's user in acme");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let before = harness_tail(&harness, &acme).await;
    let mut commands = acme.commands(&harness);
    let status = commands
        .transfer_customer(pb::TransferCustomerRequest {
            command_id: command_id(),
            customer: acme.customer.clone(),
            new_owner: globex.alice.clone(),
            ..Default::default()
        })
        .await
        .expect_err("transferring to globex's user");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = commands
        .reclaim_customer(pb::ReclaimCustomerRequest {
            command_id: command_id(),
            customer: globex.customer.clone(),
            ..Default::default()
        })
        .await
        .expect_err("reclaiming globex's customer");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    // Acting as globex's admin inside acme: that user does not exist there.
    let mut impostor = CommandServiceClient::new(acme.credentials(&harness, &globex.admin));
    let status = impostor
        .create_customer(new_customer("Impostor Co"))
        .await
        .expect_err("globex's admin acting in acme");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(
        harness_tail(&harness, &acme).await,
        before,
        "nothing appended"
    );
}

async fn harness_tail(harness: &Harness, company: &Company) -> u64 {
    let report = company
        .audit(harness)
        .verify_log(pb::VerifyLogRequest {})
        .await
        .expect("verify")
        .into_inner();
    assert!(report.intact, "{}: {report:?}", company.id);
    report.tail
}

#[tokio::test]
async fn each_organization_reads_streams_and_exports_only_its_own() {
    let (harness, acme, globex) = two_companies().await;
    let acme_tail = harness_tail(&harness, &acme).await;
    let globex_tail = harness_tail(&harness, &globex).await;
    assert_eq!(
        acme_tail, globex_tail,
        "alike workloads, positions from 1 in each"
    );
    for (me, other) in [(&acme, &globex), (&globex, &acme)] {
        let mut export = Vec::new();
        let mut chunks = me
            .audit(&harness)
            .export_log(pb::ExportLogRequest {
                from_position: 1,
                ..Default::default()
            })
            .await
            .expect("export")
            .into_inner();
        while let Some(chunk) = chunks.message().await.unwrap() {
            export.extend(chunk.jsonl);
        }
        let export = String::from_utf8(export).unwrap();
        assert_eq!(export.lines().count() as u64, acme_tail);
        assert!(export.lines().next().unwrap().contains("\"position\":1"));
        let mut events = me
            .audit(&harness)
            .stream_events(pb::StreamEventsRequest::default())
            .await
            .expect("stream")
            .into_inner();
        let mut streamed = String::new();
        for position in 1..=acme_tail {
            let event = events.message().await.unwrap().expect("an event");
            assert_eq!(event.position, position);
            streamed.push_str(&format!("{event:?}"));
        }
        let pools = me
            .queries(&harness)
            .list_pools(pb::ListPoolsRequest {
                min_position: acme_tail,
            })
            .await
            .unwrap()
            .into_inner();
        let customers = me
            .queries(&harness)
            .list_pool_customers(pb::ListPoolCustomersRequest {
                pool: me.pool.clone(),
                view: pb::PoolView::Claimed as i32,
                min_position: acme_tail,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(customers.customers.len(), 1);
        let replies = format!("{pools:?}{customers:?}");
        for id in me.ids() {
            assert!(
                export.contains(&id),
                "{}'s export names its own {id}",
                me.id
            );
        }
        for id in other.ids() {
            assert!(!export.contains(&id), "{}'s export names {id}", me.id);
            assert!(!streamed.contains(&id), "{}'s stream names {id}", me.id);
            assert!(!replies.contains(&id), "{}'s replies name {id}", me.id);
        }
    }
}

#[tokio::test]
async fn a_deactivated_organization_is_readable_and_takes_no_command() {
    let (harness, acme, globex) = two_companies().await;
    let tail = harness_tail(&harness, &globex).await;
    let deactivated = harness
        .organizations()
        .deactivate_organization(pb::DeactivateOrganizationRequest {
            command_id: command_id(),
            name: "organizations/globex".into(),
            ..Default::default()
        })
        .await
        .expect("the platform token deactivates")
        .into_inner();
    assert_eq!(deactivated.state, pb::OrganizationState::Deactivated as i32);
    let status = globex
        .commands(&harness)
        .create_customer(new_customer("Too Late Co"))
        .await
        .expect_err("a command in a deactivated organization");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason(&status), "organization_deactivated");
    let customer = globex
        .queries(&harness)
        .get_customer(pb::GetCustomerRequest {
            name: globex.customer.clone(),
            min_position: 0,
        })
        .await
        .expect("its data stays readable")
        .into_inner();
    assert_eq!(customer.display_name, "Same Name Co");
    assert_eq!(
        harness_tail(&harness, &globex).await,
        tail,
        "nothing appended"
    );
    acme.commands(&harness)
        .create_customer(new_customer("Still Open Co"))
        .await
        .expect("the other organization takes commands");
    // A company's token cannot create, deactivate or see another organization.
    let mut own = poolkeeper_proto::v1::organization_service_client::OrganizationServiceClient::new(
        acme.credentials(&harness, "system"),
    );
    let listed = own
        .list_organizations(pb::ListOrganizationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = listed
        .organizations
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(names, ["organizations/acme"]);
    let status = own
        .get_organization(pb::GetOrganizationRequest {
            name: "organizations/globex".into(),
        })
        .await
        .expect_err("another organization");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = own
        .create_organization(pb::CreateOrganizationRequest {
            command_id: command_id(),
            organization_id: "initech".into(),
            display_name: "Initech".into(),
        })
        .await
        .expect_err("creating needs a token for all");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // After a restart the catalog still knows both, and globex stays deactivated.
    let harness = harness.restart(poolkeeper_tests::t0()).await;
    let status = globex
        .commands(&harness)
        .create_customer(new_customer("Too Late Co"))
        .await
        .expect_err("still deactivated after a restart");
    assert_eq!(reason(&status), "organization_deactivated");
    assert_eq!(harness_tail(&harness, &globex).await, tail);
}

#[tokio::test]
async fn only_a_token_for_every_organization_moves_the_shared_clock() {
    let (harness, acme, _globex) = two_companies().await;
    let mut admin = AdminServiceClient::new(acme.credentials(&harness, "system"));
    let status = admin
        .set_clock(pb::SetClockRequest {
            change: Some(pb::set_clock_request::Change::AdvanceSeconds(60)),
        })
        .await
        .expect_err("one organization's token");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(reason(&status), "platform_token_required");
    admin
        .get_clock(pb::GetClockRequest {})
        .await
        .expect("reading the clock is allowed");
    harness.advance(60).await;
}
