//! A deterministic generator of valid histories, driven through the domain's `decide`:
//! for property tests (a [`Step`] per proptest value), crash tests and the benchmark.
//!
//! Each [`Simulation::step`] advances the clock, runs the reclaim scheduler, then decides
//! one command chosen from the step and the state of the customer it picks, so most
//! commands are accepted; refused ones are skipped. Every accepted command's events are
//! returned together, ready for `poolkeeper_codec::encode`.
//!
//! This crate is a dev-dependency only (of the projections' tests and of the
//! `projections-bench` benchmark, `benches/`): no release binary links it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use poolkeeper_domain::command::{NewCustomer, RecordedChange};
use poolkeeper_domain::event::FollowUpKind;
use poolkeeper_domain::rules::{
    AssignRule, AssignStrategy, Condition, DeadlineOutcome, Escalation, Limit, ProtectionExtension,
    ProtectionRule, ReturnTarget,
};
use poolkeeper_domain::{
    Actor, Command, CommandBody, CommandId, CustomerId, CustomerState, Event, FollowUpId, PoolId,
    PoolMode, PoolRules, ProtectionWindow, StreamRef, UserId, WriteModel, decide, schedule,
};

/// One random choice: what to try, on which customer, with which other party, after how
/// many minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Which kind of command (any value; taken modulo the number of kinds).
    pub action: u8,
    /// Picks the customer.
    pub pick: u32,
    /// Picks the other party (a user, a pool, a variant).
    pub other: u32,
    /// Minutes the clock advances first.
    pub minutes: u16,
}

/// The number of distinct [`Step::action`] values.
pub const ACTIONS: u8 = 20;

/// The abandon reasons of the approval pool.
pub const REASONS: [&str; 3] = ["无意向", "联系不上", "重复客户"];

/// An organization, its pools and customers, evolving command by command.
pub struct Simulation {
    /// The write model after every accepted command.
    pub model: WriteModel,
    /// The current instant.
    pub now: DateTime<Utc>,
    /// The organization admin.
    pub admin: UserId,
    /// Every other user ever created.
    pub users: Vec<UserId>,
    /// The pools: default (free claim), approval (claim with approval), assign-only.
    pub pools: Vec<PoolId>,
    /// Every customer ever created.
    pub customers: Vec<CustomerId>,
    follow_ups: BTreeMap<CustomerId, FollowUpId>,
    /// Each customer's latest state change as the log records it (positions count every
    /// event this simulation returned, in order), for reverts.
    last_change: BTreeMap<CustomerId, RecordedChange>,
    /// Events returned so far: the position of the last one.
    position: u64,
    base: u128,
    next_id: u128,
}

fn department(manager: usize) -> String {
    format!("销售{manager}部")
}

