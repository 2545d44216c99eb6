//! Intake: creating customers one at a time or in an import, and auto-assigning the new
//! unclaimed ones by the pool's ordered rules (skipping deactivated users and users at a
//! cap, counting the assignments already made by the same import).

use std::collections::{BTreeMap, HashSet};

use crate::assignment;
use crate::command::{MAX_IMPORT, NewCustomer, limits};
use crate::error::{CapScope, DomainError};
use crate::event::{Actor, AssignCandidate, CustomerAutoAssigned, CustomerCreated, EventBody};
use crate::ids::{CustomerId, PoolId, UserId};
use crate::model::Pool;
use crate::rules::AssignRule;

use super::checks::{optional_text, required_text};
use super::{Result, Ruling};

/// `CreateCustomer`: any member of the pool adds a customer, unclaimed or kept.
pub(super) fn create(ruling: &mut Ruling<'_>, new: &NewCustomer) -> Result<()> {
    let mut seen = HashSet::new();
    create_customer(ruling, new, "", &mut seen)
}

/// `ImportCustomers`: many customers at once; the first refused row refuses the import.
pub(super) fn import(ruling: &mut Ruling<'_>, customers: &[NewCustomer]) -> Result<()> {
    if customers.is_empty() || customers.len() > MAX_IMPORT {
        return Err(DomainError::invalid(
            "customers",
            format!("must hold 1 to {MAX_IMPORT} customers"),
        ));
    }
    ruling.events.reserve(customers.len());
    let mut seen = HashSet::with_capacity(customers.len());
    for (index, new) in customers.iter().enumerate() {
        create_customer(ruling, new, &format!("customers[{index}]."), &mut seen)?;
    }
    Ok(())
}

/// One customer of a create or an import (`prefix` names its row in an import's fields):
/// its fields, its pool, who keeps it, and its auto-assignment when nobody does.
fn create_customer(
    ruling: &mut Ruling<'_>,
    new: &NewCustomer,
    prefix: &str,
    seen: &mut HashSet<CustomerId>,
) -> Result<()> {
    let field = |name: &str| format!("{prefix}{name}");
    let name = required_text(&field("name"), &new.name, limits::NAME)?;
    let source = optional_text(&field("source"), new.source.as_deref(), limits::SHORT_TEXT)?;
    if new.fields.len() > limits::FIELDS {
        return Err(DomainError::invalid(
            field("fields"),
            format!("at most {} fields", limits::FIELDS),
        ));
    }
    let mut fields = BTreeMap::new();
    for (key, value) in &new.fields {
        let key = required_text(&field("fields"), key, limits::SHORT_TEXT)?;
        if value.chars().count() > limits::SHORT_TEXT {
            return Err(DomainError::invalid(
                field(&format!("fields.{key}")),
                format!("must be at most {} characters", limits::SHORT_TEXT),
            ));
        }
        fields.insert(key, value.trim().to_owned());
    }
    if ruling.model.customers.contains_key(&new.customer_id) || !seen.insert(new.customer_id) {
        return Err(DomainError::AlreadyExists {
            kind: "customer",
            id: new.customer_id.to_string(),
        });
    }
    let pool_id = match new.pool_id {
        Some(pool) => pool,
        None => ruling
            .model
            .default_pool
            .ok_or(DomainError::NoDefaultPool)?,
    };
    let pool = ruling.pool(pool_id)?;
    let owner = match ruling.command.actor {
        Actor::User(user) => {
            if !ruling.model.is_member(user, pool_id) {
                return Err(DomainError::NotPoolMember {
                    user,
                    pool: pool_id,
                });
            }
            new.keep.then_some(user)
        }
        _ if new.keep => {
            return Err(DomainError::invalid(
                field("keep"),
                "only a user can keep a customer",
            ));
        }
        _ => None,
    };
    let created_by = ruling.command.actor.user().unwrap_or(UserId::from_u128(0));
    let cleaned = NewCustomer {
        name,
        source,
        fields,
        ..new.clone()
    };
    ruling.emit(EventBody::CustomerCreated(CustomerCreated {
        customer_id: new.customer_id,
        pool_id,
        name: cleaned.name.clone(),
        source: cleaned.source.clone(),
        fields: cleaned.fields.clone(),
        created_by,
        owner,
    }));
    match owner {
        Some(owner) => ruling.note_ownership(owner, pool_id, 1),
        None => auto_assign(ruling, new.customer_id, pool_id, pool, &cleaned),
    }
    Ok(())
}

/// Tries the pool's auto-assignment rules in order on a new unclaimed customer.
fn auto_assign(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    pool_id: PoolId,
    pool: &Pool,
    customer: &NewCustomer,
) {
    for (index, rule) in pool.rules.auto_assign.iter().enumerate() {
        if !assignment::matches(rule, customer) {
            continue;
        }
        let candidates = candidates(ruling, rule, pool_id);
        let pointer_before = pointer(ruling, pool_id, pool, index);
        let Some(choice) = assignment::choose(rule.strategy, &candidates, pointer_before) else {
            continue;
        };
        ruling
            .rotation
            .insert((pool_id, index), choice.pointer_after);
        ruling.note_ownership(choice.assignee, pool_id, 1);
        ruling.emit(EventBody::CustomerAutoAssigned(CustomerAutoAssigned {
            customer_id,
            pool_id,
            assignee: choice.assignee,
            rule_index: u32::try_from(index).unwrap_or(u32::MAX),
            rule_name: rule.name.clone(),
            strategy: rule.strategy,
            rules_version: pool.rules_version,
            candidates,
            pointer_before,
            pointer_after: choice.pointer_after,
        }));
        return;
    }
}

/// Every assignee of `rule` with their load in `pool_id` and why they are skipped, if they
/// are: unknown, deactivated, or at a cap (counting this ruling's own assignments).
pub(super) fn candidates(
    ruling: &Ruling<'_>,
    rule: &AssignRule,
    pool_id: PoolId,
) -> Vec<AssignCandidate> {
    rule.assignees
        .iter()
        .map(|&user_id| {
            let skipped = match ruling.model.users.get(&user_id) {
                None => Some("unknown_user".to_owned()),
                Some(user) if !user.active => Some("deactivated".to_owned()),
                Some(_) => match ruling.cap_breach(user_id, pool_id) {
                    Some(DomainError::CapReached {
                        scope: CapScope::Overall,
                        ..
                    }) => Some("overall_cap".to_owned()),
                    Some(_) => Some("pool_cap".to_owned()),
                    None => None,
                },
            };
            AssignCandidate {
                user_id,
                owned_in_pool: ruling.owned_in_pool(user_id, pool_id),
                skipped,
            }
        })
        .collect()
}

/// The rotation pointer of the pool's rule `index`, as this ruling left it.
pub(super) fn pointer(ruling: &Ruling<'_>, pool_id: PoolId, pool: &Pool, index: usize) -> u32 {
    ruling
        .rotation
        .get(&(pool_id, index))
        .copied()
        .unwrap_or_else(|| pool.rotation.get(index).copied().unwrap_or(0))
}
