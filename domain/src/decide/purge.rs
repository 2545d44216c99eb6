//! `PurgeCustomer`: an organization admin erases a customer's personal data (an erasure
//! request, GDPR art. 17 / PIPL art. 47). Only a customer in the recycle bin may be
//! purged, unless `force` (a legal order); a purged customer records nothing personal
//! again. The event carries no personal data: who owned the customer, when and why stays.

use crate::command::limits;
use crate::error::DomainError;
use crate::event::{CustomerPurged, EventBody};
use crate::ids::CustomerId;
use crate::model::{Customer, CustomerState};

use super::checks::{required_text, state_error};
use super::{Result, Ruling};

/// `PurgeCustomer`.
pub(super) fn purge(
    ruling: &mut Ruling<'_>,
    customer_id: CustomerId,
    reason: &str,
    force: bool,
) -> Result<()> {
    let reason = required_text("reason", reason, limits::SHORT_TEXT)?;
    ruling.require_admin()?;
    let customer = ruling.customer(customer_id)?;
    not_purged(customer_id, customer, "purge_customer")?;
    if !force && !matches!(customer.state, CustomerState::Deleted { .. }) {
        return Err(state_error(
            customer_id,
            customer,
            "purge_customer",
            "deleted or force",
        ));
    }
    ruling.emit(EventBody::CustomerPurged(CustomerPurged {
        customer_id,
        pool_id: customer.pool,
        reason,
        forced: force,
    }));
    Ok(())
}

/// Refuses `action` on a purged customer: it would record personal data again.
pub(super) fn not_purged(
    customer_id: CustomerId,
    customer: &Customer,
    action: &'static str,
) -> Result<()> {
    if customer.purged {
        return Err(DomainError::Purged {
            customer: customer_id,
            action,
        });
    }
    Ok(())
}
