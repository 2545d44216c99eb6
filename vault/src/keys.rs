//! The key stores: each customer's data key, wrapped by the master key, outside (never
//! inside) the log. [`Keys`] is what the sealing log needs of one; [`KeyStore`] is the
//! embedded one, a SQLite file of its own beside the log, with `secure_delete` on so a
//! shredded key's bytes are overwritten in the database; every write (new keys, a shred)
//! checkpoints the WAL and truncates it, so no copy is left there either. Keys in use
//! are cached in memory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use crate::VaultError;
use crate::master::MasterKey;
use crate::seal::DataKey;

/// A key store, as the sealing log uses it.
#[async_trait]
pub trait Keys: Send + Sync + 'static {
    /// `customer`'s key; `None` when it has none or it was shredded.
    async fn key(&self, customer: Uuid) -> Result<Option<DataKey>, VaultError>;

    /// The keys to seal `customers`' fields with, each created (and durable before this
    /// returns) when the customer has none yet; a shredded customer's is `None`.
    async fn sealing_keys(
        &self,
        customers: Vec<Uuid>,
    ) -> Result<HashMap<Uuid, Option<DataKey>>, VaultError>;

    /// Destroys `customer`'s key for good: every value sealed with it stays unreadable.
    async fn shred(&self, customer: Uuid) -> Result<(), VaultError>;

    /// Whether `customer`'s key was shredded.
    async fn is_shredded(&self, customer: Uuid) -> Result<bool, VaultError>;

    /// Drops `customer`'s key from memory (another node shredded it).
    fn forget(&self, customer: Uuid);
}

/// The most keys kept in memory; past it the cache starts over.
const CACHED_KEYS: usize = 65_536;

/// The data keys in use, kept in memory by a key store (at most 65,536: past that it
/// starts over).
#[derive(Default)]
pub struct KeyCache(Mutex<HashMap<Uuid, DataKey>>);

impl KeyCache {
    /// `customer`'s key, if in memory.
    pub fn get(&self, customer: Uuid) -> Option<DataKey> {
        locked(&self.0).get(&customer).cloned()
    }

    /// Keeps `customer`'s key; a full cache starts over.
    pub fn insert(&self, customer: Uuid, key: &DataKey) {
        let mut cached = locked(&self.0);
        if cached.len() >= CACHED_KEYS {
            cached.clear();
        }
        cached.insert(customer, key.clone());
    }

    /// Drops `customer`'s key.
    pub fn remove(&self, customer: Uuid) {
        locked(&self.0).remove(&customer);
    }

    /// The keys of `customers` if every one is in memory.
    pub fn all(&self, customers: &[Uuid]) -> Option<HashMap<Uuid, Option<DataKey>>> {
        let cached = locked(&self.0);
        customers
            .iter()
            .map(|customer| Some((*customer, Some(cached.get(customer)?.clone()))))
            .collect()
    }
}

