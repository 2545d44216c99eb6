//! Every command's allowed and forbidden paths, one behaviour per test, plus who may see
//! what (`WriteModel::access`).
//!
//! Each test drives the pure domain through the given/when/then harness in `support` and
//! asserts the exact events (type and key fields) and the resulting state, or the exact
//! `DomainError` and its class. A refused command is checked by `World::err` to have
//! appended nothing and changed nothing.

mod support;

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use poolkeeper_domain::command::NewCustomer;
use poolkeeper_domain::event::{CustomerAutoAssigned, EventBody, FollowUpKind, RestoredTo};
use poolkeeper_domain::model::FormerState;
use poolkeeper_domain::permissions::Access;
use poolkeeper_domain::rules::{
    AssignRule, AssignStrategy, Condition, Limit, ProtectionExtension, ProtectionRule,
    ReturnTarget, Visibility,
};
use poolkeeper_domain::*;
use support::*;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A user of another department (市场部), with no superior and in no named pool.
const DAVE: UserId = UserId::from_u128(0xC4);

/// The body of `$event`, which must be an `EventBody::$variant`.
macro_rules! body {
    ($event:expr, $variant:ident) => {
        match &$event.body {
            EventBody::$variant(body) => body.clone(),
            other => panic!(
                "expected {}, got {}",
                stringify!($variant),
                other.event_type()
            ),
        }
    };
}

/// The body of the only event in `$events`, which must be an `EventBody::$variant`.
macro_rules! only {
    ($events:expr, $variant:ident) => {{
        let events: &[Event] = &$events;
        assert_eq!(
            events.len(),
            1,
            "expected exactly one event, got {:?}",
            types(events)
        );
        body!(events[0], $variant)
    }};
}

/// Asserts the error matches the pattern and belongs to the class; returns it.
macro_rules! refused {
    ($error:expr, $pattern:pat $(if $guard:expr)?, $class:ident) => {{
        let error: DomainError = $error;
        assert!(
            matches!(&error, $pattern $(if $guard)?),
            "unexpected error: {error:?}"
        );
        assert_eq!(error.class(), ErrorClass::$class, "class of {error:?}");
        error
    }};
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

fn limit(value: u32) -> Option<Limit> {
    Some(Limit::uniform(value))
}

fn limit_with(value: u32, user: UserId, for_user: u32) -> Option<Limit> {
    Some(Limit {
        value,
        per_user: BTreeMap::from([(user, for_user)]),
    })
}

fn protection(default_days: u32, max_days: u32) -> Option<ProtectionRule> {
    Some(ProtectionRule {
        default_days: Limit::uniform(default_days),
        max_days,
        extension: None,
    })
}

fn no_rules() -> PoolRules {
    PoolRules::default()
}

fn free_pool(world: &mut World, rules: PoolRules) -> PoolId {
    world.pool(PoolMode::FreeClaim, rules)
}

fn assign_rule(
    name: &str,
    filter: Vec<Condition>,
    assignees: Vec<UserId>,
    strategy: AssignStrategy,
) -> AssignRule {
    AssignRule {
        name: name.into(),
        filter,
        assignees,
        strategy,
    }
}

/// A pool whose customers are auto-assigned by `auto_assign`, with an optional pool cap.
fn auto_pool(world: &mut World, auto_assign: Vec<AssignRule>, cap: Option<Limit>) -> PoolId {
    world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            auto_assign,
            cap,
            ..no_rules()
        },
    )
}

fn add_dave(world: &mut World) {
    world.ok(
        as_user(ADMIN),
        CommandBody::CreateUser {
            user_id: DAVE,
            name: "Dave".into(),
            superior: None,
            department: Some("市场部".into()),
            admin: false,
        },
    );
}

/// `n` new rows for `pool`, with fresh ids.
fn rows(world: &mut World, pool: PoolId, n: usize) -> Vec<NewCustomer> {
    (0..n)
        .map(|i| {
            new_customer(
                CustomerId::from_u128(world.fresh()),
                Some(pool),
                &format!("客户{i}"),
            )
        })
        .collect()
}

fn import(customers: Vec<NewCustomer>) -> CommandBody {
    CommandBody::ImportCustomers { customers }
}

fn auto_assigned(events: &[Event]) -> Vec<CustomerAutoAssigned> {
    events
        .iter()
        .filter_map(|event| match &event.body {
            EventBody::CustomerAutoAssigned(body) => Some(body.clone()),
            _ => None,
        })
        .collect()
}

fn claim(customer_id: CustomerId) -> CommandBody {
    CommandBody::Claim { customer_id }
}

fn request(customer_id: CustomerId) -> CommandBody {
    CommandBody::RequestClaim { customer_id }
}

fn approve(customer_id: CustomerId) -> CommandBody {
    CommandBody::ApproveClaim { customer_id }
}

fn reject(customer_id: CustomerId, reason: Option<&str>) -> CommandBody {
    CommandBody::RejectClaim {
        customer_id,
        reason: reason.map(str::to_owned),
    }
}

fn assign(customer_id: CustomerId, assignee: UserId) -> CommandBody {
    CommandBody::Assign {
        customer_id,
        assignee,
        protection: None,
    }
}

fn assign_window(
    customer_id: CustomerId,
    assignee: UserId,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> CommandBody {
    CommandBody::Assign {
        customer_id,
        assignee,
        protection: Some(ProtectionWindow { start, end }),
    }
}

fn abandon(customer_id: CustomerId, reason: &str, return_to: Option<PoolId>) -> CommandBody {
    CommandBody::Abandon {
        customer_id,
        reason: reason.into(),
        return_to,
    }
}

fn reclaim(customer_id: CustomerId) -> CommandBody {
    CommandBody::Reclaim {
        customer_id,
        reason: Some("长期未跟进".into()),
    }
}

fn transfer(customer_id: CustomerId, new_owner: UserId) -> CommandBody {
    CommandBody::Transfer {
        customer_id,
        new_owner,
        reason: Some("工作调整".into()),
    }
}

fn freeze(customer_id: CustomerId) -> CommandBody {
    CommandBody::Freeze {
        customer_id,
        reason: Some("签订一年合同".into()),
    }
}

fn unfreeze(customer_id: CustomerId) -> CommandBody {
    CommandBody::Unfreeze { customer_id }
}

fn move_pool(customer_id: CustomerId, destination_pool: PoolId) -> CommandBody {
    CommandBody::Move {
        customer_id,
        destination_pool,
    }
}

fn delete(customer_id: CustomerId) -> CommandBody {
    CommandBody::Delete { customer_id }
}

fn restore(customer_id: CustomerId) -> CommandBody {
    CommandBody::Restore { customer_id }
}

fn log_follow_up(customer_id: CustomerId, follow_up_id: FollowUpId, note: &str) -> CommandBody {
    CommandBody::LogFollowUp {
        customer_id,
        follow_up_id,
        kind: FollowUpKind::Visit,
        note: note.into(),
    }
}

fn comment(customer_id: CustomerId, follow_up_id: FollowUpId, text: &str) -> CommandBody {
    CommandBody::CommentFollowUp {
        customer_id,
        follow_up_id,
        comment: text.into(),
    }
}

fn mark_won(customer_id: CustomerId) -> CommandBody {
    CommandBody::MarkWon { customer_id }
}

fn extend(customer_id: CustomerId, until: DateTime<Utc>) -> CommandBody {
    CommandBody::ExtendProtection { customer_id, until }
}

fn share(customer_id: CustomerId, department: &str) -> CommandBody {
    CommandBody::Share {
        customer_id,
        department: department.into(),
    }
}

fn auto_reclaim(customer_id: CustomerId, rule: RuleKind, due_at: DateTime<Utc>) -> CommandBody {
    CommandBody::AutoReclaim {
        customer_id,
        rule,
        due_at,
    }
}

fn remind(customer_id: CustomerId, due_at: DateTime<Utc>) -> CommandBody {
    CommandBody::RemindReclaim {
        customer_id,
        due_at,
    }
}

fn settings(overall_cap: Option<Limit>, day_offset_minutes: i32) -> CommandBody {
    CommandBody::SetOrganizationSettings {
        overall_cap,
        day_offset_minutes,
    }
}

fn deactivate(user_id: UserId, successor: Option<UserId>) -> CommandBody {
    CommandBody::DeactivateUser { user_id, successor }
}

fn set_rules(pool_id: PoolId, rules: PoolRules) -> CommandBody {
    CommandBody::SetPoolRules { pool_id, rules }
}

fn update_user(user_id: UserId, name: &str, superior: Option<UserId>) -> CommandBody {
    CommandBody::UpdateUser {
        user_id,
        name: name.into(),
        superior,
        department: Some("销售部".into()),
        admin: false,
    }
}

/// Submits `body` with an expected version. A refusal must leave everything unchanged.
fn submit_expecting(
    world: &mut World,
    actor: Actor,
    expected_version: u64,
    body: CommandBody,
) -> Result<Vec<Event>, DomainError> {
    let before = world.model.clone();
    let log_len = world.log.len();
    let command = Command {
        command_id: world.command_id(),
        actor,
        expected_version: Some(expected_version),
        body,
    };
    let result = world.submit(&command);
    if result.is_err() {
        assert_eq!(world.log.len(), log_len);
        assert!(world.model == before, "a refused command changed the model");
    }
    result
}

fn deadline(world: &World, customer_id: CustomerId) -> Option<(DateTime<Utc>, RuleKind)> {
    world.model.customers[&customer_id]
        .deadline
        .map(|deadline| (deadline.at, deadline.rule))
}

fn ownership(world: &World, customer_id: CustomerId) -> poolkeeper_domain::rules::Ownership {
    match world.state(customer_id) {
        CustomerState::Owned(ownership) => ownership.clone(),
        other => panic!("customer is {}, not owned", other.name()),
    }
}

fn access(world: &World, viewer: UserId, customer_id: CustomerId) -> Access {
    world.model.access(viewer, customer_id)
}

// ---------------------------------------------------------------------------------------
// Actors and optimistic concurrency (every command)
// ---------------------------------------------------------------------------------------

#[test]
fn deactivated_user_cannot_act() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    world.ok(as_user(ADMIN), deactivate(BOB, None));
    refused!(
        world.err(as_user(BOB), claim(customer)),
        DomainError::InactiveActor(user) if *user == BOB,
        PermissionDenied
    );
    assert_eq!(world.state(customer), &CustomerState::InPool);
}

#[test]
fn unknown_actor_is_not_found() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    let stranger = UserId::from_u128(0xDEAD);
    refused!(
        world.err(as_user(stranger), claim(customer)),
        DomainError::UnknownUser(user) if *user == stranger,
        NotFound
    );
}

#[test]
fn expected_version_mismatch_is_a_conflict() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    assert_eq!(world.model.customer_version(customer), 2);
    let error = submit_expecting(&mut world, as_user(ALICE), 1, transfer(customer, BOB))
        .expect_err("a stale version must be refused");
    refused!(
        error,
        DomainError::VersionConflict {
            expected: 1,
            actual: 2
        },
        Conflict
    );
    assert_eq!(world.owner(customer), Some(ALICE));
}

#[test]
fn matching_expected_version_is_accepted() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let events = submit_expecting(&mut world, as_user(ALICE), 2, transfer(customer, BOB))
        .expect("the current version must be accepted");
    assert_eq!(types(&events), ["customer.transferred"]);
    assert_eq!(world.model.customer_version(customer), 3);
}

#[test]
fn expected_version_of_pools_users_and_settings_is_their_stream_version() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let mode = CommandBody::SetPoolMode {
        pool_id: pool,
        mode: PoolMode::AssignOnly,
    };
    submit_expecting(&mut world, as_user(ADMIN), 1, mode.clone()).unwrap();
    assert_eq!(world.model.pools[&pool].version, 2);
    let back = CommandBody::SetPoolMode {
        pool_id: pool,
        mode: PoolMode::FreeClaim,
    };
    refused!(
        submit_expecting(&mut world, as_user(ADMIN), 1, back).unwrap_err(),
        DomainError::VersionConflict {
            expected: 1,
            actual: 2
        },
        Conflict
    );
    refused!(
        submit_expecting(&mut world, as_user(ADMIN), 7, update_user(ALICE, "A", None)).unwrap_err(),
        DomainError::VersionConflict {
            expected: 7,
            actual: 1
        },
        Conflict
    );
    submit_expecting(&mut world, as_user(ADMIN), 0, settings(limit(10), 0)).unwrap();
    refused!(
        submit_expecting(&mut world, as_user(ADMIN), 0, settings(limit(11), 0)).unwrap_err(),
        DomainError::VersionConflict {
            expected: 0,
            actual: 1
        },
        Conflict
    );
}

#[test]
fn an_import_cannot_carry_an_expected_version() {
    let mut world = World::standard();
    let rows = rows(&mut world, DEFAULT_POOL, 1);
    refused!(
        submit_expecting(&mut world, as_user(ADMIN), 0, import(rows)).unwrap_err(),
        DomainError::Invalid { field, .. } if field == "expected_version",
        InvalidArgument
    );
}

// ---------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------

#[test]
fn admin_creates_a_user_with_superior_and_department() {
    let mut world = World::standard();
    let events = world.ok(
        as_user(ADMIN),
        CommandBody::CreateUser {
            user_id: DAVE,
            name: "  Dave ".into(),
            superior: Some(MANAGER),
            department: Some("市场部".into()),
            admin: false,
        },
    );
    let created = only!(events, UserCreated);
    assert_eq!(created.user_id, DAVE);
    assert_eq!(created.name, "Dave");
    assert_eq!(created.superior, Some(MANAGER));
    assert_eq!(created.department.as_deref(), Some("市场部"));
    let user = &world.model.users[&DAVE];
    assert!(user.active && !user.admin);
    assert_eq!(user.version, 1);
    assert!(world.model.is_superior_of(DIRECTOR, DAVE));
}

#[test]
fn member_cannot_create_a_user() {
    let mut world = World::standard();
    refused!(
        world.err(
            as_user(MANAGER),
            CommandBody::CreateUser {
                user_id: DAVE,
                name: "Dave".into(),
                superior: None,
                department: None,
                admin: false,
            },
        ),
        DomainError::NotAdmin { .. },
        PermissionDenied
    );
}

#[test]
fn creating_an_existing_user_is_refused() {
    let mut world = World::standard();
    refused!(
        world.err(
            as_user(ADMIN),
            CommandBody::CreateUser {
                user_id: ALICE,
                name: "Alice again".into(),
                superior: None,
                department: None,
                admin: false,
            },
        ),
        DomainError::AlreadyExists { kind: "user", .. },
        AlreadyExists
    );
}

#[test]
fn user_with_blank_name_is_invalid() {
    let mut world = World::standard();
    refused!(
        world.err(
            as_user(ADMIN),
            CommandBody::CreateUser {
                user_id: DAVE,
                name: "   ".into(),
                superior: None,
                department: None,
                admin: false,
            },
        ),
        DomainError::Invalid { field, .. } if field == "name",
        InvalidArgument
    );
}

#[test]
fn user_under_an_unknown_superior_is_refused() {
    let mut world = World::standard();
    let ghost = UserId::from_u128(0x6057);
    refused!(
        world.err(
            as_user(ADMIN),
            CommandBody::CreateUser {
                user_id: DAVE,
                name: "Dave".into(),
                superior: Some(ghost),
                department: None,
                admin: false,
            },
        ),
        DomainError::UnknownUser(user) if *user == ghost,
        NotFound
    );
}

#[test]
fn admin_updates_a_users_profile() {
    let mut world = World::standard();
    let events = world.ok(
        as_user(ADMIN),
        CommandBody::UpdateUser {
            user_id: CAROL,
            name: "Carol Li".into(),
            superior: Some(MANAGER),
            department: Some("华北销售部".into()),
            admin: false,
        },
    );
    let updated = only!(events, UserUpdated);
    assert_eq!(updated.user_id, CAROL);
    assert_eq!(updated.superior, Some(MANAGER));
    let user = &world.model.users[&CAROL];
    assert_eq!(user.name, "Carol Li");
    assert_eq!(user.department.as_deref(), Some("华北销售部"));
    assert_eq!(user.version, 2);
    assert!(world.model.is_superior_of(MANAGER, CAROL));
}

#[test]
fn updating_a_user_to_the_same_profile_emits_nothing() {
    let mut world = World::standard();
    let events = world.ok(as_user(ADMIN), update_user(ALICE, "Alice", Some(MANAGER)));
    assert!(events.is_empty(), "{:?}", types(&events));
    assert_eq!(world.model.users[&ALICE].version, 1);
}

#[test]
fn user_cannot_be_their_own_superior() {
    let mut world = World::standard();
    refused!(
        world.err(as_user(ADMIN), update_user(ALICE, "Alice", Some(ALICE))),
        DomainError::Invalid { field, .. } if field == "superior",
        InvalidArgument
    );
}

#[test]
fn superior_cycle_is_refused() {
    let mut world = World::standard();
    // MANAGER is ALICE's superior: making ALICE MANAGER's superior closes a loop.
    refused!(
        world.err(as_user(ADMIN), update_user(MANAGER, "销售经理", Some(ALICE))),
        DomainError::Invalid { field, .. } if field == "superior",
        InvalidArgument
    );
    // Two levels up: DIRECTOR > MANAGER > ALICE.
    refused!(
        world.err(as_user(ADMIN), update_user(DIRECTOR, "总监", Some(ALICE))),
        DomainError::Invalid { field, .. } if field == "superior",
        InvalidArgument
    );
    // Moving ALICE under a peer is no cycle.
    world.ok(as_user(ADMIN), update_user(ALICE, "Alice", Some(BOB)));
    assert!(world.model.is_superior_of(BOB, ALICE));
}

#[test]
fn member_cannot_update_a_user() {
    let mut world = World::standard();
    refused!(
        world.err(as_user(MANAGER), update_user(ALICE, "Alice", None)),
        DomainError::NotAdmin { .. },
        PermissionDenied
    );
}