impl Simulation {
    /// An admin, `users` users (a director, managers, salespeople), three pools. `seed`
    /// separates the ids of different simulations. Returns the setup commands' events.
    pub fn new(seed: u64, users: usize) -> (Self, Vec<Vec<Event>>) {
        let mut simulation = Self {
            model: WriteModel::new(),
            now: Utc
                .with_ymd_and_hms(2026, 1, 5, 1, 0, 0)
                .single()
                .unwrap_or_default(),
            admin: UserId::from_u128(0),
            users: Vec::new(),
            pools: Vec::new(),
            customers: Vec::new(),
            follow_ups: BTreeMap::new(),
            last_change: BTreeMap::new(),
            position: 0,
            base: u128::from(seed) << 64,
            next_id: 0,
        };
        simulation.admin = UserId::from_u128(simulation.fresh());
        let mut log = Vec::new();
        let admin = simulation.admin;
        log.extend(simulation.run(
            Actor::System,
            CommandBody::CreateUser {
                user_id: admin,
                name: "管理员".into(),
                superior: None,
                department: None,
                admin: true,
            },
        ));
        let managers = (users / 8).max(1);
        for index in 0..users.max(2) {
            let (superior, dept) = match index {
                0 => (None, None),
                i if i <= managers => (Some(simulation.users[0]), Some(department(i))),
                i => {
                    let manager = 1 + i % managers;
                    (
                        simulation.users.get(manager).copied(),
                        Some(department(manager)),
                    )
                }
            };
            let user_id = UserId::from_u128(simulation.fresh());
            log.extend(simulation.run(
                Actor::User(admin),
                CommandBody::CreateUser {
                    user_id,
                    name: format!("user {index}"),
                    superior,
                    department: dept,
                    admin: false,
                },
            ));
            simulation.users.push(user_id);
        }
        let everyone: BTreeSet<UserId> = simulation.users.iter().copied().collect();
        let pools = [
            (
                "默认公海",
                PoolMode::FreeClaim,
                BTreeSet::new(),
                true,
                PoolRules {
                    claimed_not_contacted: Some(Limit::uniform(3)),
                    no_contact: Some(Limit::uniform(7)),
                    reminder_hours: Some(12),
                    cooldown_days: Some(Limit::uniform(1)),
                    ..PoolRules::default()
                },
            ),
            (
                "华北区客户",
                PoolMode::ClaimWithApproval,
                BTreeSet::from([simulation.users[managers.min(simulation.users.len() - 1)]]),
                false,
                PoolRules {
                    not_won: Some(Limit::uniform(20)),
                    protection: Some(ProtectionRule {
                        default_days: Limit::uniform(10),
                        max_days: 30,
                        extension: Some(ProtectionExtension {
                            contact_within_days: 3,
                            extend_by_days: 5,
                        }),
                    }),
                    abandon_reasons: REASONS.iter().map(|r| (*r).to_owned()).collect(),
                    ..PoolRules::default()
                },
            ),
            (
                "VIP客户",
                PoolMode::AssignOnly,
                BTreeSet::new(),
                false,
                PoolRules {
                    not_won: Some(Limit::uniform(30)),
                    auto_assign: vec![AssignRule {
                        name: "官网线索".into(),
                        filter: vec![Condition::Equals {
                            field: "source".into(),
                            value: "官网".into(),
                        }],
                        assignees: simulation.users.iter().rev().take(5).copied().collect(),
                        strategy: AssignStrategy::RoundRobin,
                    }],
                    ..PoolRules::default()
                },
            ),
        ];
        for (index, (name, mode, admins, default, mut rules)) in pools.into_iter().enumerate() {
            let pool_id = PoolId::from_u128(simulation.fresh());
            if index == 2 {
                rules.return_target = ReturnTarget::Fixed {
                    pool: simulation.pools[0],
                };
            }
            log.extend(simulation.run(
                Actor::User(admin),
                CommandBody::CreatePool {
                    pool_id,
                    name: name.into(),
                    mode,
                    admins,
                    members: if default {
                        BTreeSet::new()
                    } else {
                        everyone.clone()
                    },
                    everyone: default,
                    default,
                    rules,
                },
            ));
            simulation.pools.push(pool_id);
        }
        (simulation, log)
    }

    /// For one assignment in three, an explicit protection window (seed 004, in any pool):
    /// from up to a day ago to 1 to 12 days ahead, within every simulated maximum.
    fn window(&self, other: u32) -> Option<ProtectionWindow> {
        other.is_multiple_of(3).then(|| ProtectionWindow {
            start: self.now - Duration::hours(i64::from(other % 24)),
            end: self.now + Duration::days(1 + i64::from(other / 3 % 12)),
        })
    }

    fn fresh(&mut self) -> u128 {
        self.next_id += 1;
        self.base | self.next_id
    }

    /// Decides and, when accepted, folds; returns the accepted command's events.
    fn run(&mut self, actor: Actor, body: CommandBody) -> Option<Vec<Event>> {
        let command = Command::new(CommandId::from_u128(self.fresh()), actor, body);
        self.submit(&command)
    }

    fn submit(&mut self, command: &Command) -> Option<Vec<Event>> {
        let events = decide(&self.model, command, self.now).ok()?;
        if events.is_empty() {
            return None;
        }
        for event in &events {
            self.model.apply(event);
            self.position += 1;
            if let StreamRef::Customer(customer_id) = event.stream()
                && let Some(customer) = self.model.customers.get(&customer_id)
                && customer.changed_version == customer.version
            {
                let change = RecordedChange {
                    event: event.clone(),
                    position: self.position,
                    stream_version: customer.version,
                };
                self.last_change.insert(customer_id, change);
            }
        }
        Some(events)
    }

