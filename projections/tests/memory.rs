//! A resident projection answers from memory exactly what its SQL answers from the file:
//! after random histories, every query of the live readers (memory) equals the same query
//! on the snapshot the runner left (SQL), page by page.

mod support;

use chrono::{DateTime, Duration as Days, Utc};
use poolkeeper_domain::{PoolId, UserId};
use poolkeeper_projections::{
    OwnerQuery, OwnerScope, OwnerViewReader, Page, PoolFilter, PoolQuery, PoolViewReader,
    ProjectionName, Projections, Snapshot, TimeOrder, projection_path,
};
use proptest::prelude::*;
use support::*;

/// Every page of a listing, following cursors.
async fn all_pages<T, F, Fut>(mut page: F) -> Vec<Page<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Page<T>>,
{
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let next = page(cursor).await;
        cursor = next.next_cursor.clone();
        pages.push(next);
        if cursor.is_none() || pages.len() > 1_000 {
            return pages;
        }
    }
}

async fn owner_listings(reader: &OwnerViewReader, user: UserId, limit: u32) -> Vec<String> {
    let mut answers = Vec::new();
    for scope in [
        OwnerScope::Own,
        OwnerScope::Subordinates,
        OwnerScope::OwnAndSubordinates,
    ] {
        for order in [TimeOrder::NewestFirst, TimeOrder::OldestFirst] {
            let pages = all_pages(|cursor| async move {
                let query = OwnerQuery {
                    user,
                    scope,
                    order,
                    limit,
                    cursor,
                };
                reader.customers(query).await.expect("customers")
            })
            .await;
            answers.push(format!("{scope:?} {order:?} {pages:?}"));
        }
    }
    let related =
        all_pages(
            |cursor| async move { reader.related(user, limit, cursor).await.expect("related") },
        )
        .await;
    answers.push(format!("related {related:?}"));
    answers.push(format!("{:?}", reader.subordinates(user).await.unwrap()));
    let profile = reader.user(user).await.unwrap();
    if let Some(department) = profile.as_ref().and_then(|p| p.department.clone()) {
        let shared = all_pages(|cursor| {
            let department = department.clone();
            async move {
                reader
                    .shared_with(department, limit, cursor)
                    .await
                    .expect("shared")
            }
        })
        .await;
        answers.push(format!("shared {shared:?}"));
    }
    answers.push(format!("{profile:?}"));
    answers
}

