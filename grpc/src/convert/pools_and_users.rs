//! Pools and users as messages.

use poolkeeper_projections::{PoolSummary, UserSummary};
use poolkeeper_proto::v1 as pb;

use super::names::{optional_user_name, pool_name, user_name};
use super::rules::{pool_mode_pb, pool_rules_pb};
use super::time::timestamp;

/// A pool as a message.
pub fn pool_pb(pool: &PoolSummary) -> pb::Pool {
    pb::Pool {
        name: pool_name(pool.pool_id),
        display_name: pool.name.clone(),
        mode: pool_mode_pb(pool.mode) as i32,
        default: pool.is_default,
        everyone: pool.everyone,
        admins: pool.admins.iter().map(|u| user_name(*u)).collect(),
        members: pool.members.iter().map(|u| user_name(*u)).collect(),
        rules: Some(pool_rules_pb(&pool.rules)),
        rules_version: pool.rules_version,
        version: pool.version,
        create_time: Some(timestamp(pool.created_at)),
        update_time: Some(timestamp(pool.changed_at)),
    }
}

/// A user as a message.
pub fn user_pb(user: &UserSummary) -> pb::User {
    pb::User {
        name: user_name(user.user_id),
        display_name: user.name.clone(),
        superior: optional_user_name(user.superior),
        department: user.department.clone().unwrap_or_default(),
        admin: user.admin,
        active: user.active,
        version: user.version,
    }
}
