//! Read-your-writes: waiting until the projections applied a position. A waiter raises
//! the runner's wanted position, so the runner commits what it gathered at once.

use std::time::Duration;

use poolkeeper_eventlog::Position;

use crate::error::ProjectionError;
use crate::handle::Projections;
use crate::name::ProjectionName;

impl Projections {
    /// Waits until every projection has applied `position` (read-your-writes).
    pub async fn wait_for(
        &self,
        position: Position,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        self.wait_for_each(&ProjectionName::ALL, position, timeout)
            .await
    }

    /// Waits until `name` has applied `position`.
    pub async fn wait_for_projection(
        &self,
        name: ProjectionName,
        position: Position,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        self.wait_for_each(&[name], position, timeout).await
    }

    async fn wait_for_each(
        &self,
        names: &[ProjectionName],
        position: Position,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        let deadline = tokio::time::Instant::now() + timeout;
        for &name in names {
            let slot = self.shared.live(name);
            let mut receiver = slot.checkpoint.subscribe();
            if receiver.borrow().position < position {
                self.shared.want(position);
            }
            let waited = tokio::time::timeout_at(
                deadline,
                receiver.wait_for(|c| c.position >= position || c.halted),
            )
            .await;
            let reached = match waited {
                Ok(Ok(checkpoint)) => *checkpoint,
                Ok(Err(_)) => return Err(ProjectionError::Closed),
                Err(_) => {
                    let (projection, at) = names
                        .iter()
                        .map(|n| (*n, self.shared.live(*n).checkpoint.borrow().position))
                        .min_by_key(|(_, at)| *at)
                        .unwrap_or((name, 0));
                    return Err(ProjectionError::Lagging {
                        projection,
                        at,
                        wanted: position,
                    });
                }
            };
            if reached.position < position {
                let failure = slot.failure();
                return Err(ProjectionError::Halted {
                    projection: name,
                    position: failure
                        .as_ref()
                        .and_then(|f| f.halted_at)
                        .unwrap_or(reached.position + 1),
                    reason: failure.map(|f| f.message).unwrap_or_default(),
                });
            }
        }
        Ok(())
    }
}
