//! The bodies of the pools' and the organization's events: `pool.created`, its mode,
//! admins, members and rules changing, and `organization.settings_changed`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::ids::{PoolId, UserId};
use crate::rules::{Limit, PoolMode, PoolRules, RuleKind, RulesSince};

/// `pool.created`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolCreated {
    /// The new pool.
    pub pool_id: PoolId,
    /// Display name, e.g. 华北区客户.
    pub name: String,
    /// How members take customers.
    pub mode: PoolMode,
    /// Pool admins (负责人); organization admins always count as pool admins.
    pub admins: BTreeSet<UserId>,
    /// Named members.
    pub members: BTreeSet<UserId>,
    /// Every user is a member (the default pool: 成员为所有人).
    pub everyone: bool,
    /// This is the default pool.
    pub default: bool,
    /// The rules, version 1.
    pub rules: Box<PoolRules>,
    /// From when each active reclaim rule is in force.
    pub rules_since: RulesSince,
}

/// `pool.mode_changed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolModeChanged {
    /// The pool.
    pub pool_id: PoolId,
    /// The new mode.
    pub mode: PoolMode,
    /// The mode before.
    pub previous: PoolMode,
}

/// `pool.admins_changed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolAdminsChanged {
    /// The pool.
    pub pool_id: PoolId,
    /// The admins after the change.
    pub admins: BTreeSet<UserId>,
}

/// `pool.members_changed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolMembersChanged {
    /// The pool.
    pub pool_id: PoolId,
    /// The named members after the change.
    pub members: BTreeSet<UserId>,
    /// Every user is a member.
    pub everyone: bool,
}

/// `pool.rules_changed`: never retroactive; each changed rule is in force from this instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRulesChanged {
    /// The pool.
    pub pool_id: PoolId,
    /// The version of the rules after the change (the pool's first rules are version 1).
    pub rules_version: u32,
    /// The complete rules after the change.
    pub rules: Box<PoolRules>,
    /// From when each active reclaim rule is in force (changed rules: this event's instant).
    pub rules_since: RulesSince,
    /// The reclaim rules this change turned on, changed or turned off.
    pub changed_rules: Vec<RuleKind>,
}

/// `organization.settings_changed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationSettingsChanged {
    /// The overall cap: the most customers one user may own across all pools.
    pub overall_cap: Option<Limit>,
    /// The offset of the organization's day from UTC, in minutes (daily quotas reset at its midnight).
    pub day_offset_minutes: i32,
}
