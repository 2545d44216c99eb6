//! Users: creating them, updating their profile and place in the hierarchy, and
//! deactivating them, which hands every customer they own to a successor (or back to its
//! pool) and rejects their pending applications.

use crate::command::limits;
use crate::error::DomainError;
use crate::event::{
    ClaimRejected, CustomerReclaimed, CustomerTransferred, EventBody, UserCreated, UserDeactivated,
    UserUpdated,
};
use crate::ids::{CustomerId, UserId};
use crate::model::{Customer, CustomerState};

use super::checks::{optional_text, required_text};
use super::{Result, Ruling};

/// A user profile's trimmed name (required) and department (optional).
fn profile(name: &str, department: Option<&str>) -> Result<(String, Option<String>)> {
    Ok((
        required_text("name", name, limits::NAME)?,
        optional_text("department", department, limits::SHORT_TEXT)?,
    ))
}

/// `CreateUser`: an admin adds a user, under a known superior if any.
pub(super) fn create(
    ruling: &mut Ruling<'_>,
    user_id: UserId,
    name: &str,
    superior: Option<UserId>,
    department: Option<&str>,
    admin: bool,
) -> Result<()> {
    ruling.require_admin()?;
    let (name, department) = profile(name, department)?;
    if user_id.0.is_nil() {
        return Err(DomainError::invalid("user_id", "must not be the nil UUID"));
    }
    if ruling.model.users.contains_key(&user_id) {
        return Err(DomainError::AlreadyExists {
            kind: "user",
            id: user_id.to_string(),
        });
    }
    if let Some(superior) = superior {
        ruling.user(superior)?;
    }
    ruling.emit(EventBody::UserCreated(UserCreated {
        user_id,
        name,
        superior,
        department,
        admin,
    }));
    Ok(())
}

/// `UpdateUser`: an admin changes a user's profile; nothing when it is unchanged. The
/// hierarchy must stay free of cycles.
pub(super) fn update(
    ruling: &mut Ruling<'_>,
    user_id: UserId,
    name: &str,
    superior: Option<UserId>,
    department: Option<&str>,
    admin: bool,
) -> Result<()> {
    ruling.require_admin()?;
    let (name, department) = profile(name, department)?;
    let user = ruling.user(user_id)?;
    if let Some(superior) = superior {
        ruling.user(superior)?;
        if superior == user_id || ruling.model.is_superior_of(user_id, superior) {
            return Err(DomainError::invalid(
                "superior",
                "would make the hierarchy a cycle",
            ));
        }
    }
    if user.name == name
        && user.superior == superior
        && user.department == department
        && user.admin == admin
    {
        return Ok(());
    }
    ruling.emit(EventBody::UserUpdated(UserUpdated {
        user_id,
        name,
        superior,
        department,
        admin,
    }));
    Ok(())
}

/// `DeactivateUser`: an admin deactivates a user. Their customers go to the successor
/// (refused as a whole if that would break the successor's cap) or back to their pools;
/// their pending applications are rejected.
pub(super) fn deactivate(
    ruling: &mut Ruling<'_>,
    user_id: UserId,
    successor: Option<UserId>,
) -> Result<()> {
    ruling.require_admin()?;
    ruling.active_user(user_id)?;
    if let Some(successor) = successor {
        if successor == user_id {
            return Err(DomainError::invalid("successor", "must be another user"));
        }
        ruling.active_user(successor)?;
    }
    let mut affected: Vec<(CustomerId, &Customer)> = ruling
        .model
        .customers
        .iter()
        .filter(|(_, c)| {
            c.state.owner() == Some(user_id)
                || matches!(c.state, CustomerState::Pending { applicant, .. } if applicant == user_id)
        })
        .map(|(id, c)| (*id, c))
        .collect();
    affected.sort_by_key(|(id, _)| *id);
    let reason = Some("owner deactivated".to_owned());
    let mut bodies = Vec::with_capacity(affected.len());
    let (mut transferred, mut returned, mut rejected) = (0u32, 0u32, 0u32);
    for (customer_id, customer) in affected {
        if let CustomerState::Pending { applicant, .. } = customer.state {
            rejected += 1;
            bodies.push(EventBody::ClaimRejected(ClaimRejected {
                customer_id,
                pool_id: customer.pool,
                applicant,
                reason: Some("applicant deactivated".to_owned()),
            }));
            continue;
        }
        match successor {
            Some(successor) => {
                ruling.check_cap(successor, customer.pool)?;
                ruling.note_ownership(successor, customer.pool, 1);
                transferred += 1;
                bodies.push(EventBody::CustomerTransferred(CustomerTransferred {
                    customer_id,
                    pool_id: customer.pool,
                    from: user_id,
                    to: successor,
                    reason: reason.clone(),
                }));
            }
            None => {
                returned += 1;
                bodies.push(EventBody::CustomerReclaimed(CustomerReclaimed {
                    customer_id,
                    pool_id: customer.pool,
                    former_owner: user_id,
                    reason: reason.clone(),
                }));
            }
        }
    }
    ruling.emit(EventBody::UserDeactivated(UserDeactivated {
        user_id,
        successor,
        customers_transferred: transferred,
        customers_returned: returned,
        applications_rejected: rejected,
    }));
    for body in bodies {
        ruling.emit(body);
    }
    Ok(())
}
