//! What operators and other internal services read: log events, the log's verification,
//! projection status and rebuild progress, as messages.

use poolkeeper_eventlog::{BreakReason, RecordedEvent, VerifyReport};
use poolkeeper_projections::{ProjectionName, ProjectionStatus, RebuildPhase, RebuildProgress};
use poolkeeper_proto::v1 as pb;

use super::time::timestamp;

/// A stored event as sent on the wire.
pub fn log_event(event: RecordedEvent) -> pb::LogEvent {
    pb::LogEvent {
        personal_data_sealed: personal_data_sealed(&event),
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

/// Whether `event`'s payload holds sealed personal fields (as stored and hashed).
pub fn personal_data_sealed(event: &RecordedEvent) -> bool {
    poolkeeper_vault::holds_sealed_fields(&event.event_type, &event.payload)
}

/// The hash chain's verification as a message.
pub fn verify_log_pb(report: &VerifyReport) -> pb::VerifyLogResponse {
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
    pb::VerifyLogResponse {
        events_checked: report.events_checked,
        tail: report.tail,
        intact: report.first_break.is_none(),
        first_broken_position,
        reason,
    }
}

/// A projection's status as a message.
pub fn projection_status_pb(status: ProjectionStatus) -> pb::ProjectionStatus {
    pb::ProjectionStatus {
        projection: status.name.as_str().to_owned(),
        checkpoint: status.checkpoint,
        tail: status.tail,
        lag_positions: status.lag_positions,
        lag_seconds: status.lag_seconds,
        rebuilding: status.rebuilding.is_some(),
        error: status.error.unwrap_or_default(),
    }
}

/// A rebuild's progress as a message.
pub fn progress_pb(name: ProjectionName, progress: &RebuildProgress) -> pb::RebuildProgress {
    let (phase, error) = match &progress.phase {
        RebuildPhase::Loading => ("loading", String::new()),
        RebuildPhase::Indexing => ("indexing", String::new()),
        RebuildPhase::CatchingUp => ("catching_up", String::new()),
        RebuildPhase::Swapping => ("swapping", String::new()),
        RebuildPhase::Done => ("done", String::new()),
        RebuildPhase::Failed(reason) => ("failed", reason.clone()),
    };
    pb::RebuildProgress {
        projection: name.as_str().to_owned(),
        events_done: progress.events_done,
        events_total: progress.events_total,
        events_per_second: progress.events_per_second,
        eta_seconds: progress.eta.map_or(0.0, |eta| eta.as_secs_f64()),
        done: progress.phase == RebuildPhase::Done,
        phase: phase.to_owned(),
        error,
    }
}
