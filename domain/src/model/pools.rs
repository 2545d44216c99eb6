//! The pools' streams: each pool's mode, admins, members, rules (with the instants from
//! which each is in force) and auto-assignment rotation pointers. A change of rules
//! reschedules the pool's owned customers.

use std::collections::BTreeSet;

use crate::event::EventBody;
use crate::ids::{CustomerId, UserId};
use crate::rules::{PoolMode, PoolRules, RulesSince};

use super::WriteModel;

/// A pool and its configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    /// Display name.
    pub name: String,
    /// How members take customers.
    pub mode: PoolMode,
    /// Pool admins (organization admins count too).
    pub admins: BTreeSet<UserId>,
    /// Named members.
    pub members: BTreeSet<UserId>,
    /// Every user is a member.
    pub everyone: bool,
    /// The default pool.
    pub default: bool,
    /// The rules in force.
    pub rules: PoolRules,
    /// Their version (1 at creation, +1 per change).
    pub rules_version: u32,
    /// From when each active reclaim rule is in force.
    pub rules_since: RulesSince,
    /// The rotation pointer of each auto-assignment rule.
    pub rotation: Vec<u32>,
    /// Events on the pool's stream.
    pub version: u64,
    /// The log position of its last committed event ([`WriteModel::record_position`]).
    pub position: u64,
}

impl WriteModel {
    /// Folds an event of a pool's stream.
    pub(super) fn apply_to_pool(&mut self, body: &EventBody) {
        match body {
            EventBody::PoolCreated(e) => {
                self.pools.insert(
                    e.pool_id,
                    Pool {
                        name: e.name.clone(),
                        mode: e.mode,
                        admins: e.admins.clone(),
                        members: e.members.clone(),
                        everyone: e.everyone,
                        default: e.default,
                        rotation: vec![0; e.rules.auto_assign.len()],
                        rules: (*e.rules).clone(),
                        rules_version: 1,
                        rules_since: e.rules_since.clone(),
                        version: 1,
                        position: 0,
                    },
                );
                if e.default {
                    self.default_pool = Some(e.pool_id);
                }
            }
            EventBody::PoolModeChanged(e) => {
                if let Some(pool) = self.pools.get_mut(&e.pool_id) {
                    pool.mode = e.mode;
                    pool.version += 1;
                }
            }
            EventBody::PoolAdminsChanged(e) => {
                if let Some(pool) = self.pools.get_mut(&e.pool_id) {
                    pool.admins.clone_from(&e.admins);
                    pool.version += 1;
                }
            }
            EventBody::PoolMembersChanged(e) => {
                if let Some(pool) = self.pools.get_mut(&e.pool_id) {
                    pool.members.clone_from(&e.members);
                    pool.everyone = e.everyone;
                    pool.version += 1;
                }
            }
            EventBody::PoolRulesChanged(e) => {
                if let Some(pool) = self.pools.get_mut(&e.pool_id) {
                    pool.rules = (*e.rules).clone();
                    pool.rules_version = e.rules_version;
                    pool.rules_since.clone_from(&e.rules_since);
                    pool.rotation.resize(e.rules.auto_assign.len(), 0);
                    pool.version += 1;
                    let in_pool: Vec<CustomerId> = self
                        .customers
                        .iter()
                        .filter(|(_, c)| c.pool == e.pool_id && c.state.owner().is_some())
                        .map(|(id, _)| *id)
                        .collect();
                    for customer in in_pool {
                        self.reschedule(customer);
                    }
                }
            }
            // Events of other streams are folded by their own files.
            _ => {}
        }
    }
}
