//! `domain-bench`: decides 1,000,000 mixed commands against a write model of 1,000,000
//! customers and prints decisions per second and peak memory.
//!
//! Run with `cargo run --release --bin domain-bench` (add `--quick` for a reduced run).
//! Every figure is printed as one `metric value unit` line. The library stays pure; this
//! binary reads `/proc/self/status` for the peak resident set size.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use poolkeeper_domain::event::{CustomerCreated, EventBody, FollowUpKind};
use poolkeeper_domain::rules::{DeadlineOutcome, Escalation, Limit, ProtectionRule, ReturnTarget};
use poolkeeper_domain::what_if::Scenario;
use poolkeeper_domain::*;

/// A tiny deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn metric(name: &str, value: impl std::fmt::Display, unit: &str) {
    println!("{name} {value} {unit}");
}

const USERS: u128 = 1_000;
const POOLS: u128 = 10;

fn user(n: u128) -> UserId {
    UserId::from_u128(0x1_0000 + n)
}

fn pool(n: u128) -> PoolId {
    PoolId::from_u128(0x2_0000 + n)
}

fn customer(n: u128) -> CustomerId {
    CustomerId::from_u128(0x1_0000_0000 + n)
}

/// Builds the organization by deciding real commands, then folds customer creations
/// directly (half of them owned) to reach the target size quickly.
fn build_model(customers: u128, start: DateTime<Utc>) -> WriteModel {
    let mut model = WriteModel::new();
    let mut command_number = 0u128;
    let mut run = |model: &mut WriteModel, actor: Actor, body: CommandBody| {
        command_number += 1;
        let command = Command::new(CommandId::from_u128(command_number), actor, body);
        for event in decide(model, &command, start).expect("setup command") {
            model.apply(&event);
        }
    };
    let admin = user(0);
    run(
        &mut model,
        Actor::System,
        CommandBody::CreateUser {
            user_id: admin,
            name: "admin".into(),
            superior: None,
            department: None,
            admin: true,
        },
    );
    for n in 1..USERS {
        run(
            &mut model,
            Actor::User(admin),
            CommandBody::CreateUser {
                user_id: user(n),
                name: format!("sales {n}"),
                superior: (n > 10).then(|| user(n % 10 + 1)),
                department: Some(format!("dept {}", n % 20)),
                admin: false,
            },
        );
    }
    for n in 0..POOLS {
        let mode = match n % 3 {
            0 => PoolMode::FreeClaim,
            1 => PoolMode::ClaimWithApproval,
            _ => PoolMode::AssignOnly,
        };
        let rules = PoolRules {
            claimed_not_contacted: Some(Limit::uniform(5)),
            no_contact: Some(Limit::uniform(10)),
            not_won: Some(Limit::uniform(90)),
            protection: Some(ProtectionRule {
                default_days: Limit::uniform(30),
                max_days: 90,
                extension: None,
            }),
            reminder_hours: Some(24),
            cooldown_days: Some(Limit::uniform(7)),
            cap: Some(Limit::uniform(5_000)),
            daily_claim_quota: Some(Limit::uniform(1_000)),
            return_target: ReturnTarget::SourcePool,
            abandon_reasons: vec!["无意向".into(), "联系不上".into(), "重复客户".into()],
            ..PoolRules::default()
        };
        run(
            &mut model,
            Actor::User(admin),
            CommandBody::CreatePool {
                pool_id: pool(n),
                name: format!("pool {n}"),
                mode,
                admins: BTreeSet::from([admin]),
                members: BTreeSet::new(),
                everyone: true,
                default: n == 0,
                rules,
            },
        );
    }
    model.customers.reserve(customers as usize);
    for n in 0..customers {
        let owner = (n % 2 == 0).then(|| user(1 + n % (USERS - 1)));
        let event = Event {
            event_id: EventId::from_u128(n),
            command_id: CommandId::from_u128(1 << 64 | n),
            at: start,
            actor: Actor::User(admin),
            body: EventBody::CustomerCreated(CustomerCreated {
                customer_id: customer(n),
                pool_id: pool(n % POOLS),
                name: format!("客户 {n}"),
                source: None,
                fields: BTreeMap::new(),
                created_by: admin,
                owner,
            }),
        };
        model.apply(&event);
    }
    model
}

