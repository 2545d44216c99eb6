//! Purging a customer over gRPC: its personal fields never reach the log in plaintext,
//! a purge destroys its key and leaves `[purged]` everywhere (projections, rebuilds,
//! as-of reads, opened exports) while its ten owners, their abandons and the chain stay
//! exactly as they were, and after it no byte of the data directory holds the name, the
//! phone number or the note. Exports and streams deliver sealed fields, flagged, unless
//! the token holds `personal_data`.

use std::collections::HashMap;
use std::path::Path;

use futures::StreamExt;
use poolkeeper_eventlog_postgres::PostgresLogs;
use poolkeeper_grpc::auth::{OrganizationGrant, Scope, TokenConfig};
use poolkeeper_grpc::client::Credentials;
use poolkeeper_grpc::organizations::postgres_keys;
use poolkeeper_grpc::server::ServeOptions;
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::audit_service_client::AuditServiceClient;
use poolkeeper_tests::{Harness, command_id, reason};
use tonic::Code;

const NAME: &str = "王小明个体户-7f3c";
const PHONE: &str = "138-5555-0199";
const NOTE: &str = "通话记录-甲乙丙-9d21";
const AUDIT_ONLY: &str = "audit-only-token";

/// A server with a token of every scope, and one that may audit but not read
/// personal data.
async fn start() -> Harness {
    Harness::start_with(|config| {
        let token = |name: &str, token: &str, scopes: &[Scope]| TokenConfig {
            name: name.into(),
            token: token.into(),
            scopes: scopes.to_vec(),
            organizations: vec![OrganizationGrant::All],
        };
        config.tokens = vec![
            token("ops", "ops-token", &Scope::ALL),
            token("auditor", AUDIT_ONLY, &[Scope::Audit]),
        ];
    })
    .await
}

