//! AuditService: the live event stream for other internal services, the hash-chain proof
//! and the JSON-lines export, each of the call's organization's own log. A stream holds
//! its organization open while it runs.
//!
//! Customers' personal fields go out sealed, exactly as stored and hashed, and each
//! event says so (`personal_data_sealed`, an export line's `personal_data`); a caller
//! whose token also holds `personal_data` may ask for them opened.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use poolkeeper_domain::EventBody;
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::audit_service_server::AuditService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::partitions::PartitionFinder;
use crate::auth::{self, Scope};
use crate::convert::personal_data_sealed;
use crate::convert::{log_event, verify_log_pb};
use crate::organizations::Partition;
use crate::status::{IntoStatus, OrStatus, invalid, quoted};
use crate::telemetry::metrics;
use poolkeeper_eventlog::{EventLogError, RecordedEvent};

/// Events per page read for an export.
const EXPORT_PAGE: usize = 5_000;

/// The AuditService implementation.
#[derive(Clone)]
pub struct AuditApi {
    partitions: PartitionFinder,
}

impl AuditApi {
    /// Audits the log of each call's organization.
    pub fn new(partitions: PartitionFinder) -> Self {
        Self { partitions }
    }
}

/// Refuses a filter naming an event type that does not exist: such a stream would wait
/// forever for nothing.
fn known_event_types(types: &[String]) -> Result<(), Status> {
    for (index, name) in types.iter().enumerate() {
        if EventBody::schema_version_of(name).is_none() {
            return Err(invalid(
                format!("event_types[{index}]"),
                format!(
                    "{} is not an event type; the types are {}",
                    quoted(name),
                    EventBody::TYPES.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// A live subscription, counted in `poolkeeper_subscriptions` while it lasts.
struct Subscribed;

impl Subscribed {
    fn new() -> Self {
        metrics().subscriptions.inc();
        Self
    }
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        metrics().subscriptions.dec();
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::LogEvent, Status>> + Send>>;
type ExportStream = Pin<Box<dyn Stream<Item = Result<pb::ExportChunk, Status>> + Send>>;

#[tonic::async_trait]
impl AuditService for AuditApi {
    type StreamEventsStream = EventStream;
    type ExportLogStream = ExportStream;

    async fn stream_events(
        &self,
        request: Request<pb::StreamEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let partition = self.partitions.for_read(&request).await?;
        let open = request.get_ref().open_personal_data;
        if open {
            auth::require_scope(&request, Scope::PersonalData, "open_personal_data")?;
        }
        let request = request.into_inner();
        let types = request.event_types;
        known_event_types(&types)?;
        let subscribed = Subscribed::new();
        let log = if open {
            partition.store()
        } else {
            partition.sealed_store()
        };
        let events = log
            .subscribe(request.from_position.max(1))
            .filter(move |event| {
                let keep = match event {
                    Ok(event) => types.is_empty() || types.contains(&event.event_type),
                    Err(_) => true,
                };
                std::future::ready(keep)
            })
            .map(move |event| {
                let _open = (&partition, &subscribed);
                event.map(log_event).or_status()
            });
        Ok(Response::new(Box::pin(events)))
    }

    async fn verify_log(
        &self,
        request: Request<pb::VerifyLogRequest>,
    ) -> Result<Response<pb::VerifyLogResponse>, Status> {
        let partition = self.partitions.for_read(&request).await?;
        let report = partition.store().verify().await.or_status()?;
        Ok(Response::new(verify_log_pb(&report)))
    }

    async fn export_log(
        &self,
        request: Request<pb::ExportLogRequest>,
    ) -> Result<Response<ExportStream>, Status> {
        let partition = self.partitions.for_read(&request).await?;
        let open = request.get_ref().open_personal_data;
        if open {
            auth::require_scope(&request, Scope::PersonalData, "open_personal_data")?;
        }
        let mut from = request.into_inner().from_position.max(1);
        let (sender, receiver) = mpsc::channel(4);
        tokio::spawn(async move {
            loop {
                let page = match export_page(&partition, from, open).await {
                    Ok(page) => page,
                    Err(error) => {
                        let _ = sender.send(Err(error.into_status())).await;
                        return;
                    }
                };
                let Some(last) = page.last().map(|(e, _)| e.position) else {
                    return;
                };
                let mut jsonl = Vec::with_capacity(page.len() * 512);
                for (event, personal_data) in &page {
                    if let Err(error) = poolkeeper_eventlog::export::write_export_line_marked(
                        &mut jsonl,
                        event,
                        *personal_data,
                    ) {
                        let _ = sender.send(Err(error.into_status())).await;
                        return;
                    }
                }
                if sender.send(Ok(pb::ExportChunk { jsonl })).await.is_err() {
                    return;
                }
                from = last + 1;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }
}

/// A page of the export from `from`: each event as stored, or with its personal fields
/// opened when `open`, and what its line says of them.
async fn export_page(
    partition: &Partition,
    from: u64,
    open: bool,
) -> Result<Vec<(RecordedEvent, Option<&'static str>)>, EventLogError> {
    let page = partition
        .sealed_store()
        .read_all_stored(from, EXPORT_PAGE)
        .await?;
    let mut marked = Vec::with_capacity(page.len());
    for mut event in page {
        let sealed = personal_data_sealed(&event);
        let mark = match (sealed, open) {
            (false, _) => None,
            (true, false) => Some("sealed"),
            (true, true) => {
                partition.personal().open(&mut event).await?;
                Some("opened")
            }
        };
        marked.push((event, mark));
    }
    Ok(marked)
}
