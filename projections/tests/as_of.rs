//! The history projection's "as of" answers equal a replay of the log up to that point
//! through the domain's write model; as-of snapshots equal a rebuild of a prefix.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use poolkeeper_codec as codec;
use poolkeeper_domain::{CustomerId, Event, UserId, WriteModel};
use poolkeeper_eventlog::EventStore;
use poolkeeper_projections::{AsOf, ProjectionName, Projections, Snapshot};
use proptest::prelude::*;
use support::*;

/// The log as the projections see it: decoded events in position order.
async fn read_log(store: &dyn EventStore) -> Vec<Event> {
    store
        .read_all(1, usize::MAX)
        .await
        .unwrap()
        .iter()
        .map(|recorded| codec::decode(recorded).unwrap())
        .collect()
}

async fn holdings(projections: &Projections, user: UserId, point: AsOf) -> BTreeSet<CustomerId> {
    let mut all = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = projections
            .history()
            .holdings(user, point, 3, cursor)
            .await
            .unwrap();
        for period in page.items {
            assert!(all.insert(period.customer_id), "a customer listed twice");
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn owners_and_holdings_as_of_any_point_equal_a_replay(
        seed in 1u64..1_000,
        steps in steps(300),
        picks in prop::collection::vec(any::<u32>(), 12),
    ) {
        let runtime = runtime();
        runtime.block_on(async move {
            let temp = tempfile::tempdir().unwrap();
            let (simulation, commands) = history(seed, 20, &steps);
            let store = open_log(&temp.path().join("log.db"));
            append(&store, &commands, 50).await;
            let dir = temp.path().join("projections");
            rebuild_dump(&dir, store.clone() as Arc<dyn EventStore>).await;
            let projections = Projections::open(&dir).unwrap();
            let log = read_log(store.as_ref()).await;
            let customers: Vec<CustomerId> = simulation.customers.clone();
            let mut users = simulation.users.clone();
            users.push(simulation.admin);
            for pick in picks {
                // An instant: one of the log's instants, or a second before it.
                let event = &log[pick as usize % log.len()];
                let instant = if pick % 2 == 0 { event.at } else { event.at - chrono::Duration::seconds(1) };
                let replay = WriteModel::fold(log.iter().take_while(|e| e.at <= instant));
                for customer in &customers {
                    let expected = replay.customers.get(customer).and_then(|c| c.state.owner());
                    let period = projections.history().owner_at(*customer, AsOf::Instant(instant)).await.unwrap();
                    prop_assert_eq!(period.as_ref().and_then(|p| p.user), expected, "owner of {:?} as of {}", customer, instant);
                    let state = projections.history().state_at(*customer, AsOf::Instant(instant)).await.unwrap();
                    prop_assert_eq!(
                        state.map(|p| p.state.as_str()),
                        replay.customers.get(customer).map(|c| c.state.name())
                    );
                }
                for user in &users {
                    let expected: BTreeSet<CustomerId> = replay.customers.iter()
                        .filter(|(_, c)| c.state.owner() == Some(*user))
                        .map(|(id, _)| *id)
                        .collect();
                    prop_assert_eq!(holdings(&projections, *user, AsOf::Instant(instant)).await, expected);
                }
                // A position.
                let position = u64::from(pick) % log.len() as u64 + 1;
                let replay = WriteModel::fold(log.iter().take(position as usize));
                for customer in &customers {
                    let expected = replay.customers.get(customer).and_then(|c| c.state.owner());
                    let period = projections.history().owner_at(*customer, AsOf::Position(position)).await.unwrap();
                    prop_assert_eq!(period.and_then(|p| p.user), expected);
                }
                for user in &users {
                    let expected: BTreeSet<CustomerId> = replay.customers.iter()
                        .filter(|(_, c)| c.state.owner() == Some(*user))
                        .map(|(id, _)| *id)
                        .collect();
                    prop_assert_eq!(holdings(&projections, *user, AsOf::Position(position)).await, expected);
                }
            }
            // The timeline of every customer is gapless: each period starts where the last ended.
            for customer in &customers {
                let timeline = projections.history().timeline(*customer).await.unwrap();
                for pair in timeline.windows(2) {
                    prop_assert_eq!(pair[0].to, Some(pair[1].from));
                    prop_assert_eq!(pair[0].ended, Some(pair[1].began));
                }
                prop_assert!(timeline.last().is_none_or(|p| p.to.is_none()));
            }
            Ok(())
        })?;
    }
}

#[test]
fn a_snapshot_as_of_a_position_equals_a_rebuild_of_that_prefix() {
    runtime().block_on(async {
        let temp = tempfile::tempdir().unwrap();
        let steps: Vec<_> = (0..200u32)
            .map(|i| poolkeeper_simulate::Step {
                action: (i * 7 % 20) as u8,
                pick: i * 31,
                other: i * 17,
                minutes: 90,
            })
            .collect();
        let (_, commands) = history(3, 20, &steps);
        let half = commands.len() / 2;
        let full_log = open_log(&temp.path().join("full.db"));
        let middle = append(&full_log, &commands[..half], 10).await;
        let tail = append(&full_log, &commands[half..], 10).await;
        assert!(tail > middle);
        let prefix_log = open_log(&temp.path().join("prefix.db"));
        append(&prefix_log, &commands[..half], 10).await;
        let prefix_dir = temp.path().join("prefix");
        let expected = rebuild_dump(&prefix_dir, prefix_log.clone() as Arc<dyn EventStore>).await;

        for (index, name) in ProjectionName::ALL.into_iter().enumerate() {
            let out = temp.path().join(format!("{name}-as-of.db"));
            let mut reports = 0;
            let checkpoint = Projections::rebuild_as_of(
                name,
                AsOf::Position(middle),
                full_log.clone(),
                &out,
                |_| reports += 1,
            )
            .await
            .unwrap();
            assert_eq!(checkpoint, middle);
            assert!(reports > 0);
            let snapshot = Snapshot::open(&out).unwrap();
            assert_eq!(snapshot.name(), name);
            assert_eq!(snapshot.checkpoint().await.unwrap(), middle);
            assert_eq!(snapshot.dump().await.unwrap(), expected[index].1, "{name}");
        }
        // As of an instant: the last event's instant of the prefix.
        let log = read_log(full_log.as_ref()).await;
        let instant = log[middle as usize - 1].at;
        let out = temp.path().join("history-at.db");
        let checkpoint = Projections::rebuild_as_of(
            ProjectionName::OwnershipHistory,
            AsOf::Instant(instant),
            full_log.clone(),
            &out,
            |_| {},
        )
        .await
        .unwrap();
        let expected_checkpoint = log.iter().take_while(|e| e.at <= instant).count() as u64;
        assert_eq!(checkpoint, expected_checkpoint);
        assert!(Snapshot::open(&out).unwrap().pool_view().is_err());
    });
}
