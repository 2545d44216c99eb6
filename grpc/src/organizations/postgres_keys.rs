//! Customers' data keys on PostgreSQL: a table of their own beside (never inside) the
//! log's, shared by every node, each key wrapped by the master key all nodes share.
//! Only the writer of an organization creates or shreds its keys; every node reads them.
//!
//! PostgreSQL has no `secure_delete`: a shredded key's row may linger in dead tuples and
//! in the WAL until they are overwritten. It is wrapped, so it is of no use without the
//! master key; rotating the master key after a purge makes every leftover copy (pages,
//! WAL archives, backups) useless (see the README's key management).
//!
//! The one-row `poolkeeper_master_key` names the master key the table is wrapped with: a
//! node with another key refuses to start, and a key created under a key rotated away
//! meanwhile is refused by the database, never stored.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use deadpool_postgres::Pool;
use poolkeeper_vault::{DataKey, KeyCache, Keys, MasterKey, VaultError};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// The key tables, created at connect.
pub const KEY_TABLES: &str = "\
    CREATE TABLE IF NOT EXISTS poolkeeper_customer_keys (\
        organization text NOT NULL, customer uuid NOT NULL, \
        wrapped text NOT NULL, master text NOT NULL, \
        PRIMARY KEY (organization, customer)); \
    CREATE TABLE IF NOT EXISTS poolkeeper_shredded_customers (\
        organization text NOT NULL, customer uuid NOT NULL, \
        PRIMARY KEY (organization, customer)); \
    CREATE TABLE IF NOT EXISTS poolkeeper_master_key (\
        id boolean PRIMARY KEY DEFAULT true CHECK (id), fingerprint text NOT NULL)";

/// Keys a rotation reads and rewraps per round trip.
const ROTATION_CHUNK: i32 = 10_000;

/// One organization's keys in the shared tables.
pub struct PostgresKeys {
    pool: Pool,
    organization: String,
    master: MasterKey,
    cache: KeyCache,
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
            cache: KeyCache::default(),
        }
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
        if let Some(key) = self.cache.get(customer) {
            return Ok(Some(key));
        }
        let client = self.pool.get().await.map_err(failed)?;
        let key = self.stored(&client, &[customer]).await?.remove(&customer);
        if let Some(key) = &key {
            self.cache.insert(customer, key);
        }
        Ok(key)
    }

    async fn sealing_keys(
        &self,
        customers: Vec<Uuid>,
    ) -> Result<HashMap<Uuid, Option<DataKey>>, VaultError> {
        if let Some(cached) = self.cache.all(&customers) {
            return Ok(cached);
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
        let mut stored = self.stored(&client, &customers).await?;
        let (new, wrapped): (Vec<Uuid>, Vec<String>) = customers
            .iter()
            .filter(|c| !stored.contains_key(c) && !shredded.contains(c))
            .map(|c| (*c, self.master.wrap_key(*c, &DataKey::generate())))
            .unzip();
        if !new.is_empty() {
            client
                .execute(
                    // Only while the table's master key is this node's: a rotation
                    // updates that row first, so it waits for this insert or this
                    // insert sees the new key and stores nothing.
                    "WITH m AS (SELECT fingerprint FROM poolkeeper_master_key FOR SHARE) \
                     INSERT INTO poolkeeper_customer_keys (organization, customer, wrapped, master) \
                     SELECT $1, u.customer, u.wrapped, $4 \
                     FROM unnest($2::uuid[], $3::text[]) AS u(customer, wrapped), m \
                     WHERE m.fingerprint = $4 \
                     ON CONFLICT DO NOTHING",
                    &[self.org(), &new, &wrapped, &self.master.fingerprint()],
                )
                .await
                .map_err(failed)?;
            // Read back what is stored: a key another writer stored first wins.
            stored = self.stored(&client, &customers).await?;
            if new.iter().any(|customer| !stored.contains_key(customer)) {
                // The insert was refused: the master key was rotated away.
                return Err(VaultError::WrongMasterKey);
            }
        }
        Ok(customers
            .into_iter()
            .map(|customer| {
                let key = stored.get(&customer).cloned();
                if let Some(key) = &key {
                    self.cache.insert(customer, key);
                }
                (customer, key)
            })
            .collect())
    }

    async fn shred(&self, customer: Uuid) -> Result<(), VaultError> {
        self.cache.remove(customer);
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
        self.cache.remove(customer);
    }
}

