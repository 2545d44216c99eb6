//! The bodies of the users' events: `user.created`, `user.updated`, `user.deactivated`.

use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// `user.created`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCreated {
    /// The new user.
    pub user_id: UserId,
    /// Display name.
    pub name: String,
    /// The direct superior (上级).
    pub superior: Option<UserId>,
    /// The department (部门).
    pub department: Option<String>,
    /// Whether the user is an organization admin (sees and may do everything).
    pub admin: bool,
}

/// `user.updated`: the user's profile after the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserUpdated {
    /// The user.
    pub user_id: UserId,
    /// Display name.
    pub name: String,
    /// The direct superior.
    pub superior: Option<UserId>,
    /// The department.
    pub department: Option<String>,
    /// Whether the user is an organization admin.
    pub admin: bool,
}

/// `user.deactivated`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDeactivated {
    /// The deactivated user.
    pub user_id: UserId,
    /// Who received their customers; `None` sent them back to their pools.
    pub successor: Option<UserId>,
    /// How many owned customers went to the successor.
    pub customers_transferred: u32,
    /// How many owned customers went back to their pools.
    pub customers_returned: u32,
    /// How many pending applications were rejected.
    pub applications_rejected: u32,
}
