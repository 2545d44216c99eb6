//! The data directory of a stopped server: its lock (adopting a single-organization
//! layout as the server would), its organizations, and each one's log.

use super::*;
use std::sync::Arc;

use poolkeeper_vault::{KeyStore, PersonalData, SealingStore};

/// The organizations with a log in the data directory, by id.
pub(super) fn local_organizations(data: &DataDir) -> Result<Vec<OrganizationId>, Failure> {
    let root = data.root().join("organizations");
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(&root)? {
        let entry = entry?;
        if let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|name| OrganizationId::parse(name).ok())
            && data.layout().organization_log(&id).exists()
        {
            ids.push(id);
        }
    }
    ids.sort();
    Ok(ids)
}

/// Takes the lock of a data directory no server holds (adopting a single-organization
/// layout as the default organization's, as the server would).
pub(super) fn lock_local(data: &DataDir) -> Result<std::fs::File, Failure> {
    let lock = data
        .open_locked()
        .map_err(|error| format!("{error} (or pass --server to ask the running server)"))?;
    data.adopt_single_organization()?;
    Ok(lock)
}

/// Opens organization `id`'s log in `data` (whose lock the caller holds).
pub(super) fn open_local_log(
    data: &DataDir,
    id: &OrganizationId,
) -> Result<SqliteEventStore, Failure> {
    let path = data.layout().organization_log(id);
    if !path.exists() {
        return Err(format!("{} has no log in {}", id.name(), data.root().display()).into());
    }
    Ok(SqliteEventStore::open(path, log_config())?)
}

/// Opens organization `id`'s log in `data` with personal fields opened on reads (with
/// the master key of `master_key_file`, or the directory's development key), as the
/// server's projections read it.
pub(super) fn open_local_opened(
    data: &DataDir,
    id: &OrganizationId,
    master_key_file: Option<&std::path::Path>,
) -> Result<Arc<dyn EventStore>, Failure> {
    let store: Arc<dyn EventStore> = Arc::new(open_local_log(data, id)?);
    let master = data.master_key(master_key_file)?;
    let keys = KeyStore::open(&data.layout().organization_keys(id), master)?;
    let personal = PersonalData::new(Arc::new(keys));
    Ok(Arc::new(SealingStore::opening(store, personal)))
}

/// Opens the log of the target's organization in a data directory no server holds.
pub(super) fn open_local(target: &Target) -> Result<(std::fs::File, SqliteEventStore), Failure> {
    let data = DataDir::new(&target.data_dir);
    let lock = lock_local(&data)?;
    let store = open_local_log(&data, &target.organization()?)?;
    Ok((lock, store))
}