#[test]
fn updating_an_unknown_user_is_not_found() {
    let mut world = World::standard();
    refused!(
        world.err(as_user(ADMIN), update_user(DAVE, "Dave", None)),
        DomainError::UnknownUser(user) if *user == DAVE,
        NotFound
    );
}

#[test]
fn deactivation_hands_customers_and_rejects_applications() {
    let mut world = World::standard();
    let first = world.owned_by(DEFAULT_POOL, ALICE);
    let second = world.owned_by(DEFAULT_POOL, ALICE);
    let approval = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let applied = world.customer_in(approval);
    world.ok(as_user(ALICE), request(applied));

    let events = world.ok(as_user(ADMIN), deactivate(ALICE, Some(BOB)));
    assert_eq!(
        types(&events),
        [
            "user.deactivated",
            "customer.transferred",
            "customer.transferred",
            "customer.claim_rejected"
        ]
    );
    let deactivated = body!(events[0], UserDeactivated);
    assert_eq!(deactivated.user_id, ALICE);
    assert_eq!(deactivated.successor, Some(BOB));
    assert_eq!(deactivated.customers_transferred, 2);
    assert_eq!(deactivated.customers_returned, 0);
    assert_eq!(deactivated.applications_rejected, 1);
    let moved = body!(events[1], CustomerTransferred);
    assert_eq!(
        (moved.customer_id, moved.from, moved.to),
        (first, ALICE, BOB)
    );
    let rejected = body!(events[3], ClaimRejected);
    assert_eq!((rejected.customer_id, rejected.applicant), (applied, ALICE));
    assert_eq!(rejected.reason.as_deref(), Some("applicant deactivated"));

    assert!(!world.model.users[&ALICE].active);
    assert_eq!(world.owner(first), Some(BOB));
    assert_eq!(world.owner(second), Some(BOB));
    assert_eq!(world.state(applied), &CustomerState::InPool);
    assert_eq!(world.model.owned_total(ALICE), 0);
    assert_eq!(world.model.owned_total(BOB), 2);
}

#[test]
fn deactivation_without_successor_returns_customers_to_their_pools() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let here = world.owned_by(DEFAULT_POOL, ALICE);
    let there = world.owned_by(pool, ALICE);

    let events = world.ok(as_user(ADMIN), deactivate(ALICE, None));
    assert_eq!(
        types(&events),
        [
            "user.deactivated",
            "customer.reclaimed",
            "customer.reclaimed"
        ]
    );
    let deactivated = body!(events[0], UserDeactivated);
    assert_eq!(deactivated.successor, None);
    assert_eq!(
        (
            deactivated.customers_transferred,
            deactivated.customers_returned
        ),
        (0, 2)
    );
    let returned = body!(events[2], CustomerReclaimed);
    assert_eq!(
        (
            returned.customer_id,
            returned.pool_id,
            returned.former_owner
        ),
        (there, pool, ALICE)
    );
    assert_eq!(returned.reason.as_deref(), Some("owner deactivated"));
    for customer in [here, there] {
        assert_eq!(world.state(customer), &CustomerState::InPool);
        assert_eq!(world.model.customers[&customer].related, vec![ALICE]);
    }
    assert_eq!(world.pool_of(there), pool);
    assert_eq!(world.model.owned_total(ALICE), 0);
}

#[test]
fn deactivation_respects_the_successors_cap_across_the_whole_handover() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit(2),
            ..no_rules()
        },
    );
    world.owned_by(pool, ALICE);
    world.owned_by(pool, ALICE);
    world.owned_by(pool, BOB);
    // BOB owns 1 of 2: the first handover fits, the second would be his third.
    refused!(
        world.err(as_user(ADMIN), deactivate(ALICE, Some(BOB))),
        DomainError::CapReached {
            user,
            scope: CapScope::Pool(p),
            cap: 2,
            owned: 2
        } if *user == BOB && *p == pool,
        ResourceExhausted
    );
    assert!(world.model.users[&ALICE].active);
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 2);
}

#[test]
fn successor_must_be_another_active_known_user() {
    let mut world = World::standard();
    world.owned_by(DEFAULT_POOL, ALICE);
    refused!(
        world.err(as_user(ADMIN), deactivate(ALICE, Some(ALICE))),
        DomainError::Invalid { field, .. } if field == "successor",
        InvalidArgument
    );
    refused!(
        world.err(as_user(ADMIN), deactivate(ALICE, Some(DAVE))),
        DomainError::UnknownUser(user) if *user == DAVE,
        NotFound
    );
    world.ok(as_user(ADMIN), deactivate(CAROL, None));
    refused!(
        world.err(as_user(ADMIN), deactivate(ALICE, Some(CAROL))),
        DomainError::DeactivatedUser(user) if *user == CAROL,
        FailedPrecondition
    );
}

#[test]
fn deactivating_a_deactivated_user_is_refused() {
    let mut world = World::standard();
    world.ok(as_user(ADMIN), deactivate(CAROL, None));
    refused!(
        world.err(as_user(ADMIN), deactivate(CAROL, None)),
        DomainError::DeactivatedUser(user) if *user == CAROL,
        FailedPrecondition
    );
}

#[test]
fn only_an_admin_may_deactivate_a_user() {
    let mut world = World::standard();
    refused!(
        world.err(as_user(MANAGER), deactivate(ALICE, Some(MANAGER))),
        DomainError::NotAdmin { .. },
        PermissionDenied
    );
    assert!(world.model.users[&ALICE].active);
}

// ---------------------------------------------------------------------------------------
// Pools
// ---------------------------------------------------------------------------------------

#[test]
fn admin_creates_a_pool_whose_rules_are_in_force_from_creation() {
    let mut world = World::standard();
    world.advance(days(3));
    let pool_id = PoolId::from_u128(0x200);
    let rules = PoolRules {
        claimed_not_contacted: limit(5),
        not_won: limit(30),
        cap: limit(50),
        ..no_rules()
    };
    let events = world.ok(
        as_user(ADMIN),
        CommandBody::CreatePool {
            pool_id,
            name: "华北区客户".into(),
            mode: PoolMode::ClaimWithApproval,
            admins: BTreeSet::from([KEEPER]),
            members: BTreeSet::from([ALICE]),
            everyone: false,
            default: false,
            rules: rules.clone(),
        },
    );
    let created = only!(events, PoolCreated);
    assert_eq!(created.name, "华北区客户");
    assert_eq!(created.mode, PoolMode::ClaimWithApproval);
    assert!(!created.default);
    assert_eq!(
        created.rules_since,
        BTreeMap::from([
            (RuleKind::ClaimedNotContacted, world.now),
            (RuleKind::NotWon, world.now)
        ])
    );
    let pool = &world.model.pools[&pool_id];
    assert_eq!((pool.version, pool.rules_version), (1, 1));
    assert_eq!(pool.rules, rules);
    assert!(world.model.is_pool_admin(KEEPER, pool_id));
    assert!(world.model.is_member(ALICE, pool_id));
    assert!(!world.model.is_member(BOB, pool_id));
    assert_eq!(world.model.default_pool, Some(DEFAULT_POOL));
}

#[test]
fn pool_admin_who_is_not_an_org_admin_cannot_create_a_pool() {
    let mut world = World::standard();
    refused!(
        world.err(
            as_user(KEEPER),
            CommandBody::CreatePool {
                pool_id: PoolId::from_u128(0x200),
                name: "私建公海".into(),
                mode: PoolMode::FreeClaim,
                admins: BTreeSet::new(),
                members: BTreeSet::new(),
                everyone: true,
                default: false,
                rules: no_rules(),
            },
        ),
        DomainError::NotAdmin { .. },
        PermissionDenied
    );
}

#[test]
fn second_default_pool_is_refused() {
    let mut world = World::standard();
    refused!(
        world.err(
            as_user(ADMIN),
            CommandBody::CreatePool {
                pool_id: PoolId::from_u128(0x200),
                name: "另一个默认公海".into(),
                mode: PoolMode::FreeClaim,
                admins: BTreeSet::new(),
                members: BTreeSet::new(),
                everyone: true,
                default: true,
                rules: no_rules(),
            },
        ),
        DomainError::AlreadyExists { kind: "default pool", id } if *id == DEFAULT_POOL.to_string(),
        AlreadyExists
    );
}

#[test]
fn pool_with_a_taken_id_is_refused() {
    let mut world = World::standard();
    refused!(
        world.err(
            as_user(ADMIN),
            CommandBody::CreatePool {
                pool_id: DEFAULT_POOL,
                name: "重复".into(),
                mode: PoolMode::FreeClaim,
                admins: BTreeSet::new(),
                members: BTreeSet::new(),
                everyone: true,
                default: false,
                rules: no_rules(),
            },
        ),
        DomainError::AlreadyExists { kind: "pool", .. },
        AlreadyExists
    );
}

#[test]
fn pool_naming_an_unknown_member_is_refused() {
    let mut world = World::standard();
    refused!(
        world.err(
            as_user(ADMIN),
            CommandBody::CreatePool {
                pool_id: PoolId::from_u128(0x200),
                name: "华南".into(),
                mode: PoolMode::FreeClaim,
                admins: BTreeSet::from([KEEPER]),
                members: BTreeSet::from([DAVE]),
                everyone: false,
                default: false,
                rules: no_rules(),
            },
        ),
        DomainError::UnknownUser(user) if *user == DAVE,
        NotFound
    );
}

#[test]
fn pool_with_a_blank_name_is_invalid() {
    let mut world = World::standard();
    refused!(
        world.err(
            as_user(ADMIN),
            CommandBody::CreatePool {
                pool_id: PoolId::from_u128(0x200),
                name: " ".into(),
                mode: PoolMode::FreeClaim,
                admins: BTreeSet::new(),
                members: BTreeSet::new(),
                everyone: true,
                default: false,
                rules: no_rules(),
            },
        ),
        DomainError::Invalid { field, .. } if field == "name",
        InvalidArgument
    );
}

#[test]
fn admin_changes_a_pools_mode_and_the_event_records_the_previous_one() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let events = world.ok(
        as_user(ADMIN),
        CommandBody::SetPoolMode {
            pool_id: pool,
            mode: PoolMode::ClaimWithApproval,
        },
    );
    let changed = only!(events, PoolModeChanged);
    assert_eq!(
        (changed.mode, changed.previous),
        (PoolMode::ClaimWithApproval, PoolMode::FreeClaim)
    );
    assert_eq!(world.model.pools[&pool].mode, PoolMode::ClaimWithApproval);
    // Members now apply instead of claiming.
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(ALICE), claim(customer)),
        DomainError::WrongMode {
            mode: PoolMode::ClaimWithApproval,
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn setting_the_mode_a_pool_already_has_emits_nothing() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let events = world.ok(
        as_user(ADMIN),
        CommandBody::SetPoolMode {
            pool_id: pool,
            mode: PoolMode::FreeClaim,
        },
    );
    assert!(events.is_empty());
    assert_eq!(world.model.pools[&pool].version, 1);
}

#[test]
fn pool_admin_cannot_change_the_mode() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    refused!(
        world.err(
            as_user(KEEPER),
            CommandBody::SetPoolMode {
                pool_id: pool,
                mode: PoolMode::AssignOnly,
            },
        ),
        DomainError::NotAdmin { .. },
        PermissionDenied
    );
}

#[test]
fn changing_an_unknown_pool_is_not_found() {
    let mut world = World::standard();
    let ghost = PoolId::from_u128(0x6057);
    refused!(
        world.err(
            as_user(ADMIN),
            CommandBody::SetPoolMode {
                pool_id: ghost,
                mode: PoolMode::AssignOnly,
            },
        ),
        DomainError::UnknownPool(pool) if *pool == ghost,
        NotFound
    );
}

#[test]
fn admin_replaces_a_pools_admins() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    let events = world.ok(
        as_user(ADMIN),
        CommandBody::SetPoolAdmins {
            pool_id: pool,
            admins: BTreeSet::from([MANAGER]),
        },
    );
    let changed = only!(events, PoolAdminsChanged);
    assert_eq!(changed.admins, BTreeSet::from([MANAGER]));
    refused!(
        world.err(as_user(KEEPER), reclaim(customer)),
        DomainError::NotPoolAdmin { pool: p, .. } if *p == pool,
        PermissionDenied
    );
    world.ok(as_user(MANAGER), reclaim(customer));
}

#[test]
fn setting_the_same_admins_emits_nothing_and_unknown_admins_are_refused() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let same = CommandBody::SetPoolAdmins {
        pool_id: pool,
        admins: BTreeSet::from([KEEPER]),
    };
    assert!(world.ok(as_user(ADMIN), same).is_empty());
    refused!(
        world.err(
            as_user(ADMIN),
            CommandBody::SetPoolAdmins {
                pool_id: pool,
                admins: BTreeSet::from([DAVE]),
            },
        ),
        DomainError::UnknownUser(user) if *user == DAVE,
        NotFound
    );
    refused!(
        world.err(
            as_user(KEEPER),
            CommandBody::SetPoolAdmins {
                pool_id: pool,
                admins: BTreeSet::from([KEEPER, ALICE]),
            },
        ),
        DomainError::NotAdmin { .. },
        PermissionDenied
    );
}

#[test]
fn admin_replaces_a_pools_members() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.customer_in(pool);
    let events = world.ok(
        as_user(ADMIN),
        CommandBody::SetPoolMembers {
            pool_id: pool,
            members: BTreeSet::from([ALICE]),
            everyone: false,
        },
    );
    let changed = only!(events, PoolMembersChanged);
    assert_eq!(changed.members, BTreeSet::from([ALICE]));
    assert!(!changed.everyone);
    refused!(
        world.err(as_user(CAROL), claim(customer)),
        DomainError::NotPoolMember { user, pool: p } if *user == CAROL && *p == pool,
        PermissionDenied
    );
    // Opening the pool to everyone lets anyone take part.
    let events = world.ok(
        as_user(ADMIN),
        CommandBody::SetPoolMembers {
            pool_id: pool,
            members: BTreeSet::from([ALICE]),
            everyone: true,
        },
    );
    assert!(only!(events, PoolMembersChanged).everyone);
    world.ok(as_user(CAROL), claim(customer));
    assert_eq!(world.owner(customer), Some(CAROL));
}

#[test]
fn setting_the_same_members_emits_nothing_and_members_must_exist() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let same = CommandBody::SetPoolMembers {
        pool_id: pool,
        members: BTreeSet::from([ALICE, BOB, CAROL]),
        everyone: false,
    };
    assert!(world.ok(as_user(ADMIN), same).is_empty());
    assert_eq!(world.model.pools[&pool].version, 1);
    refused!(
        world.err(
            as_user(ADMIN),
            CommandBody::SetPoolMembers {
                pool_id: pool,
                members: BTreeSet::from([DAVE]),
                everyone: false,
            },
        ),
        DomainError::UnknownUser(user) if *user == DAVE,
        NotFound
    );
    refused!(
        world.err(
            as_user(KEEPER),
            CommandBody::SetPoolMembers {
                pool_id: pool,
                members: BTreeSet::new(),
                everyone: true,
            },
        ),
        DomainError::NotAdmin { .. },
        PermissionDenied
    );
}

#[test]
fn admin_replaces_a_pools_rules_and_the_version_increases() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let rules = PoolRules {
        cap: limit(3),
        abandon_reasons: vec!["预算不足".into()],
        ..no_rules()
    };
    let events = world.ok(as_user(ADMIN), set_rules(pool, rules.clone()));
    let changed = only!(events, PoolRulesChanged);
    assert_eq!(changed.rules_version, 2);
    let recorded: &PoolRules = changed.rules.borrow();
    assert_eq!(recorded, &rules);
    assert!(
        changed.changed_rules.is_empty(),
        "no reclaim rule changed: {:?}",
        changed.changed_rules
    );
    let pool = &world.model.pools[&pool];
    assert_eq!((pool.rules_version, pool.version), (2, 2));
    assert_eq!(pool.rules, rules);
}

#[test]
fn setting_the_same_rules_emits_nothing() {
    let mut world = World::standard();
    let rules = PoolRules {
        no_contact: limit(5),
        ..no_rules()
    };
    let pool = free_pool(&mut world, rules.clone());
    assert!(world.ok(as_user(ADMIN), set_rules(pool, rules)).is_empty());
    assert_eq!(world.model.pools[&pool].rules_version, 1);
}

#[test]
fn pool_admin_cannot_change_the_rules() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    refused!(
        world.err(
            as_user(KEEPER),
            set_rules(
                pool,
                PoolRules {
                    cap: limit(1),
                    ..no_rules()
                }
            )
        ),
        DomainError::NotAdmin { .. },
        PermissionDenied
    );
}

#[test]
fn changed_rule_restarts_its_since_instant_unchanged_keeps_it() {
    let mut world = World::standard();
    let created_at = world.now;
    let pool = free_pool(
        &mut world,
        PoolRules {
            claimed_not_contacted: limit(5),
            not_won: limit(30),
            ..no_rules()
        },
    );
    world.advance(days(2));
    let events = world.ok(
        as_user(ADMIN),
        set_rules(
            pool,
            PoolRules {
                claimed_not_contacted: limit(5),
                not_won: limit(20),
                no_contact: limit(7),
                ..no_rules()
            },
        ),
    );
    let changed = only!(events, PoolRulesChanged);
    assert_eq!(
        changed.changed_rules,
        vec![RuleKind::NoContact, RuleKind::NotWon]
    );
    assert_eq!(
        changed.rules_since,
        BTreeMap::from([
            (RuleKind::ClaimedNotContacted, created_at),
            (RuleKind::NoContact, world.now),
            (RuleKind::NotWon, world.now),
        ])
    );
    assert_eq!(world.model.pools[&pool].rules_since, changed.rules_since);
}

