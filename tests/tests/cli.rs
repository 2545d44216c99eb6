//! The operations commands in several organizations: `status` reports every one (against
//! a running server and on the data directory), and `verify`, `export` and `history` act
//! in the organization `--organization` names.

use std::path::Path;
use std::process::Command;

use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::command_service_client::CommandServiceClient;
use poolkeeper_proto::v1::organization_service_client::OrganizationServiceClient;
use poolkeeper_tests::command_id;
use poolkeeper_tests::process::{self, ServerProcess};

const EXE: &str = env!("CARGO_BIN_EXE_poolkeeper-under-test");

/// Runs `poolkeeper args…`; its stdout, after asserting it succeeded.
fn poolkeeper(args: &[&str]) -> String {
    let output = Command::new(EXE).args(args).output().expect("it runs");
    assert!(
        output.status.success(),
        "poolkeeper {args:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Creates organization `acme`; a customer owned by its admin in it, and one in
/// `default`: their names.
async fn two_organizations(server: &ServerProcess) -> (String, String, String) {
    let created = OrganizationServiceClient::new(server.credentials.on(server.channel.clone()))
        .create_organization(pb::CreateOrganizationRequest {
            command_id: command_id(),
            organization_id: "acme".into(),
            display_name: "Acme".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let customer = async |organization: &str, admin: &str, name: &str| {
        let credentials = server
            .credentials
            .in_organization(organization)
            .and_then(|c| c.acting_as(admin))
            .unwrap();
        CommandServiceClient::new(credentials.on(server.channel.clone()))
            .create_customer(pb::CreateCustomerRequest {
                command_id: command_id(),
                customer: Some(pb::NewCustomer {
                    display_name: name.into(),
                    keep: true,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .name
    };
    let in_acme = customer("acme", &created.admin_user, "Acme Customer").await;
    let in_default = customer("default", &server.admin, "Default Customer").await;
    (in_acme, in_default, created.admin_user)
}

fn rows_of<'a>(status: &'a str, organization: &str) -> Vec<&'a str> {
    status
        .lines()
        .filter(|line| line.split_whitespace().next() == Some(organization))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_commands_act_per_organization() {
    let dir = tempfile::tempdir().unwrap();
    let server = process::spawn(EXE, dir.path()).await;
    let (in_acme, in_default, acme_admin) = two_organizations(&server).await;
    let remote = ["--server", &server.endpoint, "--token", &server.token];

    let status = poolkeeper(&[&["status"], &remote[..]].concat());
    assert_eq!(rows_of(&status, "default").len(), 5, "{status}");
    assert_eq!(rows_of(&status, "acme").len(), 5, "{status}");
    let verified = poolkeeper(&[&["verify", "--organization", "acme"], &remote[..]].concat());
    assert!(verified.contains("chain intact"), "{verified}");
    let history = poolkeeper(
        &[
            &["history", "--organization", "acme", in_acme.as_str()],
            &remote[..],
        ]
        .concat(),
    );
    assert!(history.contains(&acme_admin), "{history}");
    assert!(server.terminate().success());

    // The same on the data directory of the stopped server.
    let data_dir = dir.path().to_str().unwrap();
    let status = poolkeeper(&["status", "--data-dir", data_dir]);
    assert_eq!(rows_of(&status, "default").len(), 5, "{status}");
    assert_eq!(rows_of(&status, "acme").len(), 5, "{status}");
    let export = poolkeeper(&["export", "--organization", "acme", "--data-dir", data_dir]);
    let uuid = |name: &str| name.rsplit('/').next().unwrap().to_owned();
    assert!(
        export.contains(&uuid(&in_acme)),
        "acme's export holds its customer"
    );
    assert!(!export.contains(&uuid(&in_default)), "and not default's");
    let verified = poolkeeper(&["verify", "--organization", "acme", "--data-dir", data_dir]);
    assert!(verified.contains("chain intact"), "{verified}");
    let missing = Command::new(EXE)
        .args(["verify", "--organization", "ghost", "--data-dir", data_dir])
        .output()
        .unwrap();
    assert!(!missing.status.success(), "an organization without a log");
    assert!(no_lock_left_behind(dir.path()));
}

/// The offline commands release the directory: a server starts on it again.
fn no_lock_left_behind(dir: &Path) -> bool {
    std::fs::File::open(dir.join("LOCK"))
        .and_then(|lock| lock.try_lock().map_err(std::io::Error::other))
        .is_ok()
}
