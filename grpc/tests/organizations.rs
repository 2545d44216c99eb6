//! The organizations of one node, without the wire: each its own partition (positions
//! from 1, its own chain), opened on demand, closed when idle, woken for its reclaims.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use poolkeeper_domain::rules::{Limit, PoolRules};
use poolkeeper_domain::{
    Actor, Clock, Command, CommandBody, CommandId, CustomerId, ManualClock, NewCustomer,
};
use poolkeeper_eventlog::EventLogConfig;
use poolkeeper_grpc::organizations::{
    Layout, OpenLimits, OrganizationId, Organizations, OrganizationsError, PartitionSettings,
    SqliteLogs,
};
use poolkeeper_grpc::writer::WriterConfig;
use poolkeeper_projections::ProjectionsConfig;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().unwrap()
}

fn org(id: &str) -> OrganizationId {
    OrganizationId::parse(id).unwrap()
}

async fn organizations(
    dir: &std::path::Path,
    clock: Arc<ManualClock>,
    limits: OpenLimits,
) -> Organizations {
    let layout = Layout::new(dir);
    let logs = Arc::new(SqliteLogs::new(
        layout.clone(),
        EventLogConfig::default(),
        poolkeeper_vault::MasterKey::generate(),
    ));
    let settings = PartitionSettings {
        writer: WriterConfig::default(),
        projections: ProjectionsConfig::default(),
        scheduler_max_sleep: Duration::from_secs(30),
    };
    let clock: Arc<dyn Clock> = clock;
    Organizations::open(layout, logs, settings, clock, limits)
        .await
        .unwrap()
}

fn create_customer(n: u128, name: &str) -> Command {
    Command::new(
        CommandId::from_u128(0xc0 << 64 | n),
        Actor::System,
        CommandBody::CreateCustomer(NewCustomer {
            customer_id: CustomerId::from_u128(n),
            pool_id: None,
            name: name.into(),
            source: None,
            fields: Default::default(),
            keep: false,
        }),
    )
}

#[tokio::test]
async fn two_organizations_have_their_own_positions_chains_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let organizations = organizations(dir.path(), clock, OpenLimits::default()).await;
    let (acme, _) = organizations
        .create(uuid::Uuid::now_v7(), org("acme"), "Acme".into())
        .await
        .unwrap();
    let (globex, _) = organizations
        .create(uuid::Uuid::now_v7(), org("globex"), "Globex".into())
        .await
        .unwrap();
    assert_ne!(acme.admin_user, globex.admin_user);
    // The same command id and customer id in both: each organization has its own.
    for id in [&acme.id, &globex.id] {
        let partition = organizations.partition(id).await.unwrap();
        let outcome = partition
            .writer()
            .submit(create_customer(7, "同名客户"), None)
            .await
            .unwrap();
        assert!(
            !outcome.duplicate,
            "{id}: a command id of another organization"
        );
        assert_eq!(
            outcome.first_position, 3,
            "{id}: positions count from 1 per organization"
        );
    }
    let acme_log = organizations.partition(&acme.id).await.unwrap();
    let globex_log = organizations.partition(&globex.id).await.unwrap();
    let (a, g) = (
        acme_log.store().verify().await.unwrap(),
        globex_log.store().verify().await.unwrap(),
    );
    assert!(a.is_intact() && g.is_intact());
    assert_eq!((a.tail, g.tail), (3, 3));
    assert_ne!(a.tail_hash, g.tail_hash, "each chain has its own genesis");
    // An organization nobody created is not found.
    assert!(matches!(
        organizations.partition(&org("initech")).await,
        Err(OrganizationsError::NotFound(_))
    ));
    organizations.close_all().await;
}

#[tokio::test]
async fn a_retried_creation_returns_the_first_and_another_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let organizations = organizations(dir.path(), clock, OpenLimits::default()).await;
    let command = uuid::Uuid::now_v7();
    let (first, retried) = organizations
        .create(command, org("acme"), "Acme".into())
        .await
        .unwrap();
    assert!(!retried);
    let (again, retried) = organizations
        .create(command, org("acme"), "Acme".into())
        .await
        .unwrap();
    assert!(retried);
    assert_eq!(again, first);
    assert!(
        organizations
            .create(uuid::Uuid::now_v7(), org("acme"), "Other".into())
            .await
            .is_err()
    );
    organizations.close_all().await;
}

#[tokio::test]
async fn idle_organizations_close_and_reopen_with_their_state() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let limits = OpenLimits {
        max_open: 2,
        idle_after: Duration::ZERO,
    };
    let organizations = organizations(dir.path(), clock, limits).await;
    for name in ["a", "b", "c", "d"] {
        organizations
            .create(uuid::Uuid::now_v7(), org(name), name.into())
            .await
            .unwrap();
    }
    assert!(
        organizations.open_count() <= 2,
        "the least recently used close"
    );
    let a = organizations.partition(&org("a")).await.unwrap();
    a.writer()
        .submit(create_customer(1, "留下"), None)
        .await
        .unwrap();
    drop(a);
    organizations.close_idle().await;
    assert_eq!(
        organizations.open_count(),
        0,
        "every idle organization closed"
    );
    let a = organizations.partition(&org("a")).await.unwrap();
    assert!(
        a.writer()
            .model()
            .customers
            .contains_key(&CustomerId::from_u128(1))
    );
    assert_eq!(a.writer().last_position(), 3);
    drop(a);
    organizations.close_all().await;
}

#[tokio::test]
async fn a_closed_organization_is_woken_for_its_reclaim() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let limits = OpenLimits {
        max_open: 8,
        idle_after: Duration::ZERO,
    };
    let organizations = organizations(dir.path(), Arc::clone(&clock), limits).await;
    let (acme, _) = organizations
        .create(uuid::Uuid::now_v7(), org("acme"), "Acme".into())
        .await
        .unwrap();
    let partition = organizations.partition(&acme.id).await.unwrap();
    let rules = PoolRules {
        claimed_not_contacted: Some(Limit::uniform(5)),
        ..PoolRules::default()
    };
    partition
        .writer()
        .submit(
            Command::new(
                CommandId::from_u128(1),
                Actor::User(acme.admin_user),
                CommandBody::SetPoolRules {
                    pool_id: acme.default_pool,
                    rules,
                },
            ),
            None,
        )
        .await
        .unwrap();
    let customer = CustomerId::from_u128(9);
    partition
        .writer()
        .submit(
            Command::new(
                CommandId::from_u128(2),
                Actor::User(acme.admin_user),
                CommandBody::CreateCustomer(NewCustomer {
                    customer_id: customer,
                    pool_id: None,
                    name: "不联系".into(),
                    source: None,
                    fields: Default::default(),
                    keep: true,
                }),
            ),
            None,
        )
        .await
        .unwrap();
    drop(partition);
    organizations.close_idle().await;
    assert_eq!(organizations.open_count(), 0);

    clock.set(t0() + chrono::Duration::days(6));
    let run = organizations.run_due().await;
    assert_eq!(
        run.actions_run, 1,
        "the closed organization was woken and reclaimed"
    );
    let partition = organizations.partition(&acme.id).await.unwrap();
    let owner = partition.writer().model().customers[&customer]
        .state
        .owner();
    assert_eq!(owner, None);
    drop(partition);
    organizations.close_all().await;
}