#[test]
fn turning_a_rule_off_lists_it_as_changed_and_drops_its_instant() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            not_won: limit(30),
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    assert!(deadline(&world, customer).is_some());
    let events = world.ok(as_user(ADMIN), set_rules(pool, no_rules()));
    let changed = only!(events, PoolRulesChanged);
    assert_eq!(changed.changed_rules, vec![RuleKind::NotWon]);
    assert!(changed.rules_since.is_empty());
    assert_eq!(deadline(&world, customer), None);
}

#[test]
fn a_rule_turned_on_later_counts_from_the_day_it_was_turned_on() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    assert_eq!(deadline(&world, customer), None);
    world.advance(days(10));
    let turned_on = world.now;
    world.ok(
        as_user(ADMIN),
        set_rules(
            pool,
            PoolRules {
                claimed_not_contacted: limit(5),
                ..no_rules()
            },
        ),
    );
    // Owned since day 0, but the rule counts from the day it was turned on.
    assert_eq!(
        deadline(&world, customer),
        Some((turned_on + days(5), RuleKind::ClaimedNotContacted))
    );
}

#[test]
fn a_zero_day_reclaim_rule_is_invalid() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    refused!(
        world.err(
            as_user(ADMIN),
            set_rules(
                pool,
                PoolRules {
                    cooldown_days: limit(0),
                    ..no_rules()
                }
            )
        ),
        DomainError::Invalid { field, .. } if field == "rules.cooldown_days.value",
        InvalidArgument
    );
    refused!(
        world.err(
            as_user(ADMIN),
            set_rules(
                pool,
                PoolRules {
                    no_contact: limit_with(5, ALICE, 0),
                    ..no_rules()
                }
            )
        ),
        DomainError::Invalid { field, .. } if *field == format!("rules.no_contact.per_user[{ALICE}]"),
        InvalidArgument
    );
}

#[test]
fn a_zero_cap_and_a_zero_quota_are_valid() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit(0),
            daily_claim_quota: limit(0),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(ALICE), claim(customer)),
        DomainError::DailyQuotaReached { quota: 0, .. },
        ResourceExhausted
    );
}

#[test]
fn a_protection_maximum_shorter_than_the_default_is_invalid() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    refused!(
        world.err(
            as_user(ADMIN),
            set_rules(
                pool,
                PoolRules {
                    protection: protection(30, 20),
                    ..no_rules()
                }
            )
        ),
        DomainError::Invalid { field, .. } if field == "rules.protection.max_days",
        InvalidArgument
    );
    // A per-user default longer than the maximum is just as wrong.
    refused!(
        world.err(
            as_user(ADMIN),
            set_rules(
                pool,
                PoolRules {
                    protection: Some(ProtectionRule {
                        default_days: Limit {
                            value: 10,
                            per_user: BTreeMap::from([(ALICE, 40)]),
                        },
                        max_days: 30,
                        extension: None,
                    }),
                    ..no_rules()
                }
            )
        ),
        DomainError::Invalid { field, .. } if field == "rules.protection.max_days",
        InvalidArgument
    );
}

#[test]
fn an_extension_of_zero_days_is_invalid() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    refused!(
        world.err(
            as_user(ADMIN),
            set_rules(
                pool,
                PoolRules {
                    protection: Some(ProtectionRule {
                        default_days: Limit::uniform(10),
                        max_days: 30,
                        extension: Some(ProtectionExtension {
                            contact_within_days: 3,
                            extend_by_days: 0,
                        }),
                    }),
                    ..no_rules()
                }
            )
        ),
        DomainError::Invalid { field, .. } if field == "rules.protection.extension.extend_by_days",
        InvalidArgument
    );
}

#[test]
fn zero_reminder_hours_are_invalid() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    refused!(
        world.err(
            as_user(ADMIN),
            set_rules(
                pool,
                PoolRules {
                    reminder_hours: Some(0),
                    ..no_rules()
                }
            )
        ),
        DomainError::Invalid { field, .. } if field == "rules.reminder_hours",
        InvalidArgument
    );
}

#[test]
fn a_per_user_override_for_an_unknown_user_is_refused() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    refused!(
        world.err(
            as_user(ADMIN),
            set_rules(
                pool,
                PoolRules {
                    cap: limit_with(5, DAVE, 10),
                    ..no_rules()
                }
            )
        ),
        DomainError::UnknownUser(user) if *user == DAVE,
        NotFound
    );
}

#[test]
fn a_fixed_return_target_must_be_a_known_pool() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let ghost = PoolId::from_u128(0x6057);
    refused!(
        world.err(
            as_user(ADMIN),
            set_rules(
                pool,
                PoolRules {
                    return_target: ReturnTarget::Fixed { pool: ghost },
                    ..no_rules()
                }
            )
        ),
        DomainError::UnknownPool(p) if *p == ghost,
        NotFound
    );
}

#[test]
fn a_blank_abandon_reason_in_the_list_is_invalid() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    refused!(
        world.err(
            as_user(ADMIN),
            set_rules(
                pool,
                PoolRules {
                    abandon_reasons: vec!["预算不足".into(), "  ".into()],
                    ..no_rules()
                }
            )
        ),
        DomainError::Invalid { field, .. } if field == "rules.abandon_reasons[1]",
        InvalidArgument
    );
}

#[test]
fn an_auto_assignment_rule_needs_known_assignees() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let with = |rule: AssignRule| PoolRules {
        auto_assign: vec![rule],
        ..no_rules()
    };
    refused!(
        world.err(
            as_user(ADMIN),
            set_rules(
                pool,
                with(assign_rule("空", vec![], vec![], AssignStrategy::RoundRobin))
            )
        ),
        DomainError::Invalid { field, .. } if field == "rules.auto_assign[0].assignees",
        InvalidArgument
    );
    refused!(
        world.err(
            as_user(ADMIN),
            set_rules(
                pool,
                with(assign_rule(
                    "陌生人",
                    vec![],
                    vec![ALICE, DAVE],
                    AssignStrategy::RoundRobin
                ))
            )
        ),
        DomainError::UnknownUser(user) if *user == DAVE,
        NotFound
    );
}

#[test]
fn more_than_ten_auto_assignment_rules_are_invalid() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let rules = PoolRules {
        auto_assign: (0..11)
            .map(|i| {
                assign_rule(
                    &format!("规则{i}"),
                    vec![],
                    vec![ALICE],
                    AssignStrategy::RoundRobin,
                )
            })
            .collect(),
        ..no_rules()
    };
    refused!(
        world.err(as_user(ADMIN), set_rules(pool, rules)),
        DomainError::Invalid { field, .. } if field == "rules.auto_assign",
        InvalidArgument
    );
}

// ---------------------------------------------------------------------------------------
// Organization settings
// ---------------------------------------------------------------------------------------

#[test]
fn admin_sets_the_overall_cap_and_the_day_offset() {
    let mut world = World::standard();
    let events = world.ok(as_user(ADMIN), settings(limit(100), 480));
    let changed = only!(events, OrganizationSettingsChanged);
    assert_eq!(changed.overall_cap, limit(100));
    assert_eq!(changed.day_offset_minutes, 480);
    let settings = &world.model.settings;
    assert_eq!(settings.overall_cap, limit(100));
    assert_eq!(settings.day_offset_minutes, 480);
    assert_eq!(settings.version, 1);
}

#[test]
fn first_settings_are_recorded_even_when_they_equal_the_defaults_and_repeats_emit_nothing() {
    let mut world = World::standard();
    let events = world.ok(as_user(ADMIN), settings(None, 0));
    assert_eq!(types(&events), ["organization.settings_changed"]);
    assert!(world.ok(as_user(ADMIN), settings(None, 0)).is_empty());
    assert_eq!(world.model.settings.version, 1);
}

#[test]
fn a_day_offset_beyond_fourteen_hours_is_invalid() {
    let mut world = World::standard();
    refused!(
        world.err(as_user(ADMIN), settings(None, 841)),
        DomainError::Invalid { field, .. } if field == "day_offset_minutes",
        InvalidArgument
    );
    refused!(
        world.err(as_user(ADMIN), settings(None, -721)),
        DomainError::Invalid { field, .. } if field == "day_offset_minutes",
        InvalidArgument
    );
}

#[test]
fn member_cannot_change_organization_settings() {
    let mut world = World::standard();
    refused!(
        world.err(as_user(KEEPER), settings(limit(1), 0)),
        DomainError::NotAdmin { .. },
        PermissionDenied
    );
}

// ---------------------------------------------------------------------------------------
// Create customer
// ---------------------------------------------------------------------------------------

#[test]
fn member_creates_an_unclaimed_customer_in_the_default_pool() {
    let mut world = World::standard();
    let customer_id = CustomerId::from_u128(world.fresh());
    let mut new = new_customer(customer_id, None, "  深圳XX科技有限公司 ");
    new.source = Some("web".into());
    new.fields = BTreeMap::from([("region".into(), " 华南 ".into())]);
    let events = world.ok(as_user(ALICE), CommandBody::CreateCustomer(new));
    let created = only!(events, CustomerCreated);
    assert_eq!(created.customer_id, customer_id);
    assert_eq!(created.pool_id, DEFAULT_POOL);
    assert_eq!(created.name, "深圳XX科技有限公司");
    assert_eq!(created.source.as_deref(), Some("web"));
    assert_eq!(created.fields["region"], "华南");
    assert_eq!(created.created_by, ALICE);
    assert_eq!(created.owner, None);
    assert_eq!(world.state(customer_id), &CustomerState::InPool);
    assert_eq!(world.model.customer_version(customer_id), 1);
    assert_eq!(world.model.owned_total(ALICE), 0);
}

#[test]
fn creator_keeps_the_customer_when_asked() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer_id = CustomerId::from_u128(world.fresh());
    let mut new = new_customer(customer_id, Some(pool), "张先生");
    new.keep = true;
    let events = world.ok(as_user(ALICE), CommandBody::CreateCustomer(new));
    let created = only!(events, CustomerCreated);
    assert_eq!(created.owner, Some(ALICE));
    let owned = ownership(&world, customer_id);
    assert_eq!((owned.owner, owned.since), (ALICE, world.now));
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 1);
}

#[test]
fn non_member_cannot_create_a_customer_in_a_pool() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer_id = CustomerId::from_u128(world.fresh());
    refused!(
        world.err(
            as_user(MANAGER),
            CommandBody::CreateCustomer(new_customer(customer_id, Some(pool), "黄小姐")),
        ),
        DomainError::NotPoolMember { user, pool: p } if *user == MANAGER && *p == pool,
        PermissionDenied
    );
    assert!(!world.model.customers.contains_key(&customer_id));
}

#[test]
fn customer_with_a_blank_name_is_invalid() {
    let mut world = World::standard();
    let customer_id = CustomerId::from_u128(world.fresh());
    refused!(
        world.err(
            as_user(ALICE),
            CommandBody::CreateCustomer(new_customer(customer_id, None, "  ")),
        ),
        DomainError::Invalid { field, .. } if field == "name",
        InvalidArgument
    );
}

#[test]
fn customer_with_a_taken_id_is_refused() {
    let mut world = World::standard();
    let existing = world.customer_in(DEFAULT_POOL);
    refused!(
        world.err(
            as_user(ALICE),
            CommandBody::CreateCustomer(new_customer(existing, None, "重复客户")),
        ),
        DomainError::AlreadyExists { kind: "customer", id } if *id == existing.to_string(),
        AlreadyExists
    );
}

#[test]
fn customer_in_an_unknown_pool_is_not_found() {
    let mut world = World::standard();
    let ghost = PoolId::from_u128(0x6057);
    let customer_id = CustomerId::from_u128(world.fresh());
    refused!(
        world.err(
            as_user(ALICE),
            CommandBody::CreateCustomer(new_customer(customer_id, Some(ghost), "某公司")),
        ),
        DomainError::UnknownPool(p) if *p == ghost,
        NotFound
    );
}

#[test]
fn customer_without_a_pool_needs_a_default_pool() {
    let mut world = World::empty();
    let customer_id = CustomerId::from_u128(world.fresh());
    refused!(
        world.err(
            Actor::System,
            CommandBody::CreateCustomer(new_customer(customer_id, None, "某公司")),
        ),
        DomainError::NoDefaultPool,
        FailedPrecondition
    );
}

#[test]
fn only_a_user_can_keep_a_customer() {
    let mut world = World::standard();
    let customer_id = CustomerId::from_u128(world.fresh());
    let mut new = new_customer(customer_id, None, "某公司");
    new.keep = true;
    refused!(
        world.err(Actor::System, CommandBody::CreateCustomer(new)),
        DomainError::Invalid { field, .. } if field == "keep",
        InvalidArgument
    );
}

#[test]
fn a_new_unclaimed_customer_is_auto_assigned_by_the_pools_rule() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![assign_rule(
            "全部给Bob",
            vec![],
            vec![BOB],
            AssignStrategy::RoundRobin,
        )],
        None,
    );
    let customer = world.customer_in(pool);
    let events = &world.log[world.log.len() - 2..];
    assert_eq!(
        types(events),
        ["customer.created", "customer.auto_assigned"]
    );
    let assigned = body!(events[1], CustomerAutoAssigned);
    assert_eq!((assigned.customer_id, assigned.assignee), (customer, BOB));
    assert_eq!(assigned.rule_name, "全部给Bob");
    assert_eq!(world.owner(customer), Some(BOB));
    assert_eq!(world.model.owned_in_pool(BOB, pool), 1);
}

#[test]
fn a_kept_customer_is_not_auto_assigned() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![assign_rule(
            "全部给Bob",
            vec![],
            vec![BOB],
            AssignStrategy::RoundRobin,
        )],
        None,
    );
    let customer_id = CustomerId::from_u128(world.fresh());
    let mut new = new_customer(customer_id, Some(pool), "自建客户");
    new.keep = true;
    let events = world.ok(as_user(ALICE), CommandBody::CreateCustomer(new));
    assert_eq!(types(&events), ["customer.created"]);
    assert_eq!(world.owner(customer_id), Some(ALICE));
}

// ---------------------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------------------

#[test]
fn import_creates_every_row_unclaimed() {
    let mut world = World::standard();
    let rows = rows(&mut world, DEFAULT_POOL, 3);
    let ids: Vec<CustomerId> = rows.iter().map(|row| row.customer_id).collect();
    let events = world.ok(as_user(ADMIN), import(rows));
    assert_eq!(types(&events), ["customer.created"; 3]);
    for (event, id) in events.iter().zip(&ids) {
        let created = body!(event, CustomerCreated);
        assert_eq!((created.customer_id, created.owner), (*id, None));
        assert_eq!(world.state(*id), &CustomerState::InPool);
    }
}

#[test]
fn import_is_atomic_and_names_the_failing_row() {
    let mut world = World::standard();
    let mut rows = rows(&mut world, DEFAULT_POOL, 4);
    rows[2].name = " ".into();
    let error = refused!(
        world.err(as_user(ADMIN), import(rows.clone())),
        DomainError::Invalid { field, .. } if field == "customers[2].name",
        InvalidArgument
    );
    assert_eq!(error.code(), "invalid_argument");
    for row in &rows {
        assert!(!world.model.customers.contains_key(&row.customer_id));
    }
}

#[test]
fn import_names_the_row_of_an_overlong_field() {
    let mut world = World::standard();
    let mut rows = rows(&mut world, DEFAULT_POOL, 2);
    rows[1].fields.insert("备注".into(), "长".repeat(501));
    refused!(
        world.err(as_user(ADMIN), import(rows)),
        DomainError::Invalid { field, .. } if field == "customers[1].fields.备注",
        InvalidArgument
    );
}

#[test]
fn import_refuses_an_id_repeated_within_the_batch_or_already_taken() {
    let mut world = World::standard();
    let mut batch = rows(&mut world, DEFAULT_POOL, 3);
    batch[2].customer_id = batch[0].customer_id;
    refused!(
        world.err(as_user(ADMIN), import(batch.clone())),
        DomainError::AlreadyExists {
            kind: "customer",
            ..
        },
        AlreadyExists
    );
    let existing = world.customer_in(DEFAULT_POOL);
    let mut batch = rows(&mut world, DEFAULT_POOL, 2);
    batch[1].customer_id = existing;
    refused!(
        world.err(as_user(ADMIN), import(batch)),
        DomainError::AlreadyExists {
            kind: "customer",
            ..
        },
        AlreadyExists
    );
}

#[test]
fn an_empty_import_is_invalid() {
    let mut world = World::standard();
    refused!(
        world.err(as_user(ADMIN), import(vec![])),
        DomainError::Invalid { field, .. } if field == "customers",
        InvalidArgument
    );
}

#[test]
fn import_into_a_pool_the_importer_is_not_a_member_of_is_refused() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let mut batch = rows(&mut world, DEFAULT_POOL, 2);
    batch[1].pool_id = Some(pool);
    refused!(
        world.err(as_user(MANAGER), import(batch)),
        DomainError::NotPoolMember { user, pool: p } if *user == MANAGER && *p == pool,
        PermissionDenied
    );
}

#[test]
fn round_robin_auto_assignment_takes_turns() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![assign_rule(
            "轮流",
            vec![],
            vec![ALICE, BOB, CAROL],
            AssignStrategy::RoundRobin,
        )],
        None,
    );
    let batch = rows(&mut world, pool, 4);
    let events = world.ok(as_user(ADMIN), import(batch.clone()));
    assert_eq!(events.len(), 8);
    let assigned = auto_assigned(&events);
    assert_eq!(
        assigned.iter().map(|a| a.assignee).collect::<Vec<_>>(),
        [ALICE, BOB, CAROL, ALICE]
    );
    assert_eq!(
        assigned
            .iter()
            .map(|a| (a.pointer_before, a.pointer_after))
            .collect::<Vec<_>>(),
        [(0, 1), (1, 2), (2, 0), (0, 1)]
    );
    assert!(
        assigned
            .iter()
            .all(|a| a.rule_index == 0 && a.strategy == AssignStrategy::RoundRobin)
    );
    assert_eq!(world.owner(batch[3].customer_id), Some(ALICE));
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 2);
    assert_eq!(world.model.pools[&pool].rotation, vec![1]);
}

