//! The data directory: its lock, the development token, what the first start created,
//! and where the organizations' files live ([`Layout`]). A directory written by a
//! version before organizations (one `events.db` and `projections/` at its root) is
//! adopted as the default organization's on first start.

use std::fs::File;
use std::path::{Path, PathBuf};

use poolkeeper_vault::MasterKey;
use serde::{Deserialize, Serialize};

use crate::organizations::{Layout, OrganizationId};

/// Why the data directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// A file could not be read or written.
    #[error("data directory {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The master key could not be read or created.
    #[error("master key {path}: {source}")]
    MasterKey {
        /// Its file.
        path: PathBuf,
        /// Why.
        source: poolkeeper_vault::VaultError,
    },
    /// Another server holds the directory.
    #[error("another poolkeeper holds {0}; stop it first")]
    Locked(PathBuf),
}

/// The files of a data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the organizations and the platform log keep their files.
    pub fn layout(&self) -> Layout {
        Layout::new(&self.root)
    }

    /// The development token.
    pub fn dev_token(&self) -> PathBuf {
        self.root.join("dev-token")
    }

    /// What the first start created in the default organization.
    pub fn bootstrap(&self) -> PathBuf {
        self.root.join("bootstrap.json")
    }

    /// The development master key, created on first use (`master.key`, owner-only).
    pub fn dev_master_key(&self) -> PathBuf {
        self.root.join("master.key")
    }

    /// The master key that wraps the customers' data keys: read from `file` when the
    /// configuration names one, else the development key of this directory (created on
    /// first use).
    pub fn master_key(&self, file: Option<&Path>) -> Result<MasterKey, DataDirError> {
        let (path, key) = match file {
            Some(file) => (
                file.to_path_buf(),
                std::fs::read_to_string(file)
                    .map_err(poolkeeper_vault::VaultError::Io)
                    .and_then(|text| MasterKey::from_hex(&text)),
            ),
            None => {
                let path = self.dev_master_key();
                let created = std::fs::create_dir_all(&self.root)
                    .map_err(poolkeeper_vault::VaultError::Io)
                    .and_then(|()| MasterKey::load_or_create(&path));
                (path, created)
            }
        };
        key.map_err(|source| DataDirError::MasterKey { path, source })
    }

    /// This node's stable id (for writer leases), created on first use.
    pub fn node_id(&self) -> Result<String, DataDirError> {
        let path = self.root.join("node-id");
        if let Ok(id) = std::fs::read_to_string(&path)
            && !id.trim().is_empty()
        {
            return Ok(id.trim().to_owned());
        }
        let id = format!("node-{}", uuid::Uuid::now_v7().simple());
        std::fs::write(&path, format!("{id}\n")).map_err(|e| self.io(e))?;
        Ok(id)
    }

    fn lock(&self) -> PathBuf {
        self.root.join("LOCK")
    }

    pub(crate) fn io(&self, source: std::io::Error) -> DataDirError {
        DataDirError::Io {
            path: self.root.clone(),
            source,
        }
    }

    /// Creates the directory and takes its exclusive lock (held until the file is dropped).
    pub fn open_locked(&self) -> Result<File, DataDirError> {
        std::fs::create_dir_all(&self.root).map_err(|e| self.io(e))?;
        let lock = File::create(self.lock()).map_err(|e| self.io(e))?;
        match lock.try_lock() {
            Ok(()) => Ok(lock),
            Err(std::fs::TryLockError::WouldBlock) => Err(DataDirError::Locked(self.root.clone())),
            Err(std::fs::TryLockError::Error(error)) => Err(self.io(error)),
        }
    }

    /// Moves a single-organization directory's log (with its WAL) and projections into the
    /// default organization's place; `true` when there was one to move. Call with the lock
    /// held. A rename within one directory tree: nothing is copied, nothing rewritten.
    pub fn adopt_single_organization(&self) -> Result<bool, DataDirError> {
        let old_log = self.root.join("events.db");
        if !old_log.exists() {
            return Ok(false);
        }
        let layout = self.layout();
        let default = OrganizationId::default_organization();
        let new_log = layout.organization_log(&default);
        if new_log.exists() {
            return Ok(false);
        }
        std::fs::create_dir_all(layout.organization(&default)).map_err(|e| self.io(e))?;
        for suffix in ["-wal", "-shm"] {
            let old = self.root.join(format!("events.db{suffix}"));
            if old.exists() {
                let new = layout
                    .organization(&default)
                    .join(format!("events.db{suffix}"));
                std::fs::rename(old, new).map_err(|e| self.io(e))?;
            }
        }
        let old_projections = self.root.join("projections");
        if old_projections.exists() {
            std::fs::rename(old_projections, layout.organization_projections(&default))
                .map_err(|e| self.io(e))?;
        }
        // The log last: until it moves, a crash leaves a directory this adopts again.
        std::fs::rename(old_log, new_log).map_err(|e| self.io(e))?;
        tracing::warn!(root = %self.root.display(), "moved a single-organization data directory into organizations/default");
        Ok(true)
    }

    /// Records what the default organization's first start created.
    /// Written aside and renamed into place, so a reader never sees half of it.
    pub fn write_bootstrap(&self, bootstrap: &Bootstrap) -> Result<(), DataDirError> {
        let json = serde_json::to_vec_pretty(bootstrap).unwrap_or_default();
        let aside = self.root.join("bootstrap.json.tmp");
        std::fs::write(&aside, json).map_err(|e| self.io(e))?;
        std::fs::rename(&aside, self.bootstrap()).map_err(|e| self.io(e))
    }
}

/// What the first start of an organization created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// The first organization admin, `users/{uuid}`.
    pub admin_user: String,
    /// The default pool, `pools/{uuid}`.
    pub default_pool: String,
}