/// Every listing of a pool: each filter, both orders, by owner and by name prefix.
async fn pool_listings(
    reader: &PoolViewReader,
    pool: PoolId,
    users: &[UserId],
    prefixes: &[String],
    now: DateTime<Utc>,
    limit: u32,
) -> Vec<String> {
    let mut filters = vec![
        PoolFilter::Unclaimed,
        PoolFilter::Pending,
        PoolFilter::Claimed,
        PoolFilter::Frozen,
        PoolFilter::RecycleBin,
        PoolFilter::All,
    ];
    for days in [-60, -10, -3, 0, 3, 10, 60] {
        filters.push(PoolFilter::Expired {
            now: now + Days::days(days),
        });
    }
    let mut queries = Vec::new();
    for filter in filters {
        for order in [TimeOrder::NewestFirst, TimeOrder::OldestFirst] {
            let mut query = PoolQuery::new(pool, filter);
            query.order = order;
            query.limit = limit;
            queries.push(query.clone());
            for prefix in prefixes {
                let mut named = query.clone();
                named.name_prefix = Some(prefix.clone());
                queries.push(named);
            }
        }
    }
    for user in users {
        let mut query = PoolQuery::new(pool, PoolFilter::All);
        query.owner = Some(*user);
        query.limit = limit;
        queries.push(query.clone());
        query.filter = PoolFilter::Claimed;
        query.order = TimeOrder::OldestFirst;
        queries.push(query);
    }
    let mut answers = vec![format!("{:?}", reader.pool(pool).await.unwrap())];
    for query in queries {
        let pages = all_pages(|cursor| {
            let mut query = query.clone();
            query.cursor = cursor;
            async move { reader.list(query).await.expect("list") }
        })
        .await;
        answers.push(format!("{query:?} {pages:?}"));
    }
    answers
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn the_resident_views_answer_from_memory_as_from_their_files(
        seed in 1u64..1_000,
        steps in steps(500),
        limit in 1u32..7,
    ) {
        let runtime = runtime();
        runtime.block_on(async move {
            let temp = tempfile::tempdir().unwrap();
            let (simulation, commands) = history(seed, 25, &steps);
            let store = open_log(&temp.path().join("log.db"));
            let tail = append(&store, &commands, 7).await;
            let dir = temp.path().join("live");
            let projections = Projections::open(&dir).unwrap();
            follow_to(&projections, &store, tail).await;
            let live = projections.owner_view();
            let file = Snapshot::open(&projection_path(&dir, ProjectionName::OwnerView))
                .unwrap()
                .owner_view()
                .unwrap();
            let live_pools = projections.pool_view();
            let file_pools = Snapshot::open(&projection_path(&dir, ProjectionName::PoolView))
                .unwrap()
                .pool_view()
                .unwrap();
            prop_assert_eq!(live_pools.pools().await.unwrap(), file_pools.pools().await.unwrap());
            let mut prefixes: Vec<String> = Vec::new();
            let mut latest = DateTime::<Utc>::MIN_UTC;
            for customer in simulation.model.customers.keys() {
                let row = live_pools.get(*customer).await.unwrap();
                prop_assert_eq!(&row, &file_pools.get(*customer).await.unwrap());
                if let Some(row) = row {
                    latest = latest.max(row.changed_at);
                    prefixes.push(row.name.chars().take(1 + prefixes.len() % 6).collect());
                }
            }
            prefixes.sort();
            prefixes.dedup();
            prefixes.truncate(4);
            prefixes.push("\u{10FFFF}".into());
            for pool in &simulation.pools {
                prop_assert_eq!(
                    pool_listings(&live_pools, *pool, &simulation.users, &prefixes, latest, limit).await,
                    pool_listings(&file_pools, *pool, &simulation.users, &prefixes, latest, limit).await
                );
            }
            for user in &simulation.users {
                prop_assert_eq!(
                    owner_listings(&live, *user, limit).await,
                    owner_listings(&file, *user, limit).await
                );
                for customer in simulation.model.customers.keys() {
                    prop_assert_eq!(
                        live.access(*user, *customer).await.unwrap(),
                        file.access(*user, *customer).await.unwrap()
                    );
                }
            }
            Ok(())
        })?;
    }
}

/// The file of a resident projection is a snapshot: it stays behind what readers see
/// until one is due, a dump asks for one, or the runner stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_file_is_a_snapshot() {
    use poolkeeper_projections::ProjectionsConfig;
    use std::time::Duration;
    let temp = tempfile::tempdir().unwrap();
    let (simulation, commands) = history(5, 20, &fixed_steps(200));
    let store = open_log(&temp.path().join("log.db"));
    let (first, second) = commands.split_at(commands.len() / 2);
    let halfway = append(&store, first, 7).await;
    let dir = temp.path().join("live");
    let config = ProjectionsConfig {
        snapshot_every: Duration::from_secs(3_600),
        idle_checkpoint: None,
        ..ProjectionsConfig::default()
    };
    let file_checkpoint = || async {
        Snapshot::open(&projection_path(&dir, ProjectionName::OwnerView))
            .unwrap()
            .checkpoint()
            .await
            .unwrap()
    };
    let projections = Projections::open_with(&dir, config).unwrap();
    follow_to(&projections, &store, halfway).await;
    assert_eq!(
        file_checkpoint().await,
        halfway,
        "a stopped runner leaves a snapshot"
    );
    let runner = projections.spawn_runner(store.clone());
    let tail = append(&store, second, 7).await;
    projections.wait_for(tail, WAIT).await.unwrap();
    assert!(projections.status().iter().all(|s| s.checkpoint == tail));
    assert_eq!(file_checkpoint().await, halfway, "no snapshot is due yet");
    // Readers see the tail meanwhile: every user's profile is there.
    for user in &simulation.users {
        assert!(
            projections
                .owner_view()
                .user(*user)
                .await
                .unwrap()
                .is_some()
        );
    }
    let dumped = projections.dump(ProjectionName::OwnerView).await.unwrap();
    assert_eq!(
        file_checkpoint().await,
        tail,
        "a dump writes the snapshot first"
    );
    runner.shutdown().await;
    projections.close().await.unwrap();
    let rebuilt = rebuild_dump(&temp.path().join("rebuilt"), store.clone()).await;
    let expected = &rebuilt
        .iter()
        .find(|(name, _)| *name == ProjectionName::OwnerView)
        .unwrap()
        .1;
    assert_eq!(&dumped, expected);
}
