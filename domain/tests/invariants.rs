//! Property tests: random command sequences from several users against a few pools.
//!
//! After every step, an oracle folded independently from the emitted events checks that
//! no customer ever has two owners, no grant of ownership breaks a cap in force, no claim
//! skips a cooldown, every abandon carries its reason and abandoner, refused commands
//! change nothing, and folding the whole log from scratch (through its JSON form)
//! reproduces the same write model.

mod support;

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use poolkeeper_domain::command::RecordedChange;
use poolkeeper_domain::event::{EventBody, FollowUpKind, RestoredTo, RevertedTo};
use poolkeeper_domain::rules::{Limit, ProtectionExtension, ProtectionRule, ReturnTarget};
use poolkeeper_domain::*;
use proptest::prelude::*;
use support::*;

const USERS: [UserId; 5] = [ALICE, BOB, CAROL, MANAGER, KEEPER];
const CUSTOMERS: usize = 8;
const REASON: &str = "无意向";

#[derive(Clone, Debug)]
enum Op {
    Claim(usize, usize),
    Request(usize, usize),
    Approve(usize, usize),
    Reject(usize, usize),
    Abandon(usize, usize, bool),
    Reclaim(usize, usize),
    Assign(usize, usize, usize),
    Transfer(usize, usize, usize),
    Freeze(usize),
    Unfreeze(usize),
    Move(usize, usize),
    Delete(usize, usize),
    Restore(usize),
    FollowUp(usize, usize),
    Won(usize, usize),
    Advance(u32),
    Scheduler,
    Deactivate(usize, Option<usize>),
    Tighten(usize, u32),
    /// An admin (mostly) reverts one of the latest ownership changes, or its whole command.
    Revert(usize, usize, bool),
}

/// The owner of the target customer (`OWNER`) most of the time, else any user.
const OWNER: usize = usize::MAX;

fn who() -> impl Strategy<Value = usize> {
    prop_oneof![4 => Just(OWNER), 1 => 0..USERS.len()]
}

/// The pool admin KEEPER most of the time, else any user.
fn admin_mostly() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(4usize), 1 => 0..USERS.len()]
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..USERS.len();
    // Below CUSTOMERS: that customer; above: a customer in a state that fits the command.
    let customer = prop_oneof![1 => 0..CUSTOMERS, 4 => CUSTOMERS..CUSTOMERS * 8];
    prop_oneof![
        9 => (user.clone(), customer.clone()).prop_map(|(u, c)| Op::Claim(u, c)),
        3 => (user.clone(), customer.clone()).prop_map(|(u, c)| Op::Request(u, c)),
        4 => (admin_mostly(), customer.clone()).prop_map(|(u, c)| Op::Approve(u, c)),
        1 => (user.clone(), customer.clone()).prop_map(|(u, c)| Op::Reject(u, c)),
        5 => (who(), customer.clone(), prop::bool::weighted(0.9)).prop_map(|(u, c, r)| Op::Abandon(u, c, r)),
        2 => (admin_mostly(), customer.clone()).prop_map(|(u, c)| Op::Reclaim(u, c)),
        3 => (admin_mostly(), customer.clone(), user.clone()).prop_map(|(a, c, u)| Op::Assign(a, c, u)),
        3 => (who(), customer.clone(), user.clone()).prop_map(|(a, c, u)| Op::Transfer(a, c, u)),
        1 => customer.clone().prop_map(Op::Freeze),
        4 => customer.clone().prop_map(Op::Unfreeze),
        1 => (customer.clone(), 0..3usize).prop_map(|(c, p)| Op::Move(c, p)),
        1 => (user.clone(), customer.clone()).prop_map(|(u, c)| Op::Delete(u, c)),
        2 => customer.clone().prop_map(Op::Restore),
        6 => (who(), customer.clone()).prop_map(|(u, c)| Op::FollowUp(u, c)),
        1 => (who(), customer.clone()).prop_map(|(u, c)| Op::Won(u, c)),
        4 => (1u32..96).prop_map(Op::Advance),
        3 => Just(Op::Scheduler),
        1 => (user.clone(), proptest::option::of(user.clone()), 0..4u8)
            .prop_map(|(u, s, roll)| if roll == 0 { Op::Deactivate(u, s) } else { Op::Scheduler }),
        1 => (0..3usize, 1u32..5).prop_map(|(p, cap)| Op::Tighten(p, cap)),
        4 => (admin_mostly(), 0..6usize, prop::bool::weighted(0.3))
            .prop_map(|(a, k, whole)| Op::Revert(a, k, whole)),
    ]
}