    fn active_users(&self) -> Vec<UserId> {
        self.users
            .iter()
            .copied()
            .filter(|u| self.model.users.get(u).is_some_and(|u| u.active))
            .collect()
    }

    fn pick_user(&self, other: u32) -> Option<UserId> {
        let active = self.active_users();
        (!active.is_empty()).then(|| active[other as usize % active.len()])
    }

    fn new_customer(&mut self, pool: usize, keep: bool, other: u32) -> NewCustomer {
        let customer_id = CustomerId::from_u128(self.fresh());
        let names = ["上海", "北京", "深圳", "杭州", "成都"];
        let name = format!(
            "{}{}科技有限公司",
            names[(customer_id.0.as_u128() % 5) as usize],
            customer_id.0.as_u128() & 0xFFFF_FFFF
        );
        NewCustomer {
            customer_id,
            pool_id: self.pools.get(pool % self.pools.len().max(1)).copied(),
            name,
            source: Some(
                if other.is_multiple_of(3) {
                    "官网"
                } else {
                    "展会"
                }
                .into(),
            ),
            fields: BTreeMap::from([("行业".into(), format!("行业{}", other % 7))]),
            keep,
        }
    }

    /// Imports `count` customers into the pools in turn, as one command per pool, by the admin.
    pub fn import(&mut self, count: usize) -> Vec<Vec<Event>> {
        let mut per_pool: Vec<Vec<NewCustomer>> = vec![Vec::new(); self.pools.len()];
        for index in 0..count {
            let customer = self.new_customer(index, false, index as u32);
            per_pool[index % self.pools.len()].push(customer);
        }
        let mut log = Vec::new();
        for customers in per_pool.into_iter().filter(|c| !c.is_empty()) {
            let ids: Vec<CustomerId> = customers.iter().map(|c| c.customer_id).collect();
            if let Some(events) = self.run(
                Actor::User(self.admin),
                CommandBody::ImportCustomers { customers },
            ) {
                self.customers.extend(ids);
                log.push(events);
            }
        }
        log
    }

    /// Runs the reclaim scheduler at the current instant.
    pub fn run_scheduler(&mut self) -> Vec<Vec<Event>> {
        let mut log = Vec::new();
        for action in schedule::due(&self.model, self.now, 10_000) {
            if let Some(events) = self.submit(&action.into_command()) {
                log.push(events);
            }
        }
        log
    }

    /// Advances the clock by `step.minutes`, runs the scheduler, then tries one command.
    pub fn step(&mut self, step: Step) -> Vec<Vec<Event>> {
        self.now += Duration::minutes(i64::from(step.minutes));
        let mut log = self.run_scheduler();
        if let Some(events) = self.command(step) {
            log.push(events);
        }
        log
    }

