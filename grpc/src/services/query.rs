//! QueryService: every read, served by a projection.
//!
//! Each query first waits until the projections have applied `min_position` (bounded by
//! the call's deadline and the server's maximum wait), so a caller reads its own writes.
//! Visibility is decided with the domain's permission rules on the write model: admins
//! see everything, pool admins their pools, users their own customers and their
//! subordinates' (recursively), related persons and department shares; members see a
//! pool's unclaimed customers (details only when the pool allows it) and its claimed ones
//! unless the pool hides them. A customer the viewer may not see is NOT_FOUND.

use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, Utc};
use poolkeeper_domain::permissions::Access;
use poolkeeper_domain::{Actor, Clock, CustomerId, PoolId, StreamRef, UserId};
use poolkeeper_projections::{
    AsOf, AuditEntry, AuditPeriod, AuditQuery, DailyQuery, OwnedCustomer, OwnerQuery, OwnerScope,
    OwnershipState, Period, PoolCustomer, PoolFilter, PoolQuery, PoolSummary, Projections,
    TimeOrder, UserSummary,
};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::query_service_server::QueryService;
use tonic::{Request, Response, Status};

use crate::auth;
use crate::clock::ServiceClock;
use crate::convert::{
    self, customer_name, optional_timestamp, optional_user_name, pool_name, timestamp, user_name,
};
use crate::status::{OrStatus, invalid, not_found, out_of_range, permission_denied, quoted};
use crate::writer::CommandWriter;

/// The default and largest page sizes.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

/// The QueryService implementation.
#[derive(Clone)]
pub struct QueryApi {
    projections: Projections,
    writer: CommandWriter,
    clock: ServiceClock,
    max_wait: Duration,
}

/// Who is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Viewer {
    /// The system (an admin-scoped token acting as `system`): sees everything.
    System,
    /// A user.
    User(UserId),
}

