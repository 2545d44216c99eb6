//! Who may act on and see what: admins, pool admins, members, owners, superiors
//! (recursively), related persons and department shares.
//!
//! Admins see everything. A pool admin sees the whole pool, claimed customers included.
//! A user sees their own customers and their subordinates' (recursively), customers they
//! created, customers they are a related person of, and customers shared with their
//! department. Members see their pools' unclaimed customers, and claimed ones unless the
//! pool hides them; whether they may open an unclaimed customer's details is a pool rule.

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
