//! How fresh a read is. Every query waits until the projections applied its
//! `min_position`, bounded by the call's deadline and the server's maximum wait; a point
//! read also waits for the last committed write to what it reads, so a caller reads its
//! own writes without asking. A position the log has not reached is OUT_OF_RANGE.

use std::time::Duration;

use std::sync::Arc;

use poolkeeper_domain::StreamRef;
use poolkeeper_eventlog::EventStore;
use poolkeeper_projections::Projections;
use tonic::{Code, Request, Status};
use tracing::Instrument;

use crate::status::{OrStatus, out_of_range, with_reason};
use crate::writer::CommandWriter;

/// Waits for the projections on behalf of reads.
#[derive(Clone)]
pub struct Freshness {
    projections: Projections,
    writer: CommandWriter,
    max_wait: Duration,
    /// The log, when another node writes it: positions are checked against its tail.
    followed: Option<Arc<dyn EventStore>>,
}

impl Freshness {
    /// Waits for `projections` at most `max_wait`, for positions `writer` reached.
    pub fn new(projections: Projections, writer: CommandWriter, max_wait: Duration) -> Self {
        Self {
            projections,
            writer,
            max_wait,
            followed: None,
        }
    }

    /// The same for a log another node writes: a position is reachable when the log
    /// has it, though this node may not have read it yet.
    pub fn following(self, log: Arc<dyn EventStore>) -> Self {
        Self {
            followed: Some(log),
            ..self
        }
    }

    /// Waits until every projection applied `min_position` and the last committed event
    /// of `resource` (a customer, pool or user): a point read sees the caller's own writes
    /// to what it reads without asking.
    pub async fn ready_for<T>(
        &self,
        request: &Request<T>,
        min_position: u64,
        resource: StreamRef,
    ) -> Result<(), Status> {
        self.check_reachable(min_position).await?;
        let own = self.writer.model().stream_position(resource);
        self.wait(request, min_position.max(own)).await
    }

    /// Waits until every projection applied `min_position`.
    pub async fn ready<T>(&self, request: &Request<T>, min_position: u64) -> Result<(), Status> {
        self.check_reachable(min_position).await?;
        self.wait(request, min_position).await
    }

    /// Refuses a `min_position` the log has not reached.
    async fn check_reachable(&self, min_position: u64) -> Result<(), Status> {
        // Every position a caller was given is at or before the writer's last one. A
        // later one would keep the projections committing eagerly until the log reached
        // it (`Projections::wait_for`), so it is refused.
        let mut last = self.writer.last_position();
        if min_position > last
            && let Some(log) = &self.followed
        {
            last = log.tail().await.or_status()?;
        }
        if min_position > last {
            return Err(out_of_range(
                "min_position",
                format!("is beyond the log's last position {last}"),
            ));
        }
        Ok(())
    }

    /// On a node following another's writes: waits until its write model, which decides
    /// who sees what, has read `min_position` (bounded like [`wait`](Self::wait)), so the
    /// visibility checks of a read at `min_position` see what another node wrote. A
    /// position the log has not reached is left for [`ready`](Self::ready) to refuse.
    pub async fn model_ready<T>(
        &self,
        request: &Request<T>,
        min_position: u64,
    ) -> Result<(), Status> {
        let Some(log) = &self.followed else {
            return Ok(());
        };
        if min_position <= self.writer.last_position()
            || min_position > log.tail().await.or_status()?
        {
            return Ok(());
        }
        let wait = deadline(request).map_or(self.max_wait, |d| d.min(self.max_wait));
        let started = std::time::Instant::now();
        while self.writer.last_position() < min_position {
            if started.elapsed() >= wait {
                return Err(with_reason(
                    Code::DeadlineExceeded,
                    "follower_lagging",
                    format!(
                        "this node has not yet read position {min_position} of the log; retry, \
                         or raise the deadline"
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }

    /// Waits until the projections applied `position` (bounded by the call's deadline and
    /// the server's maximum wait); at once when they already have.
    async fn wait<T>(&self, request: &Request<T>, position: u64) -> Result<(), Status> {
        if position == 0 {
            return Ok(());
        }
        let wait = deadline(request).map_or(self.max_wait, |d| d.min(self.max_wait));
        self.projections
            .wait_for(position, wait)
            .instrument(tracing::debug_span!("projection_wait", position))
            .await
            .or_status()
    }
}

/// The deadline the caller set (`grpc-timeout`), if any.
fn deadline<T>(request: &Request<T>) -> Option<Duration> {
    let value = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}