/// The deadline the caller set (`grpc-timeout`), if any.
fn deadline<T>(request: &Request<T>) -> Option<Duration> {
    let value = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

fn page_size(value: i32) -> Result<u32, Status> {
    match value {
        0 => Ok(DEFAULT_PAGE),
        n if n < 0 => Err(invalid("page_size", "must not be negative")),
        n => Ok(u32::try_from(n).unwrap_or(MAX_PAGE).min(MAX_PAGE)),
    }
}

fn cursor(token: String) -> Option<String> {
    (!token.is_empty()).then_some(token)
}

fn split<T>(request: Request<T>) -> (Request<()>, T) {
    let (metadata, extensions, message) = request.into_parts();
    (Request::from_parts(metadata, extensions, ()), message)
}

fn state_pb(state: OwnershipState) -> pb::CustomerState {
    match state {
        OwnershipState::InPool => pb::CustomerState::InPool,
        OwnershipState::Pending => pb::CustomerState::Pending,
        OwnershipState::Owned => pb::CustomerState::Owned,
        OwnershipState::Frozen => pb::CustomerState::Frozen,
        OwnershipState::Deleted => pb::CustomerState::Deleted,
    }
}

fn actor_user(actor: Actor) -> String {
    optional_user_name(actor.user())
}

fn actor_rule(actor: Option<Actor>) -> pb::ReclaimRule {
    match actor {
        Some(Actor::Rule(rule)) => convert::rule_pb(rule),
        _ => pb::ReclaimRule::Unspecified,
    }
}

/// A pool-view row as a message; without `details`, only what a pool listing shows.
fn customer_pb(row: &PoolCustomer, details: bool, now: DateTime<Utc>) -> pb::Customer {
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
    if !details {
        return customer;
    }
    customer.source = row.source.clone().unwrap_or_default();
    customer.fields = row.fields.clone().into_iter().collect();
    if let Some(owned) = &row.owned {
        customer.protection_end = optional_timestamp(owned.protection_end);
        customer.next_reclaim_time = optional_timestamp(owned.deadline.as_ref().map(|d| d.at));
        customer.next_reclaim_rule = owned
            .deadline
            .as_ref()
            .map_or(pb::ReclaimRule::Unspecified, |d| convert::rule_pb(d.rule))
            as i32;
        customer.last_contact_time = optional_timestamp(owned.last_contact_at);
        customer.won_time = optional_timestamp(owned.won_at);
    }
    customer.last_reclaim = row.last_reclaim.as_ref().map(|r| pb::ReclaimInfo {
        reclaimed_by: actor_user(r.by),
        rule: actor_rule(Some(r.by)) as i32,
        reason: r.reason.clone().unwrap_or_default(),
        time: Some(timestamp(r.at)),
        former_owner: user_name(r.former_owner),
    });
    if let Some(deleted) = &row.deleted {
        customer.deleted_by = actor_user(deleted.by);
        customer.delete_time = Some(timestamp(deleted.at));
    }
    customer.created_by = user_name(row.created_by);
    customer.create_time = Some(timestamp(row.created_at));
    customer.expired = row.is_expired(now);
    customer
}

/// An owner-view row as a message.
fn owned_pb(row: &OwnedCustomer) -> pb::Customer {
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

fn interval_pb(period: &Period) -> pb::OwnershipInterval {
    pb::OwnershipInterval {
        customer: customer_name(period.customer_id),
        owner: optional_user_name(period.user),
        pool: pool_name(period.pool_id),
        start_time: Some(timestamp(period.from.at)),
        start_position: period.from.position,
        began_by: period.began.as_str().to_owned(),
        began_actor: period.began_by.to_string(),
        end_time: optional_timestamp(period.to.map(|m| m.at)),
        end_position: period.to.map_or(0, |m| m.position),
        ended_by: period
            .ended
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        end_actor: period.ended_by.map(|a| a.to_string()).unwrap_or_default(),
        end_reason: period.end_reason.clone().unwrap_or_default(),
        end_rule: actor_rule(period.ended_by) as i32,
        transferred_to: optional_user_name(period.ended_to),
    }
}

fn period_pb(period: &Period) -> pb::StatePeriod {
    pb::StatePeriod {
        state: state_pb(period.state) as i32,
        user: optional_user_name(period.user),
        pool: pool_name(period.pool_id),
        start_time: Some(timestamp(period.from.at)),
        start_position: period.from.position,
        end_time: optional_timestamp(period.to.map(|m| m.at)),
        end_position: period.to.map_or(0, |m| m.position),
        cause: period.began.as_str().to_owned(),
    }
}

fn audit_pb(entry: &AuditEntry) -> pb::AbandonRecord {
    pb::AbandonRecord {
        position: entry.position,
        customer: customer_name(entry.customer_id),
        pool: pool_name(entry.pool_id),
        kind: entry.kind.as_str().to_owned(),
        from_user: user_name(entry.from_user),
        by_user: actor_user(entry.by),
        rule: entry
            .rule
            .map_or(pb::ReclaimRule::Unspecified, convert::rule_pb) as i32,
        reason: entry.reason.clone().unwrap_or_default(),
        time: Some(timestamp(entry.at)),
        to_pool: entry.to_pool.map(pool_name).unwrap_or_default(),
        threshold_days: entry.threshold_days.unwrap_or(0),
        due_time: optional_timestamp(entry.due_at),
        rules_version: entry.rules_version.unwrap_or(0),
        evidence_json: entry
            .evidence
            .as_ref()
            .and_then(|evidence| serde_json::to_string(evidence).ok())
            .unwrap_or_default(),
    }
}

fn pool_pb(pool: &PoolSummary) -> pb::Pool {
    pb::Pool {
        name: pool_name(pool.pool_id),
        display_name: pool.name.clone(),
        mode: convert::pool_mode_pb(pool.mode) as i32,
        default: pool.is_default,
        everyone: pool.everyone,
        admins: pool.admins.iter().map(|u| user_name(*u)).collect(),
        members: pool.members.iter().map(|u| user_name(*u)).collect(),
        rules: Some(convert::pool_rules_pb(&pool.rules)),
        rules_version: pool.rules_version,
        version: pool.version,
        create_time: Some(timestamp(pool.created_at)),
        update_time: Some(timestamp(pool.changed_at)),
    }
}

fn user_pb(user: &UserSummary) -> pb::User {
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

fn as_of(
    field: &str,
    instant: &Option<prost_types::Timestamp>,
    position: u64,
) -> Result<Option<AsOf>, Status> {
    match (convert::optional_instant(field, instant)?, position) {
        (Some(_), p) if p > 0 => Err(invalid(field, "give an instant or a position, not both")),
        (Some(at), _) => Ok(Some(AsOf::Instant(at))),
        (None, 0) => Ok(None),
        (None, p) => Ok(Some(AsOf::Position(p))),
    }
}

impl QueryApi {
    /// Reads `projections`, checking visibility on `writer`'s model; waits at most
    /// `max_wait` for `min_position`.
    pub fn new(
        projections: Projections,
        writer: CommandWriter,
        clock: ServiceClock,
        max_wait: Duration,
    ) -> Self {
        Self {
            projections,
            writer,
            clock,
            max_wait,
        }
    }

    fn viewer<T>(&self, request: &Request<T>) -> Result<Viewer, Status> {
        match auth::actor(request)? {
            Actor::User(user) => {
                let model = self.writer.model();
                match model.users.get(&user) {
                    Some(known) if known.active => Ok(Viewer::User(user)),
                    Some(_) => Err(permission_denied(
                        "inactive_actor",
                        format!("the acting user users/{user} is deactivated"),
                    )),
                    None => Err(not_found("user", user_name(user))),
                }
            }
            _ => Ok(Viewer::System),
        }
    }

    /// Waits until every projection applied `min_position` and the last committed event
    /// of `resource` (a customer, pool or user): a point read sees the caller's own writes
    /// to what it reads without asking.
    async fn ready_for<T>(
        &self,
        request: &Request<T>,
        min_position: u64,
        resource: StreamRef,
    ) -> Result<(), Status> {
        self.check_reachable(min_position)?;
        let own = self.writer.model().stream_position(resource);
        self.wait(request, min_position.max(own)).await
    }

    /// Refuses a `min_position` the log has not reached.
    fn check_reachable(&self, min_position: u64) -> Result<(), Status> {
        // Every position a caller was given is at or before the writer's last one. A
        // later one would keep the projections committing eagerly until the log reached
        // it (`Projections::wait_for`), so it is refused.
        let last = self.writer.last_position();
        if min_position > last {
            return Err(out_of_range(
                "min_position",
                format!("is beyond the log's last position {last}"),
            ));
        }
        Ok(())
    }

    /// Waits until the projections applied `position` (bounded by the call's deadline and
    /// the server's maximum wait); at once when they already have.
    async fn wait<T>(&self, request: &Request<T>, position: u64) -> Result<(), Status> {
        if position == 0 {
            return Ok(());
        }
        let wait = deadline(request).map_or(self.max_wait, |d| d.min(self.max_wait));
        self.projections.wait_for(position, wait).await.or_status()
    }

    /// Waits until every projection applied `min_position`.
    async fn ready<T>(&self, request: &Request<T>, min_position: u64) -> Result<(), Status> {
        self.check_reachable(min_position)?;
        self.wait(request, min_position).await
    }

    fn is_admin(&self, viewer: Viewer) -> bool {
        match viewer {
            Viewer::System => true,
            Viewer::User(user) => self.writer.model().is_admin(user),
        }
    }

    fn access(&self, viewer: Viewer, customer: CustomerId) -> Access {
        match viewer {
            Viewer::System => Access::Details,
            Viewer::User(user) => self.writer.model().access(user, customer),
        }
    }

    /// May `viewer` see `user`'s holdings: themselves, an admin, or a superior.
    fn may_see_user(&self, viewer: Viewer, user: UserId) -> bool {
        match viewer {
            Viewer::System => true,
            Viewer::User(me) => {
                let model = self.writer.model();
                me == user || model.is_admin(me) || model.is_superior_of(me, user)
            }
        }
    }

    fn is_pool_admin(&self, viewer: Viewer, pool: PoolId) -> bool {
        match viewer {
            Viewer::System => true,
            Viewer::User(user) => self.writer.model().is_pool_admin(user, pool),
        }
    }

    fn visible_customer(&self, viewer: Viewer, customer: CustomerId) -> Result<Access, Status> {
        match self.access(viewer, customer) {
            Access::None => Err(not_found("customer", customer_name(customer))),
            access => Ok(access),
        }
    }
}

#[tonic::async_trait]
impl QueryService for QueryApi {
    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let (meta, m) = split(request);
        let customer = convert::customer("name", &m.name)?;
        let viewer = self.viewer(&meta)?;
        self.ready_for(&meta, m.min_position, StreamRef::Customer(customer))
            .await?;
        let access = self.visible_customer(viewer, customer)?;
        let row = self
            .projections
            .pool_view()
            .get(customer)
            .await
            .or_status()?
            .ok_or_else(|| not_found("customer", customer_name(customer)))?;
        Ok(Response::new(customer_pb(
            &row,
            access == Access::Details,
            self.clock.now(),
        )))
    }

    async fn list_pool_customers(
        &self,
        request: Request<pb::ListPoolCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let (meta, m) = split(request);
        let pool = convert::pool("pool", &m.pool)?;
        let viewer = self.viewer(&meta)?;
        let now = self.clock.now();
        let filter = match pb::PoolView::try_from(m.view) {
            Ok(pb::PoolView::Unspecified) | Ok(pb::PoolView::Unclaimed) => PoolFilter::Unclaimed,
            Ok(pb::PoolView::Pending) => PoolFilter::Pending,
            Ok(pb::PoolView::Claimed) => PoolFilter::Claimed,
            Ok(pb::PoolView::Expired) => PoolFilter::Expired { now },
            Ok(pb::PoolView::Frozen) => PoolFilter::Frozen,
            Ok(pb::PoolView::RecycleBin) => PoolFilter::RecycleBin,
            Err(_) => return Err(invalid("view", "is not a known pool view")),
        };
        // Members see unclaimed and pending customers, and claimed ones unless the pool hides
        // them; everything else is for the pool's admins.
        let (admin, open_details, hide_claimed) = {
            let model = self.writer.model();
            let settings = model.pools.get(&pool).map(|p| {
                (
                    p.rules.visibility.members_can_open_details,
                    p.rules.visibility.hide_claimed_from_members,
                )
            });
            let Some((open_details, hide_claimed)) = settings else {
                return Err(not_found("pool", pool_name(pool)));
            };
            let admin = match viewer {
                Viewer::System => true,
                Viewer::User(user) => {
                    if !model.is_member(user, pool) {
                        return Err(permission_denied(
                            "not_pool_member",
                            format!("users/{user} is not a member of pools/{pool}"),
                        ));
                    }
                    model.is_pool_admin(user, pool)
                }
            };
            (admin, open_details, hide_claimed)
        };
        let allowed = admin
            || match filter {
                PoolFilter::Unclaimed | PoolFilter::Pending => true,
                PoolFilter::Claimed => !hide_claimed,
                _ => false,
            };
        if !allowed {
            return Err(permission_denied(
                "not_pool_admin",
                "this pool view is for the pool's admins",
            ));
        }
        self.ready(&meta, m.min_position).await?;
        let query = PoolQuery {
            pool_id: pool,
            filter,
            name_prefix: (!m.name_prefix.is_empty()).then_some(m.name_prefix),
            owner: convert::optional_user("owner", &m.owner)?,
            order: match m.order_by.trim() {
                "" | "update_time desc" => TimeOrder::NewestFirst,
                "update_time asc" | "update_time" => TimeOrder::OldestFirst,
                other => {
                    return Err(invalid(
                        "order_by",
                        format!(
                            "must be `update_time desc` or `update_time asc`, not {}",
                            quoted(other)
                        ),
                    ));
                }
            },
            limit: page_size(m.page_size)?,
            cursor: cursor(m.page_token),
        };
        let page = self.projections.pool_view().list(query).await.or_status()?;
        let customers = page
            .items
            .iter()
            .map(|row| {
                let details = admin
                    || (row.state == OwnershipState::InPool && open_details)
                    || self.access(viewer, row.customer_id) == Access::Details;
                customer_pb(row, details, now)
            })
            .collect();
        Ok(Response::new(pb::ListCustomersResponse {
            customers,
            next_page_token: page.next_cursor.unwrap_or_default(),
        }))
    }

    async fn list_owner_customers(
        &self,
        request: Request<pb::ListOwnerCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let (meta, m) = split(request);
        let viewer = self.viewer(&meta)?;
        let owner = match (convert::optional_user("owner", &m.owner)?, viewer) {
            (Some(owner), _) => owner,
            (None, Viewer::User(me)) => me,
            (None, Viewer::System) => {
                return Err(invalid("owner", "is required when acting as system"));
            }
        };
        if !self.may_see_user(viewer, owner) {
            return Err(permission_denied(
                "not_user_or_superior",
                "only the user, their superiors and admins see their customers",
            ));
        }
        let limit = page_size(m.page_size)?;
        let scope = pb::OwnerScope::try_from(m.scope)
            .map_err(|_| invalid("scope", "is not a known owner scope"))?;
        let department = self
            .writer
            .model()
            .users
            .get(&owner)
            .and_then(|u| u.department.clone());
        self.ready(&meta, m.min_position).await?;
        let reader = self.projections.owner_view();
        let (customers, next) = match scope {
            pb::OwnerScope::Related | pb::OwnerScope::SharedWithDepartment => {
                let page = if scope == pb::OwnerScope::Related {
                    reader.related(owner, limit, cursor(m.page_token)).await
                } else if let Some(department) = department {
                    reader
                        .shared_with(department, limit, cursor(m.page_token))
                        .await
                } else {
                    Ok(poolkeeper_projections::Page {
                        items: Vec::new(),
                        next_cursor: None,
                    })
                }
                .or_status()?;
                (
                    page.items.iter().map(|r| owned_pb(&r.customer)).collect(),
                    page.next_cursor,
                )
            }
            _ => {
                let scope = match scope {
                    pb::OwnerScope::OwnAndSubordinates => OwnerScope::OwnAndSubordinates,
                    pb::OwnerScope::Subordinates => OwnerScope::Subordinates,
                    _ => OwnerScope::Own,
                };
                let query = OwnerQuery {
                    user: owner,
                    scope,
                    order: TimeOrder::NewestFirst,
                    limit,
                    cursor: cursor(m.page_token),
                };
                let page = reader.customers(query).await.or_status()?;
                (page.items.iter().map(owned_pb).collect(), page.next_cursor)
            }
        };
        Ok(Response::new(pb::ListCustomersResponse {
            customers,
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn get_ownership_history(
        &self,
        request: Request<pb::GetOwnershipHistoryRequest>,
    ) -> Result<Response<pb::OwnershipHistory>, Status> {
        let (meta, m) = split(request);
        let customer = convert::customer("customer", &m.customer)?;
        let point = as_of("as_of", &m.as_of, m.as_of_position)?;
        let viewer = self.viewer(&meta)?;
        if self.visible_customer(viewer, customer)? != Access::Details {
            return Err(not_found("customer", customer_name(customer)));
        }
        self.ready_for(&meta, m.min_position, StreamRef::Customer(customer))
            .await?;
        let history = self.projections.history();
        let intervals = history.ownership(customer).await.or_status()?;
        let timeline = history.timeline(customer).await.or_status()?;
        let owner_as_of = match point {
            Some(point) => history.owner_at(customer, point).await.or_status()?,
            None => None,
        };
        Ok(Response::new(pb::OwnershipHistory {
            customer: customer_name(customer),
            intervals: intervals.iter().map(interval_pb).collect(),
            timeline: timeline.iter().map(period_pb).collect(),
            owner_as_of: owner_as_of.as_ref().map(interval_pb),
        }))
    }

    async fn list_holdings_as_of(
        &self,
        request: Request<pb::ListHoldingsAsOfRequest>,
    ) -> Result<Response<pb::ListHoldingsAsOfResponse>, Status> {
        let (meta, m) = split(request);
        let owner = convert::user("owner", &m.owner)?;
        let point = as_of("as_of", &m.as_of, m.as_of_position)?
            .ok_or_else(|| invalid("as_of", "give an instant or a position"))?;
        let viewer = self.viewer(&meta)?;
        if !self.may_see_user(viewer, owner) {
            return Err(permission_denied(
                "not_user_or_superior",
                "only the user, their superiors and admins see their holdings",
            ));
        }
        let limit = page_size(m.page_size)?;
        self.ready(&meta, m.min_position).await?;
        let page = self
            .projections
            .history()
            .holdings(owner, point, limit, cursor(m.page_token))
            .await
            .or_status()?;
        Ok(Response::new(pb::ListHoldingsAsOfResponse {
            intervals: page.items.iter().map(interval_pb).collect(),
            next_page_token: page.next_cursor.unwrap_or_default(),
        }))
    }

    async fn list_abandon_records(
        &self,
        request: Request<pb::ListAbandonRecordsRequest>,
    ) -> Result<Response<pb::ListAbandonRecordsResponse>, Status> {
        let (meta, m) = split(request);
        let pool = convert::optional_pool("pool", &m.pool)?;
        let user = convert::optional_user("user", &m.user)?;
        let rule = convert::rule("rule", m.rule)?;
        let (since, until) = period(&m.period)?;
        let viewer = self.viewer(&meta)?;
        let allowed = self.is_admin(viewer)
            || pool.is_some_and(|pool| self.is_pool_admin(viewer, pool))
            || user.is_some_and(|user| self.may_see_user(viewer, user));
        if !allowed {
            return Err(permission_denied(
                "not_pool_admin_or_superior",
                "name a pool you administer, or yourself or a subordinate as the user",
            ));
        }
        let query = AuditQuery {
            pool_id: pool,
            from_user: user,
            by_user: None,
            reason: (!m.reason.is_empty()).then_some(m.reason),
            rule,
            kind: None,
            since,
            until,
            order: TimeOrder::NewestFirst,
            limit: page_size(m.page_size)?,
            cursor: cursor(m.page_token),
        };
        self.ready(&meta, m.min_position).await?;
        let page = self.projections.audit().list(query).await.or_status()?;
        Ok(Response::new(pb::ListAbandonRecordsResponse {
            records: page.items.iter().map(audit_pb).collect(),
            next_page_token: page.next_cursor.unwrap_or_default(),
        }))
    }

    async fn get_abandon_statistics(
        &self,
        request: Request<pb::GetAbandonStatisticsRequest>,
    ) -> Result<Response<pb::AbandonStatistics>, Status> {
        let (meta, m) = split(request);
        let pool = convert::optional_pool("pool", &m.pool)?;
        let (since, until) = period(&m.period)?;
        let viewer = self.viewer(&meta)?;
        if !self.is_admin(viewer) && !pool.is_some_and(|pool| self.is_pool_admin(viewer, pool)) {
            return Err(permission_denied(
                "not_pool_admin",
                "name a pool you administer",
            ));
        }
        self.ready(&meta, m.min_position).await?;
        let audit = self.projections.audit();
        let period = AuditPeriod {
            since,
            until,
            pool_id: pool,
        };
        let by_reason = audit.counts_by_reason(period.clone()).await.or_status()?;
        let by_user = audit.counts_by_user(period).await.or_status()?;
        Ok(Response::new(pb::AbandonStatistics {
            by_reason: by_reason
                .into_iter()
                .map(|count| pb::abandon_statistics::ReasonCount {
                    kind: count.kind.as_str().to_owned(),
                    reason: count.reason.unwrap_or_default(),
                    rule: count
                        .rule
                        .map_or(pb::ReclaimRule::Unspecified, convert::rule_pb)
                        as i32,
                    count: count.count,
                })
                .collect(),
            by_user: by_user
                .into_iter()
                .map(|count| pb::abandon_statistics::UserCount {
                    user: user_name(count.user),
                    count: count.abandoned
                        + count.reclaimed
                        + count.deactivation
                        + count.auto_reclaimed,
                    abandoned: count.abandoned,
                    reclaimed: count.reclaimed + count.deactivation,
                    auto_reclaimed: count.auto_reclaimed,
                })
                .collect(),
        }))
    }

    async fn get_statistics(
        &self,
        request: Request<pb::GetStatisticsRequest>,
    ) -> Result<Response<pb::Statistics>, Status> {
        let (meta, m) = split(request);
        let viewer = self.viewer(&meta)?;
        let subject = m.subject.trim();
        let (pool, user) = if subject.starts_with("pools/") {
            (Some(convert::pool("subject", subject)?), None)
        } else if subject.starts_with("users/") {
            (None, Some(convert::user("subject", subject)?))
        } else {
            return Err(invalid(
                "subject",
                "must be `pools/{uuid}` or `users/{uuid}`",
            ));
        };
        let allowed = match (pool, user) {
            (Some(pool), _) => self.is_pool_admin(viewer, pool),
            (_, Some(user)) => self.may_see_user(viewer, user),
            _ => false,
        };
        if !allowed {
            return Err(permission_denied(
                "not_pool_admin_or_superior",
                "statistics are for pool admins, the user and their superiors",
            ));
        }
        self.ready(&meta, m.min_position).await?;
        let statistics = self.projections.statistics();
        let offset = statistics.day_offset_minutes().await.or_status()?;
        let today = (self.clock.now() + chrono::Duration::minutes(i64::from(offset))).date_naive();
        let (since, until) = period(&m.period)?;
        let day_of =
            |at: DateTime<Utc>| (at + chrono::Duration::minutes(i64::from(offset))).date_naive();
        let to = until.map_or(today, day_of);
        let from = since.map_or_else(
            || to.checked_sub_days(Days::new(29)).unwrap_or(NaiveDate::MIN),
            day_of,
        );
        let states = match (pool, user) {
            (Some(pool), _) => {
                let counts = statistics.pool_counts(pool).await.or_status()?;
                vec![
                    (pb::CustomerState::InPool, counts.in_pool),
                    (pb::CustomerState::Pending, counts.pending),
                    (pb::CustomerState::Owned, counts.owned),
                    (pb::CustomerState::Frozen, counts.frozen),
                    (pb::CustomerState::Deleted, counts.deleted),
                ]
            }
            (_, Some(user)) => {
                let counts = statistics.user_counts(user).await.or_status()?;
                vec![
                    (pb::CustomerState::Owned, counts.owned),
                    (pb::CustomerState::Pending, counts.pending),
                ]
            }
            _ => Vec::new(),
        };
        let days = statistics
            .daily(DailyQuery {
                pool_id: pool,
                user,
                from,
                to,
            })
            .await
            .or_status()?;
        Ok(Response::new(pb::Statistics {
            subject: subject.to_owned(),
            states: states
                .into_iter()
                .map(|(state, count)| pb::statistics::StateCount {
                    state: state as i32,
                    count,
                })
                .collect(),
            days: days
                .into_iter()
                .map(|day| pb::statistics::Day {
                    date: day.day.to_string(),
                    claims: day.claims,
                    abandons: day.abandons,
                    reclaims: day.reclaims,
                    auto_reclaims: day.auto_reclaims,
                    assignments: day.assignments,
                })
                .collect(),
        }))
    }

    async fn get_pool(
        &self,
        request: Request<pb::GetPoolRequest>,
    ) -> Result<Response<pb::Pool>, Status> {
        let (meta, m) = split(request);
        let pool = convert::pool("name", &m.name)?;
        self.viewer(&meta)?;
        self.ready_for(&meta, m.min_position, StreamRef::Pool(pool))
            .await?;
        let summary = self
            .projections
            .pool_view()
            .pool(pool)
            .await
            .or_status()?
            .ok_or_else(|| not_found("pool", pool_name(pool)))?;
        Ok(Response::new(pool_pb(&summary)))
    }

    async fn list_pools(
        &self,
        request: Request<pb::ListPoolsRequest>,
    ) -> Result<Response<pb::ListPoolsResponse>, Status> {
        let (meta, m) = split(request);
        let viewer = self.viewer(&meta)?;
        self.ready(&meta, m.min_position).await?;
        let pools = self.projections.pool_view().pools().await.or_status()?;
        let visible: Vec<pb::Pool> = {
            let model = self.writer.model();
            pools
                .iter()
                .filter(|pool| match viewer {
                    Viewer::System => true,
                    Viewer::User(user) => model.is_member(user, pool.pool_id),
                })
                .map(pool_pb)
                .collect()
        };
        Ok(Response::new(pb::ListPoolsResponse { pools: visible }))
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let (meta, m) = split(request);
        let user = convert::user("name", &m.name)?;
        self.viewer(&meta)?;
        self.ready_for(&meta, m.min_position, StreamRef::User(user))
            .await?;
        let summary = self
            .projections
            .owner_view()
            .user(user)
            .await
            .or_status()?
            .ok_or_else(|| not_found("user", user_name(user)))?;
        Ok(Response::new(user_pb(&summary)))
    }
}

/// The ends of a time range; either may be open.
type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A time range's ends.
fn period(range: &Option<pb::TimeRange>) -> Result<Bounds, Status> {
    let Some(range) = range else {
        return Ok((None, None));
    };
    let since = convert::optional_instant("period.start", &range.start)?;
    let until = convert::optional_instant("period.end", &range.end)?;
    if let (Some(since), Some(until)) = (since, until)
        && until < since
    {
        return Err(invalid("period.end", "must not be before period.start"));
    }
    Ok((since, until))
}
