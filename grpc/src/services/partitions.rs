//! How a call finds its organization's partition: the interceptor resolved the
//! organization the token may act for (`x-poolkeeper-organization`, `default` when
//! absent); this opens it if it is closed (NOT_FOUND when no such organization exists)
//! and, for a command, refuses a deactivated one (FAILED_PRECONDITION). The call holds
//! the partition until it replies, so an idle close never pulls it away mid-call.

use std::sync::Arc;

use tonic::{Request, Status};

use crate::auth;
use crate::organizations::{Organizations, Partition};
use crate::status::{IntoStatus, organization_deactivated};

/// Finds each call's partition.
#[derive(Clone)]
pub struct PartitionFinder {
    organizations: Arc<Organizations>,
}

impl PartitionFinder {
    /// Finds partitions among `organizations`.
    pub fn new(organizations: Arc<Organizations>) -> Self {
        Self { organizations }
    }

    /// Every organization of this node.
    pub fn organizations(&self) -> &Arc<Organizations> {
        &self.organizations
    }

    /// The partition a read acts in (deactivated ones included: they stay readable).
    pub async fn for_read<T>(&self, request: &Request<T>) -> Result<Arc<Partition>, Status> {
        let id = auth::organization(request)?;
        self.organizations
            .partition(&id)
            .await
            .map_err(IntoStatus::into_status)
    }

    /// The partition a command acts in; FAILED_PRECONDITION when it is deactivated.
    pub async fn for_command<T>(&self, request: &Request<T>) -> Result<Arc<Partition>, Status> {
        let partition = self.for_read(request).await?;
        if !partition.is_active() {
            return Err(organization_deactivated(partition.id()));
        }
        Ok(partition)
    }
}
