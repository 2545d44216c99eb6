//! The key store on disk: keys survive a reopen, a shredded key is gone from every byte
//! of the directory (database and WAL), and a master key rotation keeps every key.

use poolkeeper_vault::{KeyStore, MasterKey, VaultError};
use uuid::Uuid;

/// Every byte of every file under `dir`.
fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn keys_survive_a_reopen_and_a_wrong_master_key_opens_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let master = MasterKey::generate();
    let customer = Uuid::now_v7();
    let key = KeyStore::open(&path, master.clone())
        .unwrap()
        .key_or_create(customer)
        .unwrap();
    let reopened = KeyStore::open(&path, master).unwrap();
    assert_eq!(reopened.key(customer).unwrap(), Some(key));
    let stranger = KeyStore::open(&path, MasterKey::generate()).unwrap();
    assert!(matches!(
        stranger.key(customer),
        Err(VaultError::WrongMasterKey)
    ));
}

#[test]
fn a_shredded_key_leaves_no_byte_in_the_directory_and_is_never_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let store = KeyStore::open(&path, MasterKey::generate()).unwrap();
    let customer = Uuid::now_v7();
    let others: Vec<Uuid> = (0..50).map(|_| Uuid::now_v7()).collect();
    for other in &others {
        store.key_or_create(*other).unwrap();
    }
    store.key_or_create(customer).unwrap();
    let wrapped: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT wrapped FROM customer_keys WHERE customer = ?1",
            [customer.as_bytes()],
            |row| row.get(0),
        )
        .unwrap();
    assert!(contains(&all_bytes(dir.path()), &wrapped));
    store.shred_now(customer).unwrap();
    assert_eq!(store.key(customer).unwrap(), None);
    assert!(store.is_shredded_now(customer).unwrap());
    assert!(matches!(
        store.key_or_create(customer),
        Err(VaultError::Shredded)
    ));
    assert!(!contains(&all_bytes(dir.path()), &wrapped[10..]));
    for other in &others {
        assert!(store.key(*other).unwrap().is_some());
    }
}

#[test]
fn rotating_the_master_key_keeps_every_data_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let old = MasterKey::generate();
    let store = KeyStore::open(&path, old.clone()).unwrap();
    let customers: Vec<Uuid> = (0..20).map(|_| Uuid::now_v7()).collect();
    let keys: Vec<_> = customers
        .iter()
        .map(|c| store.key_or_create(*c).unwrap())
        .collect();
    let next = MasterKey::generate();
    assert_eq!(store.rotate(next.clone()).unwrap(), 20);
    drop(store);
    let reopened = KeyStore::open(&path, next).unwrap();
    for (customer, key) in customers.iter().zip(&keys) {
        assert_eq!(reopened.key(*customer).unwrap().as_ref(), Some(key));
    }
    let stale = KeyStore::open(&path, old).unwrap();
    assert!(stale.key(customers[0]).is_err());
}

#[test]
fn the_development_master_key_is_created_once_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let first = MasterKey::load_or_create(&path).unwrap();
    let again = MasterKey::load_or_create(&path).unwrap();
    assert_eq!(first, again);
    assert_eq!(MasterKey::from_hex(&first.to_hex()).unwrap(), first);
    assert!(MasterKey::from_hex("abc").is_err());
}
