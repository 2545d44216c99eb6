//! Who may act on and see what: admins, pool admins, members, owners, superiors
//! (recursively), related persons and department shares.
//!
//! Admins see everything. A pool admin sees the whole pool, claimed customers included.
//! A user sees their own customers and their subordinates' (recursively), customers they
//! created, customers they are a related person of, and customers shared with their
//! department. Members see their pools' unclaimed customers, and claimed ones unless the
//! pool hides them; whether they may open an unclaimed customer's details is a pool rule.
//!
//! Reads follow the same rules, for a [`Viewer`]: the system sees everything; a user sees
//! a customer as [`WriteModel::viewer_access`] says, lists a pool's views as
//! [`WriteModel::pool_listing`] says, and sees a user's holdings and statistics when
//! they are that user, a superior of theirs or an admin ([`WriteModel::may_see_user`]).

use crate::event::Actor;
use crate::ids::{CustomerId, PoolId, UserId};
use crate::model::{CustomerState, WriteModel};

/// How much of a customer a user may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing: the customer does not exist for this user.
    None,
    /// It appears in pool listings, without details.
    Listed,
    /// Everything about it.
    Details,
}

/// The longest superior chain followed; deeper chains are treated as broken.
const MAX_HIERARCHY_DEPTH: usize = 64;

impl WriteModel {
    /// Whether `user` exists, is active and is an organization admin.
    pub fn is_admin(&self, user: UserId) -> bool {
        self.users.get(&user).is_some_and(|u| u.active && u.admin)
    }

    /// Whether `user` administers `pool` (organization admins administer every pool).
    pub fn is_pool_admin(&self, user: UserId, pool: PoolId) -> bool {
        self.is_admin(user)
            || self
                .pools
                .get(&pool)
                .is_some_and(|p| p.admins.contains(&user))
    }

    /// Whether `user` may take customers from `pool` (admins of the pool count as members).
    pub fn is_member(&self, user: UserId, pool: PoolId) -> bool {
        self.pools
            .get(&pool)
            .is_some_and(|p| p.everyone || p.members.contains(&user) || p.admins.contains(&user))
            || self.is_admin(user)
    }

    /// Whether `superior` is above `user` in the hierarchy, directly or through others.
    pub fn is_superior_of(&self, superior: UserId, user: UserId) -> bool {
        let mut current = user;
        for _ in 0..MAX_HIERARCHY_DEPTH {
            match self.users.get(&current).and_then(|u| u.superior) {
                Some(next) if next == superior => return true,
                Some(next) if next == user => return false,
                Some(next) => current = next,
                None => return false,
            }
        }
        false
    }

    /// How much of `customer` `viewer` may see.
    pub fn access(&self, viewer: UserId, customer_id: CustomerId) -> Access {
        let Some(customer) = self.customers.get(&customer_id) else {
            return Access::None;
        };
        let Some(user) = self.users.get(&viewer) else {
            return Access::None;
        };
        if !user.active {
            return Access::None;
        }
        if self.is_pool_admin(viewer, customer.pool) {
            return Access::Details;
        }
        if let CustomerState::Deleted { .. } = customer.state {
            return Access::None;
        }
        let owner = customer.state.owner();
        let personal = owner == Some(viewer)
            || owner.is_some_and(|owner| self.is_superior_of(viewer, owner))
            || customer.created_by == viewer
            || customer.related.contains(&viewer)
            || user
                .department
                .as_ref()
                .is_some_and(|department| customer.shared_with.contains(department));
        if personal {
            return Access::Details;
        }
        let Some(pool) = self.pools.get(&customer.pool) else {
            return Access::None;
        };
        if !self.is_member(viewer, customer.pool) {
            return Access::None;
        }
        match customer.state {
            CustomerState::InPool | CustomerState::Pending { .. } => {
                if pool.rules.visibility.members_can_open_details {
                    Access::Details
                } else {
                    Access::Listed
                }
            }
            CustomerState::Owned(_) if !pool.rules.visibility.hide_claimed_from_members => {
                Access::Listed
            }
            _ => Access::None,
        }
    }
}

/// Who reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// The system (an admin-scoped caller acting as `system`): sees everything.
    System,
    /// An active user.
    User(UserId),
}

/// Why an acting user may not read at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewerRefused {
    /// No such user.
    UnknownUser(UserId),
    /// The user was deactivated.
    Deactivated(UserId),
}

