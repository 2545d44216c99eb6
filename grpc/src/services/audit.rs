//! AuditService: the live event stream for other internal services, the hash-chain proof
//! and the JSON-lines export.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use poolkeeper_domain::EventBody;
use poolkeeper_eventlog::{BreakReason, EventStore, RecordedEvent, SqliteEventStore};
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::audit_service_server::AuditService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::convert::timestamp;
use crate::status::{IntoStatus, OrStatus, invalid, quoted};

/// Events per page read for an export.
const EXPORT_PAGE: usize = 5_000;

/// The AuditService implementation.
#[derive(Clone)]
pub struct AuditApi {
    store: Arc<SqliteEventStore>,
}

impl AuditApi {
    /// Audits `store`.
    pub fn new(store: Arc<SqliteEventStore>) -> Self {
        Self { store }
    }
}

/// A stored event as sent on the wire.
pub fn log_event(event: RecordedEvent) -> pb::LogEvent {
    pb::LogEvent {
        position: event.position,
        stream: event.stream_id.into_string(),
        stream_version: event.stream_version,
        event_id: event.event_id.to_string(),
        event_type: event.event_type,
        schema_version: event.schema_version,
        command_id: event.metadata.command_id.to_string(),
        correlation_id: event.metadata.correlation_id.to_string(),
        causation_id: event
            .metadata
            .causation_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        actor: event.metadata.actor,
        recorded_at: Some(timestamp(event.metadata.recorded_at)),
        payload_json: event.payload,
        hash: hex::encode(event.hash),
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
        let request = request.into_inner();
        let types = request.event_types;
        known_event_types(&types)?;
        let events = self
            .store
            .subscribe(request.from_position.max(1))
            .filter(move |event| {
                let keep = match event {
                    Ok(event) => types.is_empty() || types.contains(&event.event_type),
                    Err(_) => true,
                };
                std::future::ready(keep)
            })
            .map(|event| event.map(log_event).or_status());
        Ok(Response::new(Box::pin(events)))
    }

    async fn verify_log(
        &self,
        _request: Request<pb::VerifyLogRequest>,
    ) -> Result<Response<pb::VerifyLogResponse>, Status> {
        let report = self.store.verify().await.or_status()?;
        let (first_broken_position, reason) = match &report.first_break {
            None => (0, String::new()),
            Some(chain_break) => (
                chain_break.position,
                match &chain_break.reason {
                    BreakReason::HashMismatch => "hash mismatch".to_owned(),
                    BreakReason::Malformed(detail) => format!("malformed: {detail}"),
                    other => format!("{other:?}"),
                },
            ),
        };
        Ok(Response::new(pb::VerifyLogResponse {
            events_checked: report.events_checked,
            tail: report.tail,
            intact: report.first_break.is_none(),
            first_broken_position,
            reason,
        }))
    }

    async fn export_log(
        &self,
        request: Request<pb::ExportLogRequest>,
    ) -> Result<Response<ExportStream>, Status> {
        let mut from = request.into_inner().from_position.max(1);
        let store = Arc::clone(&self.store);
        let (sender, receiver) = mpsc::channel(4);
        tokio::spawn(async move {
            loop {
                let page = match store.read_all_stored(from, EXPORT_PAGE).await {
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