/// Customers' data keys in a SQLite file; see the module docs.
#[derive(Clone)]
pub struct KeyStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    master: Mutex<MasterKey>,
    cache: KeyCache,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("master", &*self.master())
            .finish()
    }
}

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    PRAGMA secure_delete = ON;
    CREATE TABLE IF NOT EXISTS customer_keys (
        customer BLOB PRIMARY KEY,
        wrapped TEXT NOT NULL,
        master TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS shredded (customer BLOB PRIMARY KEY);
";

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl KeyStore {
    /// Opens (creating) the key store at `path`, its keys wrapped by `master`.
    pub fn open(path: &Path, master: MasterKey) -> Result<Self, VaultError> {
        let conn = Connection::open(path)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                master: Mutex::new(master),
                cache: KeyCache::default(),
            }),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        locked(&self.inner.conn)
    }

    fn master(&self) -> MutexGuard<'_, MasterKey> {
        locked(&self.inner.master)
    }

    /// `customer`'s key; `None` when it has none or it was shredded.
    pub fn key(&self, customer: Uuid) -> Result<Option<DataKey>, VaultError> {
        if let Some(key) = self.inner.cache.get(customer) {
            return Ok(Some(key));
        }
        let key = stored_key(&self.conn(), &self.master(), customer)?;
        if let Some(key) = &key {
            self.inner.cache.insert(customer, key);
        }
        Ok(key)
    }

    /// `customer`'s key, created if it has none; [`VaultError::Shredded`] once shredded.
    pub fn key_or_create(&self, customer: Uuid) -> Result<DataKey, VaultError> {
        self.sealing_keys_now(&[customer])?
            .remove(&customer)
            .flatten()
            .ok_or(VaultError::Shredded)
    }

    /// The keys to seal `customers`' fields with, the missing ones created in one
    /// transaction; a shredded customer's is `None`.
    pub fn sealing_keys_now(
        &self,
        customers: &[Uuid],
    ) -> Result<HashMap<Uuid, Option<DataKey>>, VaultError> {
        let mut keys = HashMap::with_capacity(customers.len());
        let mut missing = Vec::new();
        for &customer in customers {
            match self.inner.cache.get(customer) {
                Some(key) => drop(keys.insert(customer, Some(key))),
                None => missing.push(customer),
            }
        }
        if missing.is_empty() {
            return Ok(keys);
        }
        let master = self.master().clone();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for customer in missing {
            let key = match stored_key(&tx, &master, customer)? {
                Some(key) => Some(key),
                None if shredded(&tx, customer)? => None,
                None => Some(create_key(&tx, &master, customer)?),
            };
            keys.insert(customer, key);
        }
        tx.commit()?;
        // Nothing lingers in a WAL: a key store is written seldom, per batch of new customers.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        drop(conn);
        for (customer, key) in &keys {
            if let Some(key) = key {
                self.inner.cache.insert(*customer, key);
            }
        }
        Ok(keys)
    }

    /// Destroys `customer`'s key for good: every value sealed with it stays unreadable.
    /// The row is overwritten (`secure_delete`) and the WAL checkpointed and truncated.
    pub fn shred_now(&self, customer: Uuid) -> Result<(), VaultError> {
        self.inner.cache.remove(customer);
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM customer_keys WHERE customer = ?1",
            params![customer.as_bytes()],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO shredded (customer) VALUES (?1)",
            params![customer.as_bytes()],
        )?;
        tx.commit()?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Whether `customer`'s key was shredded.
    pub fn is_shredded_now(&self, customer: Uuid) -> Result<bool, VaultError> {
        shredded(&self.conn(), customer)
    }

    /// Rewraps every data key under `next` in one transaction and uses it from now on;
    /// the data keys themselves, and so every sealed value, stay as they are. Returns
    /// how many keys were rewrapped.
    pub fn rotate(&self, next: MasterKey) -> Result<usize, VaultError> {
        let mut master = self.master();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let rows: Vec<(Vec<u8>, String)> = tx
            .prepare("SELECT customer, wrapped FROM customer_keys")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (customer_bytes, wrapped) in &rows {
            let customer =
                Uuid::from_slice(customer_bytes).map_err(|_| VaultError::WrongMasterKey)?;
            let key = master.unwrap(customer, wrapped)?;
            tx.execute(
                "UPDATE customer_keys SET wrapped = ?2, master = ?3 WHERE customer = ?1",
                params![
                    customer_bytes,
                    next.wrap(customer, &key),
                    next.fingerprint()
                ],
            )?;
        }
        tx.commit()?;
        *master = next;
        Ok(rows.len())
    }
}

fn stored_key(
    conn: &Connection,
    master: &MasterKey,
    customer: Uuid,
) -> Result<Option<DataKey>, VaultError> {
    let wrapped: Option<String> = conn
        .query_row(
            "SELECT wrapped FROM customer_keys WHERE customer = ?1",
            params![customer.as_bytes()],
            |row| row.get(0),
        )
        .optional()?;
    wrapped
        .map(|wrapped| master.unwrap(customer, &wrapped))
        .transpose()
}

fn shredded(conn: &Connection, customer: Uuid) -> Result<bool, VaultError> {
    let found = conn
        .query_row(
            "SELECT 1 FROM shredded WHERE customer = ?1",
            params![customer.as_bytes()],
            |_| Ok(()),
        )
        .optional()?;
    Ok(found.is_some())
}

fn create_key(
    conn: &Connection,
    master: &MasterKey,
    customer: Uuid,
) -> Result<DataKey, VaultError> {
    let key = DataKey::generate();
    conn.execute(
        "INSERT INTO customer_keys (customer, wrapped, master) VALUES (?1, ?2, ?3)",
        params![
            customer.as_bytes(),
            master.wrap(customer, &key),
            master.fingerprint()
        ],
    )?;
    Ok(key)
}

/// Runs `work` on the blocking threads (a key store's writes wait for an fsync).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, VaultError> + Send + 'static,
) -> Result<T, VaultError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| VaultError::Io(std::io::Error::other(error)))?
}

#[async_trait]
impl Keys for KeyStore {
    async fn key(&self, customer: Uuid) -> Result<Option<DataKey>, VaultError> {
        KeyStore::key(self, customer)
    }

    async fn sealing_keys(
        &self,
        customers: Vec<Uuid>,
    ) -> Result<HashMap<Uuid, Option<DataKey>>, VaultError> {
        // Nearly always every key is in memory: no trip to a blocking thread then.
        if let Some(keys) = self.inner.cache.all(&customers) {
            return Ok(keys);
        }
        let store = self.clone();
        blocking(move || store.sealing_keys_now(&customers)).await
    }

    async fn shred(&self, customer: Uuid) -> Result<(), VaultError> {
        let store = self.clone();
        blocking(move || store.shred_now(customer)).await
    }

    async fn is_shredded(&self, customer: Uuid) -> Result<bool, VaultError> {
        self.is_shredded_now(customer)
    }

    fn forget(&self, customer: Uuid) {
        self.inner.cache.remove(customer);
    }
}
