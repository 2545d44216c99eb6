//! AuditService: the live event stream for other internal services, the hash-chain proof
//! and the JSON-lines export, each of the call's organization's own log. A stream holds
//! its organization open while it runs.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use poolkeeper_domain::EventBody;
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::audit_service_server::AuditService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::partitions::PartitionFinder;
use crate::convert::{log_event, verify_log_pb};
use crate::status::{IntoStatus, OrStatus, invalid, quoted};
use crate::telemetry::metrics;

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
        let request = request.into_inner();
        let types = request.event_types;
        known_event_types(&types)?;
        let subscribed = Subscribed::new();
        let events = partition
            .store()
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
        let mut from = request.into_inner().from_position.max(1);
        let (sender, receiver) = mpsc::channel(4);
        tokio::spawn(async move {
            loop {
                let page = match partition.store().read_all_stored(from, EXPORT_PAGE).await {
                    Ok(page) => page,
                    Err(error) => {
                        let _ = sender.send(Err(error.into_status())).await;
                        return;
                    }
                };
                let Some(last) = page.last().map(|e| e.position) else {
                    return;
                };
                let mut jsonl = Vec::with_capacity(page.len() * 512);
                for event in &page {
                    if let Err(error) =
                        poolkeeper_eventlog::export::write_export_line(&mut jsonl, event)
                    {
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
