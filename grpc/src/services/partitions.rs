//! How a call finds its organization's partition: the interceptor resolved the
//! organization the token may act for (`x-poolkeeper-organization`, `default` when
//! absent); this opens it if it is closed (NOT_FOUND when no such organization exists)
//! and, for a command, refuses a deactivated one (FAILED_PRECONDITION). The call holds
//! the partition until it replies, so an idle close never pulls it away mid-call.

use std::sync::Arc;

use tonic::{Request, Status};

use crate::auth;
use crate::organizations::{Organizations, Partition};
use crate::status::{IntoStatus, organization_deactivated, unavailable};

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

    /// The partition a command acts in; FAILED_PRECONDITION when it is deactivated. When
    /// another node writes it and that node is no longer the writer (its lease lapsed, or
    /// a third node took it), the partition is reopened: as the writer if this node wins
    /// the lease, else following the new holder, so a command is never forwarded to a
    /// node that stopped writing.
    pub async fn for_command<T>(&self, request: &Request<T>) -> Result<Arc<Partition>, Status> {
        let mut partition = self.for_read(request).await?;
        if !partition.is_active() {
            return Err(organization_deactivated(partition.id()));
        }
        if partition.writer().fenced() {
            // Another node took the lease over: step down, follow it.
            partition = self.reopen(partition).await?;
        }
        if let Some(holder) = partition.holder() {
            let logs = self.organizations.logs();
            let changed = logs.writer_changed(partition.id(), holder).await;
            if changed.map_err(IntoStatus::into_status)? {
                partition = self.reopen(partition).await?;
            }
        }
        Ok(partition)
    }

    /// Closes `partition` and opens it again (writer or follower, as the lease goes).
    async fn reopen(&self, partition: Arc<Partition>) -> Result<Arc<Partition>, Status> {
        let id = partition.id().clone();
        drop(partition);
        let reopened = self.organizations.reopen(&id).await;
        reopened.map_err(IntoStatus::into_status)
    }

    /// Where to forward a command of `partition`, whose log `holder` writes.
    pub async fn writer_address(&self, holder: &str) -> Result<String, Status> {
        let address = self.organizations.logs().node_address(holder).await;
        address.map_err(IntoStatus::into_status)?.ok_or_else(|| {
            unavailable(
                "writer_unreachable",
                format!("the node {holder} that writes this organization is not listed"),
            )
        })
    }
}
