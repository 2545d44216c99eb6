//! AdminService: the call's organization's projection status and rebuilds, and the
//! manual clock (one for the node: moving it needs a token for every organization, and
//! runs what came due in each).

use std::pin::Pin;

use std::sync::Arc;

use chrono::Duration;
use futures::Stream;
use poolkeeper_domain::Clock;
use poolkeeper_projections::ProjectionName;
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::admin_service_server::AdminService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::partitions::PartitionFinder;
use crate::auth::Caller;
use crate::clock::ServiceClock;
use crate::convert::{instant, progress_pb, projection_status_pb, timestamp};
use crate::status::{IntoStatus, failed_precondition, internal, invalid, permission_denied};

/// The AdminService implementation.
#[derive(Clone)]
pub struct AdminApi {
    clock: ServiceClock,
    partitions: PartitionFinder,
}

impl AdminApi {
    /// Administers the service running on `clock` and the organizations `partitions`
    /// finds.
    pub fn new(clock: ServiceClock, partitions: PartitionFinder) -> Self {
        Self { clock, partitions }
    }

    fn clock_state(&self, position: u64, actions_run: u32) -> pb::ClockState {
        pb::ClockState {
            now: Some(timestamp(self.clock.now())),
            manual: self.clock.manual().is_some(),
            position,
            actions_run,
        }
    }
}

/// The clock is the node's, shared by every organization: only a token that acts for
/// all of them moves it.
fn may_move_the_clock<T>(request: &Request<T>) -> Result<(), Status> {
    let caller = request
        .extensions()
        .get::<Arc<Caller>>()
        .ok_or_else(|| internal("the request went through no authentication"))?;
    if caller.acts_for_all() {
        return Ok(());
    }
    Err(permission_denied(
        "platform_token_required",
        "the manual clock is shared by every organization: move it with a token for all (`*`)",
    ))
}

type ProgressStream = Pin<Box<dyn Stream<Item = Result<pb::RebuildProgress, Status>> + Send>>;

#[tonic::async_trait]
impl AdminService for AdminApi {
    type RebuildProjectionStream = ProgressStream;

    async fn get_projection_status(
        &self,
        request: Request<pb::GetProjectionStatusRequest>,
    ) -> Result<Response<pb::ProjectionStatusList>, Status> {
        let partition = self.partitions.for_read(&request).await?;
        let projections = partition
            .projections()
            .status()
            .into_iter()
            .map(projection_status_pb)
            .collect();
        Ok(Response::new(pb::ProjectionStatusList { projections }))
    }

    async fn rebuild_projection(
        &self,
        request: Request<pb::RebuildProjectionRequest>,
    ) -> Result<Response<ProgressStream>, Status> {
        let partition = self.partitions.for_read(&request).await?;
        let name = request.into_inner().projection;
        let names: Vec<ProjectionName> = if name.trim().is_empty() {
            ProjectionName::ALL.to_vec()
        } else {
            vec![ProjectionName::parse(name.trim()).ok_or_else(|| {
                invalid(
                    "projection",
                    "must be pool_view, owner_view, abandon_audit, ownership_history or statistics",
                )
            })?]
        };
        let (sender, receiver) = mpsc::channel(16);
        tokio::spawn(async move {
            let projections = partition.projections();
            let store = partition.store();
            for name in names {
                let mut progress = match projections.rebuild_online(name, Arc::clone(store)).await {
                    Ok(progress) => progress,
                    Err(error) => {
                        let _ = sender.send(Err(error.into_status())).await;
                        return;
                    }
                };
                loop {
                    let report = {
                        let current = progress.borrow_and_update();
                        progress_pb(name, &current)
                    };
                    let finished = report.done || !report.error.is_empty();
                    if sender.send(Ok(report)).await.is_err() || finished {
                        break;
                    }
                    if progress.changed().await.is_err() {
                        let last = {
                            let current = progress.borrow();
                            progress_pb(name, &current)
                        };
                        let _ = sender.send(Ok(last)).await;
                        break;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn get_clock(
        &self,
        _request: Request<pb::GetClockRequest>,
    ) -> Result<Response<pb::ClockState>, Status> {
        Ok(Response::new(self.clock_state(0, 0)))
    }

    async fn set_clock(
        &self,
        request: Request<pb::SetClockRequest>,
    ) -> Result<Response<pb::ClockState>, Status> {
        may_move_the_clock(&request)?;
        let Some(manual) = self.clock.manual() else {
            return Err(failed_precondition(
                "system_clock",
                "",
                "the clock is the system clock; start the server with --manual-clock to move it",
            ));
        };
        let now = manual.now();
        let target = match request.into_inner().change {
            Some(pb::set_clock_request::Change::Instant(at)) => instant("instant", &at)?,
            Some(pb::set_clock_request::Change::AdvanceSeconds(seconds)) if seconds >= 0 => {
                now + Duration::seconds(seconds)
            }
            Some(pb::set_clock_request::Change::AdvanceSeconds(_)) => {
                return Err(invalid("advance_seconds", "must not be negative"));
            }
            None => return Err(invalid("instant", "give an instant or advance_seconds")),
        };
        if target < now {
            return Err(failed_precondition(
                "clock_goes_back",
                "",
                format!("the clock never goes back: it shows {now}"),
            ));
        }
        manual.set(target);
        let run = self.partitions.organizations().run_due().await;
        Ok(Response::new(
            self.clock_state(run.position, run.actions_run),
        ))
    }
}