/// The views of a pool's customers a viewer may ask to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolView {
    /// In the pool, nobody's.
    Unclaimed,
    /// Waiting for a claim's approval.
    Pending,
    /// Owned.
    Claimed,
    /// Owned past a reclaim deadline.
    Expired,
    /// Frozen.
    Frozen,
    /// Deleted.
    RecycleBin,
}

/// Why a viewer may not list a view of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListingRefused {
    /// No such pool.
    UnknownPool(PoolId),
    /// The user is not a member of the pool.
    NotMember {
        /// The viewer.
        user: UserId,
        /// The pool.
        pool: PoolId,
    },
    /// The view is for the pool's admins.
    AdminsOnly,
}

/// A view of a pool a viewer may list, and what its rows show them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolListing {
    /// Who lists.
    pub viewer: Viewer,
    /// The viewer lists as the pool's admin: every row shows its details.
    pub as_admin: bool,
    /// The pool lets members open the details of its unclaimed customers.
    pub members_open_details: bool,
}

impl PoolListing {
    /// Whether the row of `customer` shows its details; `unclaimed` when the listing shows
    /// it in the pool, nobody's. Why an unclaimed customer is back in the pool is for
    /// everyone who may take it up again, whatever this says.
    pub fn shows_details(&self, model: &WriteModel, customer: CustomerId, unclaimed: bool) -> bool {
        self.as_admin
            || (unclaimed && self.members_open_details)
            || model.viewer_access(self.viewer, customer) == Access::Details
    }
}

/// Whose statistics are asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatisticsSubject {
    /// A pool's.
    Pool(PoolId),
    /// A user's.
    User(UserId),
}

impl WriteModel {
    /// The viewer `actor` reads as: a user must exist and be active; anyone else is the
    /// system.
    pub fn viewer(&self, actor: Actor) -> Result<Viewer, ViewerRefused> {
        let Actor::User(user) = actor else {
            return Ok(Viewer::System);
        };
        match self.users.get(&user) {
            Some(known) if known.active => Ok(Viewer::User(user)),
            Some(_) => Err(ViewerRefused::Deactivated(user)),
            None => Err(ViewerRefused::UnknownUser(user)),
        }
    }

    /// How much of `customer` `viewer` may see.
    pub fn viewer_access(&self, viewer: Viewer, customer: CustomerId) -> Access {
        match viewer {
            Viewer::System => Access::Details,
            Viewer::User(user) => self.access(user, customer),
        }
    }

    /// Whether `viewer` is the system or an organization admin.
    fn viewer_is_admin(&self, viewer: Viewer) -> bool {
        match viewer {
            Viewer::System => true,
            Viewer::User(user) => self.is_admin(user),
        }
    }

    /// Whether `viewer` is the system or administers `pool`.
    fn viewer_is_pool_admin(&self, viewer: Viewer, pool: PoolId) -> bool {
        match viewer {
            Viewer::System => true,
            Viewer::User(user) => self.is_pool_admin(user, pool),
        }
    }

    /// Whether `viewer` may see `user`'s customers, holdings and statistics: the user
    /// themselves, an admin, or a superior.
    pub fn may_see_user(&self, viewer: Viewer, user: UserId) -> bool {
        match viewer {
            Viewer::System => true,
            Viewer::User(me) => me == user || self.is_admin(me) || self.is_superior_of(me, user),
        }
    }

    /// Whether `viewer` sees `pool` among the pools: its members do.
    pub fn may_see_pool(&self, viewer: Viewer, pool: PoolId) -> bool {
        match viewer {
            Viewer::System => true,
            Viewer::User(user) => self.is_member(user, pool),
        }
    }

    /// Whether `viewer` may list `view` of `pool`, and what its rows show them. Members
    /// list unclaimed and pending customers, and claimed ones unless the pool hides them;
    /// every other view is for the pool's admins.
    pub fn pool_listing(
        &self,
        viewer: Viewer,
        pool_id: PoolId,
        view: PoolView,
    ) -> Result<PoolListing, ListingRefused> {
        let pool = self
            .pools
            .get(&pool_id)
            .ok_or(ListingRefused::UnknownPool(pool_id))?;
        let visibility = &pool.rules.visibility;
        let as_admin = match viewer {
            Viewer::System => true,
            Viewer::User(user) if !self.is_member(user, pool_id) => {
                return Err(ListingRefused::NotMember {
                    user,
                    pool: pool_id,
                });
            }
            Viewer::User(user) => self.is_pool_admin(user, pool_id),
        };
        let for_members = match view {
            PoolView::Unclaimed | PoolView::Pending => true,
            PoolView::Claimed => !visibility.hide_claimed_from_members,
            PoolView::Expired | PoolView::Frozen | PoolView::RecycleBin => false,
        };
        if !as_admin && !for_members {
            return Err(ListingRefused::AdminsOnly);
        }
        Ok(PoolListing {
            viewer,
            as_admin,
            members_open_details: visibility.members_can_open_details,
        })
    }