/// A plausible command against a random customer, chosen by the customer's state.
fn next_command(model: &WriteModel, rng: &mut Rng, customers: u128, number: u128) -> Command {
    let admin = user(0);
    let customer_id = customer(rng.below(customers as usize) as u128);
    let target = &model.customers[&customer_id];
    let member = user(1 + rng.below(USERS as usize - 1) as u128);
    let pool_mode = model.pools[&target.pool].mode;
    let roll = rng.below(100);
    let (actor, body) = match (&target.state, roll) {
        (CustomerState::Owned(ownership), 0..=44) => (
            Actor::User(ownership.owner),
            CommandBody::LogFollowUp {
                customer_id,
                follow_up_id: FollowUpId::from_u128(1 << 96 | number),
                kind: FollowUpKind::Call,
                note: "电话沟通，客户有意向".into(),
            },
        ),
        (CustomerState::Owned(ownership), 45..=59) => (
            Actor::User(ownership.owner),
            CommandBody::Abandon {
                customer_id,
                reason: "无意向".into(),
                return_to: None,
            },
        ),
        (CustomerState::Owned(ownership), 60..=74) => (
            Actor::User(ownership.owner),
            CommandBody::Transfer {
                customer_id,
                new_owner: member,
                reason: None,
            },
        ),
        (CustomerState::Owned(ownership), 75..=84) => (
            Actor::User(ownership.owner),
            CommandBody::MarkWon { customer_id },
        ),
        (CustomerState::Owned(_), _) => (
            Actor::User(admin),
            CommandBody::Reclaim {
                customer_id,
                reason: None,
            },
        ),
        (CustomerState::InPool, _) => match pool_mode {
            PoolMode::FreeClaim => (Actor::User(member), CommandBody::Claim { customer_id }),
            PoolMode::ClaimWithApproval => (
                Actor::User(member),
                CommandBody::RequestClaim { customer_id },
            ),
            PoolMode::AssignOnly => (
                Actor::User(admin),
                CommandBody::Assign {
                    customer_id,
                    assignee: member,
                    protection: None,
                },
            ),
        },
        (CustomerState::Pending { .. }, _) => (
            Actor::User(admin),
            CommandBody::ApproveClaim { customer_id },
        ),
        (_, _) => (Actor::User(admin), CommandBody::Restore { customer_id }),
    };
    Command::new(CommandId::from_u128(2 << 64 | number), actor, body)
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let (customers, commands) = if quick {
        (100_000u128, 200_000u128)
    } else {
        (1_000_000, 1_000_000)
    };
    let start = Utc
        .with_ymd_and_hms(2026, 11, 1, 9, 0, 0)
        .single()
        .expect("valid start");

    let built = Instant::now();
    let mut model = build_model(customers, start);
    metric("customers", customers, "customers");
    metric(
        "build_write_model_seconds",
        format!("{:.2}", built.elapsed().as_secs_f64()),
        "s",
    );
    if let Some(mib) = peak_rss_mib() {
        metric("write_model_peak_rss", format!("{mib:.0}"), "MiB");
    }

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Commands are generated against the evolving model, so generation is interleaved with
    // deciding; its cost is measured separately and subtracted.
    let mut generation = std::time::Duration::ZERO;
    let mut deciding = std::time::Duration::ZERO;
    let mut accepted = 0u64;
    let mut refused = 0u64;
    let mut events = 0u64;
    let timer = Instant::now();
    let mut now = start;
    for number in 0..commands {
        if number % 1_000 == 0 {
            now += Duration::seconds(30);
        }
        let generated = Instant::now();
        let command = next_command(&model, &mut rng, customers, number);
        generation += generated.elapsed();
        let decided_at = Instant::now();
        let decision = decide(&model, &command, now);
        deciding += decided_at.elapsed();
        match decision {
            Ok(decided) => {
                accepted += 1;
                events += decided.len() as u64;
                for event in &decided {
                    model.apply(event);
                }
            }
            Err(_) => refused += 1,
        }
    }
    let elapsed = timer.elapsed().saturating_sub(generation).as_secs_f64();
    metric("commands", commands, "commands");
    metric("commands_accepted", accepted, "commands");
    metric("commands_refused", refused, "commands");
    metric("events_emitted", events, "events");
    metric(
        "decide_and_apply_per_s",
        format!("{:.0}", commands as f64 / elapsed),
        "commands/s",
    );
    metric(
        "decide_only_per_s",
        format!("{:.0}", commands as f64 / deciding.as_secs_f64()),
        "commands/s",
    );
    metric(
        "decide_and_apply_mean",
        format!("{:.3}", elapsed * 1e6 / commands as f64),
        "us",
    );
    metric("wakeup_index_entries", model.wakeups.len(), "entries");
    if let Some(mib) = peak_rss_mib() {
        metric("peak_rss", format!("{mib:.0}"), "MiB");
    }
    drop(model);
    what_if(if quick { 20_000 } else { 200_000 }, start);
}

/// What-if for rules: pool 0 of a model of `customers` (a tenth of them, all owned, in
/// pool 0) simulated over 30 days under rules with every rule, a reminder and an
/// escalation ladder on; the best and the median of five runs.
fn what_if(customers: u128, start: DateTime<Utc>) {
    let model = build_model(customers, start);
    let now = start + Duration::days(3);
    let proposed = PoolRules {
        claimed_not_contacted: Some(Limit::uniform(4)),
        no_contact: Some(Limit::uniform(7)),
        not_won: Some(Limit::uniform(20)),
        reminder_hours: Some(48),
        escalation: Some(Escalation {
            notify_superior_hours: 12,
            at_deadline: DeadlineOutcome::ReassignToSuperior,
        }),
        ..model.pools[&pool(0)].rules.clone()
    };
    let mut runs = Vec::new();
    let mut owned = 0;
    let mut steps = 0;
    for _ in 0..5 {
        let timer = Instant::now();
        let scenario = Scenario::prepare(&model, pool(0), &proposed, now).expect("valid rules");
        let forecast = scenario.run(Duration::days(30));
        runs.push(timer.elapsed().as_secs_f64() * 1e3);
        owned = forecast.customers.len();
        steps = forecast
            .customers
            .iter()
            .map(|c| c.steps.len())
            .sum::<usize>();
    }
    runs.sort_by(f64::total_cmp);
    metric("what_if_owned_customers", owned, "customers");
    metric("what_if_model_customers", customers, "customers");
    metric("what_if_steps", steps, "steps");
    metric("what_if_30_days_best", format!("{:.1}", runs[0]), "ms");
    metric("what_if_30_days_median", format!("{:.1}", runs[2]), "ms");
}
