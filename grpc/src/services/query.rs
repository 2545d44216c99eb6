//! QueryService: every read, served by a projection.
//!
//! Each handler reads the same way: parse the request (every malformed field is an
//! INVALID_ARGUMENT), authorize the [`Viewer`] with the domain's read rules
//! (`poolkeeper_domain::permissions`, on the write model), wait until the projections
//! applied `min_position` ([`Freshness::ready`]) or the last write to what a point read
//! reads ([`Freshness::ready_for`]), read the projection, and map its rows to messages
//! (`convert`). A customer the viewer may not see is NOT_FOUND.

use std::sync::Arc;
use std::time::Duration;

use poolkeeper_domain::permissions::{Access, StatisticsSubject, Viewer};
use poolkeeper_domain::{Clock, CustomerId, StreamRef, UserId};
use poolkeeper_projections::{
    AbandonPeriod, AbandonRecordQuery, DailyQuery, OwnerQuery, OwnershipState, Page, PoolQuery,
    Projections, TimeOrder,
};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::query_service_server::QueryService;
use tonic::{Request, Response, Status};

use super::freshness::Freshness;
use super::partitions::PartitionFinder;
use super::split;
use crate::auth;
use crate::clock::ServiceClock;
use crate::convert::{self, OwnerListing, customer_name, pool_name, user_name};
use crate::organizations::Partition;
use crate::status::{OrStatus, invalid, not_found, permission_denied};
use crate::writer::CommandWriter;

/// The QueryService implementation.
#[derive(Clone)]
pub struct QueryApi {
    partitions: PartitionFinder,
    clock: ServiceClock,
    max_wait: Duration,
}

impl QueryApi {
    /// Reads each call's organization; waits at most `max_wait` for `min_position`.
    pub fn new(partitions: PartitionFinder, clock: ServiceClock, max_wait: Duration) -> Self {
        Self {
            partitions,
            clock,
            max_wait,
        }
    }

    /// The reads of the call's organization, its write model at `min_position` at least
    /// (on a node following another's writes).
    pub(super) async fn reads<T>(
        &self,
        request: &Request<T>,
        min_position: u64,
    ) -> Result<Reads, Status> {
        let partition = self.partitions.for_read(request).await?;
        let mut freshness = Freshness::new(
            partition.projections().clone(),
            partition.writer().clone(),
            self.max_wait,
        );
        if partition.holder().is_some() {
            freshness = freshness.following(Arc::clone(partition.store()));
        }
        freshness.model_ready(request, min_position).await?;
        Ok(Reads {
            freshness,
            projections: partition.projections().clone(),
            writer: partition.writer().clone(),
            clock: self.clock.clone(),
            _partition: partition,
        })
    }
}

/// One organization's read side for one call: its projections, checking visibility on
/// its write model. Holding it keeps the organization open.
pub(super) struct Reads {
    projections: Projections,
    pub(super) writer: CommandWriter,
    pub(super) clock: ServiceClock,
    freshness: Freshness,
    _partition: Arc<Partition>,
}

impl Reads {
    /// Who reads: the request's acting user, who must exist and be active, or the system
    /// (an `audit`-scoped token naming no user).
    pub(super) fn viewer<T>(&self, request: &Request<T>) -> Result<Viewer, Status> {
        let actor = auth::reader(request)?;
        self.writer.model().viewer(actor).or_status()
    }

    /// How much of `customer` `viewer` sees, at least `least`; NOT_FOUND otherwise.
    fn access(
        &self,
        viewer: Viewer,
        customer: CustomerId,
        least: Access,
    ) -> Result<Access, Status> {
        let access = self.writer.model().viewer_access(viewer, customer);
        if access < least {
            return Err(not_found("customer", customer_name(customer)));
        }
        Ok(access)
    }

    /// One page of an owner's customers, as `listing` selects them; `department` is the
    /// owner's.
    async fn owner_customers(
        &self,
        owner: UserId,
        department: Option<String>,
        listing: OwnerListing,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<pb::ListCustomersResponse, Status> {
        let reader = self.projections.owner_view();
        let related = match (listing, department) {
            (OwnerListing::Related, _) => reader.related(owner, limit, cursor).await,
            (OwnerListing::SharedWithDepartment, Some(department)) => {
                reader.shared_with(department, limit, cursor).await
            }
            (OwnerListing::SharedWithDepartment, None) => Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            }),
            (OwnerListing::Owned(scope), _) => {
                let query = OwnerQuery {
                    user: owner,
                    scope,
                    order: TimeOrder::NewestFirst,
                    limit,
                    cursor,
                };
                let page = reader.customers(query).await.or_status()?;
                return Ok(convert::customer_list(page, convert::owned_pb));
            }
        };
        Ok(convert::customer_list(related.or_status()?, |r| {
            convert::owned_pb(&r.customer)
        }))
    }
}

