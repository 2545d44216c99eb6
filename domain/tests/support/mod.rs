//! A given/when/then harness over the pure domain: a small organization, a manual clock,
//! and helpers that decide a command, fold its events and keep the log.
//!
//! - this module: the [`World`] (the history so far: model, log, clock) and its given
//!   steps (a standard organization, pools, customers, owners, follow-ups);
//! - `given`: [`given`], [`World::when`] and the [`Then`] of a command;
//! - `commands`: builders of users, rules, pools and commands, one per command;
//! - `assertions`: closer looks at events, errors, deadlines, ownership and access.
#![allow(dead_code)]

mod assertions;
mod commands;
mod given;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use poolkeeper_domain::command::NewCustomer;
use poolkeeper_domain::event::FollowUpKind;
use poolkeeper_domain::schedule;
use poolkeeper_domain::*;

#[allow(unused_imports)]
pub use assertions::*;
#[allow(unused_imports)]
pub use commands::*;
#[allow(unused_imports)]
pub use given::*;

/// The organization admin (sees and may do everything).
pub const ADMIN: UserId = UserId::from_u128(0xA0);
/// A sales manager, superior of ALICE and BOB.
pub const MANAGER: UserId = UserId::from_u128(0xB0);
/// The director, superior of MANAGER (so ALICE's superior's superior).
pub const DIRECTOR: UserId = UserId::from_u128(0xB1);
/// A salesperson under MANAGER.
pub const ALICE: UserId = UserId::from_u128(0xC1);
/// A salesperson under MANAGER.
pub const BOB: UserId = UserId::from_u128(0xC2);
/// A salesperson in another team (a peer, isolated from ALICE).
pub const CAROL: UserId = UserId::from_u128(0xC3);
/// Admin of pool NORTH, not an organization admin.
pub const KEEPER: UserId = UserId::from_u128(0xD0);

/// The default pool: free claim, everyone is a member.
pub const DEFAULT_POOL: PoolId = PoolId::from_u128(0x100);

/// 2026-01-01 09:00 UTC, the harness's day 1.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap()
}

/// An actor for a user.
pub fn as_user(user: UserId) -> Actor {
    Actor::User(user)
}

/// The domain, driven command by command.
pub struct World {
    /// The write model after every accepted command.
    pub model: WriteModel,
    /// Every event accepted so far, in order.
    pub log: Vec<Event>,
    /// The current instant.
    pub now: DateTime<Utc>,
    next_id: u128,
}

impl Default for World {
    fn default() -> Self {
        Self::empty()
    }
}

impl World {
    /// No users, no pools.
    pub fn empty() -> Self {
        Self {
            model: WriteModel::new(),
            log: Vec::new(),
            now: t0(),
            next_id: 1,
        }
    }

    /// ADMIN, DIRECTOR > MANAGER > {ALICE, BOB}, CAROL and KEEPER; the default pool.
    pub fn standard() -> Self {
        let mut world = Self::empty();
        let users = [
            (ADMIN, "管理员", None, true),
            (DIRECTOR, "总监", None, false),
            (MANAGER, "销售经理", Some(DIRECTOR), false),
            (ALICE, "Alice", Some(MANAGER), false),
            (BOB, "Bob", Some(MANAGER), false),
            (CAROL, "Carol", None, false),
            (KEEPER, "Keeper", None, false),
        ];
        for (user_id, name, superior, admin) in users {
            world.ok(
                Actor::System,
                CommandBody::CreateUser {
                    user_id,
                    name: name.into(),
                    superior,
                    department: Some("销售部".into()),
                    admin,
                },
            );
        }
        world.ok(
            Actor::System,
            CommandBody::CreatePool {
                pool_id: DEFAULT_POOL,
                name: "默认公海".into(),
                mode: PoolMode::FreeClaim,
                admins: BTreeSet::new(),
                members: BTreeSet::new(),
                everyone: true,
                default: true,
                rules: PoolRules::default(),
            },
        );
        world
    }

    /// A fresh command id.
    pub fn command_id(&mut self) -> CommandId {
        self.next_id += 1;
        CommandId::from_u128(0xC0DE_0000_0000 + self.next_id)
    }

    /// A fresh id for customers, pools or follow-ups.
    pub fn fresh(&mut self) -> u128 {
        self.next_id += 1;
        0xF000_0000 + self.next_id
    }

    /// Decides and, when accepted, folds and records.
    pub fn exec(&mut self, actor: Actor, body: CommandBody) -> Result<Vec<Event>, DomainError> {
        let command = Command::new(self.command_id(), actor, body);
        self.submit(&command)
    }