struct Fixture {
    world: World,
    pools: [PoolId; 3],
    customers: Vec<CustomerId>,
}

fn rules(cap: u32) -> PoolRules {
    PoolRules {
        claimed_not_contacted: Some(Limit::uniform(2)),
        no_contact: Some(Limit::uniform(3)),
        not_won: Some(Limit::uniform(9)),
        protection: Some(ProtectionRule {
            default_days: Limit::uniform(4),
            max_days: 8,
            extension: Some(ProtectionExtension {
                contact_within_days: 2,
                extend_by_days: 2,
            }),
        }),
        reminder_hours: Some(12),
        cooldown_days: Some(Limit::uniform(3)),
        cap: Some(Limit::uniform(cap)),
        daily_claim_quota: Some(Limit::uniform(3)),
        return_target: ReturnTarget::UserChooses,
        ..PoolRules::default()
    }
}

fn fixture() -> Fixture {
    let mut world = World::standard();
    world.ok(
        as_user(ADMIN),
        CommandBody::SetOrganizationSettings {
            overall_cap: Some(Limit::uniform(4)),
            day_offset_minutes: 480,
        },
    );
    let pools = [
        world.pool(PoolMode::FreeClaim, rules(2)),
        world.pool(PoolMode::ClaimWithApproval, rules(3)),
        world.pool(PoolMode::AssignOnly, rules(2)),
    ];
    let customers = (0..CUSTOMERS)
        .map(|i| world.customer_in(pools[i % 3]))
        .collect();
    Fixture {
        world,
        pools,
        customers,
    }
}

