//! Query tests of every reader on a hand-made history: filters, pagination, cursors,
//! counts, the expired filter (with and without the protection rule), recursion through
//! superiors, as-of answers, lag and halts.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use poolkeeper_domain::command::NewCustomer;
use poolkeeper_domain::event::FollowUpKind;
use poolkeeper_domain::rules::{self, Limit, ProtectionRule, RuleKind};
use poolkeeper_domain::*;
use poolkeeper_eventlog::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, SqliteEventStore, StreamAppend, StreamId,
};
use poolkeeper_projections::*;
use support::*;

const ADMIN: UserId = UserId::from_u128(0xA0);
const DIRECTOR: UserId = UserId::from_u128(0xB1);
const MANAGER: UserId = UserId::from_u128(0xB0);
const ALICE: UserId = UserId::from_u128(0xC1);
const BOB: UserId = UserId::from_u128(0xC2);
const CAROL: UserId = UserId::from_u128(0xC3);
const DEFAULT_POOL: PoolId = PoolId::from_u128(0x100);
const APPROVAL_POOL: PoolId = PoolId::from_u128(0x101);

fn customer(n: u128) -> CustomerId {
    CustomerId::from_u128(0x1000 + n)
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

/// The domain driven command by command, keeping every command's events.
struct Scenario {
    model: WriteModel,
    now: DateTime<Utc>,
    commands: Vec<Vec<Event>>,
    next: u128,
}

impl Scenario {
    fn ok(&mut self, actor: UserId, body: CommandBody) -> Vec<Event> {
        self.next += 1;
        let actor = if actor == UserId::from_u128(0) {
            Actor::System
        } else {
            Actor::User(actor)
        };
        let command = Command::new(CommandId::from_u128(self.next), actor, body);
        let events = decide(&self.model, &command, self.now)
            .unwrap_or_else(|e| panic!("{}: {e}", command.body.name()));
        for event in &events {
            self.model.apply(event);
        }
        self.commands.push(events.clone());
        events
    }

    fn scheduler(&mut self) {
        for action in schedule::due(&self.model, self.now, 100) {
            let events = decide(&self.model, &action.into_command(), self.now).unwrap();
            for event in &events {
                self.model.apply(event);
            }
            self.commands.push(events);
        }
    }

    fn minutes(&mut self, minutes: i64) {
        self.now += chrono::Duration::minutes(minutes);
    }
}

fn new_customer(n: u128, pool: PoolId, name: &str) -> NewCustomer {
    NewCustomer {
        customer_id: customer(n),
        pool_id: Some(pool),
        name: name.into(),
        source: Some("展会".into()),
        fields: BTreeMap::from([("行业".into(), "制造".into())]),
        keep: false,
    }
}

/// The history every test queries. Returns it and the instants the tests refer to.
fn scenario() -> (Scenario, BTreeMap<&'static str, DateTime<Utc>>) {
    let mut s = Scenario {
        model: WriteModel::new(),
        now: t0(),
        commands: Vec::new(),
        next: 0,
    };
    let mut at = BTreeMap::new();
    let system = UserId::from_u128(0);
    for (user_id, name, superior, department, admin) in [
        (ADMIN, "管理员", None, None, true),
        (DIRECTOR, "总监", None, Some("销售一部"), false),
        (MANAGER, "经理", Some(DIRECTOR), Some("销售一部"), false),
        (ALICE, "Alice", Some(MANAGER), Some("销售一部"), false),
        (BOB, "Bob", Some(MANAGER), Some("销售一部"), false),
        (CAROL, "Carol", None, Some("销售二部"), false),
    ] {
        s.ok(
            system,
            CommandBody::CreateUser {
                user_id,
                name: name.into(),
                superior,
                department: department.map(str::to_owned),
                admin,
            },
        );
    }
    s.ok(
        ADMIN,
        CommandBody::CreatePool {
            pool_id: DEFAULT_POOL,
            name: "默认公海".into(),
            mode: PoolMode::FreeClaim,
            admins: BTreeSet::new(),
            members: BTreeSet::new(),
            everyone: true,
            default: true,
            rules: PoolRules {
                claimed_not_contacted: Some(Limit::uniform(5)),
                protection: Some(ProtectionRule {
                    default_days: Limit::uniform(10),
                    max_days: 30,
                    extension: None,
                }),
                abandon_reasons: vec!["无意向".into(), "联系不上".into()],
                ..PoolRules::default()
            },
        },
    );
    s.ok(
        ADMIN,
        CommandBody::CreatePool {
            pool_id: APPROVAL_POOL,
            name: "华北区客户".into(),
            mode: PoolMode::ClaimWithApproval,
            admins: BTreeSet::from([MANAGER]),
            members: BTreeSet::new(),
            everyone: true,
            default: false,
            rules: PoolRules::default(),
        },
    );
    for (n, name) in [
        (1, "上海甲"),
        (2, "上海乙"),
        (3, "北京丙"),
        (4, "北京丁"),
        (5, "深圳戊"),
        (6, "上海己"),
        (8, "广州庚"),
    ] {
        s.minutes(1);
        s.ok(
            ADMIN,
            CommandBody::CreateCustomer(new_customer(n, DEFAULT_POOL, name)),
        );
    }
    s.ok(
        ADMIN,
        CommandBody::CreateCustomer(new_customer(7, APPROVAL_POOL, "天津辛")),
    );
    s.minutes(10);
    at.insert("before claims", s.now);
    s.minutes(1);
    at.insert("claims", s.now);
    s.ok(
        ALICE,
        CommandBody::Claim {
            customer_id: customer(1),
        },
    );
    s.ok(
        ALICE,
        CommandBody::Claim {
            customer_id: customer(2),
        },
    );
    s.ok(
        BOB,
        CommandBody::Claim {
            customer_id: customer(3),
        },
    );
    s.ok(
        CAROL,
        CommandBody::Claim {
            customer_id: customer(4),
        },
    );
    s.ok(
        BOB,
        CommandBody::Claim {
            customer_id: customer(8),
        },
    );
    s.minutes(60);
    s.ok(
        ALICE,
        CommandBody::LogFollowUp {
            customer_id: customer(1),
            follow_up_id: FollowUpId::from_u128(1),
            kind: FollowUpKind::Visit,
            note: "拜访".into(),
        },
    );
    s.ok(
        CAROL,
        CommandBody::Share {
            customer_id: customer(1).max(customer(4)),
            department: "销售一部".into(),
        },
    );
    s.ok(
        ALICE,
        CommandBody::Share {
            customer_id: customer(1),
            department: "销售二部".into(),
        },
    );
    s.minutes(24 * 60);
    at.insert("abandon", s.now);
    s.ok(
        ALICE,
        CommandBody::Abandon {
            customer_id: customer(2),
            reason: "无意向".into(),
            return_to: None,
        },
    );
    s.minutes(5);
    at.insert("reclaim", s.now);
    s.ok(
        ADMIN,
        CommandBody::Reclaim {
            customer_id: customer(3),
            reason: Some("违规".into()),
        },
    );
    s.ok(
        ADMIN,
        CommandBody::Freeze {
            customer_id: customer(5),
            reason: Some("投诉".into()),
        },
    );
    s.ok(
        ADMIN,
        CommandBody::Delete {
            customer_id: customer(6),
        },
    );
    s.ok(
        BOB,
        CommandBody::RequestClaim {
            customer_id: customer(7),
        },
    );
    // Day 5 after the claims: CAROL never followed customer 4 up, BOB never followed 8.
    s.minutes(4 * 24 * 60);
    s.scheduler();
    at.insert("after auto reclaims", s.now);
    s.minutes(10);
    s.ok(
        BOB,
        CommandBody::Claim {
            customer_id: customer(2),
        },
    );
    s.ok(
        ADMIN,
        CommandBody::DeactivateUser {
            user_id: BOB,
            successor: None,
        },
    );
    at.insert("end", s.now);
    (s, at)
}

struct Fixture {
    _temp: tempfile::TempDir,
    store: Arc<SqliteEventStore>,
    projections: Projections,
    runner: Option<RunnerHandle>,
    tail: u64,
    model: WriteModel,
    at: BTreeMap<&'static str, DateTime<Utc>>,
}

async fn fixture() -> Fixture {
    let temp = tempfile::tempdir().unwrap();
    let (scenario, at) = scenario();
    let store = open_log(&temp.path().join("log.db"));
    let tail = append(&store, &scenario.commands, 3).await;
    let projections = Projections::open(&temp.path().join("projections")).unwrap();
    let runner = projections.spawn_runner(store.clone());
    projections.wait_for(tail, WAIT).await.unwrap();
    Fixture {
        _temp: temp,
        store,
        projections,
        runner: Some(runner),
        tail,
        model: scenario.model,
        at,
    }
}

async fn all_pages(reader: &PoolViewReader, mut query: PoolQuery) -> Vec<PoolCustomer> {
    let mut all = Vec::new();
    loop {
        let page = reader.list(query.clone()).await.unwrap();
        assert!(page.items.len() <= query.limit as usize);
        all.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return all,
        }
    }
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> CustomerId) -> Vec<CustomerId> {
    items.iter().map(id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_view_lists_each_state_with_its_details() {
    let f = fixture().await;
    let reader = f.projections.pool_view();
    let unclaimed = all_pages(&reader, PoolQuery::new(DEFAULT_POOL, PoolFilter::Unclaimed)).await;
    let unclaimed_ids = ids(&unclaimed, |c| c.customer_id);
    // 2 was abandoned, taken by BOB and returned by his deactivation; 3 was reclaimed by
    // the admin; 4 and 8 automatically.
    assert_eq!(
        unclaimed_ids.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([customer(2), customer(3), customer(4), customer(8)])
    );
    let three = unclaimed
        .iter()
        .find(|c| c.customer_id == customer(3))
        .unwrap();
    let reclaim = three.last_reclaim.as_ref().unwrap();
    assert_eq!(
        (reclaim.former_owner, reclaim.by, reclaim.reason.as_deref()),
        (BOB, Actor::User(ADMIN), Some("违规"))
    );
    let four = unclaimed
        .iter()
        .find(|c| c.customer_id == customer(4))
        .unwrap();
    let reclaim = four.last_reclaim.as_ref().unwrap();
    assert_eq!(
        (reclaim.former_owner, reclaim.by),
        (CAROL, Actor::Rule(RuleKind::ClaimedNotContacted))
    );
    assert_eq!(four.fields.get("行业").map(String::as_str), Some("制造"));

    // Newest first by last change, oldest first is the reverse; pages of 1 equal one page.
    let by_time: Vec<_> = unclaimed
        .iter()
        .map(|c| (c.changed_at, c.customer_id))
        .collect();
    assert!(by_time.windows(2).all(|w| w[0] >= w[1]), "{by_time:?}");
    let one_by_one = all_pages(
        &reader,
        PoolQuery {
            limit: 1,
            ..PoolQuery::new(DEFAULT_POOL, PoolFilter::Unclaimed)
        },
    )
    .await;
    assert_eq!(ids(&one_by_one, |c| c.customer_id), unclaimed_ids);
    let oldest = all_pages(
        &reader,
        PoolQuery {
            order: TimeOrder::OldestFirst,
            limit: 2,
            ..PoolQuery::new(DEFAULT_POOL, PoolFilter::Unclaimed)
        },
    )
    .await;
    let mut reversed = unclaimed_ids.clone();
    reversed.reverse();
    assert_eq!(ids(&oldest, |c| c.customer_id), reversed);
    let first = reader
        .list(PoolQuery {
            limit: 1,
            ..PoolQuery::new(DEFAULT_POOL, PoolFilter::Unclaimed)
        })
        .await
        .unwrap();
    let wrong_order = PoolQuery {
        order: TimeOrder::OldestFirst,
        cursor: first.next_cursor.clone(),
        ..PoolQuery::new(DEFAULT_POOL, PoolFilter::Unclaimed)
    };
    assert!(matches!(
        reader.list(wrong_order).await,
        Err(ProjectionError::InvalidArgument {
            field: "cursor",
            ..
        })
    ));
    assert!(
        reader
            .list(PoolQuery {
                limit: 0,
                ..PoolQuery::new(DEFAULT_POOL, PoolFilter::All)
            })
            .await
            .is_err()
    );

    // Name prefix and owner filters.
    let shanghai = all_pages(
        &reader,
        PoolQuery {
            name_prefix: Some("上海".into()),
            ..PoolQuery::new(DEFAULT_POOL, PoolFilter::All)
        },
    )
    .await;
    assert_eq!(
        shanghai
            .iter()
            .map(|c| c.customer_id)
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([customer(1), customer(2), customer(6)])
    );
    let paged_prefix = all_pages(
        &reader,
        PoolQuery {
            name_prefix: Some("上海".into()),
            limit: 1,
            ..PoolQuery::new(DEFAULT_POOL, PoolFilter::All)
        },
    )
    .await;
    assert_eq!(
        ids(&paged_prefix, |c| c.customer_id),
        ids(&shanghai, |c| c.customer_id)
    );
    let alices = all_pages(
        &reader,
        PoolQuery {
            owner: Some(ALICE),
            ..PoolQuery::new(DEFAULT_POOL, PoolFilter::Claimed)
        },
    )
    .await;
    assert_eq!(ids(&alices, |c| c.customer_id), vec![customer(1)]);

    // Claimed: owner, protection end, deadline; expired only once protection has ended.
    let one = &alices[0];
    let owned = one.owned.as_ref().unwrap();
    assert_eq!(owned.owner, ALICE);
    assert_eq!(owned.since, f.at["claims"]);
    assert_eq!(
        owned.protection_end,
        Some(f.at["claims"] + chrono::Duration::days(10))
    );
    let deadline = owned.deadline.unwrap();
    assert_eq!(
        (deadline.at, deadline.rule),
        (
            f.at["claims"] + chrono::Duration::days(10),
            RuleKind::ProtectionExpired
        )
    );
    let model_deadline = f.model.customers[&customer(1)].deadline.unwrap();
    assert_eq!(
        (deadline.at, deadline.rule),
        (model_deadline.at, model_deadline.rule)
    );
    let expired_at = |now| PoolQuery::new(DEFAULT_POOL, PoolFilter::Expired { now });
    assert!(
        reader
            .list(expired_at(f.at["end"]))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let later = f.at["claims"] + chrono::Duration::days(10);
    let expired = reader.list(expired_at(later)).await.unwrap().items;
    assert_eq!(ids(&expired, |c| c.customer_id), vec![customer(1)]);
    assert!(expired[0].is_expired(later));

    // Pending, frozen, recycle bin.
    let pending = reader
        .list(PoolQuery::new(APPROVAL_POOL, PoolFilter::Pending))
        .await
        .unwrap()
        .items;
    assert!(
        pending.is_empty(),
        "BOB's application was rejected by his deactivation"
    );
    let frozen = reader
        .list(PoolQuery::new(DEFAULT_POOL, PoolFilter::Frozen))
        .await
        .unwrap()
        .items;
    assert_eq!(
        frozen[0].frozen.as_ref().map(|f| (f.by, f.reason.clone())),
        Some((Actor::User(ADMIN), Some("投诉".into())))
    );
    let deleted = reader
        .list(PoolQuery::new(DEFAULT_POOL, PoolFilter::RecycleBin))
        .await
        .unwrap()
        .items;
    assert_eq!(ids(&deleted, |c| c.customer_id), vec![customer(6)]);
    assert_eq!(
        deleted[0].deleted.as_ref().map(|d| d.by),
        Some(Actor::User(ADMIN))
    );

    // One customer; the last abandon stays visible after it was taken again.
    let two = reader.get(customer(2)).await.unwrap().unwrap();
    assert_eq!(
        two.state,
        OwnershipState::InPool,
        "BOB's deactivation returned it"
    );
    let abandon = two.last_abandon.unwrap();
    assert_eq!(
        (abandon.reason.as_str(), abandon.abandoner, abandon.at),
        ("无意向", ALICE, f.at["abandon"])
    );
    assert_eq!(two.version, f.model.customers[&customer(2)].version);
    assert!(reader.get(customer(99)).await.unwrap().is_none());
    let pool = reader.pool(DEFAULT_POOL).await.unwrap().unwrap();
    assert_eq!(
        (pool.name.as_str(), pool.mode, pool.is_default),
        ("默认公海", PoolMode::FreeClaim, true)
    );
    assert_eq!(reader.pools().await.unwrap().len(), 2);
}

/// Appends the commands not yet appended and waits until every projection applied them.
async fn catch_up(
    store: &SqliteEventStore,
    projections: &Projections,
    commands: &[Vec<Event>],
    appended: &mut usize,
) {
    let tail = append(store, &commands[*appended..], 4).await;
    *appended = commands.len();
    projections.wait_for(tail, WAIT).await.unwrap();
}

/// Seed 004 §8.1: the admin assigns with protection dates in any pool; 已过期 lists the
/// customers whose protection ended so that the admin reclaims them by hand. Without the
/// pool's protection rule nothing reclaims them, and they stay listed until reclaimed,
/// transferred, re-protected or won; with the rule the system reclaims them at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_without_the_protection_rule_is_expired_until_reclaimed_transferred_re_protected_or_won()
 {
    const WITHOUT_RULE: PoolId = PoolId::from_u128(0x200);
    const WITH_RULE: PoolId = PoolId::from_u128(0x201);
    let mut s = Scenario {
        model: WriteModel::new(),
        now: t0(),
        commands: Vec::new(),
        next: 0,
    };
    let system = UserId::from_u128(0);
    for (user_id, name, admin) in [
        (ADMIN, "管理员", true),
        (ALICE, "Alice", false),
        (BOB, "Bob", false),
    ] {
        s.ok(
            system,
            CommandBody::CreateUser {
                user_id,
                name: name.into(),
                superior: None,
                department: None,
                admin,
            },
        );
    }
    for (pool_id, name, protection) in [
        (WITHOUT_RULE, "华北区客户", None),
        (
            WITH_RULE,
            "VIP客户",
            Some(ProtectionRule {
                default_days: Limit::uniform(7),
                max_days: 30,
                extension: None,
            }),
        ),
    ] {
        s.ok(
            ADMIN,
            CommandBody::CreatePool {
                pool_id,
                name: name.into(),
                mode: PoolMode::AssignOnly,
                admins: BTreeSet::new(),
                members: BTreeSet::new(),
                everyone: true,
                default: pool_id == WITHOUT_RULE,
                rules: PoolRules {
                    protection,
                    ..PoolRules::default()
                },
            },
        );
    }
    let start = s.now;
    let end = start + chrono::Duration::days(5);
    // 1 to 4: windows without the rule; 5: no window; 6: a window under the rule.
    for (n, pool, window) in [
        (1, WITHOUT_RULE, true),
        (2, WITHOUT_RULE, true),
        (3, WITHOUT_RULE, true),
        (4, WITHOUT_RULE, true),
        (5, WITHOUT_RULE, false),
        (6, WITH_RULE, true),
    ] {
        s.ok(
            ADMIN,
            CommandBody::CreateCustomer(new_customer(n, pool, "北京某某")),
        );
        s.ok(
            ADMIN,
            CommandBody::Assign {
                customer_id: customer(n),
                assignee: ALICE,
                protection: window.then_some(ProtectionWindow { start, end }),
            },
        );
    }

    let temp = tempfile::tempdir().unwrap();
    let store = open_log(&temp.path().join("log.db"));
    let projections = Projections::open(&temp.path().join("projections")).unwrap();
    let runner = projections.spawn_runner(store.clone());
    let mut appended = 0;
    catch_up(&store, &projections, &s.commands, &mut appended).await;
    let reader = projections.pool_view();
    let expired = |pool: PoolId, now: DateTime<Utc>| {
        let reader = reader.clone();
        async move {
            let listed =
                all_pages(&reader, PoolQuery::new(pool, PoolFilter::Expired { now })).await;
            for row in &listed {
                assert!(row.is_expired(now), "{row:?}");
            }
            listed
                .iter()
                .map(|row| row.customer_id)
                .collect::<BTreeSet<_>>()
        }
    };
    let set = |ns: &[u128]| ns.iter().map(|n| customer(*n)).collect::<BTreeSet<_>>();

    // The window's end shows in both pools; nobody is expired before it.
    let one = reader.get(customer(1)).await.unwrap().unwrap();
    let owned = one.owned.as_ref().unwrap();
    assert_eq!(owned.protection_end, Some(end));
    assert_eq!(owned.deadline, None, "no rule, no automatic reclaim");
    assert!(!one.is_expired(end - chrono::Duration::seconds(1)));
    let six = reader.get(customer(6)).await.unwrap().unwrap();
    let deadline = six.owned.as_ref().unwrap().deadline.unwrap();
    assert_eq!(
        (deadline.at, deadline.rule),
        (end, RuleKind::ProtectionExpired)
    );
    assert!(
        expired(WITHOUT_RULE, end - chrono::Duration::seconds(1))
            .await
            .is_empty()
    );
    assert_eq!(expired(WITHOUT_RULE, end).await, set(&[1, 2, 3, 4]));
    assert_eq!(expired(WITH_RULE, end).await, set(&[6]));

    // At the end the scheduler reclaims the customer under the rule, and only that one.
    s.now = end;
    let before = s.commands.len();
    s.scheduler();
    assert_eq!(s.commands.len(), before + 1);
    catch_up(&store, &projections, &s.commands, &mut appended).await;
    assert!(expired(WITH_RULE, end).await.is_empty());
    let six = reader.get(customer(6)).await.unwrap().unwrap();
    assert_eq!(six.state, OwnershipState::InPool);
    assert_eq!(
        six.last_reclaim.map(|r| r.by),
        Some(Actor::Rule(RuleKind::ProtectionExpired))
    );
    let later = end + chrono::Duration::days(30);
    s.now = later;
    s.scheduler();
    assert_eq!(
        s.commands.len(),
        before + 1,
        "nothing is due without the rule"
    );
    assert_eq!(expired(WITHOUT_RULE, later).await, set(&[1, 2, 3, 4]));

    // Each way out of the expired view.
    s.ok(
        ADMIN,
        CommandBody::Reclaim {
            customer_id: customer(1),
            reason: Some("保护期已过".into()),
        },
    );
    catch_up(&store, &projections, &s.commands, &mut appended).await;
    assert_eq!(expired(WITHOUT_RULE, later).await, set(&[2, 3, 4]));
    s.ok(
        ALICE,
        CommandBody::Transfer {
            customer_id: customer(2),
            new_owner: BOB,
            reason: None,
        },
    );
    catch_up(&store, &projections, &s.commands, &mut appended).await;
    assert_eq!(expired(WITHOUT_RULE, later).await, set(&[3, 4]));
    let re_protected = later + chrono::Duration::days(10);
    s.ok(
        ADMIN,
        CommandBody::ExtendProtection {
            customer_id: customer(3),
            until: re_protected,
        },
    );
    catch_up(&store, &projections, &s.commands, &mut appended).await;
    assert_eq!(expired(WITHOUT_RULE, later).await, set(&[4]));
    s.ok(
        ALICE,
        CommandBody::MarkWon {
            customer_id: customer(4),
        },
    );
    catch_up(&store, &projections, &s.commands, &mut appended).await;
    assert!(expired(WITHOUT_RULE, later).await.is_empty());
    // The re-protected window ends again; the won customer stays out.
    assert_eq!(expired(WITHOUT_RULE, re_protected).await, set(&[3]));
    let three = reader.get(customer(3)).await.unwrap().unwrap();
    assert_eq!(three.owned.unwrap().protection_end, Some(re_protected));

    // The write model agrees row by row, and the live projections equal a rebuild.
    for (id, model) in &s.model.customers {
        let row = reader.get(*id).await.unwrap().unwrap();
        let pool = &s.model.pools[&model.pool];
        let end = match &model.state {
            CustomerState::Owned(ownership) => {
                rules::protection_until(&pool.rules, &pool.rules_since, ownership)
            }
            _ => None,
        };
        assert_eq!(row.owned.as_ref().and_then(|o| o.protection_end), end);
        assert_eq!(
            row.owned.as_ref().and_then(|o| o.deadline).map(|d| d.at),
            model.deadline.map(|d| d.at)
        );
    }
    runner.shutdown().await;
    let live = dump_all(&projections).await;
    let rebuilt = rebuild_dump(
        &temp.path().join("rebuilt"),
        store.clone() as Arc<dyn EventStore>,
    )
    .await;
    assert_same(&live, &rebuilt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_view_follows_superiors_related_persons_and_shares() {
    let f = fixture().await;
    let reader = f.projections.owner_view();
    let page = |user, scope| reader.customers(OwnerQuery::new(user, scope));
    let alice = page(ALICE, OwnerScope::Own).await.unwrap();
    assert_eq!(ids(&alice.items, |c| c.customer_id), vec![customer(1)]);
    assert_eq!(alice.items[0].owned_since, Some(f.at["claims"]));
    // The manager sees ALICE's; the director sees them through the manager, recursively.
    let manager = page(MANAGER, OwnerScope::Subordinates).await.unwrap();
    assert_eq!(ids(&manager.items, |c| c.customer_id), vec![customer(1)]);
    assert!(
        page(MANAGER, OwnerScope::Own)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let director = page(DIRECTOR, OwnerScope::OwnAndSubordinates)
        .await
        .unwrap();
    assert_eq!(ids(&director.items, |c| c.customer_id), vec![customer(1)]);
    assert_eq!(
        reader
            .subordinates(DIRECTOR)
            .await
            .unwrap()
            .into_iter()
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([MANAGER, ALICE, BOB])
    );
    assert!(
        page(CAROL, OwnerScope::OwnAndSubordinates)
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // Related persons: former owners of reclaimed customers (manual, automatic, deactivation).
    let related = |user| reader.related(user, 50, None);
    let bob = related(BOB).await.unwrap();
    assert_eq!(
        bob.items
            .iter()
            .map(|r| r.customer.customer_id)
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([customer(2), customer(3), customer(8)])
    );
    assert_eq!(
        ids(&related(CAROL).await.unwrap().items, |r| r
            .customer
            .customer_id),
        vec![customer(4)]
    );
    assert!(
        related(ALICE).await.unwrap().items.is_empty(),
        "an abandon makes no related person"
    );
    let first = reader.related(BOB, 2, None).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let rest = reader.related(BOB, 2, first.next_cursor).await.unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next_cursor.is_none());

    // Shares and access reasons.
    let shared = reader
        .shared_with("销售二部".into(), 50, None)
        .await
        .unwrap();
    assert_eq!(
        ids(&shared.items, |r| r.customer.customer_id),
        vec![customer(1)]
    );
    assert_eq!(
        reader.access(CAROL, customer(1)).await.unwrap(),
        vec![AccessReason::Shared]
    );
    assert_eq!(
        reader.access(ALICE, customer(1)).await.unwrap(),
        vec![AccessReason::Owner]
    );
    assert_eq!(
        reader.access(DIRECTOR, customer(1)).await.unwrap(),
        vec![AccessReason::Superior]
    );
    assert_eq!(
        reader.access(BOB, customer(3)).await.unwrap(),
        vec![AccessReason::Related]
    );
    assert_eq!(
        reader.access(ADMIN, customer(3)).await.unwrap(),
        vec![AccessReason::Creator]
    );
    assert!(reader.access(CAROL, customer(3)).await.unwrap().is_empty());
    let bob_profile = reader.user(BOB).await.unwrap().unwrap();
    assert!(!bob_profile.active);
    assert_eq!(bob_profile.superior, Some(MANAGER));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_filters_pages_and_counts() {
    let f = fixture().await;
    let audit = f.projections.abandon_records();
    let all = audit
        .list(AbandonRecordQuery::default())
        .await
        .unwrap()
        .items;
    let kinds: Vec<_> = all.iter().map(|e| (e.customer_id, e.kind)).collect();
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    assert!(
        all.windows(2)
            .all(|w| (w[0].at, w[0].position) > (w[1].at, w[1].position))
    );
    let abandon = all.iter().find(|e| e.kind == LossKind::Abandoned).unwrap();
    assert_eq!(
        (
            abandon.customer_id,
            abandon.from_user,
            abandon.by,
            abandon.reason.as_deref(),
            abandon.to_pool,
            abandon.at
        ),
        (
            customer(2),
            ALICE,
            Actor::User(ALICE),
            Some("无意向"),
            Some(DEFAULT_POOL),
            f.at["abandon"]
        )
    );
    let autos: Vec<_> = all
        .iter()
        .filter(|e| e.kind == LossKind::AutoReclaimed)
        .collect();
    assert_eq!(autos.len(), 2);
    assert!(
        autos
            .iter()
            .all(|e| e.rule == Some(RuleKind::ClaimedNotContacted) && e.threshold_days == Some(5))
    );
    assert!(autos.iter().all(|e| {
        e.evidence
            .as_ref()
            .is_some_and(|ev| ev.owned_since == f.at["claims"])
    }));
    let deactivation: Vec<_> = all
        .iter()
        .filter(|e| e.kind == LossKind::Deactivation)
        .collect();
    assert_eq!(
        deactivation
            .iter()
            .map(|e| e.customer_id)
            .collect::<Vec<_>>(),
        vec![customer(2)]
    );
    assert_eq!(deactivation[0].from_user, BOB);

    let query = |q: AbandonRecordQuery| audit.list(q);
    let by_reason = query(AbandonRecordQuery {
        reason: Some("违规".into()),
        ..AbandonRecordQuery::default()
    })
    .await
    .unwrap()
    .items;
    assert_eq!(ids(&by_reason, |e| e.customer_id), vec![customer(3)]);
    let by_rule = query(AbandonRecordQuery {
        rule: Some(RuleKind::ClaimedNotContacted),
        ..AbandonRecordQuery::default()
    })
    .await
    .unwrap()
    .items;
    assert_eq!(by_rule.len(), 2);
    let from_bob = query(AbandonRecordQuery {
        from_user: Some(BOB),
        ..AbandonRecordQuery::default()
    })
    .await
    .unwrap()
    .items;
    assert_eq!(
        from_bob
            .iter()
            .map(|e| e.customer_id)
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([customer(2), customer(3), customer(8)])
    );
    let by_admin = query(AbandonRecordQuery {
        by_user: Some(ADMIN),
        ..AbandonRecordQuery::default()
    })
    .await
    .unwrap()
    .items;
    assert_eq!(by_admin.len(), 2);
    let window = query(AbandonRecordQuery {
        since: Some(f.at["abandon"]),
        until: Some(f.at["after auto reclaims"]),
        ..AbandonRecordQuery::default()
    })
    .await
    .unwrap()
    .items;
    assert_eq!(
        ids(&window, |e| e.customer_id),
        vec![customer(3), customer(2)]
    );
    let in_pool = query(AbandonRecordQuery {
        pool_id: Some(APPROVAL_POOL),
        ..AbandonRecordQuery::default()
    })
    .await
    .unwrap()
    .items;
    assert!(in_pool.is_empty());
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = query(AbandonRecordQuery {
            order: TimeOrder::OldestFirst,
            limit: 4,
            cursor,
            ..AbandonRecordQuery::default()
        })
        .await
        .unwrap();
        paged.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut expected = all.clone();
    expected.reverse();
    assert_eq!(paged, expected);

    let reasons = audit
        .counts_by_reason(AbandonPeriod::default())
        .await
        .unwrap();
    let auto = reasons
        .iter()
        .find(|r| r.kind == LossKind::AutoReclaimed)
        .unwrap();
    assert_eq!(
        (auto.rule, auto.count),
        (Some(RuleKind::ClaimedNotContacted), 2)
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.reason.as_deref() == Some("无意向") && r.count == 1)
    );
    let users = audit
        .counts_by_user(AbandonPeriod::default())
        .await
        .unwrap();
    let bob = users.iter().find(|u| u.user == BOB).unwrap();
    assert_eq!(
        (bob.reclaimed, bob.auto_reclaimed, bob.deactivation),
        (1, 1, 1)
    );
    let before = audit
        .counts_by_user(AbandonPeriod {
            until: Some(f.at["after auto reclaims"]),
            ..AbandonPeriod::default()
        })
        .await
        .unwrap();
    let bob = before.iter().find(|u| u.user == BOB).unwrap();
    assert_eq!(
        (bob.reclaimed, bob.auto_reclaimed, bob.deactivation),
        (1, 0, 0),
        "the period's end is exclusive"
    );
    let alice = users.iter().find(|u| u.user == ALICE).unwrap();
    assert_eq!(alice.abandoned, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_answers_as_of_and_tells_the_whole_timeline() {
    let f = fixture().await;
    let history = f.projections.history();
    let at = |name: &str| AsOf::Instant(f.at[name]);
    assert!(
        history
            .owner_at(customer(2), at("before claims"))
            .await
            .unwrap()
            .is_none()
    );
    let owned = history
        .owner_at(customer(2), at("claims"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            owned.user,
            owned.began,
            owned.ended,
            owned.end_reason.as_deref()
        ),
        (
            Some(ALICE),
            Cause::Claimed,
            Some(Cause::Abandoned),
            Some("无意向")
        )
    );
    assert!(
        history
            .owner_at(customer(2), at("abandon"))
            .await
            .unwrap()
            .is_none()
    );
    let bobs = history.owner_at(customer(2), at("end")).await.unwrap();
    assert!(
        bobs.is_none(),
        "taken by BOB, then returned by his deactivation at the same instant"
    );

    let timeline = history.timeline(customer(2)).await.unwrap();
    let story: Vec<_> = timeline
        .iter()
        .map(|p| (p.state, p.user, p.began, p.ended))
        .collect();
    assert_eq!(
        story,
        vec![
            (
                OwnershipState::InPool,
                None,
                Cause::Created,
                Some(Cause::Claimed)
            ),
            (
                OwnershipState::Owned,
                Some(ALICE),
                Cause::Claimed,
                Some(Cause::Abandoned)
            ),
            (
                OwnershipState::InPool,
                None,
                Cause::Abandoned,
                Some(Cause::Claimed)
            ),
            (
                OwnershipState::Owned,
                Some(BOB),
                Cause::Claimed,
                Some(Cause::Deactivation)
            ),
            (OwnershipState::InPool, None, Cause::Deactivation, None),
        ]
    );
    let four = history.ownership(customer(4)).await.unwrap();
    assert_eq!(four.len(), 1);
    assert_eq!(
        (four[0].ended, four[0].ended_by),
        (
            Some(Cause::AutoReclaimed),
            Some(Actor::Rule(RuleKind::ClaimedNotContacted))
        )
    );

    let holdings = |user, point| history.holdings(user, point, 50, None);
    let ids_of = |page: Page<Period>| {
        page.items
            .iter()
            .map(|p| p.customer_id)
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        ids_of(holdings(ALICE, at("claims")).await.unwrap()),
        BTreeSet::from([customer(1), customer(2)])
    );
    assert_eq!(
        ids_of(holdings(ALICE, at("end")).await.unwrap()),
        BTreeSet::from([customer(1)])
    );
    assert_eq!(
        ids_of(holdings(BOB, at("reclaim")).await.unwrap()),
        BTreeSet::from([customer(8)])
    );
    assert!(holdings(BOB, at("end")).await.unwrap().items.is_empty());
    // As of a position: the log's tail is the present.
    let present = holdings(ALICE, AsOf::Position(f.tail)).await.unwrap();
    assert_eq!(ids_of(present), BTreeSet::from([customer(1)]));
    assert!(
        holdings(ALICE, AsOf::Position(1))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let first = history
        .holdings(ALICE, at("claims"), 1, None)
        .await
        .unwrap();
    let cursor = first.next_cursor.clone().unwrap();
    assert!(
        history
            .holdings(ALICE, at("end"), 1, Some(cursor.clone()))
            .await
            .is_err(),
        "a cursor belongs to its point"
    );
    let second = history
        .holdings(ALICE, at("claims"), 1, Some(cursor))
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert_ne!(first.items[0].customer_id, second.items[0].customer_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_count_states_and_daily_activity() {
    let f = fixture().await;
    let statistics = f.projections.statistics();
    let counts = statistics.pool_counts(DEFAULT_POOL).await.unwrap();
    assert_eq!(
        (
            counts.in_pool,
            counts.pending,
            counts.owned,
            counts.frozen,
            counts.deleted
        ),
        (4, 0, 1, 1, 1)
    );
    let approval = statistics.pool_counts(APPROVAL_POOL).await.unwrap();
    assert_eq!((approval.in_pool, approval.total()), (1, 1));
    assert_eq!(statistics.all_pools().await.unwrap().len(), 2);
    let alice = statistics.user_counts(ALICE).await.unwrap();
    assert_eq!((alice.owned, alice.pending), (1, 0));
    assert_eq!(alice.per_pool, vec![(DEFAULT_POOL, 1, 0)]);
    assert_eq!(statistics.user_counts(BOB).await.unwrap().owned, 0);

    let claims_day = f.at["claims"].date_naive();
    let days = statistics
        .daily(DailyQuery {
            pool_id: Some(DEFAULT_POOL),
            user: None,
            from: claims_day,
            to: f.at["end"].date_naive(),
        })
        .await
        .unwrap();
    let first = days.iter().find(|d| d.day == claims_day).unwrap();
    assert_eq!(first.claims, 5);
    assert_eq!(days.iter().map(|d| d.abandons).sum::<u64>(), 1);
    assert_eq!(
        days.iter().map(|d| d.reclaims).sum::<u64>(),
        2,
        "the admin's and the deactivation's"
    );
    assert_eq!(days.iter().map(|d| d.auto_reclaims).sum::<u64>(), 2);
    let bob = statistics
        .daily(DailyQuery {
            pool_id: None,
            user: Some(BOB),
            from: claims_day,
            to: claims_day,
        })
        .await
        .unwrap();
    assert_eq!(bob.iter().map(|d| d.claims).sum::<u64>(), 2);
    assert_eq!(statistics.day_offset_minutes().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_lag_and_wait_for_times_out_or_reports_a_halt() {
    let mut f = fixture().await;
    for status in f.projections.status() {
        assert_eq!(
            (status.checkpoint, status.lag_positions, status.lag_seconds),
            (f.tail, 0, 0.0)
        );
        assert!(status.error.is_none() && !status.halted && status.rebuilding.is_none());
    }
    match f
        .projections
        .wait_for(f.tail + 1, Duration::from_millis(50))
        .await
    {
        Err(ProjectionError::Lagging { at, wanted, .. }) => {
            assert_eq!((at, wanted), (f.tail, f.tail + 1))
        }
        other => panic!("{other:?}"),
    }
    // An event this build cannot decode halts every projection before it, visibly.
    let bad = AppendRequest {
        command_id: uuid::Uuid::from_u128(0xBAD),
        correlation_id: uuid::Uuid::from_u128(0xBAD),
        causation_id: None,
        actor: "system".into(),
        recorded_at: f.at["end"],
        streams: vec![StreamAppend {
            stream_id: StreamId::new(format!("customer-{}", customer(1))).unwrap(),
            expected: ExpectedVersion::Any,
            events: vec![NewEvent {
                event_id: uuid::Uuid::from_u128(0xBAD),
                event_type: "customer.teleported".into(),
                schema_version: 1,
                payload: "{}".into(),
            }],
        }],
    };
    let outcome = f.store.append(bad).await.unwrap();
    match f.projections.wait_for(outcome.last_position, WAIT).await {
        Err(ProjectionError::Halted {
            position, reason, ..
        }) => {
            assert_eq!(position, outcome.last_position);
            assert!(reason.contains("customer.teleported"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    for status in f.projections.status() {
        assert!(status.halted, "{status:?}");
        assert_eq!(status.checkpoint, f.tail);
        assert!(
            status
                .error
                .as_deref()
                .is_some_and(|e| e.contains("unknown event type"))
        );
    }
    // Reads still answer from the state before the bad event.
    assert!(
        f.projections
            .pool_view()
            .get(customer(1))
            .await
            .unwrap()
            .is_some()
    );
    f.runner.take().unwrap().shutdown().await;
    assert!(
        Projections::open(f.projections.dir()).is_err(),
        "the directory is locked while open"
    );
    let _ = f.model;
}
