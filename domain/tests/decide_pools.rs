//! Pools and the organization (`decide/pools.rs`): creating pools, their mode, admins,
//! members and rules, the organization's settings, and rules that are never retroactive.
//!
//! Each test builds its history (given) with the harness in `support`, decides one command
//! (`World::when`) and asserts what came of it (`then`): the exact events (or their types
//! and key fields) and the resulting state, or the `DomainError` and its class, having
//! appended nothing and changed nothing.

mod support;

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use poolkeeper_domain::event::*;
use poolkeeper_domain::rules::{
    AssignRule, AssignStrategy, Limit, ProtectionExtension, ProtectionRule, ReturnTarget,
};
use poolkeeper_domain::*;
use support::*;

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
    let events = world
        .when(
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
        )
        .then_accepted();
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
    world
        .when(
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
        )
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotAdmin { .. })
        });
}

#[test]
fn second_default_pool_is_refused() {
    let mut world = World::standard();
    world
        .when(
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
        )
        .then_error(
            AlreadyExists,
            exactly(DomainError::AlreadyExists {
                kind: "default pool",
                id: DEFAULT_POOL.to_string(),
            }),
        );
}

#[test]
fn pool_with_a_taken_id_is_refused() {
    let mut world = World::standard();
    world
        .when(
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
        )
        .then_error(AlreadyExists, |error| {
            matches!(error, DomainError::AlreadyExists { kind: "pool", .. })
        });
}

#[test]
fn pool_naming_an_unknown_member_is_refused() {
    let mut world = World::standard();
    world
        .when(
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
        )
        .then_error(NotFound, exactly(DomainError::UnknownUser(DAVE)));
}

#[test]
fn pool_with_a_blank_name_is_invalid() {
    let mut world = World::standard();
    world
        .when(
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
        )
        .then_error(InvalidArgument, invalid("name"));
}

#[test]
fn admin_changes_a_pools_mode_and_the_event_records_the_previous_one() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let events = world
        .when(
            as_user(ADMIN),
            CommandBody::SetPoolMode {
                pool_id: pool,
                mode: PoolMode::ClaimWithApproval,
            },
        )
        .then_accepted();
    let changed = only!(events, PoolModeChanged);
    assert_eq!(
        (changed.mode, changed.previous),
        (PoolMode::ClaimWithApproval, PoolMode::FreeClaim)
    );
    assert_eq!(world.model.pools[&pool].mode, PoolMode::ClaimWithApproval);
    // Members now apply instead of claiming.
    let customer = world.customer_in(pool);
    world
        .when(as_user(ALICE), claim(customer))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::WrongMode {
                    mode: PoolMode::ClaimWithApproval,
                    ..
                }
            )
        });
}

#[test]
fn setting_the_mode_a_pool_already_has_emits_nothing() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    world
        .when(
            as_user(ADMIN),
            CommandBody::SetPoolMode {
                pool_id: pool,
                mode: PoolMode::FreeClaim,
            },
        )
        .then_nothing();
    assert_eq!(world.model.pools[&pool].version, 1);
}

#[test]
fn pool_admin_cannot_change_the_mode() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    world
        .when(
            as_user(KEEPER),
            CommandBody::SetPoolMode {
                pool_id: pool,
                mode: PoolMode::AssignOnly,
            },
        )
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotAdmin { .. })
        });
}

#[test]
fn changing_an_unknown_pool_is_not_found() {
    let mut world = World::standard();
    let ghost = PoolId::from_u128(0x6057);
    world
        .when(
            as_user(ADMIN),
            CommandBody::SetPoolMode {
                pool_id: ghost,
                mode: PoolMode::AssignOnly,
            },
        )
        .then_error(NotFound, exactly(DomainError::UnknownPool(ghost)));
}

#[test]
fn admin_replaces_a_pools_admins() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.owned_by(pool, ALICE);
    let events = world
        .when(
            as_user(ADMIN),
            CommandBody::SetPoolAdmins {
                pool_id: pool,
                admins: BTreeSet::from([MANAGER]),
            },
        )
        .then_accepted();
    let changed = only!(events, PoolAdminsChanged);
    assert_eq!(changed.admins, BTreeSet::from([MANAGER]));
    world.when(as_user(KEEPER), reclaim(customer)).then_error(
        PermissionDenied,
        |error| matches!(error, DomainError::NotPoolAdmin { pool: p, .. } if *p == pool),
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
    world.when(as_user(ADMIN), same).then_nothing();
    world
        .when(
            as_user(ADMIN),
            CommandBody::SetPoolAdmins {
                pool_id: pool,
                admins: BTreeSet::from([DAVE]),
            },
        )
        .then_error(NotFound, exactly(DomainError::UnknownUser(DAVE)));
    world
        .when(
            as_user(KEEPER),
            CommandBody::SetPoolAdmins {
                pool_id: pool,
                admins: BTreeSet::from([KEEPER, ALICE]),
            },
        )
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotAdmin { .. })
        });
}