impl Fixture {
    fn apply(&mut self, op: &Op) {
        let model = &self.world.model;
        let fits = |state: &CustomerState| -> bool {
            match op {
                Op::Claim(..) | Op::Request(..) | Op::Assign(..) => *state == CustomerState::InPool,
                Op::Approve(..) | Op::Reject(..) => matches!(state, CustomerState::Pending { .. }),
                Op::Unfreeze(..) => *state == CustomerState::Frozen,
                Op::Restore(..) => matches!(state, CustomerState::Deleted { .. }),
                Op::Freeze(..) | Op::Move(..) | Op::Delete(..) => {
                    !matches!(state, CustomerState::Deleted { .. })
                }
                _ => state.owner().is_some(),
            }
        };
        let fitting: Vec<CustomerId> = self
            .customers
            .iter()
            .copied()
            .filter(|id| fits(&model.customers[id].state))
            .collect();
        let customers: Vec<CustomerId> = self.customers.clone();
        let user = |index: usize| USERS[index];
        let customer = |index: usize| {
            if index < CUSTOMERS || fitting.is_empty() {
                customers[index % CUSTOMERS]
            } else {
                fitting[index % fitting.len()]
            }
        };
        // `OWNER` acts as the target's owner (or ALICE when it has none).
        let acting = |index: usize, target: usize| {
            if index == OWNER {
                model.customers[&customer(target)]
                    .state
                    .owner()
                    .unwrap_or(ALICE)
            } else {
                USERS[index]
            }
        };
        let body = match *op {
            Op::Claim(u, c) => Some((
                user(u),
                CommandBody::Claim {
                    customer_id: customer(c),
                },
            )),
            Op::Request(u, c) => Some((
                user(u),
                CommandBody::RequestClaim {
                    customer_id: customer(c),
                },
            )),
            Op::Approve(u, c) => Some((
                user(u),
                CommandBody::ApproveClaim {
                    customer_id: customer(c),
                },
            )),
            Op::Reject(u, c) => Some((
                user(u),
                CommandBody::RejectClaim {
                    customer_id: customer(c),
                    reason: None,
                },
            )),
            Op::Abandon(u, c, with_reason) => Some((
                acting(u, c),
                CommandBody::Abandon {
                    customer_id: customer(c),
                    reason: if with_reason {
                        REASON.into()
                    } else {
                        " ".into()
                    },
                    return_to: None,
                },
            )),
            Op::Reclaim(u, c) => Some((
                user(u),
                CommandBody::Reclaim {
                    customer_id: customer(c),
                    reason: None,
                },
            )),
            Op::Assign(a, c, u) => Some((
                user(a),
                CommandBody::Assign {
                    customer_id: customer(c),
                    assignee: user(u),
                    protection: None,
                },
            )),
            Op::Transfer(a, c, u) => Some((
                acting(a, c),
                CommandBody::Transfer {
                    customer_id: customer(c),
                    new_owner: user(u),
                    reason: None,
                },
            )),
            Op::Freeze(c) => Some((
                KEEPER,
                CommandBody::Freeze {
                    customer_id: customer(c),
                    reason: None,
                },
            )),
            Op::Unfreeze(c) => Some((
                KEEPER,
                CommandBody::Unfreeze {
                    customer_id: customer(c),
                },
            )),
            Op::Move(c, p) => Some((
                ADMIN,
                CommandBody::Move {
                    customer_id: customer(c),
                    destination_pool: self.pools[p],
                },
            )),
            Op::Delete(u, c) => Some((
                user(u),
                CommandBody::Delete {
                    customer_id: customer(c),
                },
            )),
            Op::Restore(c) => Some((
                ADMIN,
                CommandBody::Restore {
                    customer_id: customer(c),
                },
            )),
            Op::FollowUp(u, c) => {
                let follow_up_id = FollowUpId::from_u128(0xF0_0000 + self.world.log.len() as u128);
                Some((
                    acting(u, c),
                    CommandBody::LogFollowUp {
                        customer_id: customer(c),
                        follow_up_id,
                        kind: FollowUpKind::Visit,
                        note: "拜访".into(),
                    },
                ))
            }
            Op::Won(u, c) => Some((
                acting(u, c),
                CommandBody::MarkWon {
                    customer_id: customer(c),
                },
            )),
            Op::Deactivate(u, s) => Some((
                ADMIN,
                CommandBody::DeactivateUser {
                    user_id: user(u),
                    successor: s.map(user),
                },
            )),
            Op::Tighten(p, cap) => Some((
                ADMIN,
                CommandBody::SetPoolRules {
                    pool_id: self.pools[p],
                    rules: rules(cap),
                },
            )),
            Op::Revert(a, k, whole) => Some((user(a), revert(&self.world.log, k, whole))),
            Op::Advance(hours) => {
                self.world.advance(Duration::hours(i64::from(hours)));
                None
            }
            Op::Scheduler => {
                self.world.run_scheduler();
                None
            }
        };
        if let Some((actor, body)) = body {
            let before = self.world.model.clone();
            let logged = self.world.log.len();
            if self.world.exec(as_user(actor), body).is_err() {
                assert_eq!(self.world.log.len(), logged, "a refused command appended");
                assert!(
                    self.world.model == before,
                    "a refused command changed the model"
                );
            }
        }
    }
}