#[test]
fn the_rotation_pointer_is_carried_across_imports() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![assign_rule(
            "轮流",
            vec![],
            vec![ALICE, BOB, CAROL],
            AssignStrategy::RoundRobin,
        )],
        None,
    );
    let first = rows(&mut world, pool, 1);
    let events = world.ok(as_user(ADMIN), import(first));
    assert_eq!(auto_assigned(&events)[0].assignee, ALICE);
    let second = rows(&mut world, pool, 1);
    let events = world.ok(as_user(ADMIN), import(second));
    let assigned = &auto_assigned(&events)[0];
    assert_eq!(assigned.assignee, BOB);
    assert_eq!((assigned.pointer_before, assigned.pointer_after), (1, 2));
    assert_eq!(world.model.pools[&pool].rotation, vec![2]);
}

#[test]
fn least_loaded_auto_assignment_picks_the_lightest_and_breaks_ties_in_rotation_order() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![assign_rule(
            "平均分配",
            vec![],
            vec![ALICE, BOB, CAROL],
            AssignStrategy::LeastLoaded,
        )],
        None,
    );
    // Pre-load through direct assignments (bypassing auto-assignment by assigning owned rows).
    for owner in [ALICE, ALICE, CAROL] {
        let customer_id = CustomerId::from_u128(world.fresh());
        let mut new = new_customer(customer_id, Some(pool), "已有客户");
        new.keep = true;
        world.ok(as_user(owner), CommandBody::CreateCustomer(new));
    }
    let batch = rows(&mut world, pool, 2);
    let events = world.ok(as_user(ADMIN), import(batch));
    let assigned = auto_assigned(&events);
    // Loads 2/0/1: BOB. Then 2/1/1 from pointer 2 (CAROL, ALICE, BOB): CAROL wins the tie.
    assert_eq!(assigned[0].assignee, BOB);
    assert_eq!(
        assigned[0]
            .candidates
            .iter()
            .map(|c| c.owned_in_pool)
            .collect::<Vec<_>>(),
        [2, 0, 1]
    );
    assert_eq!(assigned[1].assignee, CAROL);
    assert_eq!(
        assigned[1]
            .candidates
            .iter()
            .map(|c| c.owned_in_pool)
            .collect::<Vec<_>>(),
        [2, 1, 1]
    );
}

#[test]
fn auto_assignment_skips_deactivated_and_capped_users() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![assign_rule(
            "轮流",
            vec![],
            vec![ALICE, BOB, CAROL],
            AssignStrategy::RoundRobin,
        )],
        limit(1),
    );
    let mut kept = new_customer(CustomerId::from_u128(world.fresh()), Some(pool), "已有客户");
    kept.keep = true;
    world.ok(as_user(ALICE), CommandBody::CreateCustomer(kept));
    world.ok(as_user(ADMIN), deactivate(BOB, None));

    let customer = world.customer_in(pool);
    let assigned = auto_assigned(&world.log[world.log.len() - 1..]);
    let assigned = &assigned[0];
    assert_eq!(assigned.assignee, CAROL);
    let skipped: Vec<_> = assigned
        .candidates
        .iter()
        .map(|c| (c.user_id, c.skipped.as_deref()))
        .collect();
    assert_eq!(
        skipped,
        [
            (ALICE, Some("pool_cap")),
            (BOB, Some("deactivated")),
            (CAROL, None)
        ]
    );
    assert_eq!((assigned.pointer_before, assigned.pointer_after), (0, 0));
    assert_eq!(world.owner(customer), Some(CAROL));
}

#[test]
fn auto_assignment_skips_users_at_the_overall_cap() {
    let mut world = World::standard();
    world.ok(as_user(ADMIN), settings(limit(1), 0));
    world.owned_by(DEFAULT_POOL, ALICE);
    let pool = auto_pool(
        &mut world,
        vec![assign_rule(
            "轮流",
            vec![],
            vec![ALICE, BOB],
            AssignStrategy::RoundRobin,
        )],
        None,
    );
    let customer = world.customer_in(pool);
    let assigned = body!(world.log.last().unwrap(), CustomerAutoAssigned);
    assert_eq!(assigned.assignee, BOB);
    assert_eq!(
        assigned.candidates[0].skipped.as_deref(),
        Some("overall_cap")
    );
    assert_eq!(world.owner(customer), Some(BOB));
}

#[test]
fn caps_hold_within_one_import_and_unassignable_rows_stay_unclaimed() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![assign_rule(
            "轮流",
            vec![],
            vec![ALICE, BOB],
            AssignStrategy::RoundRobin,
        )],
        limit(1),
    );
    let batch = rows(&mut world, pool, 3);
    let events = world.ok(as_user(ADMIN), import(batch.clone()));
    assert_eq!(
        types(&events),
        [
            "customer.created",
            "customer.auto_assigned",
            "customer.created",
            "customer.auto_assigned",
            "customer.created"
        ]
    );
    assert_eq!(world.owner(batch[0].customer_id), Some(ALICE));
    assert_eq!(world.owner(batch[1].customer_id), Some(BOB));
    assert_eq!(world.state(batch[2].customer_id), &CustomerState::InPool);
}

#[test]
fn the_first_matching_auto_assignment_rule_wins() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![
            assign_rule(
                "市场活动线索",
                vec![Condition::Equals {
                    field: "source".into(),
                    value: "market_event".into(),
                }],
                vec![BOB],
                AssignStrategy::RoundRobin,
            ),
            assign_rule("其余", vec![], vec![CAROL], AssignStrategy::RoundRobin),
        ],
        None,
    );
    let mut batch = rows(&mut world, pool, 2);
    batch[0].source = Some("market_event".into());
    batch[1].source = Some("web".into());
    let events = world.ok(as_user(ADMIN), import(batch));
    let assigned = auto_assigned(&events);
    assert_eq!(
        (
            assigned[0].assignee,
            assigned[0].rule_index,
            assigned[0].rule_name.as_str()
        ),
        (BOB, 0, "市场活动线索")
    );
    assert_eq!((assigned[1].assignee, assigned[1].rule_index), (CAROL, 1));
}

#[test]
fn a_matching_rule_with_nobody_eligible_falls_through_to_the_next_rule() {
    let mut world = World::standard();
    let pool = auto_pool(
        &mut world,
        vec![
            assign_rule("Alice专属", vec![], vec![ALICE], AssignStrategy::RoundRobin),
            assign_rule("兜底", vec![], vec![BOB], AssignStrategy::RoundRobin),
        ],
        limit(1),
    );
    let first = world.customer_in(pool);
    assert_eq!(world.owner(first), Some(ALICE));
    let second = world.customer_in(pool);
    let assigned = body!(world.log.last().unwrap(), CustomerAutoAssigned);
    assert_eq!((assigned.assignee, assigned.rule_index), (BOB, 1));
    assert_eq!(world.owner(second), Some(BOB));
}

// ---------------------------------------------------------------------------------------
// Assign
// ---------------------------------------------------------------------------------------

#[test]
fn pool_admin_assigns_an_unclaimed_customer() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    let events = world.ok(as_user(KEEPER), assign(customer, ALICE));
    let assigned = only!(events, CustomerAssigned);
    assert_eq!(
        (assigned.customer_id, assigned.pool_id, assigned.assignee),
        (customer, pool, ALICE)
    );
    assert_eq!(assigned.overrode_applicant, None);
    assert_eq!(assigned.protection_start, world.now);
    assert_eq!(assigned.protection_until, None);
    assert_eq!(world.owner(customer), Some(ALICE));
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 1);
}

#[test]
fn member_cannot_assign() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(ALICE), assign(customer, ALICE)),
        DomainError::NotPoolAdmin { pool: p, .. } if *p == pool,
        PermissionDenied
    );
    // A superior of the assignee is no pool admin either.
    refused!(
        world.err(as_user(MANAGER), assign(customer, ALICE)),
        DomainError::NotPoolAdmin { .. },
        PermissionDenied
    );
}

#[test]
fn assigning_a_pending_customer_overrides_the_application() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), request(customer));
    let events = world.ok(as_user(KEEPER), assign(customer, BOB));
    let assigned = only!(events, CustomerAssigned);
    assert_eq!(assigned.assignee, BOB);
    assert_eq!(assigned.overrode_applicant, Some(ALICE));
    assert_eq!(world.owner(customer), Some(BOB));
}

#[test]
fn an_owned_customer_cannot_be_assigned() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    refused!(
        world.err(as_user(ADMIN), assign(customer, BOB)),
        DomainError::WrongState {
            action: "assign",
            actual: "owned",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn assignee_must_be_an_active_member_of_the_pool() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(KEEPER), assign(customer, MANAGER)),
        DomainError::NotPoolMember { user, pool: p } if *user == MANAGER && *p == pool,
        PermissionDenied
    );
    world.ok(as_user(ADMIN), deactivate(BOB, None));
    refused!(
        world.err(as_user(KEEPER), assign(customer, BOB)),
        DomainError::DeactivatedUser(user) if *user == BOB,
        FailedPrecondition
    );
}

#[test]
fn assignment_respects_the_assignees_cap() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            cap: limit(1),
            ..no_rules()
        },
    );
    world.owned_by(pool, ALICE);
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(KEEPER), assign(customer, ALICE)),
        DomainError::CapReached {
            user,
            scope: CapScope::Pool(p),
            cap: 1,
            owned: 1
        } if *user == ALICE && *p == pool,
        ResourceExhausted
    );
    world.ok(as_user(KEEPER), assign(customer, BOB));
}

#[test]
fn assignment_with_a_protection_window_sets_the_end_of_protection() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            protection: protection(7, 30),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    let start = world.now;
    let events = world.ok(
        as_user(KEEPER),
        assign_window(customer, ALICE, start, start + days(20)),
    );
    let assigned = only!(events, CustomerAssigned);
    assert_eq!(assigned.protection_start, start);
    assert_eq!(assigned.protection_until, Some(start + days(20)));
    assert_eq!(
        deadline(&world, customer),
        Some((start + days(20), RuleKind::ProtectionExpired))
    );
}

#[test]
fn a_protection_window_beyond_the_maximum_is_refused() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            protection: protection(7, 30),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    world.advance(days(10));
    // A window may start in the past; the maximum counts from its start.
    let start = world.now - days(5);
    let (end, max) = (start + days(31), start + days(30));
    refused!(
        world.err(as_user(KEEPER), assign_window(customer, ALICE, start, end)),
        DomainError::ProtectionBeyondMaximum { requested, max: m } if *requested == end && *m == max,
        FailedPrecondition
    );
    assert_eq!(world.state(customer), &CustomerState::InPool);
    let events = world.ok(as_user(KEEPER), assign_window(customer, ALICE, start, max));
    assert_eq!(only!(events, CustomerAssigned).protection_until, Some(max));
}

#[test]
fn a_protection_window_started_before_the_rule_counts_its_maximum_from_the_rule() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    world.advance(days(10));
    let turned_on = world.now;
    world.ok(
        as_user(ADMIN),
        set_rules(
            pool,
            PoolRules {
                protection: protection(7, 30),
                ..no_rules()
            },
        ),
    );
    // Backdated to before the rule was in force: the maximum is not retroactive either.
    let start = turned_on - days(5);
    let max = turned_on + days(30);
    refused!(
        world.err(
            as_user(KEEPER),
            assign_window(customer, ALICE, start, max + Duration::seconds(1))
        ),
        DomainError::ProtectionBeyondMaximum { max: m, .. } if *m == max,
        FailedPrecondition
    );
    world.ok(as_user(KEEPER), assign_window(customer, ALICE, start, max));
    // Assignment and extension agree on the maximum.
    refused!(
        world.err(as_user(KEEPER), extend(customer, max + Duration::seconds(1))),
        DomainError::ProtectionBeyondMaximum { max: m, .. } if *m == max,
        FailedPrecondition
    );
}

#[test]
fn a_protection_window_is_accepted_in_a_pool_without_a_protection_rule() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    let now = world.now;
    let (start, end) = (now - days(1), now + days(3));
    let events = world.ok(as_user(KEEPER), assign_window(customer, ALICE, start, end));
    let assigned = only!(events, CustomerAssigned);
    assert_eq!(assigned.protection_start, start);
    assert_eq!(assigned.protection_until, Some(end));
    assert_eq!(world.owner(customer), Some(ALICE));
    assert_eq!(ownership(&world, customer).protection_until, Some(end));
    let rules = &world.model.pools[&pool];
    assert_eq!(
        poolkeeper_domain::rules::protection_until(
            &rules.rules,
            &rules.rules_since,
            &ownership(&world, customer)
        ),
        Some(end),
        "the window ends in a pool without the rule too"
    );
    assert_eq!(
        deadline(&world, customer),
        None,
        "without the rule the window sets no automatic reclaim"
    );
}

#[test]
fn a_protection_window_is_bounded_by_the_maximum_only_where_the_pool_has_a_protection_rule() {
    let mut world = World::standard();
    let with_rule = world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            protection: protection(7, 30),
            ..no_rules()
        },
    );
    let without_rule = world.pool(PoolMode::AssignOnly, no_rules());
    let bounded = world.customer_in(with_rule);
    let unbounded = world.customer_in(without_rule);
    let start = world.now;
    let end = start + days(90);
    refused!(
        world.err(as_user(KEEPER), assign_window(bounded, ALICE, start, end)),
        DomainError::ProtectionBeyondMaximum { requested, max }
            if *requested == end && *max == start + days(30),
        FailedPrecondition
    );
    let events = world.ok(as_user(KEEPER), assign_window(unbounded, ALICE, start, end));
    assert_eq!(only!(events, CustomerAssigned).protection_until, Some(end));
}

#[test]
fn a_protection_window_without_a_protection_rule_must_still_end_after_it_starts_and_in_the_future()
{
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    let now = world.now;
    refused!(
        world.err(as_user(KEEPER), assign_window(customer, ALICE, now, now)),
        DomainError::Invalid { field, .. } if field == "protection.end",
        InvalidArgument
    );
    refused!(
        world.err(
            as_user(KEEPER),
            assign_window(customer, ALICE, now - days(10), now - days(1))
        ),
        DomainError::Invalid { field, .. } if field == "protection.end",
        InvalidArgument
    );
}

#[test]
fn with_the_protection_rule_on_an_unwon_customer_is_reclaimed_at_the_end_of_its_window() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            protection: protection(7, 30),
            ..no_rules()
        },
    );
    let unwon = world.customer_in(pool);
    let won = world.customer_in(pool);
    let start = world.now;
    let end = start + days(20);
    world.ok(as_user(KEEPER), assign_window(unwon, ALICE, start, end));
    world.ok(as_user(KEEPER), assign_window(won, BOB, start, end));
    world.ok(as_user(BOB), mark_won(won));
    world.advance(days(20) - Duration::seconds(1));
    assert!(
        world.run_scheduler().is_empty(),
        "not before the window's end"
    );
    world.advance(Duration::seconds(1));
    let events = world.run_scheduler();
    let reclaimed = only!(events, CustomerAutoReclaimed);
    assert_eq!(reclaimed.customer_id, unwon);
    assert_eq!(reclaimed.rule, RuleKind::ProtectionExpired);
    assert_eq!(reclaimed.due_at, end);
    assert_eq!(reclaimed.threshold_days, 20);
    assert_eq!(reclaimed.evidence.protection_until, Some(end));
    assert_eq!(world.state(unwon), &CustomerState::InPool);
    assert_eq!(world.owner(won), Some(BOB), "a won customer is kept");
}

#[test]
fn with_the_protection_rule_off_nothing_is_due_at_the_end_of_a_window() {
    let mut world = World::standard();
    // Another reclaim rule is on, so the customer has a deadline: the window is not it.
    let pool = world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            not_won: limit(60),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    let start = world.now;
    let end = start + days(5);
    world.ok(as_user(KEEPER), assign_window(customer, ALICE, start, end));
    assert_eq!(
        deadline(&world, customer),
        Some((start + days(60), RuleKind::NotWon))
    );
    for at in [end, end + days(1), end + days(30)] {
        world.now = at;
        assert_eq!(
            schedule::due(&world.model, world.now, 100),
            vec![],
            "nothing is due at {at}"
        );
    }
    assert!(world.run_scheduler().is_empty());
    assert_eq!(world.owner(customer), Some(ALICE));
    assert_eq!(ownership(&world, customer).protection_until, Some(end));
}

#[test]
fn a_window_that_ended_before_the_protection_rule_was_turned_on_is_due_when_the_rule_comes_into_force()
 {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let expired = world.customer_in(pool);
    let running = world.customer_in(pool);
    let start = world.now;
    world.ok(
        as_user(KEEPER),
        assign_window(expired, ALICE, start, start + days(5)),
    );
    world.ok(
        as_user(KEEPER),
        assign_window(running, BOB, start, start + days(20)),
    );
    world.advance(days(10));
    let turned_on = world.now;
    world.ok(
        as_user(ADMIN),
        set_rules(
            pool,
            PoolRules {
                protection: protection(7, 30),
                ..no_rules()
            },
        ),
    );
    // Never retroactive: not due at the window's end, five days before the rule existed.
    assert_eq!(
        deadline(&world, expired),
        Some((turned_on, RuleKind::ProtectionExpired))
    );
    // A window still running keeps its end.
    assert_eq!(
        deadline(&world, running),
        Some((start + days(20), RuleKind::ProtectionExpired))
    );
    let events = world.run_scheduler();
    let reclaimed = only!(events, CustomerAutoReclaimed);
    assert_eq!(reclaimed.customer_id, expired);
    assert_eq!(reclaimed.due_at, turned_on);
    assert_eq!(reclaimed.evidence.counted_from, turned_on);
    assert_eq!(reclaimed.evidence.protection_until, Some(start + days(5)));
    assert_eq!(world.owner(running), Some(BOB));
}