async fn purge(
    h: &Harness,
    user: &str,
    customer: &str,
    why: &str,
    force: bool,
) -> Result<pb::CommandResult, tonic::Status> {
    h.commands(user)
        .purge_customer(pb::PurgeCustomerRequest {
            command_id: command_id(),
            customer: customer.into(),
            reason: why.into(),
            force,
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Creates the customer with a name, a phone field and a region.
async fn personal_customer(h: &Harness, pool: &str) -> String {
    create_personal(h, pool).await.expect("create customer")
}

/// Asks to create the customer with a name, a phone field and a region.
async fn create_personal(h: &Harness, pool: &str) -> Result<String, tonic::Status> {
    h.commands(&h.admin)
        .create_customer(pb::CreateCustomerRequest {
            command_id: command_id(),
            parent: pool.into(),
            customer: Some(pb::NewCustomer {
                display_name: NAME.into(),
                fields: HashMap::from([
                    ("phone".into(), PHONE.into()),
                    ("region".into(), "华北".into()),
                ]),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map(|created| created.into_inner().name)
}

/// `user` logs a call about `customer` with the distinctive note.
async fn follow_up(h: &Harness, user: &str, customer: &str) -> Result<(), tonic::Status> {
    h.commands(user)
        .log_follow_up(pb::LogFollowUpRequest {
            command_id: command_id(),
            customer: customer.into(),
            follow_up_id: uuid::Uuid::now_v7().to_string(),
            kind: pb::FollowUpKind::Call as i32,
            note: NOTE.into(),
            ..Default::default()
        })
        .await
        .map(|_| ())
}

async fn abandon(h: &Harness, user: &str, customer: &str) {
    h.commands(user)
        .abandon_customer(pb::AbandonCustomerRequest {
            command_id: command_id(),
            customer: customer.into(),
            reason: "无意向".into(),
            ..Default::default()
        })
        .await
        .expect("abandon");
}

async fn history(
    h: &Harness,
    customer: &str,
    as_of: Option<prost_types::Timestamp>,
) -> pb::OwnershipHistory {
    h.queries(&h.admin)
        .get_ownership_history(pb::GetOwnershipHistoryRequest {
            customer: customer.into(),
            as_of,
            min_position: h.tail().await,
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner()
}

async fn abandon_records(h: &Harness, pool: &str) -> Vec<pb::AbandonRecord> {
    h.queries(&h.admin)
        .list_abandon_records(pb::ListAbandonRecordsRequest {
            pool: pool.into(),
            page_size: 100,
            min_position: h.tail().await,
            ..Default::default()
        })
        .await
        .expect("abandon records")
        .into_inner()
        .records
}

/// The whole log as exported with `token`, opened or not.
async fn export(
    h: &Harness,
    credentials: &Credentials,
    open: bool,
) -> Result<String, tonic::Status> {
    let mut stream = AuditServiceClient::new(credentials.on(h.channel.clone()))
        .export_log(pb::ExportLogRequest {
            from_position: 1,
            open_personal_data: open,
        })
        .await?
        .into_inner();
    let mut text = Vec::new();
    while let Some(chunk) = stream.next().await {
        text.extend(chunk?.jsonl);
    }
    Ok(String::from_utf8(text).expect("utf-8 lines"))
}

/// The export's `customer.created` line of `customer`.
fn created_line(export: &str, customer: &str) -> serde_json::Value {
    let id = customer.trim_start_matches("customers/");
    export
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON line"))
        .find(|line| {
            line["event_type"] == "customer.created"
                && line["stream_id"] == format!("customer-{id}")
        })
        .expect("the created event is exported")
}

/// Every byte of every file under `dir`, recursively.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a readable directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            bytes.extend(all_bytes(&path));
        } else if let Ok(content) = std::fs::read(&path) {
            bytes.extend(content);
        }
    }
    bytes
}

fn holds(bytes: &[u8], text: &str) -> bool {
    bytes
        .windows(text.len())
        .any(|window| window == text.as_bytes())
}

/// Which of the personal texts some file under `dir` still holds.
fn traces(dir: &Path) -> Vec<&'static str> {
    let bytes = all_bytes(dir);
    [NAME, PHONE, NOTE]
        .into_iter()
        .filter(|text| holds(&bytes, text))
        .collect()
}

#[tokio::test]
async fn a_live_customer_is_purged_only_by_an_admin_with_a_reason_and_force() {
    let h = start().await;
    let alice = h.user("Alice", None).await;
    let pool = h.free_pool(&[&alice]).await;
    let c = personal_customer(&h, &pool).await;
    let tail = h.tail().await;

    let live = purge(&h, &h.admin, &c, "删除请求 2026-118", false)
        .await
        .unwrap_err();
    assert_eq!(live.code(), Code::FailedPrecondition, "{live:?}");
    assert_eq!(reason(&live), "wrong_state");
    let not_admin = purge(&h, &alice, &c, "删除请求", true).await.unwrap_err();
    assert_eq!(not_admin.code(), Code::PermissionDenied, "{not_admin:?}");
    assert_eq!(reason(&not_admin), "not_admin");
    let blank = purge(&h, &h.admin, &c, "  ", true).await.unwrap_err();
    assert_eq!(blank.code(), Code::InvalidArgument, "{blank:?}");
    assert!(blank.message().contains("reason"), "{blank:?}");
    assert_eq!(h.tail().await, tail, "refusals append nothing");

    let purged = purge(&h, &h.admin, &c, "法院令 (2026) 京0105", true)
        .await
        .unwrap();
    let customer = h.customer_as(&h.admin, &c, purged.position).await;
    assert_eq!(customer.display_name, "[purged]");
    assert_eq!(
        customer.fields.get("phone").map(String::as_str),
        Some("[purged]")
    );
    assert_eq!(
        customer.fields.get("region").map(String::as_str),
        Some("[purged]")
    );
    assert_eq!(customer.state, pb::CustomerState::InPool as i32);

    let again = purge(&h, &h.admin, &c, "再次", true).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert_eq!(reason(&again), "purged");
    h.claim(&alice, &c).await;
    let note = follow_up(&h, &alice, &c).await.unwrap_err();
    assert_eq!(note.code(), Code::FailedPrecondition, "{note:?}");
    assert_eq!(reason(&note), "purged");
}

#[tokio::test]
async fn a_purge_keeps_ten_owners_and_the_chain_and_leaves_no_byte_behind() {
    let h = start().await;
    let mut owners = Vec::new();
    for n in 0..10 {
        owners.push(h.user(&format!("销售{n}"), None).await);
    }
    let members: Vec<&str> = owners.iter().map(String::as_str).collect();
    let pool = h.free_pool(&members).await;
    let c = personal_customer(&h, &pool).await;
    let mut fifth_owned_at = None;
    for (n, owner) in owners.iter().enumerate() {
        h.claim(owner, &c).await;
        if n == 9 {
            follow_up(&h, owner, &c).await.expect("follow-up");
        }
        let clock = h.advance(1_800).await;
        if n == 4 {
            fifth_owned_at = clock.now;
        }
        h.advance(1_800).await;
        abandon(&h, owner, &c).await;
        h.advance(60).await;
    }
    let data = h.dir.path().to_owned();
    assert!(
        holds(&all_bytes(&data), "华北区客户"),
        "the scan reads the files' text (the pool's name is not personal)"
    );

    // The log holds ciphertext only; the export says so and verifies as it is.
    let sealed = export(&h, &h.credentials, false).await.unwrap();
    for text in [NAME, PHONE, NOTE] {
        assert!(!sealed.contains(text), "{text} is sealed in the log");
    }
    let line = created_line(&sealed, &c);
    assert_eq!(line["personal_data"], "sealed");
    assert!(line["payload"].as_str().unwrap().contains("sealed:v1:"));
    run_auditor_script(&sealed, "before the purge");
    let auditor = Credentials::new(AUDIT_ONLY).unwrap();
    let denied = export(&h, &auditor, true).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert_eq!(reason(&denied), "missing_scope");
    let opened = export(&h, &h.credentials, true).await.unwrap();
    let line = created_line(&opened, &c);
    assert_eq!(line["personal_data"], "opened");
    assert!(line["payload"].as_str().unwrap().contains(NAME));

    let before_history = history(&h, &c, None).await;
    let before_as_of = history(&h, &c, fifth_owned_at).await;
    let before_records = abandon_records(&h, &pool).await;
    assert_eq!(before_history.intervals.len(), 10);
    assert_eq!(before_as_of.owner_as_of.as_ref().unwrap().owner, owners[4]);
    assert_eq!(before_records.len(), 10);
    let verified = h.tail().await;

    h.commands(&h.admin)
        .delete_customer(pb::DeleteCustomerRequest {
            command_id: command_id(),
            customer: c.clone(),
            ..Default::default()
        })
        .await
        .expect("delete");
    let purged = purge(&h, &h.admin, &c, "删除请求 2026-118", false)
        .await
        .expect("a customer in the recycle bin is purged");
    assert!(
        h.tail().await > verified,
        "the chain verifies after the purge too"
    );

    let customer = h.customer_as(&h.admin, &c, purged.position).await;
    assert_eq!(customer.display_name, "[purged]");
    assert_eq!(customer.fields["phone"], "[purged]");
    let after_as_of = history(&h, &c, fifth_owned_at).await;
    assert_eq!(after_as_of.owner_as_of, before_as_of.owner_as_of);
    let after_history = history(&h, &c, None).await;
    assert_eq!(after_history.intervals, before_history.intervals);
    let owners_then: Vec<&str> = after_history
        .intervals
        .iter()
        .map(|i| i.owner.as_str())
        .collect();
    assert_eq!(owners_then, members);
    assert_eq!(abandon_records(&h, &pool).await, before_records);

    let after = export(&h, &h.credentials, true).await.unwrap();
    let line = created_line(&after, &c);
    assert!(line["payload"].as_str().unwrap().contains("[purged]"));
    assert!(!after.contains(NAME) && !after.contains(NOTE));
    let purge_line = after
        .lines()
        .find(|l| l.contains("customer.purged"))
        .expect("the purge is in the log");
    assert!(purge_line.contains("删除请求 2026-118"));
    run_auditor_script(
        &export(&h, &h.credentials, false).await.unwrap(),
        "after the purge",
    );

    // The runner scrubs the files at once: snapshots written, WALs truncated.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !traces(&data).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(traces(&data), Vec::<&str>::new(), "while serving");

    // A rebuild folds the same purged rows from the log.
    rebuild_all(&h).await;
    let rebuilt = h.customer_as(&h.admin, &c, purged.position).await;
    assert_eq!(rebuilt, customer);
    assert_eq!(
        history(&h, &c, None).await.intervals,
        before_history.intervals
    );

    let Harness { server, dir, .. } = h;
    server.stop().await.expect("a clean stop");
    assert_eq!(traces(dir.path()), Vec::<&str>::new(), "after the stop");
}

/// Rebuilds every projection online and waits for the swap.
async fn rebuild_all(h: &Harness) {
    let mut progress = h
        .admin_service()
        .rebuild_projection(pb::RebuildProjectionRequest {
            projection: String::new(),
        })
        .await
        .expect("rebuild")
        .into_inner();
    while let Some(step) = progress.next().await {
        let step = step.expect("rebuild progress");
        assert!(step.error.is_empty(), "{step:?}");
    }
}

/// Runs the independent verifier of `eventlog/README.md`, unchanged, on `export`.
fn run_auditor_script(export: &str, when: &str) {
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output();
    if !python.is_ok_and(|o| o.status.success()) {
        eprintln!("python3 is missing: the auditor script is skipped");
        return;
    }
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../eventlog/README.md"
    ))
    .expect("eventlog/README.md");
    let start = readme.find("```python").expect("a python block") + "```python".len();
    let end = start + readme[start..].find("```").expect("a closed block");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("audit.py");
    let file = dir.path().join("export.jsonl");
    std::fs::write(&script, &readme[start..end]).unwrap();
    std::fs::write(&file, export).unwrap();
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the export verifies {when}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn streams_deliver_sealed_fields_flagged_unless_the_token_reads_personal_data() {
    let h = start().await;
    let pool = h.free_pool(&[]).await;
    let c = personal_customer(&h, &pool).await;
    let created = |open: bool, credentials: Credentials| {
        let channel = h.channel.clone();
        async move {
            let mut stream = AuditServiceClient::new(credentials.on(channel))
                .stream_events(pb::StreamEventsRequest {
                    from_position: 1,
                    event_types: vec!["customer.created".into()],
                    open_personal_data: open,
                })
                .await?
                .into_inner();
            Ok::<_, tonic::Status>(stream.next().await.expect("an event").expect("delivered"))
        }
    };
    let auditor = Credentials::new(AUDIT_ONLY).unwrap();
    let sealed = created(false, auditor.clone()).await.unwrap();
    assert!(sealed.personal_data_sealed);
    assert!(
        !sealed.payload_json.contains(NAME)
            && sealed.stream.ends_with(c.trim_start_matches("customers/"))
    );
    let denied = created(true, auditor).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let opened = created(true, h.credentials.clone()).await.unwrap();
    assert!(!opened.personal_data_sealed);
    assert!(opened.payload_json.contains(NAME) && opened.payload_json.contains(PHONE));
    assert_eq!(opened.hash, sealed.hash, "the same stored event");
}

/// A client of the PostgreSQL database at `store` (the pool it came from kept with it).
async fn database(store: &str) -> (PostgresLogs, deadpool_postgres::Object) {
    let logs = PostgresLogs::connect(store, 2)
        .await
        .expect("the test database");
    let client = logs.pool().get().await.expect("a connection");
    (logs, client)
}

#[tokio::test]
async fn on_postgresql_keys_live_in_their_own_table_and_a_purge_shreds_them() {
    let Some(h) = Harness::start_on_postgres().await else {
        return;
    };
    let pool = h.free_pool(&[]).await;
    let c = personal_customer(&h, &pool).await;
    let created = h.customer_as(&h.admin, &c, h.tail().await).await;
    assert_eq!(created.display_name, NAME);
    let purged = purge(&h, &h.admin, &c, "删除请求", true).await.unwrap();
    let customer = h.customer_as(&h.admin, &c, purged.position).await;
    assert_eq!(customer.display_name, "[purged]");
    let store = h.server.config.store.clone().unwrap();
    let (_logs, client) = database(&store).await;
    let id: uuid::Uuid = c.trim_start_matches("customers/").parse().unwrap();
    let keys = client
        .query_one(
            "SELECT count(*) FROM poolkeeper_customer_keys WHERE customer = $1",
            &[&id],
        )
        .await
        .unwrap();
    let shredded = client
        .query_one(
            "SELECT count(*) FROM poolkeeper_shredded_customers WHERE customer = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!((keys.get::<_, i64>(0), shredded.get::<_, i64>(0)), (0, 1));
    let sealed = export(&h, &h.credentials, false).await.unwrap();
    assert!(!sealed.contains(NAME));
}

/// A new master key file in `dir`.
fn new_key_file(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("next.key");
    std::fs::write(&path, poolkeeper_vault::MasterKey::generate().to_hex()).unwrap();
    path
}

/// Runs `poolkeeper rotate-master-key` with `args`: whether it succeeded, and what it
/// printed.
fn rotate(args: &[&std::ffi::OsStr]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_poolkeeper-under-test"))
        .arg("rotate-master-key")
        .args(args)
        .output()
        .expect("it runs");
    let printed = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    (output.status.success(), printed.into_owned())
}

#[tokio::test]
async fn a_master_key_rotation_keeps_every_customer_readable() {
    let h = start().await;
    let pool = h.free_pool(&[]).await;
    let c = personal_customer(&h, &pool).await;
    let admin = h.admin.clone();
    let (dir, mut config) = h.stop().await;
    let secrets = tempfile::tempdir().unwrap();
    let next = new_key_file(&secrets);
    let (rotated, printed) = rotate(&[
        "--data-dir".as_ref(),
        dir.path().as_os_str(),
        "--new-master-key-file".as_ref(),
        next.as_os_str(),
    ]);
    assert!(rotated, "{printed}");
    assert!(
        printed.contains("default: 1 data keys rewrapped"),
        "{printed}"
    );

    config.master_key_file = Some(next);
    let h = Harness::resume(dir, config, poolkeeper_tests::t0()).await;
    let tail = h.tail().await;
    assert_eq!(h.customer_as(&admin, &c, tail).await.display_name, NAME);
    let opened = export(&h, &h.credentials, true).await.unwrap();
    assert!(
        opened.contains(NAME),
        "the log's sealed values open under the new master key"
    );
}

#[tokio::test]
async fn on_postgresql_a_rotation_waits_for_every_node_and_the_old_key_no_longer_starts_one() {
    let Some(h) = Harness::start_on_postgres().await else {
        return;
    };
    let pool = h.free_pool(&[]).await;
    let c = personal_customer(&h, &pool).await;
    let admin = h.admin.clone();
    let store = h.server.config.store.clone().unwrap();
    let old = h.server.config.master_key_file.clone().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let next = new_key_file(&secrets);
    let args = [
        "--store".as_ref(),
        store.as_ref(),
        "--master-key-file".as_ref(),
        old.as_os_str(),
        "--new-master-key-file".as_ref(),
        next.as_os_str(),
    ];
    let (rotated, printed) = rotate(&args);
    assert!(
        !rotated && printed.contains("stop every node first"),
        "{printed}"
    );

    let (dir, mut config) = h.stop().await;
    let (rotated, printed) = rotate(&args);
    assert!(rotated, "{printed}");
    assert!(
        printed.contains("default: 1 data keys rewrapped"),
        "{printed}"
    );
    let refused = poolkeeper_grpc::server::RunningServer::start(ServeOptions {
        config: config.clone(),
        manual_clock: Some(poolkeeper_tests::t0()),
    })
    .await;
    let error = refused
        .err()
        .expect("a node with the old key refuses to start");
    assert!(
        error.to_string().contains("same master_key_file"),
        "{error}"
    );

    config.master_key_file = Some(next);
    let h = Harness::resume(dir, config, poolkeeper_tests::t0()).await;
    assert_eq!(
        h.customer_as(&admin, &c, h.tail().await).await.display_name,
        NAME
    );
    let second = personal_customer(&h, &pool).await;
    let tail = h.tail().await;
    assert_eq!(
        h.customer_as(&admin, &second, tail).await.display_name,
        NAME
    );
}

#[tokio::test]
async fn on_postgresql_a_node_left_with_a_rotated_key_stores_no_key_under_it() {
    let Some(h) = Harness::start_on_postgres().await else {
        return;
    };
    let pool = h.free_pool(&[]).await;
    let c = personal_customer(&h, &pool).await;
    let read = |path: &std::path::Path| {
        poolkeeper_vault::MasterKey::from_hex(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let old = read(h.server.config.master_key_file.as_deref().unwrap());
    let new = poolkeeper_vault::MasterKey::generate();
    let store = h.server.config.store.clone().unwrap();
    let (_logs, mut client) = database(&store).await;
    // Behind the running node's back (the command line refuses while it holds leases).
    postgres_keys::rotate_master_key(&mut client, &old, &new)
        .await
        .unwrap();

    let tail = h.tail().await;
    let refused = create_personal(&h, &pool).await;
    let status = refused.expect_err("no key can be stored for it");
    assert_eq!(
        status.code(),
        Code::Unavailable,
        "a server fault: {status:?}"
    );
    assert_eq!(h.tail().await, tail, "nothing appended");
    let under_old = client
        .query_one(
            "SELECT count(*) FROM poolkeeper_customer_keys WHERE master <> $1",
            &[&new.fingerprint()],
        )
        .await
        .unwrap();
    assert_eq!(
        under_old.get::<_, i64>(0),
        0,
        "every key is under the new master key"
    );
    let cached = h.customer_as(&h.admin, &c, tail).await;
    assert_eq!(cached.display_name, NAME);
}

#[tokio::test]
async fn on_postgresql_a_rotation_rewraps_keys_past_one_chunk_and_resumes() {
    let Some(store) = poolkeeper_tests::postgres_database().await else {
        return;
    };
    let (_logs, mut client) = database(&store).await;
    client
        .batch_execute(postgres_keys::KEY_TABLES)
        .await
        .unwrap();
    let (old, new) = (
        poolkeeper_vault::MasterKey::generate(),
        poolkeeper_vault::MasterKey::generate(),
    );
    let keys: HashMap<uuid::Uuid, poolkeeper_vault::DataKey> = (0..10_001)
        .map(|_| (uuid::Uuid::now_v7(), poolkeeper_vault::DataKey::generate()))
        .collect();
    let (customers, wrapped): (Vec<uuid::Uuid>, Vec<String>) = keys
        .iter()
        .map(|(customer, key)| (*customer, old.wrap_key(*customer, key)))
        .unzip();
    client
        .execute(
            "INSERT INTO poolkeeper_master_key (fingerprint) VALUES ($1)",
            &[&old.fingerprint()],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO poolkeeper_customer_keys (organization, customer, wrapped, master) \
             SELECT 'bulk', u.c, u.w, $3 FROM unnest($1::uuid[], $2::text[]) AS u(c, w)",
            &[&customers, &wrapped, &old.fingerprint()],
        )
        .await
        .unwrap();

    let stranger = poolkeeper_vault::MasterKey::generate();
    let refused = postgres_keys::rotate_master_key(&mut client, &stranger, &new).await;
    assert!(refused.is_err(), "only the key in use rotates");
    let rewrapped = postgres_keys::rotate_master_key(&mut client, &old, &new)
        .await
        .unwrap();
    assert_eq!(rewrapped.get("bulk"), Some(&10_001));
    let again = postgres_keys::rotate_master_key(&mut client, &old, &new)
        .await
        .unwrap();
    assert!(
        again.is_empty(),
        "run again, it finds nothing left: {again:?}"
    );
    let rows = client
        .query(
            "SELECT customer, wrapped, master FROM poolkeeper_customer_keys",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 10_001);
    for row in rows {
        let (customer, wrapped, master): (uuid::Uuid, String, String) =
            (row.get(0), row.get(1), row.get(2));
        assert_eq!(master, new.fingerprint());
        let key = new.unwrap_key(customer, &wrapped).unwrap();
        assert!(key == keys[&customer], "the same data key");
    }
}