/// A revert of the `k`-th latest customer-state change of `log` (or of every state change
/// of its command, as the service's RevertCommand asks).
fn revert(log: &[Event], k: usize, whole: bool) -> CommandBody {
    let recorded = recorded(log);
    let changes: Vec<&RecordedChange> = recorded
        .iter()
        .filter(|r| {
            matches!(r.event.stream(), StreamRef::Customer(_))
                && !matches!(
                    r.event.body,
                    EventBody::CustomerCreated(_) | EventBody::FollowUpLogged(_)
                )
        })
        .collect();
    let Some(chosen) = changes.iter().rev().nth(k % changes.len().max(1)) else {
        return CommandBody::RevertChanges {
            changes: Vec::new(),
            reason: "误操作".into(),
        };
    };
    let changes = if whole {
        let command = chosen.event.command_id;
        let same = recorded.iter().filter(|r| r.event.command_id == command);
        let ownership = |r: &&RecordedChange| {
            poolkeeper_domain::model::changes_state(&r.event.body)
                && !matches!(r.event.body, EventBody::CustomerCreated(_))
        };
        same.filter(ownership).cloned().collect()
    } else {
        vec![(*chosen).clone()]
    };
    CommandBody::RevertChanges {
        changes,
        reason: "误操作".into(),
    }
}

/// An oracle of ownership folded straight from events, independent of the write model.
#[derive(Default)]
struct Oracle {
    owner: HashMap<CustomerId, UserId>,
    pool: HashMap<CustomerId, PoolId>,
    caps: HashMap<PoolId, u32>,
    overall_cap: Option<u32>,
    losses: HashMap<(UserId, CustomerId), DateTime<Utc>>,
    cooldown_days: HashMap<PoolId, u32>,
    /// Every customer event so far: its customer and whether it was reverted.
    changes: HashMap<EventId, (CustomerId, bool)>,
}

impl Oracle {
    fn owned_in(&self, user: UserId, pool: PoolId) -> u32 {
        let count = self
            .owner
            .iter()
            .filter(|(c, o)| **o == user && self.pool[*c] == pool)
            .count();
        u32::try_from(count).unwrap()
    }

    fn owned_total(&self, user: UserId) -> u32 {
        u32::try_from(self.owner.values().filter(|o| **o == user).count()).unwrap()
    }

    /// A user gains `customer`: it must have no owner, and the user must be under every cap.
    fn grant(
        &mut self,
        customer: CustomerId,
        user: UserId,
        transfer_from: Option<UserId>,
        checks_cap: bool,
    ) {
        assert_eq!(
            self.owner.get(&customer).copied(),
            transfer_from,
            "two owners for customer {customer}"
        );
        let pool = self.pool[&customer];
        if checks_cap {
            if let Some(cap) = self.caps.get(&pool) {
                assert!(
                    self.owned_in(user, pool) < *cap,
                    "pool cap {cap} broken for {user}"
                );
            }
            if let Some(cap) = self.overall_cap {
                assert!(
                    self.owned_total(user) < cap,
                    "overall cap {cap} broken for {user}"
                );
            }
        }
        self.owner.insert(customer, user);
    }

    fn release(&mut self, customer: CustomerId) -> Option<UserId> {
        self.owner.remove(&customer)
    }

    fn check_cooldown(&self, user: UserId, customer: CustomerId, at: DateTime<Utc>) {
        if let (Some(lost), Some(days)) = (
            self.losses.get(&(user, customer)),
            self.cooldown_days.get(&self.pool[&customer]),
        ) {
            assert!(
                at >= *lost + Duration::days(i64::from(*days)),
                "cooldown skipped by {user} on {customer}"
            );
        }
    }

