//! The catalog of organizations: which exist, with their first admin and default pool,
//! and which are deactivated.
//!
//! It is event sourced like everything else: the platform log (a log of its own, beside
//! the organizations' logs, hash-chained and verifiable) holds `organization.created` and
//! `organization.deactivated`, one stream per organization, and the catalog is their fold,
//! kept in memory (a thousand organizations are a thousand events). Appends are
//! serialized by the catalog itself; each carries the caller's command id, so a retry
//! returns the first outcome.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use poolkeeper_domain::{PoolId, UserId};
use poolkeeper_eventlog::{
    AppendRequest, EventLogError, EventStore, ExpectedVersion, NewEvent, Position, StreamAppend,
    StreamId,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::id::OrganizationId;

/// An organization as the catalog knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationRecord {
    /// Its id.
    pub id: OrganizationId,
    /// Its display name.
    pub display_name: String,
    /// The first admin user, created with it.
    pub admin_user: UserId,
    /// Its default pool, created with it.
    pub default_pool: PoolId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The command that created it.
    pub created_by_command: Uuid,
    /// When it was deactivated, if it was.
    pub deactivated_at: Option<DateTime<Utc>>,
}

impl OrganizationRecord {
    /// Whether commands may change it.
    pub fn is_active(&self) -> bool {
        self.deactivated_at.is_none()
    }
}

/// `organization.created`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Created {
    organization_id: OrganizationId,
    display_name: String,
    admin_user: UserId,
    default_pool: PoolId,
}

/// `organization.deactivated`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Deactivated {
    organization_id: OrganizationId,
    reason: Option<String>,
}

const CREATED: &str = "organization.created";
const DEACTIVATED: &str = "organization.deactivated";

/// Why the catalog refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Another command created an organization with this id.
    #[error("organizations/{0} already exists")]
    AlreadyExists(OrganizationId),
    /// No organization has this id.
    #[error("organizations/{0} not found")]
    NotFound(OrganizationId),
    /// The platform log failed or holds something this build cannot read.
    #[error("the platform log: {0}")]
    Log(#[from] EventLogError),
    /// A stored catalog event does not parse.
    #[error("the platform log holds an unreadable event at {position}: {reason}")]
    Unreadable {
        /// Where.
        position: Position,
        /// Why.
        reason: String,
    },
}

/// The organizations, folded from the platform log.
pub struct Catalog {
    store: Arc<dyn EventStore>,
    organizations: RwLock<BTreeMap<OrganizationId, OrganizationRecord>>,
    /// The platform log's position the map reflects.
    folded: std::sync::atomic::AtomicU64,
    append: tokio::sync::Mutex<()>,
}

/// Folds the platform log from `from` into `organizations`; the last position read
/// (`from - 1` when there was nothing).
async fn fold(
    store: &dyn EventStore,
    from: Position,
    organizations: &mut BTreeMap<OrganizationId, OrganizationRecord>,
) -> Result<Position, CatalogError> {
    let mut last = from.saturating_sub(1);
    let mut events = store.read_all_stream(from);
    while let Some(recorded) = events.next().await {
        let recorded = recorded?;
        apply(organizations, &recorded)?;
        last = recorded.position;
    }
    Ok(last)
}

/// Folds one event of the platform log into `organizations`.
fn apply(
    organizations: &mut BTreeMap<OrganizationId, OrganizationRecord>,
    recorded: &poolkeeper_eventlog::RecordedEvent,
) -> Result<(), CatalogError> {
    let unreadable = |error: serde_json::Error| CatalogError::Unreadable {
        position: recorded.position,
        reason: error.to_string(),
    };
    match recorded.event_type.as_str() {
        CREATED => {
            let created: Created = serde_json::from_str(&recorded.payload).map_err(unreadable)?;
            organizations.insert(
                created.organization_id.clone(),
                OrganizationRecord {
                    id: created.organization_id,
                    display_name: created.display_name,
                    admin_user: created.admin_user,
                    default_pool: created.default_pool,
                    created_at: recorded.metadata.recorded_at,
                    created_by_command: recorded.metadata.command_id,
                    deactivated_at: None,
                },
            );
        }
        DEACTIVATED => {
            let deactivated: Deactivated =
                serde_json::from_str(&recorded.payload).map_err(unreadable)?;
            if let Some(record) = organizations.get_mut(&deactivated.organization_id) {
                record.deactivated_at = Some(recorded.metadata.recorded_at);
            }
        }
        other => {
            return Err(CatalogError::Unreadable {
                position: recorded.position,
                reason: format!("unknown event type {other:?}"),
            });
        }
    }
    Ok(())
}

fn stream(id: &OrganizationId) -> Result<StreamId, EventLogError> {
    StreamId::new(format!("organization-{id}"))
}

