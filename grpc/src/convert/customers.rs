//! Customers: their states, pool-view and owner-view rows as `Customer` messages, and the
//! listing parameters of ListPoolCustomers and ListOwnerCustomers.

use chrono::{DateTime, Utc};
use poolkeeper_domain::permissions::PoolView;
use poolkeeper_projections::{
    OwnedCustomer, OwnerScope, OwnershipState, Page, PoolCustomer, PoolFilter, TimeOrder,
};
use poolkeeper_proto::v1 as pb;
use tonic::Status;

use super::names::{actor_user_name, customer_name, optional_user_name, pool_name, user_name};
use super::rules::{actor_rule, optional_rule_pb};
use super::time::{optional_timestamp, timestamp};
use crate::status::{invalid, quoted};

/// A customer's state as protobuf.
pub fn state_pb(state: OwnershipState) -> pb::CustomerState {
    match state {
        OwnershipState::InPool => pb::CustomerState::InPool,
        OwnershipState::Pending => pb::CustomerState::Pending,
        OwnershipState::Owned => pb::CustomerState::Owned,
        OwnershipState::Frozen => pb::CustomerState::Frozen,
        OwnershipState::Deleted => pb::CustomerState::Deleted,
    }
}

/// A pool-view row as a message; without `details`, only what a pool listing shows.
pub fn customer_pb(row: &PoolCustomer, details: bool, now: DateTime<Utc>) -> pb::Customer {
    let mut customer = pb::Customer {
        name: customer_name(row.customer_id),
        pool: pool_name(row.pool_id),
        display_name: row.name.clone(),
        state: state_pb(row.state) as i32,
        owner: optional_user_name(row.owned.as_ref().map(|o| o.owner)),
        owner_since: optional_timestamp(row.owned.as_ref().map(|o| o.since)),
        applicant: optional_user_name(row.pending.as_ref().map(|p| p.applicant)),
        pending_since: optional_timestamp(row.pending.as_ref().map(|p| p.since)),
        update_time: Some(timestamp(row.changed_at)),
        version: row.version,
        position: row.last_position,
        ..Default::default()
    };
    // Why an unclaimed customer is back in the pool, and who gave it up, is for everyone
    // who may take it up again (seed 000, step 10).
    if details || row.state == OwnershipState::InPool {
        customer.last_abandon = row.last_abandon.as_ref().map(|a| pb::AbandonInfo {
            reason: a.reason.clone(),
            abandoner: user_name(a.abandoner),
            time: Some(timestamp(a.at)),
        });
    }
    if details {
        add_details(&mut customer, row, now);
    }
    customer
}

/// What a customer's details add to its listing.
fn add_details(customer: &mut pb::Customer, row: &PoolCustomer, now: DateTime<Utc>) {
    customer.source = row.source.clone().unwrap_or_default();
    customer.fields = row.fields.clone().into_iter().collect();
    if let Some(owned) = &row.owned {
        customer.protection_end = optional_timestamp(owned.protection_end);
        customer.next_reclaim_time = optional_timestamp(owned.deadline.as_ref().map(|d| d.at));
        customer.next_reclaim_rule =
            optional_rule_pb(owned.deadline.as_ref().map(|d| d.rule)) as i32;
        customer.last_contact_time = optional_timestamp(owned.last_contact_at);
        customer.won_time = optional_timestamp(owned.won_at);
    }
    customer.last_reclaim = row.last_reclaim.as_ref().map(|r| pb::ReclaimInfo {
        reclaimed_by: actor_user_name(r.by),
        rule: actor_rule(Some(r.by)) as i32,
        reason: r.reason.clone().unwrap_or_default(),
        time: Some(timestamp(r.at)),
        former_owner: user_name(r.former_owner),
    });
    if let Some(deleted) = &row.deleted {
        customer.deleted_by = actor_user_name(deleted.by);
        customer.delete_time = Some(timestamp(deleted.at));
    }
    customer.created_by = user_name(row.created_by);
    customer.create_time = Some(timestamp(row.created_at));
    customer.expired = row.is_expired(now);
}