    fn fold(&mut self, event: &Event) {
        let at = event.at;
        if let StreamRef::Customer(customer) = event.stream() {
            self.changes.insert(event.event_id, (customer, false));
        }
        match &event.body {
            EventBody::PoolCreated(e) => self.configure(e.pool_id, &e.rules),
            EventBody::PoolRulesChanged(e) => self.configure(e.pool_id, &e.rules),
            EventBody::OrganizationSettingsChanged(e) => {
                self.overall_cap = e.overall_cap.as_ref().map(|l| l.value)
            }
            EventBody::CustomerCreated(e) => {
                self.pool.insert(e.customer_id, e.pool_id);
                if let Some(owner) = e.owner {
                    self.grant(e.customer_id, owner, None, false);
                }
            }
            EventBody::CustomerClaimed(e) => {
                self.check_cooldown(e.owner, e.customer_id, at);
                self.grant(e.customer_id, e.owner, None, true);
            }
            EventBody::ClaimRequested(e) => self.check_cooldown(e.applicant, e.customer_id, at),
            EventBody::ClaimApproved(e) => self.grant(e.customer_id, e.applicant, None, true),
            EventBody::CustomerAssigned(e) => self.grant(e.customer_id, e.assignee, None, true),
            EventBody::CustomerAutoAssigned(e) => self.grant(e.customer_id, e.assignee, None, true),
            EventBody::CustomerTransferred(e) => {
                self.grant(e.customer_id, e.to, Some(e.from), true)
            }
            EventBody::CustomerRestored(e) if e.restored_to == RestoredTo::FormerOwner => {
                self.grant(e.customer_id, e.owner.unwrap(), None, true);
            }
            EventBody::CustomerAbandoned(e) => {
                assert!(!e.reason.trim().is_empty(), "abandon without a reason");
                assert_eq!(
                    self.release(e.customer_id),
                    Some(e.abandoner),
                    "abandoner was not the owner"
                );
                assert_eq!(event.actor, Actor::User(e.abandoner));
                self.losses.insert((e.abandoner, e.customer_id), at);
                self.pool.insert(e.customer_id, e.to_pool);
            }
            EventBody::CustomerReclaimed(e) => {
                assert_eq!(self.release(e.customer_id), Some(e.former_owner));
                self.losses.insert((e.former_owner, e.customer_id), at);
            }
            EventBody::CustomerAutoReclaimed(e) => {
                assert_eq!(self.release(e.customer_id), Some(e.former_owner));
                assert!(at >= e.due_at, "reclaimed before it was due");
                self.losses.insert((e.former_owner, e.customer_id), at);
            }
            EventBody::CustomerFrozen(e) => assert_eq!(self.release(e.customer_id), e.former_owner),
            EventBody::CustomerDeleted(e) => {
                assert_eq!(self.release(e.customer_id), e.former_owner)
            }
            EventBody::CustomerMoved(e) => {
                self.pool.insert(e.customer_id, e.to_pool);
            }
            EventBody::FollowUpLogged(e) => {
                assert_eq!(self.owner.get(&e.customer_id), Some(&e.author))
            }
            EventBody::CustomerWon(e) => assert_eq!(self.owner.get(&e.customer_id), Some(&e.owner)),
            EventBody::CustomerChangeReverted(e) => {
                let original = self.changes.get_mut(&e.compensates);
                let (customer, reverted) = original.expect("a compensation names an earlier event");
                assert_eq!(*customer, e.customer_id, "compensation of another customer");
                assert!(!*reverted, "a change reverted twice");
                *reverted = true;
                assert!(!e.reason.trim().is_empty(), "a revert without a reason");
                match e.reverted_to {
                    RevertedTo::Owned { owner } => {
                        self.grant(e.customer_id, owner, e.former_owner, true);
                        self.losses.remove(&(owner, e.customer_id));
                    }
                    RevertedTo::InPool | RevertedTo::Pending { .. } => {
                        assert_eq!(self.release(e.customer_id), e.former_owner);
                    }
                    RevertedTo::Moved => {
                        assert_eq!(self.pool[&e.customer_id], e.pool_id);
                    }
                }
            }
            _ => {}
        }
    }

