//! AdminService: projection status and rebuilds, and the manual clock.

use std::pin::Pin;

use chrono::Duration;
use futures::Stream;
use poolkeeper_domain::Clock;
use poolkeeper_proto::v1 as pb;
use poolkeeper_proto::v1::admin_service_server::AdminService;
use tonic::{Request, Response, Status};

use crate::clock::ServiceClock;
use crate::convert::{instant, timestamp};
use crate::scheduler::Scheduler;
use crate::status::invalid;

/// The AdminService implementation.
#[derive(Clone)]
pub struct AdminApi {
    clock: ServiceClock,
    scheduler: Scheduler,
}

impl AdminApi {
    /// Administers the service running on `clock`, whose due actions `scheduler` runs.
    pub fn new(clock: ServiceClock, scheduler: Scheduler) -> Self {
        Self { clock, scheduler }
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

type ProgressStream = Pin<Box<dyn Stream<Item = Result<pb::RebuildProgress, Status>> + Send>>;

#[tonic::async_trait]
impl AdminService for AdminApi {
    type RebuildProjectionStream = ProgressStream;

    async fn get_projection_status(
        &self,
        _request: Request<pb::GetProjectionStatusRequest>,
    ) -> Result<Response<pb::ProjectionStatusList>, Status> {
        Err(Status::unimplemented("projections are not wired in yet"))
    }

    async fn rebuild_projection(
        &self,
        _request: Request<pb::RebuildProjectionRequest>,
    ) -> Result<Response<ProgressStream>, Status> {
        Err(Status::unimplemented("projections are not wired in yet"))
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
        let Some(manual) = self.clock.manual() else {
            return Err(Status::failed_precondition(
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
            None => return Err(invalid("change", "give an instant or advance_seconds")),
        };
        if target < now {
            return Err(Status::failed_precondition(format!(
                "the clock never goes back: it shows {now}"
            )));
        }
        manual.set(target);
        let run = self.scheduler.run_due().await;
        self.scheduler.wake();
        Ok(Response::new(
            self.clock_state(run.position, run.actions_run),
        ))
    }
}
