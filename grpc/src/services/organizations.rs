//! OrganizationService: creating, reading, listing and deactivating organizations. Needs
//! the `platform` scope; a token sees only the organizations it may act for, and creates
//! or deactivates only with `*`.

use std::sync::Arc;

use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::organization_service_server::OrganizationService;
use tonic::{Request, Response, Status};

use crate::auth::Caller;
use crate::convert::{self, timestamp};
use crate::organizations::{OrganizationId, OrganizationRecord, Organizations};
use crate::status::{OrStatus, internal, invalid, not_found, permission_denied};

/// The OrganizationService implementation.
#[derive(Clone)]
pub struct OrganizationApi {
    organizations: Arc<Organizations>,
}

impl OrganizationApi {
    /// Manages `organizations`.
    pub fn new(organizations: Arc<Organizations>) -> Self {
        Self { organizations }
    }

    /// The record as a message, with the organization's log position when it is open.
    fn organization_pb(&self, record: &OrganizationRecord) -> pb::Organization {
        let position = self
            .organizations
            .open_partitions()
            .iter()
            .find(|p| p.id() == &record.id)
            .map_or(0, |p| p.writer().last_position());
        pb::Organization {
            name: record.id.name(),
            display_name: record.display_name.clone(),
            state: if record.is_active() {
                pb::OrganizationState::Active
            } else {
                pb::OrganizationState::Deactivated
            } as i32,
            admin_user: convert::user_name(record.admin_user),
            default_pool: convert::pool_name(record.default_pool),
            create_time: Some(timestamp(record.created_at)),
            deactivate_time: record.deactivated_at.map(timestamp),
            position,
        }
    }
}

fn caller<T>(request: &Request<T>) -> Result<Arc<Caller>, Status> {
    request
        .extensions()
        .get::<Arc<Caller>>()
        .cloned()
        .ok_or_else(|| internal("the request went through no authentication"))
}

/// Only a token acting for every organization creates or deactivates one.
fn require_all(caller: &Caller) -> Result<(), Status> {
    if caller.acts_for_all() {
        Ok(())
    } else {
        Err(permission_denied(
            "not_a_platform_token",
            "only a token acting for every organization (`*`) creates or deactivates organizations",
        ))
    }
}

/// The organization a request names, if the caller may see it (NOT_FOUND otherwise).
fn named(field: &str, name: &str, caller: &Caller) -> Result<OrganizationId, Status> {
    let id = OrganizationId::parse(name).map_err(|error| invalid(field, error.to_string()))?;
    if caller.may_act_for(&id) {
        Ok(id)
    } else {
        Err(not_found("organization", id.name()))
    }
}

#[tonic::async_trait]
impl OrganizationService for OrganizationApi {
    async fn create_organization(
        &self,
        request: Request<pb::CreateOrganizationRequest>,
    ) -> Result<Response<pb::Organization>, Status> {
        let caller = caller(&request)?;
        let m = request.into_inner();
        let command_id = convert::command_id(&m.command_id)?;
        let id = OrganizationId::parse(&m.organization_id)
            .map_err(|error| invalid("organization_id", error.to_string()))?;
        let display_name = m.display_name.trim().to_owned();
        if display_name.is_empty() || display_name.chars().count() > 200 {
            return Err(invalid("display_name", "must be 1 to 200 characters"));
        }
        require_all(&caller)?;
        let (record, _retried) = self
            .organizations
            .create(command_id.0, id, display_name)
            .await
            .or_status()?;
        Ok(Response::new(self.organization_pb(&record)))
    }

    async fn get_organization(
        &self,
        request: Request<pb::GetOrganizationRequest>,
    ) -> Result<Response<pb::Organization>, Status> {
        let caller = caller(&request)?;
        let id = named("name", &request.get_ref().name, &caller)?;
        let record = self
            .organizations
            .catalog()
            .get(&id)
            .ok_or_else(|| not_found("organization", id.name()))?;
        Ok(Response::new(self.organization_pb(&record)))
    }

    async fn list_organizations(
        &self,
        request: Request<pb::ListOrganizationsRequest>,
    ) -> Result<Response<pb::ListOrganizationsResponse>, Status> {
        let caller = caller(&request)?;
        let m = request.into_inner();
        let size = convert::page_size(m.page_size)? as usize;
        let after = match m.page_token.as_str() {
            "" => None,
            token => Some(named("page_token", token, &caller)?),
        };
        let visible: Vec<OrganizationRecord> = self
            .organizations
            .catalog()
            .list()
            .into_iter()
            .filter(|record| caller.may_act_for(&record.id))
            .filter(|record| after.as_ref().is_none_or(|after| &record.id > after))
            .take(size + 1)
            .collect();
        let next_page_token = if visible.len() > size {
            visible[size - 1].id.to_string()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListOrganizationsResponse {
            organizations: visible
                .iter()
                .take(size)
                .map(|record| self.organization_pb(record))
                .collect(),
            next_page_token,
        }))
    }

    async fn deactivate_organization(
        &self,
        request: Request<pb::DeactivateOrganizationRequest>,
    ) -> Result<Response<pb::Organization>, Status> {
        let caller = caller(&request)?;
        let m = request.into_inner();
        let command_id = convert::command_id(&m.command_id)?;
        let id = named("name", &m.name, &caller)?;
        require_all(&caller)?;
        let reason = (!m.reason.trim().is_empty()).then(|| m.reason.trim().to_owned());
        let record = self
            .organizations
            .deactivate(command_id.0, &id, reason)
            .await
            .or_status()?;
        Ok(Response::new(self.organization_pb(&record)))
    }
}