    fn command(&mut self, step: Step) -> Option<Vec<Event>> {
        let admin = Actor::User(self.admin);
        let other = step.other;
        let action = step.action % ACTIONS;
        if action == 16 || self.customers.is_empty() {
            let keep = other.is_multiple_of(5);
            let pool = other as usize % self.pools.len();
            let creator = if keep {
                self.pick_user(other)?
            } else {
                self.admin
            };
            let customer = self.new_customer(pool, keep, other);
            let id = customer.customer_id;
            let events = self.run(Actor::User(creator), CommandBody::CreateCustomer(customer))?;
            self.customers.push(id);
            return Some(events);
        }
        if action == 17 {
            return self.admin_command(other);
        }
        let customer_id = self.customers[step.pick as usize % self.customers.len()];
        if action == 7
            && other.is_multiple_of(3)
            && let Some(change) = self.last_change.get(&customer_id)
        {
            let changes = vec![change.clone()];
            let reason = "误操作".to_owned();
            return self.run(admin, CommandBody::RevertChanges { changes, reason });
        }
        let customer = self.model.customers.get(&customer_id)?.clone();
        let pool = self.model.pools.get(&customer.pool)?.clone();
        let user = self.pick_user(other)?;
        let pool_admin = pool
            .admins
            .iter()
            .next()
            .copied()
            .map_or(admin, Actor::User);
        let (actor, body) = match (&customer.state, action) {
            (CustomerState::InPool, 0..=5 | 18 | 19) => match pool.mode {
                PoolMode::FreeClaim => (Actor::User(user), CommandBody::Claim { customer_id }),
                PoolMode::ClaimWithApproval => {
                    (Actor::User(user), CommandBody::RequestClaim { customer_id })
                }
                PoolMode::AssignOnly => (
                    pool_admin,
                    CommandBody::Assign {
                        customer_id,
                        assignee: user,
                        protection: self.window(other),
                    },
                ),
            },
            (CustomerState::Pending { .. }, _) => match other % 4 {
                0 => (
                    pool_admin,
                    CommandBody::RejectClaim {
                        customer_id,
                        reason: Some("资料不全".into()),
                    },
                ),
                1 => (
                    admin,
                    CommandBody::Assign {
                        customer_id,
                        assignee: user,
                        protection: None,
                    },
                ),
                _ => (pool_admin, CommandBody::ApproveClaim { customer_id }),
            },
            (CustomerState::Owned(ownership), _) => {
                let owner = Actor::User(ownership.owner);
                match action {
                    9 => (
                        owner,
                        CommandBody::Abandon {
                            customer_id,
                            reason: REASONS[other as usize % REASONS.len()].into(),
                            return_to: None,
                        },
                    ),
                    10 => (
                        owner,
                        CommandBody::Transfer {
                            customer_id,
                            new_owner: user,
                            reason: Some("调整负责人".into()),
                        },
                    ),
                    11 => (
                        admin,
                        CommandBody::Reclaim {
                            customer_id,
                            reason: other.is_multiple_of(2).then(|| "长期未跟进".into()),
                        },
                    ),
                    12 => (owner, CommandBody::MarkWon { customer_id }),
                    13 => (
                        admin,
                        CommandBody::Freeze {
                            customer_id,
                            reason: Some("客户投诉".into()),
                        },
                    ),
                    14 => (admin, CommandBody::Delete { customer_id }),
                    15 => return self.misc(customer_id, &customer, other),
                    _ if other.is_multiple_of(7) && self.follow_ups.contains_key(&customer_id) => (
                        admin,
                        CommandBody::CommentFollowUp {
                            customer_id,
                            follow_up_id: self.follow_ups[&customer_id],
                            comment: "继续跟进".into(),
                        },
                    ),
                    _ => {
                        let follow_up_id = FollowUpId::from_u128(self.fresh());
                        let events = self.run(
                            owner,
                            CommandBody::LogFollowUp {
                                customer_id,
                                follow_up_id,
                                kind: FollowUpKind::Call,
                                note: "电话沟通".into(),
                            },
                        )?;
                        self.follow_ups.insert(customer_id, follow_up_id);
                        return Some(events);
                    }
                }
            }
            (CustomerState::Frozen, _) => (admin, CommandBody::Unfreeze { customer_id }),
            (CustomerState::Deleted { .. }, _) if other.is_multiple_of(3) && !customer.purged => (
                admin,
                CommandBody::PurgeCustomer {
                    customer_id,
                    reason: "删除请求".into(),
                    force: false,
                },
            ),
            (CustomerState::Deleted { .. }, _) => (admin, CommandBody::Restore { customer_id }),
            (CustomerState::InPool, 13) => (
                admin,
                CommandBody::Freeze {
                    customer_id,
                    reason: None,
                },
            ),
            (CustomerState::InPool, 14) => (admin, CommandBody::Delete { customer_id }),
            (CustomerState::InPool, 15) => return self.misc(customer_id, &customer, other),
            (CustomerState::InPool, _) => (
                admin,
                CommandBody::Assign {
                    customer_id,
                    assignee: user,
                    protection: self.window(other),
                },
            ),
        };
        self.run(actor, body)
    }