    fn configure(&mut self, pool: PoolId, rules: &PoolRules) {
        match &rules.cap {
            Some(cap) => self.caps.insert(pool, cap.value),
            None => self.caps.remove(&pool),
        };
        match &rules.cooldown_days {
            Some(days) => self.cooldown_days.insert(pool, days.value),
            None => self.cooldown_days.remove(&pool),
        };
    }
}

fn check_model_against_oracle(model: &WriteModel, oracle: &Oracle) {
    for (customer_id, customer) in &model.customers {
        assert_eq!(
            customer.state.owner(),
            oracle.owner.get(customer_id).copied(),
            "owner of {customer_id}"
        );
        assert_eq!(customer.pool, oracle.pool[customer_id]);
        let expected_wake = match (customer.reminder_at, customer.deadline) {
            (Some(reminder), Some(deadline)) => Some(reminder.min(deadline.at).timestamp_micros()),
            (_, deadline) => deadline.map(|d| d.at.timestamp_micros()),
        };
        assert_eq!(customer.wake_at, expected_wake, "wake-up of {customer_id}");
        if let Some(at) = customer.wake_at {
            assert!(
                model.wakeups.contains(&(at, *customer_id)),
                "wake-up of {customer_id} is not indexed"
            );
        }
    }
    for user in USERS {
        assert_eq!(
            model.owned_total(user),
            oracle.owned_total(user),
            "owned total of {user}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_keep_every_invariant(ops in proptest::collection::vec(op(), 1..120)) {
        let mut fixture = fixture();
        for op in &ops {
            fixture.apply(op);
        }
        let mut oracle = Oracle::default();
        for event in &fixture.world.log {
            oracle.fold(event);
        }
        check_model_against_oracle(&fixture.world.model, &oracle);

        let json: Vec<String> = fixture.world.log.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
        let decoded: Vec<Event> = json.iter().map(|line| serde_json::from_str(line).unwrap()).collect();
        prop_assert_eq!(&decoded, &fixture.world.log);
        let refolded = WriteModel::fold(&decoded);
        prop_assert!(refolded == fixture.world.model, "folding the log from scratch differs from the live model");
    }

    #[test]
    fn decide_is_deterministic(ops in proptest::collection::vec(op(), 1..40)) {
        let mut first = fixture();
        let mut second = fixture();
        for op in &ops {
            first.apply(op);
            second.apply(op);
        }
        prop_assert_eq!(&first.world.log, &second.world.log);
    }
}

/// Thousands of follow-ups supersede wake-up entries; the index is swept, stays bounded,
/// and `due` still finds exactly the customers whose deadline passed.
#[test]
fn wakeup_index_is_swept_and_due_stays_exact() {
    let mut world = World::standard();
    let rules = PoolRules {
        no_contact: Some(Limit::uniform(3)),
        ..PoolRules::default()
    };
    let pool = world.pool(PoolMode::FreeClaim, rules);
    let customers: Vec<CustomerId> = (0..40).map(|_| world.owned_by(pool, ALICE)).collect();
    for round in 0..100 {
        world.advance(Duration::minutes(10));
        for customer in &customers[..30] {
            world.follow_up(ALICE, *customer);
        }
        assert!(
            world.model.wakeups.len() <= 2 * 40 + 1_100,
            "round {round}: index grew to {}",
            world.model.wakeups.len()
        );
    }
    assert!(world.model.stale_wakeups < 1_100);
    // The last 10 are contacted an hour after the others; three days after the others'
    // last contact exactly those 30 are due.
    world.advance(Duration::hours(1));
    for customer in &customers[30..] {
        world.follow_up(ALICE, *customer);
    }
    world.advance(Duration::days(3) - Duration::hours(1));
    let due = poolkeeper_domain::schedule::due(&world.model, world.now, usize::MAX);
    let due: std::collections::BTreeSet<CustomerId> = due
        .iter()
        .map(|action| match action {
            poolkeeper_domain::schedule::DueAction::Reclaim { customer_id, .. } => *customer_id,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(due, customers[..30].iter().copied().collect());
}
