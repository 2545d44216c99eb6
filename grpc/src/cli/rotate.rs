//! `poolkeeper rotate-master-key`: rewraps every customer's data key under a new master
//! key, in a stopped server's data directory (SQLite) or in the PostgreSQL key table
//! (`--store`) while no node holds a lease.

use super::*;

use crate::organizations::postgres_keys;
use poolkeeper_eventlog_postgres::PostgresLogs;
use poolkeeper_vault::{KeyStore, MasterKey};

/// Rewraps the target's data keys from its master key to the one in `new_file`.
pub(super) async fn rotate_master_key(
    target: &Target,
    new_file: &std::path::Path,
) -> Result<(), Failure> {
    if target.server.is_some() {
        return Err(
            "rotate-master-key works on the data, not through a server: \
                    give --data-dir (SQLite) or --store (PostgreSQL)"
                .into(),
        );
    }
    let data = DataDir::new(&target.data_dir);
    let new = data.master_key(Some(new_file))?;
    match &target.store {
        Some(store) => rotate_on_postgres(target, &data, store, &new).await,
        None => rotate_local(target, &data, &new),
    }
}

/// Every organization's `keys.db` in a data directory (whose lock it takes).
fn rotate_local(target: &Target, data: &DataDir, new: &MasterKey) -> Result<(), Failure> {
    let _lock = lock_local(data)?;
    let old = data.master_key(target.master_key_file.as_deref())?;
    for id in local_organizations(data)? {
        let path = data.layout().organization_keys(&id);
        if !path.exists() {
            continue;
        }
        let rewrapped = KeyStore::open(&path, old.clone())?.rotate(new.clone())?;
        println!("{}: {rewrapped} data keys rewrapped", id.name());
    }
    Ok(())
}

/// The shared key table, refused while any node holds a writer lease (a running node
/// would go on using the old key).
async fn rotate_on_postgres(
    target: &Target,
    data: &DataDir,
    store: &str,
    new: &MasterKey,
) -> Result<(), Failure> {
    let Some(old_file) = &target.master_key_file else {
        return Err("with --store, give the master key in use with --master-key-file".into());
    };
    let old = data.master_key(Some(old_file))?;
    let logs = PostgresLogs::connect(store, 2).await?;
    let mut client = logs.pool().get().await?;
    let held = client
        .query(
            "SELECT organization, holder FROM log_heads \
             WHERE holder IS NOT NULL AND lease_expires_at > now() ORDER BY organization",
            &[],
        )
        .await?;
    if let Some(row) = held.first() {
        let (organization, holder): (String, String) = (row.get(0), row.get(1));
        return Err(format!(
            "node {holder} holds the writer lease of {organization} \
             ({} leases held): stop every node first",
            held.len()
        )
        .into());
    }
    let rewrapped = postgres_keys::rotate_master_key(&mut client, &old, new).await?;
    for (organization, keys) in &rewrapped {
        println!("{organization}: {keys} data keys rewrapped");
    }
    println!("{} data keys rewrapped", rewrapped.values().sum::<usize>());
    Ok(())
}
