//! Read-only connections to one projection file, used from tokio's blocking pool.
//!
//! A read holds the pool's shared lock for the duration of its query; swapping in a
//! rebuilt file takes the exclusive lock, so it waits for running reads, closes every
//! pooled connection and lets later reads open the new file. Reads never see a
//! half-built projection: they see the old file or the new one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::Connection;

use crate::db;
use crate::error::ProjectionError;

/// A small pool of read-only connections to one file.
pub(crate) struct ReadPool {
    path: PathBuf,
    max_idle: usize,
    idle: RwLock<Mutex<Vec<Connection>>>,
}

impl ReadPool {
    /// A pool over `path`, keeping up to `max_idle` connections.
    pub fn new(path: &Path, max_idle: usize) -> Self {
        Self {
            path: path.to_path_buf(),
            max_idle,
            idle: RwLock::new(Mutex::new(Vec::new())),
        }
    }

    /// Runs `read` on a pooled connection, on the current (blocking) thread.
    pub fn with_conn<R>(
        &self,
        read: impl FnOnce(&Connection) -> Result<R, ProjectionError>,
    ) -> Result<R, ProjectionError> {
        let shared = self.idle.read().unwrap_or_else(|e| e.into_inner());
        let pooled = shared.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => db::open_reader(&self.path)?,
        };
        let result = read(&conn);
        if conn.is_autocommit() {
            let mut idle = shared.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < self.max_idle {
                idle.push(conn);
            }
        }
        result
    }

    /// Runs `read` in tokio's blocking pool.
    pub async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&Connection) -> Result<R, ProjectionError> + Send + 'static,
    ) -> Result<R, ProjectionError> {
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || pool.with_conn(read))
            .await
            .map_err(|_| ProjectionError::Closed)?
    }

    /// Waits for running reads, closes every pooled connection and runs `swap` while no
    /// read can start (blocking).
    pub fn exclusive<R>(&self, swap: impl FnOnce() -> R) -> R {
        let exclusive = self.idle.write().unwrap_or_else(|e| e.into_inner());
        exclusive.lock().unwrap_or_else(|e| e.into_inner()).clear();
        swap()
    }
}

/// Runs several statements on one consistent snapshot of the file.
pub(crate) fn snapshot<R>(
    conn: &Connection,
    read: impl FnOnce(&Connection) -> Result<R, ProjectionError>,
) -> Result<R, ProjectionError> {
    conn.execute_batch("BEGIN")?;
    let result = read(conn);
    let _ = conn.execute_batch("COMMIT");
    result
}