/// Records `master` as the key the table is wrapped with when none is yet; fails when
/// the table is wrapped with another.
pub(super) async fn claim_master(
    client: &deadpool_postgres::Client,
    master: &MasterKey,
) -> Result<(), String> {
    let fingerprint = master.fingerprint();
    let error = |e: tokio_postgres::Error| format!("key table: {e}");
    client
        .execute(
            "INSERT INTO poolkeeper_master_key (fingerprint) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&fingerprint],
        )
        .await
        .map_err(error)?;
    let row = client
        .query_one("SELECT fingerprint FROM poolkeeper_master_key", &[])
        .await
        .map_err(error)?;
    let stored: String = row.get(0);
    if stored == fingerprint {
        return Ok(());
    }
    Err(format!(
        "the customers' keys are wrapped with the master key {stored}, this node's is \
         {fingerprint}: start every node with the same master_key_file (rotated with \
         poolkeeper rotate-master-key?)"
    ))
}

/// Rewraps every organization's data keys from `old` to `new` in one transaction and
/// names `new` as the table's master key; the data keys, and so every sealed value,
/// stay as they are. A rotation cut off is resumed by running it again. Returns the
/// keys rewrapped per organization.
pub async fn rotate_master_key(
    client: &mut deadpool_postgres::Client,
    old: &MasterKey,
    new: &MasterKey,
) -> Result<BTreeMap<String, usize>, VaultError> {
    client.batch_execute(KEY_TABLES).await.map_err(failed)?;
    let tx = client.transaction().await.map_err(failed)?;
    // First: an insert under the old key now waits for this transaction, then stores
    // nothing.
    let named = tx
        .execute(
            "INSERT INTO poolkeeper_master_key (fingerprint) VALUES ($1) \
             ON CONFLICT (id) DO UPDATE SET fingerprint = $1 \
             WHERE poolkeeper_master_key.fingerprint IN ($1, $2)",
            &[&new.fingerprint(), &old.fingerprint()],
        )
        .await
        .map_err(failed)?;
    if named == 0 {
        return Err(VaultError::WrongMasterKey);
    }
    // A portal reads the keys a chunk at a time; its snapshot does not see the updates.
    let statement = tx
        .prepare(
            "SELECT organization, customer, wrapped FROM poolkeeper_customer_keys \
             WHERE master <> $1",
        )
        .await
        .map_err(failed)?;
    let portal = tx
        .bind(&statement, &[&new.fingerprint()])
        .await
        .map_err(failed)?;
    let mut rewrapped = BTreeMap::new();
    loop {
        let chunk = tx
            .query_portal(&portal, ROTATION_CHUNK)
            .await
            .map_err(failed)?;
        if chunk.is_empty() {
            break;
        }
        let (mut organizations, mut customers, mut wrapped) = (Vec::new(), Vec::new(), Vec::new());
        for row in &chunk {
            let (organization, customer): (String, Uuid) = (row.get(0), row.get(1));
            let key = old.unwrap_key(customer, row.get(2))?;
            wrapped.push(new.wrap_key(customer, &key));
            *rewrapped.entry(organization.clone()).or_insert(0) += 1;
            organizations.push(organization);
            customers.push(customer);
        }
        tx.execute(
            "UPDATE poolkeeper_customer_keys k SET wrapped = u.wrapped, master = $4 \
             FROM unnest($1::text[], $2::uuid[], $3::text[]) AS u(organization, customer, wrapped) \
             WHERE k.organization = u.organization AND k.customer = u.customer",
            &[&organizations, &customers, &wrapped, &new.fingerprint()],
        )
        .await
        .map_err(failed)?;
    }
    tx.commit().await.map_err(failed)?;
    Ok(rewrapped)
}