/// PERMISSION_DENIED with `reason` unless `allowed`.
pub(super) fn allow(allowed: bool, reason: &str, message: &str) -> Result<(), Status> {
    if allowed {
        Ok(())
    } else {
        Err(permission_denied(reason, message))
    }
}

#[tonic::async_trait]
impl QueryService for QueryApi {
    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let (metadata, m) = split(request);
        let reads = self.reads(&metadata, m.min_position).await?;
        let customer = convert::customer("name", &m.name)?;
        let viewer = reads.viewer(&metadata)?;
        let access = reads.access(viewer, customer, Access::Listed)?;
        reads
            .freshness
            .ready_for(&metadata, m.min_position, StreamRef::Customer(customer))
            .await?;
        let row = reads
            .projections
            .pool_view()
            .get(customer)
            .await
            .or_status()?;
        let row = row.ok_or_else(|| not_found("customer", customer_name(customer)))?;
        let details = access == Access::Details;
        Ok(Response::new(convert::customer_pb(
            &row,
            details,
            reads.clock.now(),
        )))
    }

    async fn list_pool_customers(
        &self,
        request: Request<pb::ListPoolCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let (metadata, m) = split(request);
        let reads = self.reads(&metadata, m.min_position).await?;
        let pool = convert::pool("pool", &m.pool)?;
        let view = convert::pool_view(m.view)?;
        let owner = convert::optional_user("owner", &m.owner)?;
        let order = convert::time_order(&m.order_by)?;
        let limit = convert::page_size(m.page_size)?;
        let viewer = reads.viewer(&metadata)?;
        let listing = reads
            .writer
            .model()
            .pool_listing(viewer, pool, view)
            .or_status()?;
        let now = reads.clock.now();
        reads.freshness.ready(&metadata, m.min_position).await?;
        let query = PoolQuery {
            pool_id: pool,
            filter: convert::pool_filter(view, now),
            name_prefix: (!m.name_prefix.is_empty()).then_some(m.name_prefix),
            owner,
            order,
            limit,
            cursor: convert::cursor(m.page_token),
        };
        let page = reads
            .projections
            .pool_view()
            .list(query)
            .await
            .or_status()?;
        let model = reads.writer.model();
        Ok(Response::new(convert::customer_list(page, |row| {
            let unclaimed = row.state == OwnershipState::InPool;
            let details = listing.shows_details(&model, row.customer_id, unclaimed);
            convert::customer_pb(row, details, now)
        })))
    }

    async fn list_owner_customers(
        &self,
        request: Request<pb::ListOwnerCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let (metadata, m) = split(request);
        let reads = self.reads(&metadata, m.min_position).await?;
        let owner = convert::optional_user("owner", &m.owner)?;
        let listing = convert::owner_listing(m.scope)?;
        let limit = convert::page_size(m.page_size)?;
        let viewer = reads.viewer(&metadata)?;
        let owner = match (owner, viewer) {
            (Some(owner), _) => owner,
            (None, Viewer::User(me)) => me,
            (None, Viewer::System) => {
                return Err(invalid("owner", "is required when acting as system"));
            }
        };
        allow(
            reads.writer.model().may_see_user(viewer, owner),
            "not_user_or_superior",
            "only the user, their superiors and admins see their customers",
        )?;
        let department = reads
            .writer
            .model()
            .users
            .get(&owner)
            .and_then(|u| u.department.clone());
        reads.freshness.ready(&metadata, m.min_position).await?;
        let reply = reads
            .owner_customers(
                owner,
                department,
                listing,
                limit,
                convert::cursor(m.page_token),
            )
            .await?;
        Ok(Response::new(reply))
    }

    async fn get_ownership_history(
        &self,
        request: Request<pb::GetOwnershipHistoryRequest>,
    ) -> Result<Response<pb::OwnershipHistory>, Status> {
        let (metadata, m) = split(request);
        let reads = self.reads(&metadata, m.min_position).await?;
        let customer = convert::customer("customer", &m.customer)?;
        let point = convert::as_of("as_of", &m.as_of, m.as_of_position)?;
        let viewer = reads.viewer(&metadata)?;
        reads.access(viewer, customer, Access::Details)?;
        reads
            .freshness
            .ready_for(&metadata, m.min_position, StreamRef::Customer(customer))
            .await?;
        let history = reads.projections.history();
        let intervals = history.ownership(customer).await.or_status()?;
        let timeline = history.timeline(customer).await.or_status()?;
        let owner_as_of = match point {
            Some(point) => history.owner_at(customer, point).await.or_status()?,
            None => None,
        };
        Ok(Response::new(pb::OwnershipHistory {
            customer: customer_name(customer),
            intervals: intervals.iter().map(convert::interval_pb).collect(),
            timeline: timeline.iter().map(convert::state_period_pb).collect(),
            owner_as_of: owner_as_of.as_ref().map(convert::interval_pb),
        }))
    }

    async fn list_holdings_as_of(
        &self,
        request: Request<pb::ListHoldingsAsOfRequest>,
    ) -> Result<Response<pb::ListHoldingsAsOfResponse>, Status> {
        let (metadata, m) = split(request);
        let reads = self.reads(&metadata, m.min_position).await?;
        let owner = convert::user("owner", &m.owner)?;
        let point = convert::as_of("as_of", &m.as_of, m.as_of_position)?
            .ok_or_else(|| invalid("as_of", "give an instant or a position"))?;
        let limit = convert::page_size(m.page_size)?;
        let viewer = reads.viewer(&metadata)?;
        allow(
            reads.writer.model().may_see_user(viewer, owner),
            "not_user_or_superior",
            "only the user, their superiors and admins see their holdings",
        )?;
        reads.freshness.ready(&metadata, m.min_position).await?;
        let page = reads
            .projections
            .history()
            .holdings(owner, point, limit, convert::cursor(m.page_token))
            .await
            .or_status()?;
        Ok(Response::new(pb::ListHoldingsAsOfResponse {
            intervals: page.items.iter().map(convert::interval_pb).collect(),
            next_page_token: page.next_cursor.unwrap_or_default(),
        }))
    }

    async fn list_abandon_records(
        &self,
        request: Request<pb::ListAbandonRecordsRequest>,
    ) -> Result<Response<pb::ListAbandonRecordsResponse>, Status> {
        let (metadata, m) = split(request);
        let reads = self.reads(&metadata, m.min_position).await?;
        let pool = convert::optional_pool("pool", &m.pool)?;
        let user = convert::optional_user("user", &m.user)?;
        let rule = convert::rule("rule", m.rule)?;
        let (since, until) = convert::period(&m.period)?;
        let limit = convert::page_size(m.page_size)?;
        let viewer = reads.viewer(&metadata)?;
        allow(
            reads.writer.model().may_read_abandons(viewer, pool, user),
            "not_pool_admin_or_superior",
            "name a pool you administer, or yourself or a subordinate as the user",
        )?;
        reads.freshness.ready(&metadata, m.min_position).await?;
        let query = AbandonRecordQuery {
            pool_id: pool,
            from_user: user,
            by_user: None,
            reason: (!m.reason.is_empty()).then_some(m.reason),
            rule,
            kind: None,
            since,
            until,
            order: TimeOrder::NewestFirst,
            limit,
            cursor: convert::cursor(m.page_token),
        };
        let page = reads
            .projections
            .abandon_records()
            .list(query)
            .await
            .or_status()?;
        Ok(Response::new(pb::ListAbandonRecordsResponse {
            records: page.items.iter().map(convert::abandon_record_pb).collect(),
            next_page_token: page.next_cursor.unwrap_or_default(),
        }))
    }

    async fn get_abandon_statistics(
        &self,
        request: Request<pb::GetAbandonStatisticsRequest>,
    ) -> Result<Response<pb::AbandonStatistics>, Status> {
        let (metadata, m) = split(request);
        let reads = self.reads(&metadata, m.min_position).await?;
        let pool = convert::optional_pool("pool", &m.pool)?;
        let (since, until) = convert::period(&m.period)?;
        let viewer = reads.viewer(&metadata)?;
        allow(
            reads
                .writer
                .model()
                .may_read_abandon_statistics(viewer, pool),
            "not_pool_admin",
            "name a pool you administer",
        )?;
        reads.freshness.ready(&metadata, m.min_position).await?;
        let audit = reads.projections.abandon_records();
        let period = AbandonPeriod {
            since,
            until,
            pool_id: pool,
        };
        let by_reason = audit.counts_by_reason(period.clone()).await.or_status()?;
        let by_user = audit.counts_by_user(period).await.or_status()?;
        Ok(Response::new(convert::abandon_statistics_pb(
            by_reason, by_user,
        )))
    }

    async fn get_statistics(
        &self,
        request: Request<pb::GetStatisticsRequest>,
    ) -> Result<Response<pb::Statistics>, Status> {
        let (metadata, m) = split(request);
        let reads = self.reads(&metadata, m.min_position).await?;
        let subject = convert::statistics_subject(&m.subject)?;
        let (since, until) = convert::period(&m.period)?;
        let viewer = reads.viewer(&metadata)?;
        allow(
            reads.writer.model().may_read_statistics(viewer, subject),
            "not_pool_admin_or_superior",
            "statistics are for pool admins, the user and their superiors",
        )?;
        reads.freshness.ready(&metadata, m.min_position).await?;
        let statistics = reads.projections.statistics();
        let offset = statistics.day_offset_minutes().await.or_status()?;
        let (from, to) = convert::days(reads.clock.now(), offset, since, until);
        let (states, pool_id, user) = match subject {
            StatisticsSubject::Pool(pool) => {
                let counts = statistics.pool_counts(pool).await.or_status()?;
                (convert::pool_state_counts(&counts), Some(pool), None)
            }
            StatisticsSubject::User(user) => {
                let counts = statistics.user_counts(user).await.or_status()?;
                (convert::user_state_counts(&counts), None, Some(user))
            }
        };
        let query = DailyQuery {
            pool_id,
            user,
            from,
            to,
        };
        let days = statistics.daily(query).await.or_status()?;
        Ok(Response::new(convert::statistics_pb(
            m.subject.trim(),
            states,
            days,
        )))
    }

    async fn get_pool(
        &self,
        request: Request<pb::GetPoolRequest>,
    ) -> Result<Response<pb::Pool>, Status> {
        let (metadata, m) = split(request);
        let reads = self.reads(&metadata, m.min_position).await?;
        let pool = convert::pool("name", &m.name)?;
        reads.viewer(&metadata)?;
        reads
            .freshness
            .ready_for(&metadata, m.min_position, StreamRef::Pool(pool))
            .await?;
        let summary = reads.projections.pool_view().pool(pool).await.or_status()?;
        let summary = summary.ok_or_else(|| not_found("pool", pool_name(pool)))?;
        Ok(Response::new(convert::pool_pb(&summary)))
    }

    async fn list_pools(
        &self,
        request: Request<pb::ListPoolsRequest>,
    ) -> Result<Response<pb::ListPoolsResponse>, Status> {
        let (metadata, m) = split(request);
        let reads = self.reads(&metadata, m.min_position).await?;
        let viewer = reads.viewer(&metadata)?;
        reads.freshness.ready(&metadata, m.min_position).await?;
        let pools = reads.projections.pool_view().pools().await.or_status()?;
        let model = reads.writer.model();
        let pools = pools
            .iter()
            .filter(|pool| model.may_see_pool(viewer, pool.pool_id))
            .map(convert::pool_pb)
            .collect();
        Ok(Response::new(pb::ListPoolsResponse { pools }))
    }

    async fn simulate_pool_rules(
        &self,
        request: Request<pb::SimulatePoolRulesRequest>,
    ) -> Result<Response<pb::SimulatePoolRulesResponse>, Status> {
        super::what_if::simulate_pool_rules(self, request).await
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let (metadata, m) = split(request);
        let reads = self.reads(&metadata, m.min_position).await?;
        let user = convert::user("name", &m.name)?;
        reads.viewer(&metadata)?;
        reads
            .freshness
            .ready_for(&metadata, m.min_position, StreamRef::User(user))
            .await?;
        let summary = reads
            .projections
            .owner_view()
            .user(user)
            .await
            .or_status()?;
        let summary = summary.ok_or_else(|| not_found("user", user_name(user)))?;
        Ok(Response::new(convert::user_pb(&summary)))
    }
}