/// An owner-view row as a message.
pub fn owned_pb(row: &OwnedCustomer) -> pb::Customer {
    pb::Customer {
        name: customer_name(row.customer_id),
        pool: pool_name(row.pool_id),
        display_name: row.name.clone(),
        state: state_pb(row.state) as i32,
        owner: optional_user_name(row.owner),
        owner_since: optional_timestamp(row.owned_since),
        created_by: user_name(row.created_by),
        update_time: Some(timestamp(row.changed_at)),
        version: row.version,
        position: row.last_position,
        ..Default::default()
    }
}

/// A page of customer rows as a listing's reply, each row mapped by `map`.
pub fn customer_list<T>(
    page: Page<T>,
    map: impl Fn(&T) -> pb::Customer,
) -> pb::ListCustomersResponse {
    pb::ListCustomersResponse {
        customers: page.items.iter().map(map).collect(),
        next_page_token: page.next_cursor.unwrap_or_default(),
    }
}

/// ListPoolCustomers' `view` (UNSPECIFIED lists the unclaimed customers).
pub fn pool_view(value: i32) -> Result<PoolView, Status> {
    match pb::PoolView::try_from(value) {
        Ok(pb::PoolView::Unspecified | pb::PoolView::Unclaimed) => Ok(PoolView::Unclaimed),
        Ok(pb::PoolView::Pending) => Ok(PoolView::Pending),
        Ok(pb::PoolView::Claimed) => Ok(PoolView::Claimed),
        Ok(pb::PoolView::Expired) => Ok(PoolView::Expired),
        Ok(pb::PoolView::Frozen) => Ok(PoolView::Frozen),
        Ok(pb::PoolView::RecycleBin) => Ok(PoolView::RecycleBin),
        Err(_) => Err(invalid("view", "is not a known pool view")),
    }
}

/// The pool view's rows as the pool view projection selects them at `now`.
pub fn pool_filter(view: PoolView, now: DateTime<Utc>) -> PoolFilter {
    match view {
        PoolView::Unclaimed => PoolFilter::Unclaimed,
        PoolView::Pending => PoolFilter::Pending,
        PoolView::Claimed => PoolFilter::Claimed,
        PoolView::Expired => PoolFilter::Expired { now },
        PoolView::Frozen => PoolFilter::Frozen,
        PoolView::RecycleBin => PoolFilter::RecycleBin,
    }
}

/// ListPoolCustomers' `order_by`: by update time, newest first unless asked otherwise.
pub fn time_order(order_by: &str) -> Result<TimeOrder, Status> {
    match order_by.trim() {
        "" | "update_time desc" => Ok(TimeOrder::NewestFirst),
        "update_time asc" | "update_time" => Ok(TimeOrder::OldestFirst),
        other => Err(invalid(
            "order_by",
            format!(
                "must be `update_time desc` or `update_time asc`, not {}",
                quoted(other)
            ),
        )),
    }
}

/// Which of an owner's customers ListOwnerCustomers lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerListing {
    /// Those the owner is a related person of.
    Related,
    /// Those shared with the owner's department.
    SharedWithDepartment,
    /// Those owned by the owner, their subordinates, or both.
    Owned(OwnerScope),
}

/// ListOwnerCustomers' `scope` (UNSPECIFIED lists the owner's own).
pub fn owner_listing(value: i32) -> Result<OwnerListing, Status> {
    let scope = pb::OwnerScope::try_from(value)
        .map_err(|_| invalid("scope", "is not a known owner scope"))?;
    Ok(match scope {
        pb::OwnerScope::Related => OwnerListing::Related,
        pb::OwnerScope::SharedWithDepartment => OwnerListing::SharedWithDepartment,
        pb::OwnerScope::OwnAndSubordinates => OwnerListing::Owned(OwnerScope::OwnAndSubordinates),
        pb::OwnerScope::Subordinates => OwnerListing::Owned(OwnerScope::Subordinates),
        _ => OwnerListing::Owned(OwnerScope::Own),
    })
}
