//! Customers' data keys on PostgreSQL: a table of their own beside (never inside) the
//! log's, shared by every node, each key wrapped by the master key all nodes share.
//! Only the writer of an organization creates or shreds its keys; every node reads them.
//!
//! PostgreSQL has no `secure_delete`: a shredded key's row may linger in dead tuples and
//! in the WAL until they are overwritten. It is wrapped, so it is of no use without the
//! master key; rotating the master key after a purge makes every leftover copy (pages,
//! WAL archives, backups) useless (see the README's key management).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use deadpool_postgres::Pool;
use poolkeeper_vault::{DataKey, Keys, MasterKey, VaultError};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// The key tables, created at connect.
pub(super) const KEY_TABLES: &str = "\
    CREATE TABLE IF NOT EXISTS poolkeeper_customer_keys (\
        organization text NOT NULL, customer uuid NOT NULL, \
        wrapped text NOT NULL, master text NOT NULL, \
        PRIMARY KEY (organization, customer)); \
    CREATE TABLE IF NOT EXISTS poolkeeper_shredded_customers (\
        organization text NOT NULL, customer uuid NOT NULL, \
        PRIMARY KEY (organization, customer))";

/// The most keys kept in memory; past it the cache starts over.
const CACHED_KEYS: usize = 65_536;

/// One organization's keys in the shared tables.
pub struct PostgresKeys {
    pool: Pool,
    organization: String,
    master: MasterKey,
    cache: Mutex<HashMap<Uuid, DataKey>>,
}

fn failed(error: impl std::fmt::Display) -> VaultError {
    VaultError::Io(std::io::Error::other(format!("key table: {error}")))
}

impl PostgresKeys {
    /// `organization`'s keys through `pool`, wrapped by `master`.
    pub fn new(pool: Pool, organization: String, master: MasterKey) -> Self {
        Self {
            pool,
            organization,
            master,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<Uuid, DataKey>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHED_KEYS {
            cache.clear();
        }
        cache
    }

    fn org(&self) -> &(dyn ToSql + Sync) {
        &self.organization
    }

    /// The stored keys of `customers`, unwrapped.
    async fn stored(
        &self,
        client: &deadpool_postgres::Client,
        customers: &[Uuid],
    ) -> Result<HashMap<Uuid, DataKey>, VaultError> {
        let rows = client
            .query(
                "SELECT customer, wrapped FROM poolkeeper_customer_keys \
                 WHERE organization = $1 AND customer = ANY($2)",
                &[self.org(), &customers],
            )
            .await
            .map_err(failed)?;
        let mut keys = HashMap::with_capacity(rows.len());
        for row in rows {
            let customer: Uuid = row.get(0);
            let wrapped: String = row.get(1);
            keys.insert(customer, self.master.unwrap_key(customer, &wrapped)?);
        }
        Ok(keys)
    }
}

#[async_trait]
impl Keys for PostgresKeys {
    async fn key(&self, customer: Uuid) -> Result<Option<DataKey>, VaultError> {
        if let Some(key) = self.cache().get(&customer) {
            return Ok(Some(key.clone()));
        }
        let client = self.pool.get().await.map_err(failed)?;
        let key = self.stored(&client, &[customer]).await?.remove(&customer);
        if let Some(key) = &key {
            self.cache().insert(customer, key.clone());
        }
        Ok(key)
    }

    async fn sealing_keys(
        &self,
        customers: Vec<Uuid>,
    ) -> Result<HashMap<Uuid, Option<DataKey>>, VaultError> {
        {
            let cache = self.cache();
            let cached: Option<HashMap<Uuid, Option<DataKey>>> = customers
                .iter()
                .map(|c| Some((*c, Some(cache.get(c)?.clone()))))
                .collect();
            if let Some(cached) = cached {
                return Ok(cached);
            }
        }
        let client = self.pool.get().await.map_err(failed)?;
        let shredded: Vec<Uuid> = client
            .query(
                "SELECT customer FROM poolkeeper_shredded_customers \
                 WHERE organization = $1 AND customer = ANY($2)",
                &[self.org(), &customers],
            )
            .await
            .map_err(failed)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let stored = self.stored(&client, &customers).await?;
        let (new, wrapped): (Vec<Uuid>, Vec<String>) = customers
            .iter()
            .filter(|c| !stored.contains_key(c) && !shredded.contains(c))
            .map(|c| (*c, self.master.wrap_key(*c, &DataKey::generate())))
            .unzip();
        if !new.is_empty() {
            client
                .execute(
                    "INSERT INTO poolkeeper_customer_keys (organization, customer, wrapped, master) \
                     SELECT $1, u.customer, u.wrapped, $4 \
                     FROM unnest($2::uuid[], $3::text[]) AS u(customer, wrapped) \
                     ON CONFLICT DO NOTHING",
                    &[self.org(), &new, &wrapped, &self.master.fingerprint()],
                )
                .await
                .map_err(failed)?;
        }
        // Read back what is stored: a key another writer stored first wins.
        let stored = self.stored(&client, &customers).await?;
        let mut cache = self.cache();
        Ok(customers
            .into_iter()
            .map(|customer| {
                let key = stored.get(&customer).cloned();
                if let Some(key) = &key {
                    cache.insert(customer, key.clone());
                }
                (customer, key)
            })
            .collect())
    }

    async fn shred(&self, customer: Uuid) -> Result<(), VaultError> {
        self.cache().remove(&customer);
        let mut client = self.pool.get().await.map_err(failed)?;
        let tx = client.transaction().await.map_err(failed)?;
        tx.execute(
            "DELETE FROM poolkeeper_customer_keys WHERE organization = $1 AND customer = $2",
            &[self.org(), &customer],
        )
        .await
        .map_err(failed)?;
        tx.execute(
            "INSERT INTO poolkeeper_shredded_customers (organization, customer) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
            &[self.org(), &customer],
        )
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)
    }

    async fn is_shredded(&self, customer: Uuid) -> Result<bool, VaultError> {
        let client = self.pool.get().await.map_err(failed)?;
        let row = client
            .query_opt(
                "SELECT 1 FROM poolkeeper_shredded_customers \
                 WHERE organization = $1 AND customer = $2",
                &[self.org(), &customer],
            )
            .await
            .map_err(failed)?;
        Ok(row.is_some())
    }

    fn forget(&self, customer: Uuid) {
        self.cache().remove(&customer);
    }
}