#[test]
fn turning_the_protection_rule_off_stops_the_automatic_reclaim_but_keeps_a_windows_end() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            protection: protection(7, 30),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    let start = world.now;
    let end = start + days(10);
    world.ok(as_user(KEEPER), assign_window(customer, ALICE, start, end));
    world.ok(as_user(ADMIN), set_rules(pool, no_rules()));
    assert_eq!(deadline(&world, customer), None);
    world.advance(days(11));
    assert!(world.run_scheduler().is_empty());
    assert_eq!(ownership(&world, customer).protection_until, Some(end));
}

#[test]
fn a_protection_window_must_end_after_it_starts_and_in_the_future() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::AssignOnly,
        PoolRules {
            protection: protection(7, 30),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    let now = world.now;
    refused!(
        world.err(as_user(KEEPER), assign_window(customer, ALICE, now, now)),
        DomainError::Invalid { field, .. } if field == "protection.end",
        InvalidArgument
    );
    refused!(
        world.err(
            as_user(KEEPER),
            assign_window(customer, ALICE, now - days(10), now - days(1))
        ),
        DomainError::Invalid { field, .. } if field == "protection.end",
        InvalidArgument
    );
}

// ---------------------------------------------------------------------------------------
// Claim
// ---------------------------------------------------------------------------------------

#[test]
fn member_claims_in_a_free_claim_pool() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.customer_in(pool);
    let events = world.ok(as_user(ALICE), claim(customer));
    let claimed = only!(events, CustomerClaimed);
    assert_eq!(
        (claimed.customer_id, claimed.pool_id, claimed.owner),
        (customer, pool, ALICE)
    );
    assert_eq!(events[0].actor, as_user(ALICE));
    let owned = ownership(&world, customer);
    assert_eq!((owned.owner, owned.since), (ALICE, world.now));
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 1);
    assert_eq!(world.model.claims_on_day(ALICE, pool, world.now), 1);
}

#[test]
fn member_cannot_claim_in_assign_only_pool() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(ALICE), claim(customer)),
        DomainError::WrongMode {
            pool: p,
            mode: PoolMode::AssignOnly,
            action: "claim"
        } if *p == pool,
        FailedPrecondition
    );
}

#[test]
fn member_cannot_claim_directly_in_an_approval_pool() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(ALICE), claim(customer)),
        DomainError::WrongMode {
            mode: PoolMode::ClaimWithApproval,
            action: "claim",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn non_member_cannot_claim() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(MANAGER), claim(customer)),
        DomainError::NotPoolMember { user, pool: p } if *user == MANAGER && *p == pool,
        PermissionDenied
    );
}

#[test]
fn an_owned_customer_cannot_be_claimed() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    refused!(
        world.err(as_user(BOB), claim(customer)),
        DomainError::WrongState {
            action: "claim",
            expected: "in_pool",
            actual: "owned",
            ..
        },
        FailedPrecondition
    );
    assert_eq!(world.owner(customer), Some(ALICE));
}

#[test]
fn claiming_an_unknown_customer_is_not_found() {
    let mut world = World::standard();
    let ghost = CustomerId::from_u128(0x6057);
    refused!(
        world.err(as_user(ALICE), claim(ghost)),
        DomainError::UnknownCustomer(c) if *c == ghost,
        NotFound
    );
}

#[test]
fn the_system_cannot_claim() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    refused!(
        world.err(Actor::System, claim(customer)),
        DomainError::Invalid { field, .. } if field == "actor",
        InvalidArgument
    );
}

#[test]
fn claim_respects_the_pool_cap() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit(1),
            ..no_rules()
        },
    );
    let first = world.customer_in(pool);
    let second = world.customer_in(pool);
    world.ok(as_user(ALICE), claim(first));
    refused!(
        world.err(as_user(ALICE), claim(second)),
        DomainError::CapReached {
            user,
            scope: CapScope::Pool(p),
            cap: 1,
            owned: 1
        } if *user == ALICE && *p == pool,
        ResourceExhausted
    );
    // Customers of other pools do not count against this pool's cap.
    world.owned_by(DEFAULT_POOL, BOB);
    world.ok(as_user(BOB), claim(second));
}

#[test]
fn per_user_cap_override_applies_to_that_user_only() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit_with(1, ALICE, 2),
            ..no_rules()
        },
    );
    let customers: Vec<_> = (0..4).map(|_| world.customer_in(pool)).collect();
    world.ok(as_user(ALICE), claim(customers[0]));
    world.ok(as_user(ALICE), claim(customers[1]));
    world.ok(as_user(BOB), claim(customers[2]));
    refused!(
        world.err(as_user(ALICE), claim(customers[3])),
        DomainError::CapReached {
            cap: 2,
            owned: 2,
            ..
        },
        ResourceExhausted
    );
    refused!(
        world.err(as_user(BOB), claim(customers[3])),
        DomainError::CapReached {
            cap: 1,
            owned: 1,
            ..
        },
        ResourceExhausted
    );
}

#[test]
fn overall_cap_counts_customers_across_pools() {
    let mut world = World::standard();
    world.ok(as_user(ADMIN), settings(limit(2), 0));
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit(5),
            ..no_rules()
        },
    );
    world.owned_by(DEFAULT_POOL, ALICE);
    world.owned_by(pool, ALICE);
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(ALICE), claim(customer)),
        DomainError::CapReached {
            user,
            scope: CapScope::Overall,
            cap: 2,
            owned: 2
        } if *user == ALICE,
        ResourceExhausted
    );
    world.ok(as_user(BOB), claim(customer));
}

#[test]
fn pool_cap_is_reported_before_the_overall_cap() {
    let mut world = World::standard();
    world.ok(as_user(ADMIN), settings(limit(1), 0));
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit(1),
            ..no_rules()
        },
    );
    world.owned_by(pool, ALICE);
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(ALICE), claim(customer)),
        DomainError::CapReached {
            scope: CapScope::Pool(p),
            ..
        } if *p == pool,
        ResourceExhausted
    );
}

#[test]
fn per_user_overall_cap_override() {
    let mut world = World::standard();
    world.ok(as_user(ADMIN), settings(limit_with(1, BOB, 2), 0));
    world.owned_by(DEFAULT_POOL, ALICE);
    world.owned_by(DEFAULT_POOL, BOB);
    let customer = world.customer_in(DEFAULT_POOL);
    refused!(
        world.err(as_user(ALICE), claim(customer)),
        DomainError::CapReached {
            scope: CapScope::Overall,
            cap: 1,
            ..
        },
        ResourceExhausted
    );
    world.ok(as_user(BOB), claim(customer));
    assert_eq!(world.model.owned_total(BOB), 2);
}

#[test]
fn claim_is_refused_while_the_cooldown_runs() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cooldown_days: limit(3),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), claim(customer));
    world.advance(Duration::hours(2));
    let abandoned_at = world.now;
    world.ok(as_user(ALICE), abandon(customer, "暂无需求", None));
    world.advance(days(3) - Duration::seconds(1));
    refused!(
        world.err(as_user(ALICE), claim(customer)),
        DomainError::CooldownActive { user, customer: c, until }
            if *user == ALICE && *c == customer && *until == abandoned_at + days(3),
        FailedPrecondition
    );
    world.advance(Duration::seconds(1));
    world.ok(as_user(ALICE), claim(customer));
    assert_eq!(world.owner(customer), Some(ALICE));
}

#[test]
fn the_cooldown_binds_only_the_user_who_lost_the_customer() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cooldown_days: limit(3),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), claim(customer));
    world.ok(as_user(ALICE), abandon(customer, "暂无需求", None));
    world.ok(as_user(BOB), claim(customer));
    assert_eq!(world.owner(customer), Some(BOB));
}

#[test]
fn a_reclaim_starts_the_former_owners_cooldown() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cooldown_days: limit_with(3, ALICE, 10),
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    let reclaimed_at = world.now;
    world.ok(as_user(KEEPER), reclaim(customer));
    world.advance(days(5));
    // ALICE's override is 10 days, not the pool's 3.
    refused!(
        world.err(as_user(ALICE), claim(customer)),
        DomainError::CooldownActive { until, .. } if *until == reclaimed_at + days(10),
        FailedPrecondition
    );
}

#[test]
fn daily_claim_quota_resets_on_the_next_organization_day() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            daily_claim_quota: limit(2),
            ..no_rules()
        },
    );
    let customers: Vec<_> = (0..4).map(|_| world.customer_in(pool)).collect();
    world.ok(as_user(ALICE), claim(customers[0]));
    world.ok(as_user(ALICE), claim(customers[1]));
    refused!(
        world.err(as_user(ALICE), claim(customers[2])),
        DomainError::DailyQuotaReached { user, pool: p, quota: 2 } if *user == ALICE && *p == pool,
        ResourceExhausted
    );
    // Others have their own quota.
    world.ok(as_user(BOB), claim(customers[3]));
    // t0 is 09:00 UTC: 23:59 is still the same day, midnight is the next one.
    world.advance(Duration::hours(14) + Duration::minutes(59));
    world.err(as_user(ALICE), claim(customers[2]));
    world.advance(Duration::minutes(1));
    world.ok(as_user(ALICE), claim(customers[2]));
    assert_eq!(world.model.claims_on_day(ALICE, pool, world.now), 1);
}

#[test]
fn daily_claim_quota_follows_the_organizations_day_offset() {
    for (offset, open_at_utc_16) in [(480, true), (0, false)] {
        let mut world = World::standard();
        world.ok(as_user(ADMIN), settings(None, offset));
        let pool = free_pool(
            &mut world,
            PoolRules {
                daily_claim_quota: limit(1),
                ..no_rules()
            },
        );
        let first = world.customer_in(pool);
        let second = world.customer_in(pool);
        world.ok(as_user(ALICE), claim(first));
        // 15:59 UTC is 23:59 in UTC+8: still the same organization day either way.
        world.advance(Duration::hours(6) + Duration::minutes(59));
        world.err(as_user(ALICE), claim(second));
        // 16:00 UTC is midnight in UTC+8, but still the afternoon in UTC.
        world.advance(Duration::minutes(1));
        let result = world.exec(as_user(ALICE), claim(second));
        assert_eq!(
            result.is_ok(),
            open_at_utc_16,
            "offset {offset}: {result:?}"
        );
    }
}

#[test]
fn per_user_daily_quota_override() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            daily_claim_quota: limit_with(1, BOB, 0),
            ..no_rules()
        },
    );
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(BOB), claim(customer)),
        DomainError::DailyQuotaReached { quota: 0, .. },
        ResourceExhausted
    );
    world.ok(as_user(ALICE), claim(customer));
}

#[test]
fn claim_requests_count_toward_the_daily_quota() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::ClaimWithApproval,
        PoolRules {
            daily_claim_quota: limit(1),
            ..no_rules()
        },
    );
    let first = world.customer_in(pool);
    let second = world.customer_in(pool);
    world.ok(as_user(ALICE), request(first));
    // Even a rejected application used up today's quota.
    world.ok(as_user(KEEPER), reject(first, None));
    refused!(
        world.err(as_user(ALICE), request(second)),
        DomainError::DailyQuotaReached { quota: 1, .. },
        ResourceExhausted
    );
}

// ---------------------------------------------------------------------------------------
// Request, approve, reject
// ---------------------------------------------------------------------------------------

#[test]
fn member_applies_for_a_customer_in_an_approval_pool() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    let events = world.ok(as_user(ALICE), request(customer));
    let requested = only!(events, ClaimRequested);
    assert_eq!(
        (
            requested.customer_id,
            requested.pool_id,
            requested.applicant
        ),
        (customer, pool, ALICE)
    );
    assert_eq!(
        world.state(customer),
        &CustomerState::Pending {
            applicant: ALICE,
            since: world.now
        }
    );
    assert_eq!(world.model.owned_total(ALICE), 0);
}

#[test]
fn member_cannot_apply_in_a_free_claim_pool() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    refused!(
        world.err(as_user(ALICE), request(customer)),
        DomainError::WrongMode {
            mode: PoolMode::FreeClaim,
            action: "request_claim",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn a_pending_customer_cannot_be_applied_for_again() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), request(customer));
    refused!(
        world.err(as_user(BOB), request(customer)),
        DomainError::WrongState {
            actual: "pending",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn non_member_cannot_apply() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(DIRECTOR), request(customer)),
        DomainError::NotPoolMember { user, .. } if *user == DIRECTOR,
        PermissionDenied
    );
}

#[test]
fn an_application_is_refused_at_the_cap() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::ClaimWithApproval,
        PoolRules {
            cap: limit(1),
            ..no_rules()
        },
    );
    world.owned_by(pool, ALICE);
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(ALICE), request(customer)),
        DomainError::CapReached { .. },
        ResourceExhausted
    );
}

#[test]
fn pool_admin_approves_an_application() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), request(customer));
    world.advance(Duration::hours(3));
    let events = world.ok(as_user(KEEPER), approve(customer));
    let approved = only!(events, ClaimApproved);
    assert_eq!(
        (approved.customer_id, approved.applicant),
        (customer, ALICE)
    );
    let owned = ownership(&world, customer);
    assert_eq!((owned.owner, owned.since), (ALICE, world.now));
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 1);
}

#[test]
fn member_cannot_approve_or_reject() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), request(customer));
    refused!(
        world.err(as_user(ALICE), approve(customer)),
        DomainError::NotPoolAdmin { .. },
        PermissionDenied
    );
    refused!(
        world.err(as_user(MANAGER), reject(customer, None)),
        DomainError::NotPoolAdmin { .. },
        PermissionDenied
    );
}

#[test]
fn only_a_pending_customer_can_be_approved_or_rejected() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(KEEPER), approve(customer)),
        DomainError::WrongState {
            action: "approve_claim",
            expected: "pending",
            actual: "in_pool",
            ..
        },
        FailedPrecondition
    );
    refused!(
        world.err(as_user(KEEPER), reject(customer, Some("不合适"))),
        DomainError::WrongState {
            action: "reject_claim",
            actual: "in_pool",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn approval_respects_the_applicants_cap() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::ClaimWithApproval,
        PoolRules {
            cap: limit(1),
            ..no_rules()
        },
    );
    let first = world.customer_in(pool);
    let second = world.customer_in(pool);
    world.ok(as_user(ALICE), request(first));
    world.ok(as_user(ALICE), request(second));
    world.ok(as_user(KEEPER), approve(first));
    refused!(
        world.err(as_user(KEEPER), approve(second)),
        DomainError::CapReached { user, cap: 1, owned: 1, .. } if *user == ALICE,
        ResourceExhausted
    );
    assert!(matches!(
        world.state(second),
        CustomerState::Pending { applicant, .. } if *applicant == ALICE
    ));
}

#[test]
fn pool_admin_rejects_an_application_with_a_reason() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), request(customer));
    let events = world.ok(as_user(KEEPER), reject(customer, Some("  区域不符 ")));
    let rejected = only!(events, ClaimRejected);
    assert_eq!(
        (rejected.customer_id, rejected.applicant),
        (customer, ALICE)
    );
    assert_eq!(rejected.reason.as_deref(), Some("区域不符"));
    assert_eq!(world.state(customer), &CustomerState::InPool);
    // Someone else may apply now.
    world.ok(as_user(BOB), request(customer));
}

// ---------------------------------------------------------------------------------------
// Abandon
// ---------------------------------------------------------------------------------------

#[test]
fn owner_abandons_with_a_reason_from_the_pool_list() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            abandon_reasons: vec!["预算不足".into(), "无意向".into()],
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    let events = world.ok(as_user(ALICE), abandon(customer, " 预算不足 ", None));
    let abandoned = only!(events, CustomerAbandoned);
    assert_eq!(abandoned.customer_id, customer);
    assert_eq!((abandoned.from_pool, abandoned.to_pool), (pool, pool));
    assert_eq!(abandoned.abandoner, ALICE);
    assert_eq!(abandoned.reason, "预算不足");
    assert_eq!(world.state(customer), &CustomerState::InPool);
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 0);
    assert_eq!(world.model.losses.get(&(ALICE, customer)), Some(&world.now));
    // An abandoner is no related person.
    assert!(world.model.customers[&customer].related.is_empty());
}

#[test]
fn abandon_without_reason_is_invalid() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    refused!(
        world.err(as_user(ALICE), abandon(customer, "   ", None)),
        DomainError::Invalid { field, .. } if field == "reason",
        InvalidArgument
    );
    assert_eq!(world.owner(customer), Some(ALICE));
}

#[test]
fn abandon_reason_must_come_from_the_pools_list() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            abandon_reasons: vec!["预算不足".into()],
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    refused!(
        world.err(as_user(ALICE), abandon(customer, "不想跟了", None)),
        DomainError::ReasonNotInList { reason, pool: p } if reason == "不想跟了" && *p == pool,
        FailedPrecondition
    );
}

#[test]
fn only_the_owner_may_abandon() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    for actor in [BOB, MANAGER, ADMIN] {
        refused!(
            world.err(as_user(actor), abandon(customer, "无意向", None)),
            DomainError::NotOwner { customer: c, .. } if *c == customer,
            PermissionDenied
        );
    }
}

#[test]
fn an_unclaimed_customer_cannot_be_abandoned() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    refused!(
        world.err(as_user(ALICE), abandon(customer, "无意向", None)),
        DomainError::WrongState {
            action: "abandon",
            expected: "owned",
            actual: "in_pool",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn abandon_returns_to_the_source_pool_and_refuses_another_choice() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    refused!(
        world.err(as_user(ALICE), abandon(customer, "无意向", Some(DEFAULT_POOL))),
        DomainError::Invalid { field, .. } if field == "return_to",
        InvalidArgument
    );
    // Naming the source pool itself is fine.
    let events = world.ok(as_user(ALICE), abandon(customer, "无意向", Some(pool)));
    assert_eq!(only!(events, CustomerAbandoned).to_pool, pool);
    assert_eq!(world.pool_of(customer), pool);
}

#[test]
fn abandon_goes_to_the_pool_the_user_chooses() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            return_target: ReturnTarget::UserChooses,
            ..no_rules()
        },
    );
    let chosen = world.owned_by(pool, ALICE);
    let unchosen = world.owned_by(pool, ALICE);
    let events = world.ok(
        as_user(ALICE),
        abandon(chosen, "无意向", Some(DEFAULT_POOL)),
    );
    let abandoned = only!(events, CustomerAbandoned);
    assert_eq!(
        (abandoned.from_pool, abandoned.to_pool),
        (pool, DEFAULT_POOL)
    );
    assert_eq!(world.pool_of(chosen), DEFAULT_POOL);
    assert_eq!(world.state(chosen), &CustomerState::InPool);
    // No choice: back where it came from.
    let events = world.ok(as_user(ALICE), abandon(unchosen, "无意向", None));
    assert_eq!(only!(events, CustomerAbandoned).to_pool, pool);
    assert_eq!(world.model.owned_total(ALICE), 0);
}

