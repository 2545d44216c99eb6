//! The projections' directory: its exclusive lock and where each projection's files are.
//!
//! **Invariant:** one owner per directory. `Projections::open` and the offline rebuild
//! hold an exclusive lock on `<dir>/LOCK`; a second owner gets
//! [`ProjectionError::DirectoryInUse`].

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::ProjectionError;
use crate::name::ProjectionName;

/// Takes the directory's exclusive lock.
pub(crate) fn lock_dir(dir: &Path) -> Result<File, ProjectionError> {
    std::fs::create_dir_all(dir)?;
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(ProjectionError::DirectoryInUse(dir.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(error)) => Err(error.into()),
    }
}

/// The serving file of a projection.
pub fn projection_path(dir: &Path, name: ProjectionName) -> PathBuf {
    dir.join(format!("{}.db", name.as_str()))
}

/// The file a projection is rebuilt into before it is renamed into place.
pub(crate) fn shadow_path(dir: &Path, name: ProjectionName) -> PathBuf {
    dir.join(format!("{}.rebuild.db", name.as_str()))
}
