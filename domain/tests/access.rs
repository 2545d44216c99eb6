//! Who sees what: `WriteModel::access` (`permissions.rs`).

mod support;

use poolkeeper_domain::permissions::Access;
use poolkeeper_domain::rules::Visibility;
use poolkeeper_domain::*;
use support::*;

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