#[test]
fn abandon_to_an_unknown_chosen_pool_is_not_found() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            return_target: ReturnTarget::UserChooses,
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    let ghost = PoolId::from_u128(0x6057);
    refused!(
        world.err(as_user(ALICE), abandon(customer, "无意向", Some(ghost))),
        DomainError::UnknownPool(p) if *p == ghost,
        NotFound
    );
}

#[test]
fn abandon_goes_to_the_fixed_pool() {
    let mut world = World::standard();
    let fixed = world.pool(PoolMode::AssignOnly, no_rules());
    let pool = free_pool(
        &mut world,
        PoolRules {
            return_target: ReturnTarget::Fixed { pool: fixed },
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    refused!(
        world.err(as_user(ALICE), abandon(customer, "无意向", Some(DEFAULT_POOL))),
        DomainError::Invalid { field, .. } if field == "return_to",
        InvalidArgument
    );
    let events = world.ok(as_user(ALICE), abandon(customer, "无意向", None));
    let abandoned = only!(events, CustomerAbandoned);
    assert_eq!((abandoned.from_pool, abandoned.to_pool), (pool, fixed));
    assert_eq!(world.pool_of(customer), fixed);
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 0);
    assert_eq!(world.model.owned_in_pool(ALICE, fixed), 0);
}

// ---------------------------------------------------------------------------------------
// Reclaim (manual)
// ---------------------------------------------------------------------------------------

#[test]
fn pool_admin_reclaims_and_the_former_owner_becomes_a_related_person() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.advance(days(1));
    let events = world.ok(as_user(KEEPER), reclaim(customer));
    let reclaimed = only!(events, CustomerReclaimed);
    assert_eq!(
        (
            reclaimed.customer_id,
            reclaimed.pool_id,
            reclaimed.former_owner
        ),
        (customer, pool, ALICE)
    );
    assert_eq!(reclaimed.reason.as_deref(), Some("长期未跟进"));
    assert_eq!(world.state(customer), &CustomerState::InPool);
    assert_eq!(world.model.customers[&customer].related, vec![ALICE]);
    assert_eq!(world.model.losses.get(&(ALICE, customer)), Some(&world.now));
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 0);
}

#[test]
fn owners_superior_who_is_no_pool_admin_cannot_reclaim() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    for actor in [MANAGER, ALICE, BOB] {
        refused!(
            world.err(as_user(actor), reclaim(customer)),
            DomainError::NotPoolAdmin { pool: p, .. } if *p == pool,
            PermissionDenied
        );
    }
}

#[test]
fn an_unclaimed_customer_cannot_be_reclaimed() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(KEEPER), reclaim(customer)),
        DomainError::WrongState {
            action: "reclaim",
            actual: "in_pool",
            ..
        },
        FailedPrecondition
    );
}

// ---------------------------------------------------------------------------------------
// Automatic reclaim and reminders (system only)
// ---------------------------------------------------------------------------------------

fn not_contacted_pool(world: &mut World, reminder_hours: Option<u32>) -> PoolId {
    free_pool(
        world,
        PoolRules {
            claimed_not_contacted: limit(5),
            no_contact: limit(5),
            reminder_hours,
            ..no_rules()
        },
    )
}

#[test]
fn the_system_reclaims_a_customer_whose_rule_is_due() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let customer = world.owned_by(pool, ALICE);
    let owned_at = world.now;
    let due = owned_at + days(5);
    world.advance(days(5));
    let events = world.ok(
        Actor::Rule(RuleKind::ClaimedNotContacted),
        auto_reclaim(customer, RuleKind::ClaimedNotContacted, due),
    );
    let reclaimed = only!(events, CustomerAutoReclaimed);
    assert_eq!(reclaimed.former_owner, ALICE);
    assert_eq!(reclaimed.rule, RuleKind::ClaimedNotContacted);
    assert_eq!(reclaimed.threshold_days, 5);
    assert_eq!(reclaimed.due_at, due);
    assert_eq!(reclaimed.rules_version, 1);
    assert_eq!(reclaimed.evidence.owned_since, owned_at);
    assert_eq!(reclaimed.evidence.counted_from, owned_at);
    assert_eq!(reclaimed.evidence.last_contact_at, None);
    assert_eq!(world.state(customer), &CustomerState::InPool);
    assert_eq!(world.model.customers[&customer].related, vec![ALICE]);
    assert_eq!(world.model.losses.get(&(ALICE, customer)), Some(&world.now));
    assert_eq!(deadline(&world, customer), None);
}

#[test]
fn a_user_cannot_trigger_an_automatic_reclaim_or_reminder() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, Some(24));
    let customer = world.owned_by(pool, ALICE);
    let due = world.now + days(5);
    world.advance(days(5));
    refused!(
        world.err(
            as_user(ADMIN),
            auto_reclaim(customer, RuleKind::ClaimedNotContacted, due)
        ),
        DomainError::SystemOnly {
            action: "auto_reclaim"
        },
        PermissionDenied
    );
    refused!(
        world.err(as_user(KEEPER), remind(customer, due)),
        DomainError::SystemOnly {
            action: "remind_reclaim"
        },
        PermissionDenied
    );
}

#[test]
fn automatic_reclaim_before_the_deadline_is_not_due() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let customer = world.owned_by(pool, ALICE);
    let due = world.now + days(5);
    world.advance(days(5) - Duration::seconds(1));
    refused!(
        world.err(
            Actor::System,
            auto_reclaim(customer, RuleKind::ClaimedNotContacted, due)
        ),
        DomainError::NotDue {
            action: "auto_reclaim",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn automatic_reclaim_is_not_due_once_a_follow_up_moved_the_deadline() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let customer = world.owned_by(pool, ALICE);
    let old_due = world.now + days(5);
    world.advance(days(4));
    world.follow_up(ALICE, customer);
    assert_eq!(
        deadline(&world, customer),
        Some((world.now + days(5), RuleKind::NoContact))
    );
    world.advance(days(1));
    refused!(
        world.err(
            Actor::Rule(RuleKind::ClaimedNotContacted),
            auto_reclaim(customer, RuleKind::ClaimedNotContacted, old_due)
        ),
        DomainError::NotDue { due_at, .. } if *due_at == old_due,
        FailedPrecondition
    );
    assert_eq!(world.owner(customer), Some(ALICE));
}

#[test]
fn automatic_reclaim_naming_another_rule_is_not_due() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let customer = world.owned_by(pool, ALICE);
    let due = world.now + days(5);
    world.advance(days(5));
    refused!(
        world.err(Actor::System, auto_reclaim(customer, RuleKind::NotWon, due)),
        DomainError::NotDue { .. },
        FailedPrecondition
    );
}

#[test]
fn automatic_reclaim_of_an_unowned_customer_is_refused() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let customer = world.customer_in(pool);
    let due = world.now;
    refused!(
        world.err(
            Actor::System,
            auto_reclaim(customer, RuleKind::ClaimedNotContacted, due)
        ),
        DomainError::WrongState {
            action: "auto_reclaim",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn expiring_protection_with_a_recent_follow_up_is_extended_not_reclaimed() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            protection: Some(ProtectionRule {
                default_days: Limit::uniform(7),
                max_days: 10,
                extension: Some(ProtectionExtension {
                    contact_within_days: 3,
                    extend_by_days: 5,
                }),
            }),
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    let start = world.now;
    world.advance(days(6));
    world.follow_up(ALICE, customer);
    world.advance(days(1));
    let events = world.ok(
        Actor::Rule(RuleKind::ProtectionExpired),
        auto_reclaim(customer, RuleKind::ProtectionExpired, start + days(7)),
    );
    let extended = only!(events, ProtectionExtended);
    assert_eq!(extended.previous_until, start + days(7));
    // 7 + 5 would pass the 10-day maximum.
    assert_eq!(extended.until, start + days(10));
    assert_eq!(extended.max_until, Some(start + days(10)));
    assert_eq!(world.owner(customer), Some(ALICE));
    assert_eq!(
        deadline(&world, customer),
        Some((start + days(10), RuleKind::ProtectionExpired))
    );
}

#[test]
fn the_system_reminds_the_owner_before_a_reclaim_once() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, Some(24));
    let customer = world.owned_by(pool, ALICE);
    let due = world.now + days(5);
    assert_eq!(
        world.model.customers[&customer].reminder_at,
        Some(due - days(1))
    );
    world.advance(days(3));
    refused!(
        world.err(Actor::System, remind(customer, due)),
        DomainError::NotDue {
            action: "remind_reclaim",
            ..
        },
        FailedPrecondition
    );
    world.advance(days(1));
    let events = world.ok(
        Actor::Rule(RuleKind::ClaimedNotContacted),
        remind(customer, due),
    );
    let reminded = only!(events, ReclaimReminded);
    assert_eq!(
        (reminded.owner, reminded.rule, reminded.due_at),
        (ALICE, RuleKind::ClaimedNotContacted, due)
    );
    assert_eq!(world.model.customers[&customer].reminded_for, Some(due));
    assert_eq!(world.model.customers[&customer].reminder_at, None);
    // Once is enough.
    refused!(
        world.err(Actor::System, remind(customer, due)),
        DomainError::NotDue { .. },
        FailedPrecondition
    );
}

#[test]
fn a_reminder_for_a_deadline_that_changed_is_not_due() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, Some(24));
    let customer = world.owned_by(pool, ALICE);
    let due = world.now + days(5);
    world.advance(days(4));
    world.follow_up(ALICE, customer);
    refused!(
        world.err(Actor::System, remind(customer, due)),
        DomainError::NotDue { .. },
        FailedPrecondition
    );
}

// ---------------------------------------------------------------------------------------
// Transfer
// ---------------------------------------------------------------------------------------

#[test]
fn owner_transfers_a_customer_to_a_colleague() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.advance(days(2));
    let events = world.ok(as_user(ALICE), transfer(customer, BOB));
    let transferred = only!(events, CustomerTransferred);
    assert_eq!(
        (transferred.customer_id, transferred.pool_id),
        (customer, pool)
    );
    assert_eq!((transferred.from, transferred.to), (ALICE, BOB));
    assert_eq!(transferred.reason.as_deref(), Some("工作调整"));
    let owned = ownership(&world, customer);
    assert_eq!((owned.owner, owned.since), (BOB, world.now));
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 0);
    assert_eq!(world.model.owned_in_pool(BOB, pool), 1);
}

#[test]
fn pool_admin_may_transfer() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(KEEPER), transfer(customer, CAROL));
    assert_eq!(world.owner(customer), Some(CAROL));
}

#[test]
fn owners_superior_may_transfer() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let events = world.ok(as_user(MANAGER), transfer(customer, BOB));
    assert_eq!(events[0].actor, as_user(MANAGER));
    assert_eq!(world.owner(customer), Some(BOB));
}

#[test]
fn superior_of_superior_may_transfer() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world.ok(as_user(DIRECTOR), transfer(customer, CAROL));
    assert_eq!(world.owner(customer), Some(CAROL));
}

#[test]
fn peer_cannot_transfer() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    for actor in [BOB, CAROL] {
        refused!(
            world.err(as_user(actor), transfer(customer, actor)),
            DomainError::NotOwnerOrSuperior { customer: c, .. } if *c == customer,
            PermissionDenied
        );
    }
}

#[test]
fn subordinate_cannot_transfer_their_superiors_customer() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, MANAGER);
    refused!(
        world.err(as_user(ALICE), transfer(customer, ALICE)),
        DomainError::NotOwnerOrSuperior { .. },
        PermissionDenied
    );
}

#[test]
fn transfer_respects_the_new_owners_cap() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit(1),
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    world.owned_by(pool, BOB);
    refused!(
        world.err(as_user(ALICE), transfer(customer, BOB)),
        DomainError::CapReached {
            user,
            scope: CapScope::Pool(p),
            ..
        } if *user == BOB && *p == pool,
        ResourceExhausted
    );
    assert_eq!(world.owner(customer), Some(ALICE));
}

#[test]
fn transfer_to_the_current_owner_is_nothing_to_do() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    refused!(
        world.err(as_user(MANAGER), transfer(customer, ALICE)),
        DomainError::NothingToDo(_),
        FailedPrecondition
    );
}

#[test]
fn transfer_goes_only_to_an_active_member_of_the_pool() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    refused!(
        world.err(as_user(ALICE), transfer(customer, MANAGER)),
        DomainError::NotPoolMember { user, .. } if *user == MANAGER,
        PermissionDenied
    );
    world.ok(as_user(ADMIN), deactivate(CAROL, None));
    refused!(
        world.err(as_user(ALICE), transfer(customer, CAROL)),
        DomainError::DeactivatedUser(user) if *user == CAROL,
        FailedPrecondition
    );
    refused!(
        world.err(as_user(ALICE), transfer(customer, DAVE)),
        DomainError::UnknownUser(user) if *user == DAVE,
        NotFound
    );
}

#[test]
fn an_unclaimed_customer_cannot_be_transferred() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    refused!(
        world.err(as_user(ADMIN), transfer(customer, BOB)),
        DomainError::WrongState {
            action: "transfer",
            actual: "in_pool",
            ..
        },
        FailedPrecondition
    );
}

// ---------------------------------------------------------------------------------------
// Freeze and unfreeze
// ---------------------------------------------------------------------------------------

#[test]
fn pool_admin_freezes_an_owned_customer_ending_the_ownership() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let customer = world.owned_by(pool, ALICE);
    assert!(deadline(&world, customer).is_some());
    let events = world.ok(as_user(KEEPER), freeze(customer));
    let frozen = only!(events, CustomerFrozen);
    assert_eq!((frozen.customer_id, frozen.pool_id), (customer, pool));
    assert_eq!(frozen.former_owner, Some(ALICE));
    assert_eq!(frozen.reason.as_deref(), Some("签订一年合同"));
    assert_eq!(world.state(customer), &CustomerState::Frozen);
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 0);
    assert_eq!(deadline(&world, customer), None);
}

#[test]
fn unclaimed_and_pending_customers_can_be_frozen() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let unclaimed = world.customer_in(pool);
    let pending = world.customer_in(pool);
    world.ok(as_user(ALICE), request(pending));
    for customer in [unclaimed, pending] {
        let events = world.ok(as_user(KEEPER), freeze(customer));
        assert_eq!(only!(events, CustomerFrozen).former_owner, None);
        assert_eq!(world.state(customer), &CustomerState::Frozen);
    }
}

#[test]
fn a_frozen_customer_can_be_neither_claimed_nor_frozen_again() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    world.ok(as_user(ADMIN), freeze(customer));
    refused!(
        world.err(as_user(ALICE), claim(customer)),
        DomainError::WrongState {
            actual: "frozen",
            ..
        },
        FailedPrecondition
    );
    refused!(
        world.err(as_user(ADMIN), freeze(customer)),
        DomainError::WrongState {
            action: "freeze",
            actual: "frozen",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn member_cannot_freeze_or_unfreeze() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    refused!(
        world.err(as_user(ALICE), freeze(customer)),
        DomainError::NotPoolAdmin { .. },
        PermissionDenied
    );
    world.ok(as_user(KEEPER), freeze(customer));
    refused!(
        world.err(as_user(MANAGER), unfreeze(customer)),
        DomainError::NotPoolAdmin { .. },
        PermissionDenied
    );
}

#[test]
fn pool_admin_unfreezes_a_customer_back_into_its_pool() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(KEEPER), freeze(customer));
    let events = world.ok(as_user(KEEPER), unfreeze(customer));
    let unfrozen = only!(events, CustomerUnfrozen);
    assert_eq!((unfrozen.customer_id, unfrozen.pool_id), (customer, pool));
    // Unclaimed, not back to the former owner.
    assert_eq!(world.state(customer), &CustomerState::InPool);
    world.ok(as_user(BOB), claim(customer));
}

#[test]
fn only_a_frozen_customer_can_be_unfrozen() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    refused!(
        world.err(as_user(ADMIN), unfreeze(customer)),
        DomainError::WrongState {
            action: "unfreeze",
            expected: "frozen",
            actual: "in_pool",
            ..
        },
        FailedPrecondition
    );
}

// ---------------------------------------------------------------------------------------
// Move pool
// ---------------------------------------------------------------------------------------

#[test]
fn admin_of_both_pools_moves_an_owned_customer_and_its_count_follows() {
    let mut world = World::standard();
    let from = not_contacted_pool(&mut world, None);
    let to = free_pool(&mut world, no_rules());
    let customer = world.owned_by(from, ALICE);
    assert!(deadline(&world, customer).is_some());
    let events = world.ok(as_user(KEEPER), move_pool(customer, to));
    let moved = only!(events, CustomerMoved);
    assert_eq!(
        (moved.customer_id, moved.from_pool, moved.to_pool),
        (customer, from, to)
    );
    assert_eq!(world.pool_of(customer), to);
    assert_eq!(world.owner(customer), Some(ALICE));
    assert_eq!(world.model.owned_in_pool(ALICE, from), 0);
    assert_eq!(world.model.owned_in_pool(ALICE, to), 1);
    assert_eq!(world.model.owned_total(ALICE), 1);
    // The destination's rules now apply: it has no reclaim rule.
    assert_eq!(deadline(&world, customer), None);
}