    /// Whether `viewer` may read the abandon records of `pool` and of `user` (either may be
    /// open): admins may; pool admins naming their pool; whoever may see the named user.
    pub fn may_read_abandons(
        &self,
        viewer: Viewer,
        pool: Option<PoolId>,
        user: Option<UserId>,
    ) -> bool {
        self.viewer_is_admin(viewer)
            || pool.is_some_and(|pool| self.viewer_is_pool_admin(viewer, pool))
            || user.is_some_and(|user| self.may_see_user(viewer, user))
    }

    /// Whether `viewer` may read the abandon statistics of `pool` (all pools when open):
    /// admins, and the pool's admins.
    pub fn may_read_abandon_statistics(&self, viewer: Viewer, pool: Option<PoolId>) -> bool {
        self.viewer_is_admin(viewer)
            || pool.is_some_and(|pool| self.viewer_is_pool_admin(viewer, pool))
    }

    /// Whether `viewer` may simulate rules for `pool`: admins and the pool's admins.
    pub fn may_simulate_rules(&self, viewer: Viewer, pool: PoolId) -> bool {
        self.viewer_is_pool_admin(viewer, pool)
    }

    /// Whether `viewer` may read the statistics of `subject`: a pool's are for its
    /// admins, a user's for whoever may see the user.
    pub fn may_read_statistics(&self, viewer: Viewer, subject: StatisticsSubject) -> bool {
        match subject {
            StatisticsSubject::Pool(pool) => self.viewer_is_pool_admin(viewer, pool),
            StatisticsSubject::User(user) => self.may_see_user(viewer, user),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::atomic::{AtomicU64, Ordering};

    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::command::{Command, CommandBody, NewCustomer};
    use crate::ids::CommandId;
    use crate::rules::{PoolMode, PoolRules, Visibility};

    const ADMIN: UserId = UserId::from_u128(0xA0);
    const DIRECTOR: UserId = UserId::from_u128(0xB1);
    const MANAGER: UserId = UserId::from_u128(0xB0);
    const ALICE: UserId = UserId::from_u128(0xC1);
    const BOB: UserId = UserId::from_u128(0xC2);
    const CAROL: UserId = UserId::from_u128(0xC3);
    const KEEPER: UserId = UserId::from_u128(0xD0);
    const GONE: UserId = UserId::from_u128(0xE0);
    const NOBODY: UserId = UserId::from_u128(0xE1);
    const POOL: PoolId = PoolId::from_u128(0x100);
    const OTHER_POOL: PoolId = PoolId::from_u128(0x101);
    const UNCLAIMED: CustomerId = CustomerId::from_u128(0x200);
    const ALICES: CustomerId = CustomerId::from_u128(0x201);

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap()
    }

    fn run(model: &mut WriteModel, actor: Actor, body: CommandBody) {
        static COMMANDS: AtomicU64 = AtomicU64::new(1);
        let id = CommandId::from_u128(u128::from(COMMANDS.fetch_add(1, Ordering::Relaxed)));
        let events = crate::decide(model, &Command::new(id, actor, body), t0())
            .unwrap_or_else(|error| panic!("refused: {error}"));
        for event in &events {
            model.apply(event);
        }
    }

    /// DIRECTOR > MANAGER > {ALICE, BOB}; CAROL alone; KEEPER administers POOL, whose
    /// members are ALICE and BOB; GONE is deactivated. UNCLAIMED is in POOL, ALICES is
    /// ALICE's.
    fn organization(visibility: Visibility) -> WriteModel {
        let mut model = WriteModel::new();
        let users = [
            (ADMIN, None, true),
            (DIRECTOR, None, false),
            (MANAGER, Some(DIRECTOR), false),
            (ALICE, Some(MANAGER), false),
            (BOB, Some(MANAGER), false),
            (CAROL, None, false),
            (KEEPER, None, false),
            (GONE, None, false),
        ];
        for (user_id, superior, admin) in users {
            let body = CommandBody::CreateUser {
                user_id,
                name: format!("{user_id}"),
                superior,
                department: None,
                admin,
            };
            run(&mut model, Actor::System, body);
        }
        let deactivate = CommandBody::DeactivateUser {
            user_id: GONE,
            successor: None,
        };
        run(&mut model, Actor::System, deactivate);
        for (pool_id, rules) in [
            (
                POOL,
                PoolRules {
                    visibility,
                    ..PoolRules::default()
                },
            ),
            (OTHER_POOL, PoolRules::default()),
        ] {
            let body = CommandBody::CreatePool {
                pool_id,
                name: format!("{pool_id}"),
                mode: PoolMode::FreeClaim,
                admins: BTreeSet::from([KEEPER]),
                members: BTreeSet::from([ALICE, BOB]),
                everyone: false,
                default: pool_id == POOL,
                rules,
            };
            run(&mut model, Actor::System, body);
        }
        for customer_id in [UNCLAIMED, ALICES] {
            let body = CommandBody::CreateCustomer(NewCustomer {
                customer_id,
                pool_id: Some(POOL),
                name: format!("{customer_id}"),
                source: None,
                fields: BTreeMap::new(),
                keep: false,
            });
            run(&mut model, Actor::User(ADMIN), body);
        }
        let claim = CommandBody::Claim {
            customer_id: ALICES,
        };
        run(&mut model, Actor::User(ALICE), claim);
        model
    }

    fn open() -> WriteModel {
        organization(Visibility::default())
    }

    const EVERY_VIEW: [PoolView; 6] = [
        PoolView::Unclaimed,
        PoolView::Pending,
        PoolView::Claimed,
        PoolView::Expired,
        PoolView::Frozen,
        PoolView::RecycleBin,
    ];

    #[test]
    fn an_acting_user_reads_only_while_known_and_active() {
        let model = open();
        assert_eq!(model.viewer(Actor::User(ALICE)), Ok(Viewer::User(ALICE)));
        assert_eq!(model.viewer(Actor::System), Ok(Viewer::System));
        assert_eq!(
            model.viewer(Actor::User(GONE)),
            Err(ViewerRefused::Deactivated(GONE))
        );
        assert_eq!(
            model.viewer(Actor::User(NOBODY)),
            Err(ViewerRefused::UnknownUser(NOBODY))
        );
    }

    #[test]
    fn members_list_unclaimed_pending_and_claimed_customers_and_admins_every_view() {
        let model = open();
        for view in EVERY_VIEW {
            let for_members = matches!(
                view,
                PoolView::Unclaimed | PoolView::Pending | PoolView::Claimed
            );
            let member = model.pool_listing(Viewer::User(ALICE), POOL, view);
            assert_eq!(member.is_ok(), for_members, "{view:?}");
            if !for_members {
                assert_eq!(member, Err(ListingRefused::AdminsOnly));
            }
            for admin in [Viewer::User(KEEPER), Viewer::User(ADMIN), Viewer::System] {
                let listing = model.pool_listing(admin, POOL, view).unwrap();
                assert!(listing.as_admin, "{admin:?} {view:?}");
            }
        }
    }

    #[test]
    fn a_pool_hiding_claimed_customers_lists_them_to_its_admins_only() {
        let model = organization(Visibility {
            hide_claimed_from_members: true,
            members_can_open_details: false,
        });
        assert_eq!(
            model.pool_listing(Viewer::User(ALICE), POOL, PoolView::Claimed),
            Err(ListingRefused::AdminsOnly)
        );
        assert!(
            model
                .pool_listing(Viewer::User(ALICE), POOL, PoolView::Unclaimed)
                .is_ok()
        );
        assert!(
            model
                .pool_listing(Viewer::User(KEEPER), POOL, PoolView::Claimed)
                .is_ok()
        );
    }

    #[test]
    fn only_members_list_a_pool_and_nobody_lists_an_unknown_one() {
        let model = open();
        assert_eq!(
            model.pool_listing(Viewer::User(CAROL), POOL, PoolView::Unclaimed),
            Err(ListingRefused::NotMember {
                user: CAROL,
                pool: POOL
            })
        );
        let unknown = PoolId::from_u128(0x999);
        assert_eq!(
            model.pool_listing(Viewer::System, unknown, PoolView::Unclaimed),
            Err(ListingRefused::UnknownPool(unknown))
        );
        assert!(model.may_see_pool(Viewer::User(ALICE), POOL));
        assert!(!model.may_see_pool(Viewer::User(CAROL), POOL));
        assert!(model.may_see_pool(Viewer::User(ADMIN), POOL));
        assert!(model.may_see_pool(Viewer::System, unknown));
    }

    #[test]
    fn a_row_shows_details_to_admins_to_whoever_may_open_it_and_unclaimed_ones_when_the_pool_allows()
     {
        let closed = open();
        let member = closed
            .pool_listing(Viewer::User(BOB), POOL, PoolView::Unclaimed)
            .unwrap();
        assert!(!member.shows_details(&closed, UNCLAIMED, true));
        assert!(!member.shows_details(&closed, ALICES, false));
        let owner = closed
            .pool_listing(Viewer::User(ALICE), POOL, PoolView::Claimed)
            .unwrap();
        assert!(owner.shows_details(&closed, ALICES, false));
        let superior = Viewer::User(MANAGER);
        assert_eq!(closed.viewer_access(superior, ALICES), Access::Details);
        let keeper = closed
            .pool_listing(Viewer::User(KEEPER), POOL, PoolView::Unclaimed)
            .unwrap();
        assert!(keeper.shows_details(&closed, UNCLAIMED, true));

        let opened = organization(Visibility {
            hide_claimed_from_members: false,
            members_can_open_details: true,
        });
        let member = opened
            .pool_listing(Viewer::User(BOB), POOL, PoolView::Unclaimed)
            .unwrap();
        assert!(member.shows_details(&opened, UNCLAIMED, true));
        assert!(!member.shows_details(&opened, ALICES, false));
        assert_eq!(
            opened.viewer_access(Viewer::System, ALICES),
            Access::Details
        );
    }

    #[test]
    fn a_users_customers_holdings_and_statistics_are_for_them_their_superiors_and_admins() {
        let model = open();
        for viewer in [ALICE, MANAGER, DIRECTOR, ADMIN] {
            assert!(model.may_see_user(Viewer::User(viewer), ALICE), "{viewer}");
            let subject = StatisticsSubject::User(ALICE);
            assert!(model.may_read_statistics(Viewer::User(viewer), subject));
        }
        for viewer in [BOB, CAROL, KEEPER] {
            assert!(!model.may_see_user(Viewer::User(viewer), ALICE), "{viewer}");
        }
        assert!(!model.may_see_user(Viewer::User(ALICE), MANAGER));
        assert!(model.may_see_user(Viewer::System, ALICE));
    }

    #[test]
    fn a_pools_statistics_are_for_its_admins() {
        let model = open();
        let subject = StatisticsSubject::Pool(POOL);
        assert!(model.may_read_statistics(Viewer::User(KEEPER), subject));
        assert!(model.may_read_statistics(Viewer::User(ADMIN), subject));
        assert!(model.may_read_statistics(Viewer::System, subject));
        assert!(!model.may_read_statistics(Viewer::User(ALICE), subject));
    }

    #[test]
    fn abandon_records_are_for_admins_the_pools_admins_and_whoever_may_see_the_user() {
        let model = open();
        assert!(model.may_read_abandons(Viewer::User(ADMIN), None, None));
        assert!(model.may_read_abandons(Viewer::System, None, None));
        assert!(!model.may_read_abandons(Viewer::User(KEEPER), None, None));
        assert!(model.may_read_abandons(Viewer::User(KEEPER), Some(POOL), None));
        assert!(!model.may_read_abandons(Viewer::User(ALICE), Some(POOL), None));
        assert!(model.may_read_abandons(Viewer::User(ALICE), Some(POOL), Some(ALICE)));
        assert!(model.may_read_abandons(Viewer::User(MANAGER), None, Some(ALICE)));
        assert!(!model.may_read_abandons(Viewer::User(BOB), None, Some(ALICE)));
    }

    #[test]
    fn abandon_statistics_are_for_admins_and_the_pools_admins() {
        let model = open();
        assert!(model.may_read_abandon_statistics(Viewer::User(ADMIN), None));
        assert!(model.may_read_abandon_statistics(Viewer::System, None));
        assert!(!model.may_read_abandon_statistics(Viewer::User(KEEPER), None));
        assert!(model.may_read_abandon_statistics(Viewer::User(KEEPER), Some(POOL)));
        assert!(!model.may_read_abandon_statistics(Viewer::User(ALICE), Some(POOL)));
    }
}