    /// Moves, shares and protection extensions.
    fn misc(
        &mut self,
        customer_id: CustomerId,
        customer: &poolkeeper_domain::model::Customer,
        other: u32,
    ) -> Option<Vec<Event>> {
        let admin = Actor::User(self.admin);
        let body = match other % 3 {
            0 => CommandBody::Move {
                customer_id,
                destination_pool: self.pools[(other / 3) as usize % self.pools.len()],
            },
            1 => CommandBody::Share {
                customer_id,
                department: department(1 + (other / 3) as usize % 3),
            },
            _ => {
                let CustomerState::Owned(ownership) = &customer.state else {
                    return None;
                };
                let pool = self.model.pools.get(&customer.pool)?;
                let rules = &pool.rules;
                let since = &pool.rules_since;
                // With the protection rule, up to its maximum; without it, an explicit
                // window (re-protected to a future end).
                let current = poolkeeper_domain::rules::protection_until(rules, since, ownership)?;
                let until = current.max(self.now) + Duration::days(3);
                let until = match poolkeeper_domain::rules::protection_max(rules, since, ownership)
                {
                    Some(max) => until.min(max),
                    None => until,
                };
                CommandBody::ExtendProtection { customer_id, until }
            }
        };
        self.run(admin, body)
    }

    /// Rare organization changes: rules, hierarchy, deactivations, settings, modes.
    fn admin_command(&mut self, other: u32) -> Option<Vec<Event>> {
        let admin = Actor::User(self.admin);
        let pool_id = self.pools[(other / 16) as usize % self.pools.len()];
        let body = match other % 16 {
            0 | 1 => {
                let mut rules = self.model.pools.get(&pool_id)?.rules.clone();
                match (other / 64) % 5 {
                    0 => rules.claimed_not_contacted = Some(Limit::uniform(2 + other % 5)),
                    1 => rules.no_contact = None,
                    3 => {
                        let outcomes = [
                            DeadlineOutcome::ReturnToPool,
                            DeadlineOutcome::ReassignToSuperior,
                            DeadlineOutcome::AutoAssign,
                        ];
                        rules.escalation = Some(Escalation {
                            notify_superior_hours: 2 + other % 12,
                            at_deadline: outcomes[(other / 320) as usize % 3],
                        });
                    }
                    2 => {
                        rules.protection = Some(ProtectionRule {
                            default_days: Limit::uniform(5 + other % 10),
                            max_days: 40,
                            extension: None,
                        })
                    }
                    _ => rules.reminder_hours = Some(6 + other % 24),
                }
                CommandBody::SetPoolRules { pool_id, rules }
            }
            2 if self.active_users().len() > 4 => {
                let user_id = self.pick_user(other / 16)?;
                if user_id == self.users[0] {
                    return None;
                }
                let successor = (other % 32 < 16)
                    .then(|| self.pick_user(other / 7))
                    .flatten();
                let events = self.run(admin, CommandBody::DeactivateUser { user_id, successor });
                let fresh = UserId::from_u128(self.fresh());
                let superior = Some(self.users[0]);
                if let Some(created) = self.run(
                    admin,
                    CommandBody::CreateUser {
                        user_id: fresh,
                        name: format!("user {}", self.users.len()),
                        superior,
                        department: Some(department(1)),
                        admin: false,
                    },
                ) {
                    self.users.push(fresh);
                    // The new user is named a member of the member-list pools.
                    let _ = created;
                }
                return events;
            }
            3 => {
                let user_id = self.pick_user(other / 16)?;
                let profile = self.model.users.get(&user_id)?.clone();
                let superior = self.pick_user(other / 5).filter(|s| *s != user_id);
                CommandBody::UpdateUser {
                    user_id,
                    name: profile.name,
                    superior,
                    department: profile.department,
                    admin: false,
                }
            }
            4 => CommandBody::SetOrganizationSettings {
                overall_cap: None,
                day_offset_minutes: [0, 480, -300][(other / 16) as usize % 3],
            },
            5 => CommandBody::SetPoolMode {
                pool_id,
                mode: [
                    PoolMode::FreeClaim,
                    PoolMode::ClaimWithApproval,
                    PoolMode::AssignOnly,
                ][(other / 64) as usize % 3],
            },
            6 => CommandBody::SetPoolMembers {
                pool_id,
                members: self.active_users().into_iter().collect(),
                everyone: false,
            },
            _ => CommandBody::SetPoolAdmins {
                pool_id,
                admins: self.pick_user(other / 16).into_iter().collect(),
            },
        };
        self.run(admin, body)
    }
}
