//! The users' streams: who they are, whom they report to, whether they are active.

use crate::event::EventBody;
use crate::ids::UserId;

use super::WriteModel;

/// A user as the rules see them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Display name.
    pub name: String,
    /// The direct superior (上级).
    pub superior: Option<UserId>,
    /// The department (部门).
    pub department: Option<String>,
    /// An organization admin.
    pub admin: bool,
    /// False once deactivated.
    pub active: bool,
    /// Events on the user's stream.
    pub version: u64,
    /// The log position of its last committed event ([`WriteModel::record_position`]).
    pub position: u64,
}

impl WriteModel {
    /// Folds an event of a user's stream.
    pub(super) fn apply_to_user(&mut self, body: &EventBody) {
        match body {
            EventBody::UserCreated(e) => {
                self.users.insert(
                    e.user_id,
                    User {
                        name: e.name.clone(),
                        superior: e.superior,
                        department: e.department.clone(),
                        admin: e.admin,
                        active: true,
                        version: 1,
                        position: 0,
                    },
                );
            }
            EventBody::UserUpdated(e) => {
                if let Some(user) = self.users.get_mut(&e.user_id) {
                    user.name.clone_from(&e.name);
                    user.superior = e.superior;
                    user.department.clone_from(&e.department);
                    user.admin = e.admin;
                    user.version += 1;
                }
            }
            EventBody::UserDeactivated(e) => {
                if let Some(user) = self.users.get_mut(&e.user_id) {
                    user.active = false;
                    user.version += 1;
                }
            }
            // Events of other streams are folded by their own files.
            _ => {}
        }
    }
}
