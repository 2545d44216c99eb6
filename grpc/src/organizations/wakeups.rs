//! When each closed organization next needs its scheduler, so an idle organization costs
//! no thread and still reclaims on time.
//!
//! A closed organization's next due reclaim or reminder is recorded here when it closes,
//! and its record is removed when it opens (an open organization runs its own
//! scheduler). The records live in one small JSON file, rewritten atomically (write,
//! fsync, rename) on each change. After a crash the organizations that were open have no
//! record: they are the ones to survey, by opening them once.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::id::OrganizationId;

/// A closed organization's next wake-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WakeUp {
    /// When something becomes due; `None` when nothing ever will without a command.
    pub at: Option<DateTime<Utc>>,
}

/// The records, on disk and in memory.
pub struct WakeUps {
    path: PathBuf,
    records: Mutex<BTreeMap<OrganizationId, WakeUp>>,
}

impl WakeUps {
    /// Reads `path` (empty when missing or unreadable: every organization is then surveyed).
    pub fn open(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let records = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Self {
            path,
            records: Mutex::new(records),
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, BTreeMap<OrganizationId, WakeUp>> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The record of `id`, if it is closed and recorded.
    pub fn get(&self, id: &OrganizationId) -> Option<WakeUp> {
        self.records().get(id).copied()
    }

    /// The closed organizations due at or before `now`.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<OrganizationId> {
        self.records()
            .iter()
            .filter(|(_, wake)| wake.at.is_some_and(|at| at <= now))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The earliest recorded wake-up.
    pub fn next(&self) -> Option<DateTime<Utc>> {
        self.records().values().filter_map(|wake| wake.at).min()
    }

    /// `id` closed; it next needs its scheduler at `wake`.
    pub fn closed(&self, id: &OrganizationId, wake: WakeUp) -> std::io::Result<()> {
        let mut records = self.records();
        records.insert(id.clone(), wake);
        write_atomically(&self.path, &records)
    }

    /// `id` opened: its own scheduler runs now.
    pub fn opened(&self, id: &OrganizationId) -> std::io::Result<()> {
        let mut records = self.records();
        if records.remove(id).is_some() {
            write_atomically(&self.path, &records)?;
        }
        Ok(())
    }
}

fn write_atomically(
    path: &Path,
    records: &BTreeMap<OrganizationId, WakeUp>,
) -> std::io::Result<()> {
    let temporary = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(&serde_json::to_vec(records).unwrap_or_default())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_a_reopen_and_opening_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wakeups.json");
        let acme = OrganizationId::parse("acme").unwrap();
        let idle = OrganizationId::parse("idle").unwrap();
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let wakeups = WakeUps::open(&path);
        wakeups.closed(&acme, WakeUp { at: Some(at) }).unwrap();
        wakeups.closed(&idle, WakeUp { at: None }).unwrap();
        let reopened = WakeUps::open(&path);
        assert_eq!(reopened.next(), Some(at));
        assert_eq!(reopened.due(at), vec![acme.clone()]);
        assert!(reopened.due(at - chrono::Duration::seconds(1)).is_empty());
        reopened.opened(&acme).unwrap();
        assert_eq!(WakeUps::open(&path).get(&acme), None);
        assert_eq!(WakeUps::open(&path).get(&idle), Some(WakeUp { at: None }));
    }
}