#[test]
fn moving_needs_admin_rights_on_both_pools() {
    let mut world = World::standard();
    let from = free_pool(&mut world, no_rules());
    let to = free_pool(&mut world, no_rules());
    world.ok(
        as_user(ADMIN),
        CommandBody::SetPoolAdmins {
            pool_id: to,
            admins: BTreeSet::from([MANAGER]),
        },
    );
    let customer = world.customer_in(from);
    refused!(
        world.err(as_user(KEEPER), move_pool(customer, to)),
        DomainError::NotPoolAdmin { pool, .. } if *pool == to,
        PermissionDenied
    );
    refused!(
        world.err(as_user(MANAGER), move_pool(customer, to)),
        DomainError::NotPoolAdmin { pool, .. } if *pool == from,
        PermissionDenied
    );
    world.ok(as_user(ADMIN), move_pool(customer, to));
    assert_eq!(world.pool_of(customer), to);
}

#[test]
fn moving_to_the_same_or_an_unknown_pool_is_refused() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.customer_in(pool);
    refused!(
        world.err(as_user(KEEPER), move_pool(customer, pool)),
        DomainError::Invalid { field, .. } if field == "destination_pool",
        InvalidArgument
    );
    let ghost = PoolId::from_u128(0x6057);
    refused!(
        world.err(as_user(KEEPER), move_pool(customer, ghost)),
        DomainError::UnknownPool(p) if *p == ghost,
        NotFound
    );
}

#[test]
fn a_deleted_customer_cannot_be_moved() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ADMIN), delete(customer));
    refused!(
        world.err(as_user(ADMIN), move_pool(customer, DEFAULT_POOL)),
        DomainError::WrongState {
            action: "move",
            actual: "deleted",
            ..
        },
        FailedPrecondition
    );
}

// ---------------------------------------------------------------------------------------
// Delete and restore
// ---------------------------------------------------------------------------------------

#[test]
fn pool_admin_deletes_an_owned_customer_into_the_recycle_bin() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    let events = world.ok(as_user(KEEPER), delete(customer));
    let deleted = only!(events, CustomerDeleted);
    assert_eq!((deleted.customer_id, deleted.pool_id), (customer, pool));
    assert_eq!(deleted.former_owner, Some(ALICE));
    assert_eq!(
        world.state(customer),
        &CustomerState::Deleted {
            former: FormerState::Owned(ALICE)
        }
    );
    assert_eq!(world.model.owned_total(ALICE), 0);
}

#[test]
fn owners_superior_may_delete_but_the_owner_and_peers_may_not() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    for actor in [ALICE, BOB, CAROL] {
        refused!(
            world.err(as_user(actor), delete(customer)),
            DomainError::NotPoolAdmin { .. },
            PermissionDenied
        );
    }
    world.ok(as_user(DIRECTOR), delete(customer));
    assert!(matches!(
        world.state(customer),
        CustomerState::Deleted { .. }
    ));
}

#[test]
fn a_deleted_customer_cannot_be_deleted_again() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    world.ok(as_user(ADMIN), delete(customer));
    refused!(
        world.err(as_user(ADMIN), delete(customer)),
        DomainError::WrongState {
            action: "delete",
            actual: "deleted",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn restore_returns_the_customer_to_its_former_owner() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(KEEPER), delete(customer));
    world.advance(days(1));
    let events = world.ok(as_user(KEEPER), restore(customer));
    let restored = only!(events, CustomerRestored);
    assert_eq!(restored.restored_to, RestoredTo::FormerOwner);
    assert_eq!(restored.owner, Some(ALICE));
    assert_eq!(restored.note, None);
    let owned = ownership(&world, customer);
    assert_eq!((owned.owner, owned.since), (ALICE, world.now));
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 1);
}

#[test]
fn restore_goes_to_the_pool_when_the_former_owner_was_deactivated() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world.ok(as_user(ADMIN), delete(customer));
    world.ok(as_user(ADMIN), deactivate(ALICE, Some(BOB)));
    let events = world.ok(as_user(ADMIN), restore(customer));
    let restored = only!(events, CustomerRestored);
    assert_eq!(restored.restored_to, RestoredTo::Pool);
    assert_eq!(restored.owner, None);
    assert_eq!(restored.note.as_deref(), Some("former_owner_deactivated"));
    assert_eq!(world.state(customer), &CustomerState::InPool);
}

#[test]
fn restore_goes_to_the_pool_when_the_former_owner_is_at_the_pool_cap() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            cap: limit(1),
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(KEEPER), delete(customer));
    world.owned_by(pool, ALICE);
    let events = world.ok(as_user(KEEPER), restore(customer));
    let restored = only!(events, CustomerRestored);
    assert_eq!(restored.restored_to, RestoredTo::Pool);
    assert_eq!(restored.note.as_deref(), Some("former_owner_at_pool_cap"));
    assert_eq!(world.state(customer), &CustomerState::InPool);
    assert_eq!(world.model.owned_in_pool(ALICE, pool), 1);
}

#[test]
fn restore_goes_to_the_pool_when_the_former_owner_is_at_the_overall_cap() {
    let mut world = World::standard();
    world.ok(as_user(ADMIN), settings(limit(1), 0));
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(KEEPER), delete(customer));
    world.owned_by(DEFAULT_POOL, ALICE);
    let events = world.ok(as_user(KEEPER), restore(customer));
    let restored = only!(events, CustomerRestored);
    assert_eq!(restored.restored_to, RestoredTo::Pool);
    assert_eq!(
        restored.note.as_deref(),
        Some("former_owner_at_overall_cap")
    );
}

#[test]
fn a_frozen_customer_is_restored_frozen() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world.ok(as_user(ADMIN), freeze(customer));
    world.ok(as_user(ADMIN), delete(customer));
    assert_eq!(
        world.state(customer),
        &CustomerState::Deleted {
            former: FormerState::Frozen
        }
    );
    let events = world.ok(as_user(ADMIN), restore(customer));
    let restored = only!(events, CustomerRestored);
    assert_eq!(
        (restored.restored_to, restored.owner),
        (RestoredTo::Frozen, None)
    );
    assert_eq!(world.state(customer), &CustomerState::Frozen);
}

#[test]
fn an_unclaimed_customer_is_restored_to_its_pool() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::ClaimWithApproval, no_rules());
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), request(customer));
    world.ok(as_user(KEEPER), delete(customer));
    let events = world.ok(as_user(KEEPER), restore(customer));
    let restored = only!(events, CustomerRestored);
    assert_eq!(
        (restored.restored_to, restored.note),
        (RestoredTo::Pool, None)
    );
    assert_eq!(world.state(customer), &CustomerState::InPool);
}

#[test]
fn only_a_pool_admin_restores_and_only_what_is_deleted() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    refused!(
        world.err(as_user(KEEPER), restore(customer)),
        DomainError::WrongState {
            action: "restore",
            expected: "deleted",
            actual: "owned",
            ..
        },
        FailedPrecondition
    );
    world.ok(as_user(MANAGER), delete(customer));
    for actor in [MANAGER, ALICE] {
        refused!(
            world.err(as_user(actor), restore(customer)),
            DomainError::NotPoolAdmin { pool: p, .. } if *p == pool,
            PermissionDenied
        );
    }
}

// ---------------------------------------------------------------------------------------
// Follow-ups and comments
// ---------------------------------------------------------------------------------------

#[test]
fn owner_logs_a_follow_up_which_resets_the_contact_timers() {
    let mut world = World::standard();
    let pool = not_contacted_pool(&mut world, None);
    let customer = world.owned_by(pool, ALICE);
    assert_eq!(
        deadline(&world, customer),
        Some((world.now + days(5), RuleKind::ClaimedNotContacted))
    );
    world.advance(days(2));
    let follow_up_id = FollowUpId::from_u128(world.fresh());
    let events = world.ok(
        as_user(ALICE),
        log_follow_up(customer, follow_up_id, " 上门拜访，客户有意向 "),
    );
    let logged = only!(events, FollowUpLogged);
    assert_eq!(
        (logged.customer_id, logged.follow_up_id, logged.author),
        (customer, follow_up_id, ALICE)
    );
    assert_eq!(logged.kind, FollowUpKind::Visit);
    assert_eq!(logged.note, "上门拜访，客户有意向");
    assert_eq!(ownership(&world, customer).last_contact_at, Some(world.now));
    assert_eq!(
        deadline(&world, customer),
        Some((world.now + days(5), RuleKind::NoContact))
    );
}

#[test]
fn only_the_owner_logs_follow_ups() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    for actor in [MANAGER, BOB, ADMIN] {
        let follow_up_id = FollowUpId::from_u128(world.fresh());
        refused!(
            world.err(
                as_user(actor),
                log_follow_up(customer, follow_up_id, "电话")
            ),
            DomainError::NotOwner { .. },
            PermissionDenied
        );
    }
}

#[test]
fn a_blank_follow_up_note_is_invalid() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up_id = FollowUpId::from_u128(world.fresh());
    refused!(
        world.err(as_user(ALICE), log_follow_up(customer, follow_up_id, "\n ")),
        DomainError::Invalid { field, .. } if field == "note",
        InvalidArgument
    );
}

#[test]
fn a_follow_up_id_cannot_be_reused() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up_id = world.follow_up(ALICE, customer);
    refused!(
        world.err(
            as_user(ALICE),
            log_follow_up(customer, follow_up_id, "再次")
        ),
        DomainError::AlreadyExists {
            kind: "follow_up",
            ..
        },
        AlreadyExists
    );
}

#[test]
fn a_follow_up_needs_an_owned_customer() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    let follow_up_id = FollowUpId::from_u128(world.fresh());
    refused!(
        world.err(
            as_user(ALICE),
            log_follow_up(customer, follow_up_id, "电话")
        ),
        DomainError::WrongState {
            action: "log_follow_up",
            actual: "in_pool",
            ..
        },
        FailedPrecondition
    );
}

#[test]
fn superiors_of_the_author_comment_on_a_follow_up() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up = world.follow_up(ALICE, customer);
    let version = world.model.customer_version(customer);
    let events = world.ok(
        as_user(MANAGER),
        comment(customer, follow_up, " 下次带上报价单 "),
    );
    let commented = only!(events, FollowUpCommented);
    assert_eq!(
        (
            commented.customer_id,
            commented.follow_up_id,
            commented.author
        ),
        (customer, follow_up, MANAGER)
    );
    assert_eq!(commented.comment, "下次带上报价单");
    assert_eq!(world.model.customer_version(customer), version + 1);
    // Two levels up counts too.
    let events = world.ok(as_user(DIRECTOR), comment(customer, follow_up, "同意"));
    assert_eq!(only!(events, FollowUpCommented).author, DIRECTOR);
}

#[test]
fn pool_admin_comments_on_a_follow_up() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, CAROL);
    let follow_up = world.follow_up(CAROL, customer);
    let events = world.ok(as_user(KEEPER), comment(customer, follow_up, "跟进及时"));
    assert_eq!(only!(events, FollowUpCommented).author, KEEPER);
}

#[test]
fn peer_cannot_comment_nor_the_author_on_their_own() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up = world.follow_up(ALICE, customer);
    for actor in [BOB, CAROL, ALICE] {
        refused!(
            world.err(as_user(actor), comment(customer, follow_up, "点评")),
            DomainError::NotSuperior { follow_up: f, .. } if *f == follow_up,
            PermissionDenied
        );
    }
}

#[test]
fn comment_on_an_unknown_follow_up_is_not_found() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let other = world.owned_by(DEFAULT_POOL, ALICE);
    let elsewhere = world.follow_up(ALICE, other);
    let ghost = FollowUpId::from_u128(0x6057);
    refused!(
        world.err(as_user(MANAGER), comment(customer, ghost, "点评")),
        DomainError::UnknownFollowUp(f) if *f == ghost,
        NotFound
    );
    // A follow-up of another customer is unknown on this one.
    refused!(
        world.err(as_user(MANAGER), comment(customer, elsewhere, "点评")),
        DomainError::UnknownFollowUp(f) if *f == elsewhere,
        NotFound
    );
}

#[test]
fn a_blank_comment_is_invalid() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let follow_up = world.follow_up(ALICE, customer);
    refused!(
        world.err(as_user(MANAGER), comment(customer, follow_up, " ")),
        DomainError::Invalid { field, .. } if field == "comment",
        InvalidArgument
    );
}

// ---------------------------------------------------------------------------------------
// Mark won
// ---------------------------------------------------------------------------------------

#[test]
fn owner_marks_a_customer_won_which_stops_the_not_won_timer() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            not_won: limit(30),
            ..no_rules()
        },
    );
    let customer = world.owned_by(pool, ALICE);
    assert_eq!(
        deadline(&world, customer).map(|(_, rule)| rule),
        Some(RuleKind::NotWon)
    );
    world.advance(days(3));
    let events = world.ok(as_user(ALICE), mark_won(customer));
    let won = only!(events, CustomerWon);
    assert_eq!((won.customer_id, won.owner), (customer, ALICE));
    assert_eq!(ownership(&world, customer).won_at, Some(world.now));
    assert_eq!(deadline(&world, customer), None);
}

#[test]
fn marking_won_twice_is_refused() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    world.ok(as_user(ALICE), mark_won(customer));
    refused!(
        world.err(as_user(ALICE), mark_won(customer)),
        DomainError::NothingToDo(_),
        FailedPrecondition
    );
}

#[test]
fn only_the_owner_marks_won() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    refused!(
        world.err(as_user(MANAGER), mark_won(customer)),
        DomainError::NotOwner { .. },
        PermissionDenied
    );
    let unclaimed = world.customer_in(DEFAULT_POOL);
    refused!(
        world.err(as_user(ALICE), mark_won(unclaimed)),
        DomainError::WrongState {
            action: "mark_won",
            ..
        },
        FailedPrecondition
    );
}

// ---------------------------------------------------------------------------------------
// Extend protection
// ---------------------------------------------------------------------------------------

fn protected_pool(world: &mut World) -> PoolId {
    free_pool(
        world,
        PoolRules {
            protection: protection(7, 30),
            ..no_rules()
        },
    )
}

#[test]
fn pool_admin_extends_protection_up_to_the_maximum() {
    let mut world = World::standard();
    let pool = protected_pool(&mut world);
    let customer = world.owned_by(pool, ALICE);
    let start = world.now;
    let events = world.ok(as_user(KEEPER), extend(customer, start + days(30)));
    let extended = only!(events, ProtectionExtended);
    assert_eq!(extended.owner, ALICE);
    assert_eq!(extended.previous_until, start + days(7));
    assert_eq!(extended.until, start + days(30));
    assert_eq!(extended.max_until, Some(start + days(30)));
    assert_eq!(
        ownership(&world, customer).protection_until,
        Some(start + days(30))
    );
    assert_eq!(
        deadline(&world, customer),
        Some((start + days(30), RuleKind::ProtectionExpired))
    );
}

#[test]
fn protection_cannot_be_extended_beyond_the_maximum() {
    let mut world = World::standard();
    let pool = protected_pool(&mut world);
    let customer = world.owned_by(pool, ALICE);
    let start = world.now;
    refused!(
        world.err(as_user(KEEPER), extend(customer, start + days(31))),
        DomainError::ProtectionBeyondMaximum { requested, max }
            if *requested == start + days(31) && *max == start + days(30),
        FailedPrecondition
    );
}

#[test]
fn an_extension_must_end_later_than_the_current_protection() {
    let mut world = World::standard();
    let pool = protected_pool(&mut world);
    let customer = world.owned_by(pool, ALICE);
    let start = world.now;
    world.ok(as_user(KEEPER), extend(customer, start + days(10)));
    refused!(
        world.err(as_user(KEEPER), extend(customer, start + days(10))),
        DomainError::Invalid { field, .. } if field == "until",
        InvalidArgument
    );
    refused!(
        world.err(as_user(KEEPER), extend(customer, start + days(8))),
        DomainError::Invalid { field, .. } if field == "until",
        InvalidArgument
    );
}

#[test]
fn protection_cannot_be_extended_without_a_protection_rule() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    // Assigned without a window: there is no protection to extend.
    let customer = world.owned_by(pool, ALICE);
    let until = world.now + days(3);
    refused!(
        world.err(as_user(KEEPER), extend(customer, until)),
        DomainError::NoProtectionRule(p) if *p == pool,
        FailedPrecondition
    );
}

#[test]
fn an_expired_window_is_re_protected_without_a_maximum_in_a_pool_without_a_protection_rule() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    let start = world.now;
    let end = start + days(5);
    world.ok(as_user(KEEPER), assign_window(customer, ALICE, start, end));
    world.advance(days(10));
    let until = world.now + days(90);
    let events = world.ok(as_user(KEEPER), extend(customer, until));
    let extended = only!(events, ProtectionExtended);
    assert_eq!(extended.owner, ALICE);
    assert_eq!(extended.previous_until, end);
    assert_eq!(extended.until, until);
    assert_eq!(extended.max_until, None, "no rule, no maximum");
    assert_eq!(ownership(&world, customer).protection_until, Some(until));
    assert_eq!(deadline(&world, customer), None);
}

#[test]
fn without_a_protection_rule_a_window_is_re_protected_only_to_a_later_end_in_the_future() {
    let mut world = World::standard();
    let pool = world.pool(PoolMode::AssignOnly, no_rules());
    let customer = world.customer_in(pool);
    let start = world.now;
    let end = start + days(5);
    world.ok(as_user(KEEPER), assign_window(customer, ALICE, start, end));
    refused!(
        world.err(as_user(KEEPER), extend(customer, end)),
        DomainError::Invalid { field, .. } if field == "until",
        InvalidArgument
    );
    world.advance(days(10));
    // Later than the old end, but already past: the customer would stay expired.
    refused!(
        world.err(as_user(KEEPER), extend(customer, end + days(1))),
        DomainError::Invalid { field, .. } if field == "until",
        InvalidArgument
    );
    refused!(
        world.err(as_user(ALICE), extend(customer, world.now + days(1))),
        DomainError::NotPoolAdmin { .. },
        PermissionDenied
    );
}