    /// Decides a prepared command and, when accepted, folds and records.
    pub fn submit(&mut self, command: &Command) -> Result<Vec<Event>, DomainError> {
        let events = decide(&self.model, command, self.now)?;
        for event in &events {
            self.model.apply(event);
        }
        self.log.extend(events.iter().cloned());
        Ok(events)
    }

    /// The command must be accepted; returns its events.
    #[track_caller]
    pub fn ok(&mut self, actor: Actor, body: CommandBody) -> Vec<Event> {
        let name = body.name();
        match self.exec(actor, body) {
            Ok(events) => events,
            Err(error) => panic!("{name} by {actor} was refused: {error}"),
        }
    }

    /// The command must be refused, without changing anything; returns the error.
    #[track_caller]
    pub fn err(&mut self, actor: Actor, body: CommandBody) -> DomainError {
        self.when(actor, body).then_refused()
    }

    /// Moves the clock forward.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Runs the reclaim scheduler once at the current instant; returns what it appended.
    pub fn run_scheduler(&mut self) -> Vec<Event> {
        let mut appended = Vec::new();
        for action in schedule::due(&self.model, self.now, 10_000) {
            if let Ok(events) = self.submit(&action.into_command()) {
                appended.extend(events);
            }
        }
        appended
    }

    /// Creates a pool with the given mode and rules, KEEPER as its admin, ALICE, BOB and
    /// CAROL as members.
    pub fn pool(&mut self, mode: PoolMode, rules: PoolRules) -> PoolId {
        let pool_id = PoolId::from_u128(self.fresh());
        self.ok(
            as_user(ADMIN),
            CommandBody::CreatePool {
                pool_id,
                name: format!("pool {pool_id}"),
                mode,
                admins: BTreeSet::from([KEEPER]),
                members: BTreeSet::from([ALICE, BOB, CAROL]),
                everyone: false,
                default: false,
                rules,
            },
        );
        pool_id
    }

    /// An unclaimed customer in `pool`, created by the admin.
    pub fn customer_in(&mut self, pool: PoolId) -> CustomerId {
        let customer_id = CustomerId::from_u128(self.fresh());
        self.ok(
            as_user(ADMIN),
            CommandBody::CreateCustomer(new_customer(
                customer_id,
                Some(pool),
                "上海某某科技有限公司",
            )),
        );
        customer_id
    }

    /// A customer in `pool` owned by `owner` (assigned by the admin).
    pub fn owned_by(&mut self, pool: PoolId, owner: UserId) -> CustomerId {
        let customer_id = self.customer_in(pool);
        self.ok(
            as_user(ADMIN),
            CommandBody::Assign {
                customer_id,
                assignee: owner,
                protection: None,
            },
        );
        customer_id
    }

    /// `owner` logs a follow-up on `customer_id`.
    pub fn follow_up(&mut self, owner: UserId, customer_id: CustomerId) -> FollowUpId {
        let follow_up_id = FollowUpId::from_u128(self.fresh());
        self.ok(
            as_user(owner),
            CommandBody::LogFollowUp {
                customer_id,
                follow_up_id,
                kind: FollowUpKind::Call,
                note: "电话沟通".into(),
            },
        );
        follow_up_id
    }

    /// The customer's state.
    pub fn state(&self, customer_id: CustomerId) -> &CustomerState {
        &self.model.customers[&customer_id].state
    }

    /// The customer's owner, if owned.
    pub fn owner(&self, customer_id: CustomerId) -> Option<UserId> {
        self.state(customer_id).owner()
    }

    /// The customer's pool.
    pub fn pool_of(&self, customer_id: CustomerId) -> PoolId {
        self.model.customers[&customer_id].pool
    }
}

/// Every event of `log` as the log records it: its position and its stream's version.
pub fn recorded(log: &[Event]) -> Vec<poolkeeper_domain::command::RecordedChange> {
    let mut versions: std::collections::HashMap<StreamRef, u64> = Default::default();
    log.iter()
        .enumerate()
        .map(|(index, event)| {
            let version = versions.entry(event.stream()).or_default();
            *version += 1;
            poolkeeper_domain::command::RecordedChange {
                event: event.clone(),
                position: index as u64 + 1,
                stream_version: *version,
            }
        })
        .collect()
}

/// A new customer with a name and nothing else.
pub fn new_customer(customer_id: CustomerId, pool_id: Option<PoolId>, name: &str) -> NewCustomer {
    NewCustomer {
        customer_id,
        pool_id,
        name: name.into(),
        source: None,
        fields: BTreeMap::new(),
        keep: false,
    }
}

/// The type names of events, for compact assertions.
pub fn types(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|event| event.body.event_type()).collect()
}
