//! Incrementally maintained projections (small batches, restarts, no cache, applied on one
//! to five threads) equal a from-scratch rebuild row for row, and agree with the domain's
//! write model.

mod support;

use poolkeeper_domain::rules;
use poolkeeper_projections::{OwnershipState, Projections, ProjectionsConfig};
use proptest::prelude::*;
use support::*;

fn live_config(batch_max: usize, cache_rows: usize, apply_threads: usize) -> ProjectionsConfig {
    ProjectionsConfig {
        batch_max,
        cache_rows,
        apply_threads,
        ..ProjectionsConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn live_projections_equal_a_rebuild(
        seed in 1u64..1_000,
        steps in steps(600),
        batch_max in 1usize..40,
        cache_rows in prop_oneof![Just(0usize), Just(100_000usize)],
        restarts in 1usize..5,
        apply_threads in 1usize..=5,
    ) {
        let runtime = runtime();
        runtime.block_on(async move {
            let temp = tempfile::tempdir().unwrap();
            let (simulation, commands) = history(seed, 30, &steps);
            // Sealed as the service seals it: a purge shreds the key, and the rebuild
            // folds `[purged]` from the purged customers' `customer.created`.
            let store = open_sealed_log(temp.path());
            let live_dir = temp.path().join("live");
            // Append in `restarts` parts; follow each with a fresh runner.
            let part = commands.len().div_ceil(restarts);
            let mut tail = 0;
            for chunk in commands.chunks(part.max(1)) {
                tail = append_to(store.as_ref(), chunk, 7).await;
                let projections = Projections::open_with(&live_dir, live_config(batch_max, cache_rows, apply_threads)).unwrap();
                let runner = projections.spawn_runner(store.clone());
                projections.wait_for(tail, WAIT).await.unwrap();
                runner.shutdown().await;
            }
            let projections = Projections::open_with(&live_dir, live_config(batch_max, cache_rows, apply_threads)).unwrap();
            for status in projections.status() {
                prop_assert_eq!(status.checkpoint, tail);
                prop_assert!(status.error.is_none());
            }
            let live = dump_all(&projections).await;
            let rebuilt = rebuild_dump(&temp.path().join("rebuilt"), store.clone()).await;
            assert_same(&live, &rebuilt);

            // The pool view agrees with the write model customer by customer.
            let pool_view = projections.pool_view();
            for (id, customer) in &simulation.model.customers {
                let row = pool_view.get(*id).await.unwrap().expect("every customer is listed");
                prop_assert_eq!(row.state.as_str(), customer.state.name());
                prop_assert_eq!(row.pool_id, customer.pool);
                prop_assert_eq!(row.version, customer.version);
                prop_assert_eq!(row.owned.as_ref().map(|o| o.owner), customer.state.owner());
                let deadline = row.owned.as_ref().and_then(|o| o.deadline);
                prop_assert_eq!(deadline.map(|d| (d.at, d.rule)), customer.deadline.map(|d| (d.at, d.rule)));
                prop_assert_eq!(row.owned.as_ref().and_then(|o| o.reminder_at), customer.reminder_at);
                if let poolkeeper_domain::CustomerState::Owned(ownership) = &customer.state {
                    let pool = &simulation.model.pools[&customer.pool];
                    prop_assert_eq!(
                        row.owned.as_ref().and_then(|o| o.protection_end),
                        rules::protection_until(&pool.rules, &pool.rules_since, ownership)
                    );
                }
            }
            // Statistics agree with the write model's states.
            for pool in &simulation.pools {
                let counts = projections.statistics().pool_counts(*pool).await.unwrap();
                let count = |state: OwnershipState| simulation.model.customers.values()
                    .filter(|c| c.pool == *pool && c.state.name() == state.as_str()).count() as u64;
                prop_assert_eq!(counts.owned, count(OwnershipState::Owned));
                prop_assert_eq!(counts.in_pool, count(OwnershipState::InPool));
                prop_assert_eq!(counts.pending, count(OwnershipState::Pending));
                prop_assert_eq!(counts.frozen, count(OwnershipState::Frozen));
                prop_assert_eq!(counts.deleted, count(OwnershipState::Deleted));
            }
            for user in &simulation.users {
                let counts = projections.statistics().user_counts(*user).await.unwrap();
                prop_assert_eq!(counts.owned, u64::from(simulation.model.owned_total(*user)));
            }
            Ok(())
        })?;
    }
}
