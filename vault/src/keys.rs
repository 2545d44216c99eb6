//! The key store: each customer's data key, wrapped by the master key, in a SQLite file
//! of its own beside (never inside) the log. `secure_delete` is on, so a shredded key's
//! bytes are overwritten in the database, and a shred checkpoints the WAL and truncates
//! it, so no copy is left there either. Keys in use are cached in memory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use crate::VaultError;
use crate::master::MasterKey;
use crate::seal::DataKey;

/// Customers' data keys; see the module docs.
pub struct KeyStore {
    conn: Mutex<Connection>,
    master: MasterKey,
    cache: Mutex<HashMap<Uuid, DataKey>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("master", &self.master)
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

impl KeyStore {
    /// Opens (creating) the key store at `path`, its keys wrapped by `master`.
    pub fn open(path: &Path, master: MasterKey) -> Result<Self, VaultError> {
        let conn = Connection::open(path)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
            master,
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, DataKey>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `customer`'s key; `None` when it has none or it was shredded.
    pub fn key(&self, customer: Uuid) -> Result<Option<DataKey>, VaultError> {
        if let Some(key) = self.cached().get(&customer) {
            return Ok(Some(key.clone()));
        }
        let wrapped: Option<String> = self
            .conn()
            .query_row(
                "SELECT wrapped FROM customer_keys WHERE customer = ?1",
                params![customer.as_bytes()],
                |row| row.get(0),
            )
            .optional()?;
        let Some(wrapped) = wrapped else {
            return Ok(None);
        };
        let key = self.master.unwrap(customer, &wrapped)?;
        self.cached().insert(customer, key.clone());
        Ok(Some(key))
    }

    /// `customer`'s key, created if it has none; [`VaultError::Shredded`] once shredded.
    pub fn key_or_create(&self, customer: Uuid) -> Result<DataKey, VaultError> {
        if let Some(key) = self.key(customer)? {
            return Ok(key);
        }
        let conn = self.conn();
        let shredded: bool = conn
            .query_row(
                "SELECT 1 FROM shredded WHERE customer = ?1",
                params![customer.as_bytes()],
                |_| Ok(true),
            )
            .optional()?
            .unwrap_or(false);
        if shredded {
            return Err(VaultError::Shredded);
        }
        let key = DataKey::generate();
        conn.execute(
            "INSERT INTO customer_keys (customer, wrapped, master) VALUES (?1, ?2, ?3)",
            params![
                customer.as_bytes(),
                self.master.wrap(customer, &key),
                self.master.fingerprint()
            ],
        )?;
        drop(conn);
        self.cached().insert(customer, key.clone());
        Ok(key)
    }

    /// Destroys `customer`'s key for good: every value sealed with it stays unreadable.
    /// The row is overwritten (`secure_delete`) and the WAL checkpointed and truncated.
    pub fn shred(&self, customer: Uuid) -> Result<(), VaultError> {
        self.cached().remove(&customer);
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
    pub fn is_shredded(&self, customer: Uuid) -> Result<bool, VaultError> {
        let found = self
            .conn()
            .query_row(
                "SELECT 1 FROM shredded WHERE customer = ?1",
                params![customer.as_bytes()],
                |_| Ok(()),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// Rewraps every data key under `next` in one transaction and uses it from now on;
    /// the data keys themselves, and so every sealed value, stay as they are. Returns
    /// how many keys were rewrapped.
    pub fn rotate(&mut self, next: MasterKey) -> Result<usize, VaultError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction()?;
        let rows: Vec<(Vec<u8>, String)> = tx
            .prepare("SELECT customer, wrapped FROM customer_keys")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (customer_bytes, wrapped) in &rows {
            let customer =
                Uuid::from_slice(customer_bytes).map_err(|_| VaultError::WrongMasterKey)?;
            let key = self.master.unwrap(customer, wrapped)?;
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
        drop(conn);
        self.master = next;
        Ok(rows.len())
    }
}