#[test]
fn admin_replaces_a_pools_members() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let customer = world.customer_in(pool);
    let events = world
        .when(
            as_user(ADMIN),
            CommandBody::SetPoolMembers {
                pool_id: pool,
                members: BTreeSet::from([ALICE]),
                everyone: false,
            },
        )
        .then_accepted();
    let changed = only!(events, PoolMembersChanged);
    assert_eq!(changed.members, BTreeSet::from([ALICE]));
    assert!(!changed.everyone);
    world.when(as_user(CAROL), claim(customer)).then_error(
        PermissionDenied,
        exactly(DomainError::NotPoolMember { user: CAROL, pool }),
    );
    // Opening the pool to everyone lets anyone take part.
    let events = world
        .when(
            as_user(ADMIN),
            CommandBody::SetPoolMembers {
                pool_id: pool,
                members: BTreeSet::from([ALICE]),
                everyone: true,
            },
        )
        .then_accepted();
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
    world.when(as_user(ADMIN), same).then_nothing();
    assert_eq!(world.model.pools[&pool].version, 1);
    world
        .when(
            as_user(ADMIN),
            CommandBody::SetPoolMembers {
                pool_id: pool,
                members: BTreeSet::from([DAVE]),
                everyone: false,
            },
        )
        .then_error(NotFound, exactly(DomainError::UnknownUser(DAVE)));
    world
        .when(
            as_user(KEEPER),
            CommandBody::SetPoolMembers {
                pool_id: pool,
                members: BTreeSet::new(),
                everyone: true,
            },
        )
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotAdmin { .. })
        });
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
    let events = world
        .when(as_user(ADMIN), set_rules(pool, rules.clone()))
        .then_accepted();
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
    world
        .when(as_user(ADMIN), set_rules(pool, rules))
        .then_nothing();
    assert_eq!(world.model.pools[&pool].rules_version, 1);
}

#[test]
fn pool_admin_cannot_change_the_rules() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    world
        .when(
            as_user(KEEPER),
            set_rules(
                pool,
                PoolRules {
                    cap: limit(1),
                    ..no_rules()
                },
            ),
        )
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotAdmin { .. })
        });
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
    let events = world
        .when(
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
        )
        .then_accepted();
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
    let events = world
        .when(as_user(ADMIN), set_rules(pool, no_rules()))
        .then_accepted();
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
    world
        .when(
            as_user(ADMIN),
            set_rules(
                pool,
                PoolRules {
                    cooldown_days: limit(0),
                    ..no_rules()
                },
            ),
        )
        .then_error(InvalidArgument, invalid("rules.cooldown_days.value"));
    world
        .when(
            as_user(ADMIN),
            set_rules(
                pool,
                PoolRules {
                    no_contact: limit_with(5, ALICE, 0),
                    ..no_rules()
                },
            ),
        )
        .then_error(
            InvalidArgument,
            invalid(&format!("rules.no_contact.per_user[{ALICE}]")),
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
    world
        .when(as_user(ALICE), claim(customer))
        .then_error(ResourceExhausted, |error| {
            matches!(error, DomainError::DailyQuotaReached { quota: 0, .. })
        });
}

#[test]
fn a_protection_maximum_shorter_than_the_default_is_invalid() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    world
        .when(
            as_user(ADMIN),
            set_rules(
                pool,
                PoolRules {
                    protection: protection(30, 20),
                    ..no_rules()
                },
            ),
        )
        .then_error(InvalidArgument, invalid("rules.protection.max_days"));
    // A per-user default longer than the maximum is just as wrong.
    world
        .when(
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
                },
            ),
        )
        .then_error(InvalidArgument, invalid("rules.protection.max_days"));
}

#[test]
fn an_extension_of_zero_days_is_invalid() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    world
        .when(
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
                },
            ),
        )
        .then_error(
            InvalidArgument,
            invalid("rules.protection.extension.extend_by_days"),
        );
}

#[test]
fn zero_reminder_hours_are_invalid() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    world
        .when(
            as_user(ADMIN),
            set_rules(
                pool,
                PoolRules {
                    reminder_hours: Some(0),
                    ..no_rules()
                },
            ),
        )
        .then_error(InvalidArgument, invalid("rules.reminder_hours"));
}

#[test]
fn a_per_user_override_for_an_unknown_user_is_refused() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    world
        .when(
            as_user(ADMIN),
            set_rules(
                pool,
                PoolRules {
                    cap: limit_with(5, DAVE, 10),
                    ..no_rules()
                },
            ),
        )
        .then_error(NotFound, exactly(DomainError::UnknownUser(DAVE)));
}

