//! Several nodes on one PostgreSQL database (a throwaway cluster): any node answers any
//! request. A command sent to a node that does not write its organization's log is
//! forwarded to the one that does; reads are served by every node from its own
//! projections, with `min_position` reading across nodes; when the writer's node stops,
//! another takes the organization over, and a retried command returns its first reply.

use poolkeeper_grpc::auth::{OrganizationGrant, Scope, TokenConfig};
use poolkeeper_proto::v1 as pb;
use poolkeeper_tests::{Harness, command_id, new_customer, postgres_database, reason};
use tonic::Code;

const TOKEN: &str = "cluster-token";

/// A node on `store` with the shared token and a two-second lease.
async fn node(store: &str) -> Harness {
    let store = store.to_owned();
    Harness::start_with(move |config| {
        config.store = Some(store);
        config.lease_seconds = 2;
        config.tokens = vec![TokenConfig {
            name: "cluster".into(),
            token: TOKEN.into(),
            scopes: Scope::ALL.to_vec(),
            organizations: vec![OrganizationGrant::All],
        }];
    })
    .await
}

/// Three nodes on one fresh database and its URL, or `None` where PostgreSQL tests are
/// skipped.
async fn three_nodes_on() -> Option<([Harness; 3], String)> {
    let store = postgres_database().await?;
    let nodes = [node(&store).await, node(&store).await, node(&store).await];
    Some((nodes, store))
}