#[test]
fn member_cannot_extend_protection() {
    let mut world = World::standard();
    let pool = protected_pool(&mut world);
    let customer = world.owned_by(pool, ALICE);
    let until = world.now + days(10);
    for actor in [ALICE, MANAGER] {
        refused!(
            world.err(as_user(actor), extend(customer, until)),
            DomainError::NotPoolAdmin { .. },
            PermissionDenied
        );
    }
}

// ---------------------------------------------------------------------------------------
// Share
// ---------------------------------------------------------------------------------------

#[test]
fn owner_shares_a_customer_with_a_department_once() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    let events = world.ok(as_user(ALICE), share(customer, " 市场部 "));
    let shared = only!(events, CustomerShared);
    assert_eq!(
        (shared.customer_id, shared.department.as_str()),
        (customer, "市场部")
    );
    assert_eq!(world.model.customers[&customer].shared_with, ["市场部"]);
    assert!(
        world
            .ok(as_user(ALICE), share(customer, "市场部"))
            .is_empty()
    );
}

#[test]
fn pool_admin_may_share_but_a_peer_may_not() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    refused!(
        world.err(as_user(BOB), share(customer, "市场部")),
        DomainError::NotOwner { .. },
        PermissionDenied
    );
    world.ok(as_user(KEEPER), share(customer, "市场部"));
}

#[test]
fn sharing_needs_a_department_and_a_live_customer() {
    let mut world = World::standard();
    let customer = world.owned_by(DEFAULT_POOL, ALICE);
    refused!(
        world.err(as_user(ALICE), share(customer, " ")),
        DomainError::Invalid { field, .. } if field == "department",
        InvalidArgument
    );
    world.ok(as_user(ADMIN), delete(customer));
    refused!(
        world.err(as_user(ADMIN), share(customer, "市场部")),
        DomainError::WrongState {
            action: "share",
            actual: "deleted",
            ..
        },
        FailedPrecondition
    );
}

// ---------------------------------------------------------------------------------------
// Who sees what: WriteModel::access
// ---------------------------------------------------------------------------------------

fn private_pool(world: &mut World, visibility: Visibility) -> PoolId {
    free_pool(
        world,
        PoolRules {
            visibility,
            ..no_rules()
        },
    )
}

fn hiding() -> Visibility {
    Visibility {
        hide_claimed_from_members: true,
        members_can_open_details: true,
    }
}

#[test]
fn admin_sees_everything_including_the_recycle_bin() {
    let mut world = World::standard();
    let pool = private_pool(&mut world, hiding());
    let customer = world.owned_by(pool, ALICE);
    assert_eq!(access(&world, ADMIN, customer), Access::Details);
    world.ok(as_user(KEEPER), delete(customer));
    assert_eq!(access(&world, ADMIN, customer), Access::Details);
}

#[test]
fn pool_admin_sees_claimed_customers_of_their_pool() {
    let mut world = World::standard();
    let pool = private_pool(&mut world, hiding());
    let here = world.owned_by(pool, ALICE);
    assert_eq!(access(&world, KEEPER, here), Access::Details);
    // In a pool KEEPER does not administer, KEEPER is a plain member.
    let elsewhere = world.owned_by(DEFAULT_POOL, ALICE);
    assert_eq!(access(&world, KEEPER, elsewhere), Access::Listed);
}

#[test]
fn owner_sees_their_customer() {
    let mut world = World::standard();
    let pool = private_pool(&mut world, hiding());
    let customer = world.owned_by(pool, ALICE);
    assert_eq!(access(&world, ALICE, customer), Access::Details);
}

#[test]
fn superiors_see_their_subordinates_customers_recursively() {
    let mut world = World::standard();
    let pool = private_pool(&mut world, hiding());
    let customer = world.owned_by(pool, ALICE);
    // Neither MANAGER nor DIRECTOR is a member of the pool.
    assert!(!world.model.is_member(MANAGER, pool));
    assert_eq!(access(&world, MANAGER, customer), Access::Details);
    assert_eq!(access(&world, DIRECTOR, customer), Access::Details);
    // Not the other way round.
    let managers = world.owned_by(DEFAULT_POOL, MANAGER);
    world.ok(
        as_user(ADMIN),
        set_rules(
            DEFAULT_POOL,
            PoolRules {
                visibility: hiding(),
                ..no_rules()
            },
        ),
    );
    assert_eq!(access(&world, ALICE, managers), Access::None);
}

#[test]
fn peers_are_isolated() {
    let mut world = World::standard();
    add_dave(&mut world);
    let pool = private_pool(&mut world, hiding());
    let customer = world.owned_by(pool, ALICE);
    assert_eq!(access(&world, BOB, customer), Access::None);
    assert_eq!(access(&world, CAROL, customer), Access::None);
    assert_eq!(access(&world, DAVE, customer), Access::None);
}

#[test]
fn related_person_keeps_read_access_after_a_reclaim() {
    let mut world = World::standard();
    let pool = private_pool(&mut world, hiding());
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(KEEPER), reclaim(customer));
    world.ok(as_user(BOB), claim(customer));
    assert_eq!(access(&world, ALICE, customer), Access::Details);
    assert_eq!(access(&world, CAROL, customer), Access::None);
}

#[test]
fn an_abandoner_does_not_become_a_related_person() {
    let mut world = World::standard();
    let pool = private_pool(&mut world, hiding());
    let customer = world.customer_in(pool);
    world.ok(as_user(ALICE), claim(customer));
    world.ok(as_user(ALICE), abandon(customer, "无意向", None));
    world.ok(as_user(CAROL), claim(customer));
    assert_eq!(access(&world, ALICE, customer), Access::None);
}

#[test]
fn department_share_grants_read_access() {
    let mut world = World::standard();
    add_dave(&mut world);
    let pool = private_pool(&mut world, hiding());
    let customer = world.owned_by(pool, ALICE);
    assert_eq!(access(&world, DAVE, customer), Access::None);
    world.ok(as_user(ALICE), share(customer, "市场部"));
    assert_eq!(access(&world, DAVE, customer), Access::Details);
    // Sharing with 市场部 says nothing to 销售部.
    assert_eq!(access(&world, CAROL, customer), Access::None);
}

#[test]
fn creator_sees_the_customers_they_created() {
    let mut world = World::standard();
    let pool = private_pool(&mut world, hiding());
    let customer_id = CustomerId::from_u128(world.fresh());
    world.ok(
        as_user(ALICE),
        CommandBody::CreateCustomer(new_customer(customer_id, Some(pool), "录入的客户")),
    );
    world.ok(as_user(BOB), claim(customer_id));
    assert_eq!(access(&world, ALICE, customer_id), Access::Details);
    assert_eq!(access(&world, CAROL, customer_id), Access::None);
}

#[test]
fn members_see_unclaimed_customers_listed_and_open_them_only_when_the_pool_allows() {
    let mut world = World::standard();
    add_dave(&mut world);
    let pool = private_pool(&mut world, Visibility::default());
    let unclaimed = world.customer_in(pool);
    let claimed = world.owned_by(pool, ALICE);
    // Seed 003: by default members may not open unclaimed customers' details.
    assert_eq!(access(&world, BOB, unclaimed), Access::Listed);
    let open = private_pool(
        &mut world,
        Visibility {
            hide_claimed_from_members: false,
            members_can_open_details: true,
        },
    );
    let openable = world.customer_in(open);
    assert_eq!(access(&world, BOB, openable), Access::Details);
    assert_eq!(access(&world, BOB, claimed), Access::Listed);
    // Non-members see nothing of the pool.
    assert_eq!(access(&world, DAVE, unclaimed), Access::None);
    assert_eq!(access(&world, DAVE, claimed), Access::None);
}

#[test]
fn members_only_list_unclaimed_customers_when_details_are_closed() {
    let mut world = World::standard();
    let pool = world.pool(
        PoolMode::ClaimWithApproval,
        PoolRules {
            visibility: Visibility {
                hide_claimed_from_members: false,
                members_can_open_details: false,
            },
            ..no_rules()
        },
    );
    let unclaimed = world.customer_in(pool);
    let pending = world.customer_in(pool);
    world.ok(as_user(ALICE), request(pending));
    assert_eq!(access(&world, BOB, unclaimed), Access::Listed);
    assert_eq!(access(&world, BOB, pending), Access::Listed);
    assert_eq!(access(&world, KEEPER, unclaimed), Access::Details);
}

#[test]
fn hidden_claimed_customers_disappear_for_members() {
    let mut world = World::standard();
    let pool = private_pool(&mut world, hiding());
    let customer = world.customer_in(pool);
    assert_eq!(access(&world, BOB, customer), Access::Details);
    world.ok(as_user(ALICE), claim(customer));
    assert_eq!(access(&world, BOB, customer), Access::None);
}

#[test]
fn deleted_customers_are_visible_only_to_pool_admins() {
    let mut world = World::standard();
    let pool = private_pool(&mut world, Visibility::default());
    let customer = world.owned_by(pool, ALICE);
    world.ok(as_user(ALICE), share(customer, "销售部"));
    world.ok(as_user(KEEPER), delete(customer));
    for viewer in [ALICE, MANAGER, DIRECTOR, BOB, CAROL] {
        assert_eq!(access(&world, viewer, customer), Access::None, "{viewer:?}");
    }
    assert_eq!(access(&world, KEEPER, customer), Access::Details);
    assert_eq!(access(&world, ADMIN, customer), Access::Details);
}

#[test]
fn frozen_customers_are_hidden_from_plain_members() {
    let mut world = World::standard();
    let pool = private_pool(&mut world, Visibility::default());
    let customer = world.customer_in(pool);
    world.ok(as_user(KEEPER), freeze(customer));
    assert_eq!(access(&world, BOB, customer), Access::None);
    assert_eq!(access(&world, KEEPER, customer), Access::Details);
}

#[test]
fn deactivated_and_unknown_viewers_see_nothing() {
    let mut world = World::standard();
    let customer = world.customer_in(DEFAULT_POOL);
    assert_eq!(access(&world, BOB, customer), Access::Listed);
    world.ok(as_user(ADMIN), deactivate(BOB, None));
    assert_eq!(access(&world, BOB, customer), Access::None);
    assert_eq!(access(&world, DAVE, customer), Access::None);
    assert_eq!(
        access(&world, ALICE, CustomerId::from_u128(0x6057)),
        Access::None
    );
}

// ---------------------------------------------------------------------------------------
// Protection turned on for customers already owned (seed 003: 开启当天 + 保护期天数)
// ---------------------------------------------------------------------------------------

/// A pool without rules where ALICE has owned a customer for 100 days when the protection
/// rule (7 days, at most 30, a follow-up in the last 3 days extends by 5) is turned on.
fn protection_turned_on_late(world: &mut World) -> (PoolId, CustomerId, DateTime<Utc>) {
    let pool = free_pool(world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    world.advance(days(100));
    let turned_on = world.now;
    world.ok(
        as_user(ADMIN),
        set_rules(
            pool,
            PoolRules {
                protection: Some(ProtectionRule {
                    default_days: Limit::uniform(7),
                    max_days: 30,
                    extension: Some(ProtectionExtension {
                        contact_within_days: 3,
                        extend_by_days: 5,
                    }),
                }),
                ..no_rules()
            },
        ),
    );
    (pool, customer, turned_on)
}

#[test]
fn protection_turned_on_later_counts_its_maximum_from_the_day_it_was_turned_on() {
    let mut world = World::standard();
    let (_, customer, turned_on) = protection_turned_on_late(&mut world);
    assert_eq!(
        deadline(&world, customer),
        Some((turned_on + days(7), RuleKind::ProtectionExpired))
    );
    let events = world.ok(as_user(KEEPER), extend(customer, turned_on + days(20)));
    let extended = only!(events, ProtectionExtended);
    assert_eq!(extended.previous_until, turned_on + days(7));
    assert_eq!(extended.until, turned_on + days(20));
    assert_eq!(extended.max_until, Some(turned_on + days(30)));
    refused!(
        world.err(as_user(KEEPER), extend(customer, turned_on + days(31))),
        DomainError::ProtectionBeyondMaximum { max, .. } if *max == turned_on + days(30),
        FailedPrecondition
    );
}

#[test]
fn protection_turned_on_later_is_extended_by_a_recent_follow_up() {
    let mut world = World::standard();
    let (_, customer, turned_on) = protection_turned_on_late(&mut world);
    world.advance(days(6));
    world.follow_up(ALICE, customer);
    world.advance(days(1));
    let events = world.ok(
        Actor::Rule(RuleKind::ProtectionExpired),
        auto_reclaim(customer, RuleKind::ProtectionExpired, turned_on + days(7)),
    );
    let extended = only!(events, ProtectionExtended);
    assert_eq!(extended.until, turned_on + days(12));
    assert_eq!(extended.max_until, Some(turned_on + days(30)));
    assert_eq!(world.owner(customer), Some(ALICE));
}

#[test]
fn protection_turned_on_later_is_reclaimed_with_evidence_counted_from_that_day() {
    let mut world = World::standard();
    let (_, customer, turned_on) = protection_turned_on_late(&mut world);
    world.advance(days(7));
    let events = world.ok(
        Actor::Rule(RuleKind::ProtectionExpired),
        auto_reclaim(customer, RuleKind::ProtectionExpired, turned_on + days(7)),
    );
    let reclaimed = only!(events, CustomerAutoReclaimed);
    assert_eq!(reclaimed.rule, RuleKind::ProtectionExpired);
    assert_eq!(reclaimed.threshold_days, 7);
    assert_eq!(reclaimed.evidence.counted_from, turned_on);
    assert_eq!(reclaimed.evidence.owned_since, turned_on - days(100));
    assert_eq!(
        reclaimed.evidence.protection_until,
        Some(turned_on + days(7))
    );
}

#[test]
fn per_user_reclaim_threshold_sets_that_owners_deadline() {
    let mut world = World::standard();
    let pool = free_pool(
        &mut world,
        PoolRules {
            claimed_not_contacted: limit_with(5, BOB, 2),
            ..no_rules()
        },
    );
    let alices = world.owned_by(pool, ALICE);
    let bobs = world.owned_by(pool, BOB);
    let now = world.now;
    assert_eq!(
        deadline(&world, alices),
        Some((now + days(5), RuleKind::ClaimedNotContacted))
    );
    assert_eq!(
        deadline(&world, bobs),
        Some((now + days(2), RuleKind::ClaimedNotContacted))
    );
    world.advance(days(2));
    let events = world.ok(
        Actor::Rule(RuleKind::ClaimedNotContacted),
        auto_reclaim(bobs, RuleKind::ClaimedNotContacted, now + days(2)),
    );
    assert_eq!(only!(events, CustomerAutoReclaimed).threshold_days, 2);
    refused!(
        world.err(
            Actor::Rule(RuleKind::ClaimedNotContacted),
            auto_reclaim(alices, RuleKind::ClaimedNotContacted, now + days(2))
        ),
        DomainError::NotDue { .. },
        FailedPrecondition
    );
}

#[test]
fn a_user_chosen_return_pool_must_be_one_the_user_belongs_to() {
    let mut world = World::standard();
    let rules = PoolRules {
        return_target: ReturnTarget::UserChooses,
        ..no_rules()
    };
    let pool = world.pool(PoolMode::FreeClaim, rules);
    let foreign = PoolId::from_u128(world.fresh());
    world.ok(
        as_user(ADMIN),
        CommandBody::CreatePool {
            pool_id: foreign,
            name: "华南公海".into(),
            mode: PoolMode::FreeClaim,
            admins: BTreeSet::new(),
            members: BTreeSet::from([CAROL]),
            everyone: false,
            default: false,
            rules: no_rules(),
        },
    );
    let customer = world.owned_by(pool, ALICE);
    let refused = world.err(
        as_user(ALICE),
        CommandBody::Abandon {
            customer_id: customer,
            reason: "转区域".into(),
            return_to: Some(foreign),
        },
    );
    assert!(
        matches!(refused, DomainError::NotPoolMember { user, pool } if user == ALICE && pool == foreign)
    );
}

#[test]
fn the_nil_uuid_is_not_a_user_id() {
    let mut world = World::standard();
    let refused = world.err(
        as_user(ADMIN),
        CommandBody::CreateUser {
            user_id: UserId::from_u128(0),
            name: "nobody".into(),
            superior: None,
            department: None,
            admin: false,
        },
    );
    assert!(matches!(refused, DomainError::Invalid { ref field, .. } if field == "user_id"));
}

#[test]
fn a_new_owner_is_reminded_even_of_a_deadline_the_previous_owner_was_reminded_of() {
    let mut world = World::standard();
    let rules = PoolRules {
        protection: Some(ProtectionRule {
            default_days: Limit::uniform(30),
            max_days: 60,
            extension: None,
        }),
        reminder_hours: Some(24),
        ..no_rules()
    };
    let pool = world.pool(PoolMode::AssignOnly, rules);
    let customer = world.customer_in(pool);
    let window = ProtectionWindow {
        start: t0(),
        end: t0() + Duration::days(10),
    };
    world.ok(
        as_user(KEEPER),
        CommandBody::Assign {
            customer_id: customer,
            assignee: ALICE,
            protection: Some(window),
        },
    );
    world.advance(Duration::days(9));
    assert_eq!(types(&world.run_scheduler()), ["customer.reclaim_reminded"]);
    // Reassigned with the very same window end: Bob must be reminded too.
    world.ok(
        as_user(KEEPER),
        CommandBody::Reclaim {
            customer_id: customer,
            reason: None,
        },
    );
    world.ok(
        as_user(KEEPER),
        CommandBody::Assign {
            customer_id: customer,
            assignee: BOB,
            protection: Some(window),
        },
    );
    let reminded = world.run_scheduler();
    assert!(
        matches!(&reminded[..], [event] if matches!(&event.body, EventBody::ReclaimReminded(r) if r.owner == BOB)),
        "{reminded:?}"
    );
}