#[test]
fn a_fixed_return_target_must_be_a_known_pool() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let ghost = PoolId::from_u128(0x6057);
    world
        .when(
            as_user(ADMIN),
            set_rules(
                pool,
                PoolRules {
                    return_target: ReturnTarget::Fixed { pool: ghost },
                    ..no_rules()
                },
            ),
        )
        .then_error(NotFound, exactly(DomainError::UnknownPool(ghost)));
}

#[test]
fn a_blank_abandon_reason_in_the_list_is_invalid() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    world
        .when(
            as_user(ADMIN),
            set_rules(
                pool,
                PoolRules {
                    abandon_reasons: vec!["预算不足".into(), "  ".into()],
                    ..no_rules()
                },
            ),
        )
        .then_error(InvalidArgument, invalid("rules.abandon_reasons[1]"));
}

#[test]
fn an_auto_assignment_rule_needs_known_assignees() {
    let mut world = World::standard();
    let pool = free_pool(&mut world, no_rules());
    let with = |rule: AssignRule| PoolRules {
        auto_assign: vec![rule],
        ..no_rules()
    };
    world
        .when(
            as_user(ADMIN),
            set_rules(
                pool,
                with(assign_rule(
                    "空",
                    vec![],
                    vec![],
                    AssignStrategy::RoundRobin,
                )),
            ),
        )
        .then_error(InvalidArgument, invalid("rules.auto_assign[0].assignees"));
    world
        .when(
            as_user(ADMIN),
            set_rules(
                pool,
                with(assign_rule(
                    "陌生人",
                    vec![],
                    vec![ALICE, DAVE],
                    AssignStrategy::RoundRobin,
                )),
            ),
        )
        .then_error(NotFound, exactly(DomainError::UnknownUser(DAVE)));
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
    world
        .when(as_user(ADMIN), set_rules(pool, rules))
        .then_error(InvalidArgument, invalid("rules.auto_assign"));
}

// ---------------------------------------------------------------------------------------
// Organization settings
// ---------------------------------------------------------------------------------------

#[test]
fn admin_sets_the_overall_cap_and_the_day_offset() {
    let mut world = World::standard();
    world.when(as_user(ADMIN), settings(limit(100), 480)).then([
        EventBody::OrganizationSettingsChanged(OrganizationSettingsChanged {
            overall_cap: limit(100),
            day_offset_minutes: 480,
        }),
    ]);
    let settings = &world.model.settings;
    assert_eq!(settings.overall_cap, limit(100));
    assert_eq!(settings.day_offset_minutes, 480);
    assert_eq!(settings.version, 1);
}

#[test]
fn first_settings_are_recorded_even_when_they_equal_the_defaults_and_repeats_emit_nothing() {
    let mut world = World::standard();
    world
        .when(as_user(ADMIN), settings(None, 0))
        .then_types(&["organization.settings_changed"]);
    world.when(as_user(ADMIN), settings(None, 0)).then_nothing();
    assert_eq!(world.model.settings.version, 1);
}

#[test]
fn a_day_offset_beyond_fourteen_hours_is_invalid() {
    let mut world = World::standard();
    world
        .when(as_user(ADMIN), settings(None, 841))
        .then_error(InvalidArgument, invalid("day_offset_minutes"));
    world
        .when(as_user(ADMIN), settings(None, -721))
        .then_error(InvalidArgument, invalid("day_offset_minutes"));
}

#[test]
fn member_cannot_change_organization_settings() {
    let mut world = World::standard();
    world
        .when(as_user(KEEPER), settings(limit(1), 0))
        .then_error(PermissionDenied, |error| {
            matches!(error, DomainError::NotAdmin { .. })
        });
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
    let events = world
        .when(as_user(KEEPER), extend(customer, turned_on + days(20)))
        .then_accepted();
    let extended = only!(events, ProtectionExtended);
    assert_eq!(extended.previous_until, turned_on + days(7));
    assert_eq!(extended.until, turned_on + days(20));
    assert_eq!(extended.max_until, Some(turned_on + days(30)));
    world
        .when(as_user(KEEPER), extend(customer, turned_on + days(31)))
        .then_error(FailedPrecondition, |error| {
            matches!(
                error,
                DomainError::ProtectionBeyondMaximum { max, .. } if *max == turned_on + days(30)
            )
        });
}

#[test]
fn protection_turned_on_later_is_extended_by_a_recent_follow_up() {
    let mut world = World::standard();
    let (_, customer, turned_on) = protection_turned_on_late(&mut world);
    world.advance(days(6));
    world.follow_up(ALICE, customer);
    world.advance(days(1));
    let events = world
        .when(
            Actor::Rule(RuleKind::ProtectionExpired),
            auto_reclaim(customer, RuleKind::ProtectionExpired, turned_on + days(7)),
        )
        .then_accepted();
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
    let events = world
        .when(
            Actor::Rule(RuleKind::ProtectionExpired),
            auto_reclaim(customer, RuleKind::ProtectionExpired, turned_on + days(7)),
        )
        .then_accepted();
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
