//! The online rebuild of one projection: a shadow copy is bulk-loaded and indexed while
//! the live file keeps serving, follows the tail until it is within `swap_within` events,
//! then the live projection is paused (its writer lock), the shadow applies the last
//! events, and the files are swapped under the read pool's exclusive lock.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use poolkeeper_eventlog::EventStore;
use tokio::sync::watch;

use super::pipeline::bulk_apply;
use super::{Bound, RebuildPhase, RebuildProgress};
use crate::db;
use crate::directory::shadow_path;
use crate::error::ProjectionError;
use crate::handle::Projections;
use crate::live::OpenProjections;
use crate::name::ProjectionName;
use crate::projector::WriteSide;

impl Projections {
    /// Rebuilds `name` while the live one keeps serving: builds a shadow copy from the
    /// log, indexes it, follows the tail, then pauses the live projection for the last few
    /// events and swaps the files atomically. Returns at once; the receiver reports
    /// progress until [`RebuildPhase::Done`] or [`RebuildPhase::Failed`].
    pub async fn rebuild_online(
        &self,
        name: ProjectionName,
        store: Arc<dyn EventStore>,
    ) -> Result<watch::Receiver<RebuildProgress>, ProjectionError> {
        let slot = self.shared.live(name);
        if slot.rebuild_running.swap(true, Ordering::AcqRel) {
            return Err(ProjectionError::RebuildRunning(name));
        }
        let (sender, receiver) = watch::channel(RebuildProgress::new(vec![name]));
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            let result = online(&shared, name, &store, &sender).await;
            let slot = shared.live(name);
            slot.rebuild_running.store(false, Ordering::Release);
            if let Err(error) = result {
                tracing::error!(projection = %name, %error, "online rebuild failed");
                let _ = db::remove_database(&shadow_path(&shared.dir, name));
                let mut progress = sender.borrow().clone();
                progress.phase = RebuildPhase::Failed(error.to_string());
                slot.set_progress(Some(progress.clone()));
                sender.send_replace(progress);
            }
        });
        Ok(receiver)
    }
}

/// The online rebuild of one projection.
async fn online(
    shared: &Arc<OpenProjections>,
    name: ProjectionName,
    store: &Arc<dyn EventStore>,
    sender: &watch::Sender<RebuildProgress>,
) -> Result<(), ProjectionError> {
    let slot = shared.live(name);
    let shadow = shadow_path(&shared.dir, name);
    let config = shared.config.build();
    let started = Instant::now();
    let report = |phase: Option<RebuildPhase>, done: Option<(u64, u64)>| {
        let mut progress = sender.borrow().clone();
        if let Some(phase) = phase {
            progress.phase = phase;
        }
        if let Some((done, total)) = done {
            progress.update(started, done, total);
        } else {
            progress.elapsed = started.elapsed();
        }
        // The status shows a phase no later than the receiver sees it.
        slot.set_progress(Some(progress.clone()));
        sender.send_replace(progress);
    };
    report(Some(RebuildPhase::Loading), None);
    let path = shadow.clone();
    let side = tokio::task::spawn_blocking(move || WriteSide::create_bulk(name, &path))
        .await
        .map_err(|_| ProjectionError::Closed)??;
    let mut done = 0u64;
    let mut on_page = |d: u64, total: u64| report(None, Some((d, total)));
    let mut sides = bulk_apply(store, vec![side], Bound::Tail, config, true, &mut on_page).await?;
    done += sides.first().map_or(0, |s| s.checkpoint);

    report(Some(RebuildPhase::CatchingUp), None);
    for _ in 0..20 {
        let live = slot.checkpoint.borrow().position;
        let ours = sides.first().map_or(0, |s| s.checkpoint);
        if ours + shared.config.swap_within >= live {
            break;
        }
        let base = done;
        let mut on_page = |d: u64, total: u64| report(None, Some((base + d, base + total)));
        sides = bulk_apply(store, sides, Bound::Tail, config, false, &mut on_page).await?;
        done = sides.first().map_or(0, |s| s.checkpoint);
    }

    report(Some(RebuildPhase::Swapping), None);
    let mut live = Arc::clone(&slot.write).lock_owned().await;
    let live_checkpoint = live.as_ref().map_or(0, |s| s.checkpoint);
    let ours = sides.first().map_or(0, |s| s.checkpoint);
    if ours < live_checkpoint {
        let mut quiet = |_: u64, _: u64| {};
        sides = bulk_apply(
            store,
            sides,
            Bound::Position(live_checkpoint),
            config,
            false,
            &mut quiet,
        )
        .await?;
    }
    let side = sides.pop().ok_or(ProjectionError::Closed)?;
    if side.checkpoint < live_checkpoint {
        return Err(ProjectionError::Halted {
            projection: name,
            position: side.checkpoint + 1,
            reason: "the log ended before the live checkpoint".into(),
        });
    }
    let shared_for_swap = Arc::clone(shared);
    let swapped =
        tokio::task::spawn_blocking(move || swap(&shared_for_swap, name, side, &mut live, &shadow))
            .await
            .map_err(|_| ProjectionError::Closed)?;
    if let Err(error) = swapped {
        // The live file may be closed: reopen whatever is in place.
        let mut live = slot.write.lock().await;
        if live.is_none() {
            *live = Some(WriteSide::open_live(
                name,
                &slot.path,
                shared.config.cache_rows,
                shared.config.snapshot_every,
            )?);
        }
        return Err(error);
    }
    slot.rebuild_running.store(false, Ordering::Release);
    report(Some(RebuildPhase::Done), None);
    Ok(())
}

/// Finishes the rebuilt `side` and puts its file in place of the live one, under the read
/// pool's exclusive lock (running reads finish on the old file, later ones open the new
/// one), then reopens it as the live writer. `live` is the paused live writer.
fn swap(
    shared: &OpenProjections,
    name: ProjectionName,
    side: WriteSide,
    live: &mut Option<WriteSide>,
    shadow: &Path,
) -> Result<(), ProjectionError> {
    let slot = shared.live(name);
    side.finish_bulk()?;
    slot.read.exclusive(|| -> Result<(), ProjectionError> {
        if let Some(old) = live.take() {
            old.close()?;
        }
        db::remove_companions(&slot.path)?;
        std::fs::rename(shadow, &slot.path)?;
        File::open(&shared.dir)?.sync_all()?;
        let side = WriteSide::open_live(
            name,
            &slot.path,
            shared.config.cache_rows,
            shared.config.snapshot_every,
        )?;
        slot.set_failure(None);
        slot.publish(&side);
        *live = Some(side);
        Ok(())
    })
}