async fn three_nodes() -> Option<[Harness; 3]> {
    Some(three_nodes_on().await?.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_takes_any_command_and_reads_its_writes() {
    let Some(([a, b, c], store)) = three_nodes_on().await else {
        return;
    };
    let admin = a.admin.clone();
    // Created through b and c, written by whichever node holds `default`'s lease (a, which
    // bootstrapped it and keeps it open).
    let created = b
        .commands(&admin)
        .create_customer(new_customer("Forwarded Co"))
        .await
        .expect("a command sent to a node that does not write is forwarded")
        .into_inner();
    let retried = c
        .commands(&admin)
        .create_customer(pb::CreateCustomerRequest {
            command_id: command_id(),
            ..new_customer("Second Co")
        })
        .await
        .expect("and from the third node")
        .into_inner();
    assert!(retried.position > created.position);
    for node in [&a, &b, &c] {
        let read = node
            .queries(&admin)
            .get_customer(pb::GetCustomerRequest {
                name: created.name.clone(),
                min_position: retried.position,
            })
            .await
            .expect("every node reads what another wrote, at min_position")
            .into_inner();
        assert_eq!(read.display_name, "Forwarded Co");
        assert_eq!(node.tail().await, a.tail().await, "one log, seen alike");
    }
    // A refusal comes back from the writer unchanged.
    let status = c
        .commands(&admin)
        .create_customer(new_customer("  "))
        .await
        .expect_err("a blank name");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // `poolkeeper status --store` names the three nodes, the writer of `default` and
    // each node's lag.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_poolkeeper-under-test"))
        .args(["status", "--store", &store, "--token", TOKEN])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}");
    assert_eq!(printed.matches("http://127.0.0.1:").count(), 3, "{printed}");
    let head = printed
        .lines()
        .find(|line| line.starts_with("default ") && line.contains("node-"))
        .unwrap_or_else(|| panic!("a writer of default: {printed}"));
    assert!(head.contains(&retried.position.to_string()), "{head}");
    let lags = printed
        .lines()
        .filter(|line| line.starts_with("default ") && !line.contains(" http"))
        .count();
    assert_eq!(lags, 1 + 3, "the head and a lag per node: {printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_created_on_one_node_is_served_and_retried_on_the_others() {
    let Some([a, b, c]) = three_nodes().await else {
        return;
    };
    let create = pb::CreateOrganizationRequest {
        command_id: command_id(),
        organization_id: "acme".into(),
        display_name: "Acme".into(),
    };
    let first = a
        .organizations()
        .create_organization(create.clone())
        .await
        .unwrap()
        .into_inner();
    let retried = b
        .organizations()
        .create_organization(create)
        .await
        .expect("a retry on another node")
        .into_inner();
    assert_eq!(retried.admin_user, first.admin_user);
    assert_eq!(retried.default_pool, first.default_pool);
    let c = c.in_organization("acme", &first);
    c.commands(&first.admin_user)
        .create_customer(new_customer("Acme Customer"))
        .await
        .expect("a third node serves the organization created on the first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_on_three_nodes_racing_for_one_customer_one_wins() {
    let Some(nodes) = three_nodes().await else {
        return;
    };
    let admin = nodes[0].admin.clone();
    let customer = nodes[1]
        .commands(&admin)
        .create_customer(new_customer("Contested Co"))
        .await
        .unwrap()
        .into_inner()
        .name;
    let mut users = Vec::new();
    for n in 0..50 {
        users.push(nodes[n % 3].user(&format!("sales {n}"), None).await);
    }
    let mut racers = Vec::new();
    for (n, user) in users.iter().enumerate() {
        let mut commands = nodes[n % 3].commands(user);
        let customer = customer.clone();
        racers.push(tokio::spawn(async move {
            commands
                .claim_customer(pb::ClaimCustomerRequest {
                    command_id: command_id(),
                    customer,
                    ..Default::default()
                })
                .await
        }));
    }
    let mut won = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => won += 1,
            Err(status) => assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one claim wins across the nodes");
}

/// A customer created through the writer's node and read at once on the others with the
/// reply's position as `min_position`, fifty times: the followers' visibility checks wait
/// for that position too (they used to answer NOT_FOUND while still reading the log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_position_holds_for_visibility_checks_on_every_node() {
    let Some([a, b, c]) = three_nodes().await else {
        return;
    };
    let admin = a.admin.clone();
    for n in 0..50 {
        let created = a
            .commands(&admin)
            .create_customer(new_customer(&format!("at once {n}")))
            .await
            .unwrap()
            .into_inner();
        for node in [&b, &c] {
            node.queries(&admin)
                .get_customer(pb::GetCustomerRequest {
                    name: created.name.clone(),
                    min_position: created.position,
                })
                .await
                .unwrap_or_else(|status| panic!("read {n} on a follower: {status:?}"));
        }
    }
}

/// An `Execute` stream sent to a node that does not write the organization: each
/// command is forwarded to the writer, the outcomes come back in the stream's order, and
/// a retry of the stream through a third node returns the first replies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_stream_on_any_node_reaches_the_writer_in_order() {
    use poolkeeper_proto::v1::execute_request::Command;
    use poolkeeper_proto::v1::execute_response::Outcome;
    let Some([a, b, c]) = three_nodes().await else {
        return;
    };
    let admin = a.admin.clone();
    a.commands(&admin)
        .create_customer(new_customer("the writer is a"))
        .await
        .unwrap();
    let requests: Vec<_> = (0..40)
        .map(|n| pb::ExecuteRequest {
            command: Some(Command::CreateCustomer(new_customer(&format!("流 {n}")))),
        })
        .collect();
    let mut outcomes = Vec::new();
    for node in [&b, &c] {
        let mut replies = node
            .commands(&admin)
            .execute(futures::stream::iter(requests.clone()))
            .await
            .unwrap()
            .into_inner();
        let mut results = Vec::new();
        while let Some(reply) = replies.message().await.unwrap() {
            assert_eq!(reply.index, results.len() as u64);
            match reply.outcome {
                Some(Outcome::Result(result)) => results.push(result),
                other => panic!("{other:?}"),
            }
        }
        outcomes.push(results);
    }
    let (first, retried) = (&outcomes[0], &outcomes[1]);
    assert_eq!(first.len(), 40);
    let mut positions: Vec<u64> = first.iter().map(|r| r.position).collect();
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(positions.len(), 40, "forty commands, each appended once");
    for (one, again) in first.iter().zip(retried) {
        assert!(again.duplicate && again.position == one.position && again.name == one.name);
    }
}

/// Eight salespeople with a cap of three, each sending eight claims at once through the
/// three nodes (64 claimers): each ends with exactly three, the rest are refused with
/// `cap_reached`, and only the winning claims are in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_hold_under_64_concurrent_claimers_spread_over_nodes() {
    let Some(nodes) = three_nodes().await else {
        return;
    };
    let mut users = Vec::new();
    for n in 0..8 {
        users.push(nodes[n % 3].user(&format!("sales {n}"), None).await);
    }
    let rules = pb::PoolRules {
        cap: Some(pb::Limit {
            value: 3,
            ..Default::default()
        }),
        ..Default::default()
    };
    let members: Vec<&str> = users.iter().map(String::as_str).collect();
    let pool = nodes[0]
        .pool(pb::PoolMode::FreeClaim, rules, &[], &members)
        .await;
    let mut customers = Vec::new();
    for n in 0..64 {
        customers.push(nodes[n % 3].customer(&pool, &format!("客户{n}")).await);
    }
    let before = nodes[2].tail().await;
    let claims = customers.iter().enumerate().map(|(n, customer)| {
        let user = users[n % users.len()].clone();
        let mut commands = nodes[n % 3].commands(&user);
        let customer = customer.clone();
        async move {
            let claimed = commands
                .claim_customer(pb::ClaimCustomerRequest {
                    command_id: command_id(),
                    customer,
                    ..Default::default()
                })
                .await;
            (user, claimed)
        }
    });
    let mut held = std::collections::HashMap::<String, u64>::new();
    for (user, claimed) in futures::future::join_all(claims).await {
        match claimed {
            Ok(_) => *held.entry(user).or_default() += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                assert_eq!(reason(&status), "cap_reached");
            }
        }
    }
    assert_eq!(held.len(), users.len(), "{held:?}");
    assert!(
        held.values().all(|&n| n == 3),
        "each holds its cap: {held:?}"
    );
    assert_eq!(
        nodes[1].tail().await,
        before + 24,
        "only the winning claims"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_writer_stops_another_node_takes_over_and_retries_return_the_first_reply() {
    let Some([a, b, c]) = three_nodes().await else {
        return;
    };
    let admin = a.admin.clone();
    let first = new_customer("Before Failover Co");
    let acknowledged = a
        .commands(&admin)
        .create_customer(first.clone())
        .await
        .unwrap()
        .into_inner();
    let tail = a.tail().await;
    a.server.stop().await.expect("the writer's node stops");
    let started = std::time::Instant::now();
    let after = b
        .commands(&admin)
        .create_customer(new_customer("After Failover Co"))
        .await
        .expect("another node takes the organization over")
        .into_inner();
    eprintln!("takeover after {:?}", started.elapsed());
    assert_eq!(after.position, tail + 1, "positions continue without a gap");
    let retry = c
        .commands(&admin)
        .create_customer(first)
        .await
        .expect("a retry on a third node")
        .into_inner();
    assert!(retry.duplicate);
    assert_eq!(retry.name, acknowledged.name);
    assert_eq!(retry.position, acknowledged.position);
    let report = c
        .audit()
        .verify_log(pb::VerifyLogRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        report.intact && report.events_checked == report.tail,
        "{report:?}"
    );
}