impl Catalog {
    /// Folds the platform log `store`.
    pub async fn open(store: Arc<dyn EventStore>) -> Result<Self, CatalogError> {
        let mut organizations = BTreeMap::new();
        let folded = fold(store.as_ref(), 1, &mut organizations).await?;
        Ok(Self {
            store,
            organizations: RwLock::new(organizations),
            folded: std::sync::atomic::AtomicU64::new(folded),
            append: tokio::sync::Mutex::new(()),
        })
    }

    /// Folds what other nodes appended to the platform log since this one last read it
    /// (an organization created elsewhere).
    pub async fn refresh(&self) -> Result<(), CatalogError> {
        let _serial = self.append.lock().await;
        let from = self.folded.load(std::sync::atomic::Ordering::Acquire) + 1;
        let mut fresh = self.read().clone();
        let folded = fold(self.store.as_ref(), from, &mut fresh).await?;
        *self
            .organizations
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        self.folded
            .fetch_max(folded, std::sync::atomic::Ordering::AcqRel);
        Ok(())
    }

    /// The platform log.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// One organization.
    pub fn get(&self, id: &OrganizationId) -> Option<OrganizationRecord> {
        self.read().get(id).cloned()
    }

    /// Every organization, by id.
    pub fn list(&self) -> Vec<OrganizationRecord> {
        self.read().values().cloned().collect()
    }

    /// How many organizations exist.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether none exists yet.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<OrganizationId, OrganizationRecord>> {
        self.organizations
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, BTreeMap<OrganizationId, OrganizationRecord>> {
        self.organizations
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `command_id` created `id` (a retry of that creation), or another command did.
    pub fn created_by(&self, id: &OrganizationId, command_id: Uuid) -> Option<bool> {
        self.get(id)
            .map(|record| record.created_by_command == command_id)
    }

    /// Records a created organization. A retry of the same command returns the first
    /// record; another organization with the same id is `AlreadyExists`.
    pub async fn record_created(
        &self,
        command_id: Uuid,
        record: OrganizationRecord,
    ) -> Result<OrganizationRecord, CatalogError> {
        let _serial = self.append.lock().await;
        if let Some(existing) = self.get(&record.id) {
            return if existing.created_by_command == command_id {
                Ok(existing)
            } else {
                Err(CatalogError::AlreadyExists(record.id))
            };
        }
        let payload = Created {
            organization_id: record.id.clone(),
            display_name: record.display_name.clone(),
            admin_user: record.admin_user,
            default_pool: record.default_pool,
        };
        let request = append(
            command_id,
            record.created_at,
            stream(&record.id)?,
            ExpectedVersion::NoStream,
            CREATED,
            serde_json::to_string(&payload).unwrap_or_default(),
        );
        self.store.append(request).await?;
        let record = OrganizationRecord {
            created_by_command: command_id,
            ..record
        };
        self.write().insert(record.id.clone(), record.clone());
        Ok(record)
    }

    /// Deactivates `id` (again: a no-op returning the record).
    pub async fn deactivate(
        &self,
        command_id: Uuid,
        id: &OrganizationId,
        reason: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<OrganizationRecord, CatalogError> {
        let _serial = self.append.lock().await;
        let record = self
            .get(id)
            .ok_or_else(|| CatalogError::NotFound(id.clone()))?;
        if !record.is_active() {
            return Ok(record);
        }
        let payload = Deactivated {
            organization_id: id.clone(),
            reason,
        };
        let request = append(
            command_id,
            at,
            stream(id)?,
            ExpectedVersion::Exact(1),
            DEACTIVATED,
            serde_json::to_string(&payload).unwrap_or_default(),
        );
        let outcome = self.store.append(request).await?;
        let mut organizations = self.write();
        let stored = organizations
            .get_mut(id)
            .ok_or_else(|| CatalogError::NotFound(id.clone()))?;
        if !outcome.duplicate {
            stored.deactivated_at = Some(at);
        }
        Ok(stored.clone())
    }
}

/// One platform event as an append.
fn append(
    command_id: Uuid,
    at: DateTime<Utc>,
    stream_id: StreamId,
    expected: ExpectedVersion,
    event_type: &str,
    payload: String,
) -> AppendRequest {
    AppendRequest {
        command_id,
        correlation_id: command_id,
        causation_id: None,
        actor: "system".to_owned(),
        recorded_at: at,
        streams: vec![StreamAppend {
            stream_id,
            expected,
            events: vec![NewEvent {
                event_id: Uuid::new_v5(&command_id, event_type.as_bytes()),
                event_type: event_type.to_owned(),
                schema_version: 1,
                payload,
            }],
        }],
    }
}
