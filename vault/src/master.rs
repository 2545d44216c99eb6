//! The master key: wraps every data key of the key store, so that the key store's file
//! alone reveals nothing. It comes from the configuration (64 hex digits) or, for
//! development, from a file generated in the data directory. Rotation rewraps every data
//! key under a new master key ([`crate::KeyStore::rotate`]); the data keys, and so the
//! sealed fields in the log, do not change.

use std::path::Path;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::VaultError;
use crate::seal::DataKey;

/// The key that wraps the data keys.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey(DataKey);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.fingerprint())
    }
}

impl MasterKey {
    /// A fresh random master key.
    pub fn generate() -> Self {
        Self(DataKey::generate())
    }

    /// A master key written as 64 hexadecimal digits.
    pub fn from_hex(text: &str) -> Result<Self, VaultError> {
        let bytes = hex::decode(text.trim()).map_err(|_| VaultError::MalformedMasterKey)?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| VaultError::MalformedMasterKey)?;
        Ok(Self(DataKey(key)))
    }

    /// The key as 64 hexadecimal digits (to store it in a secret manager).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.0)
    }

    /// The development master key in `path`, created (readable by its owner only) when
    /// the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, VaultError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_hex(&text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                let aside = path.with_extension("tmp");
                std::fs::write(&aside, format!("{}\n", key.to_hex()))?;
                restrict(&aside)?;
                std::fs::rename(&aside, path)?;
                Ok(key)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// A short public name of the key (16 hex digits of a hash of it), recorded beside
    /// each wrapped data key so that a rotation knows what is left to rewrap.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"poolkeeper master key\0");
        hasher.update(self.0.0);
        hex::encode(&hasher.finalize()[..8])
    }

    /// `key` wrapped for `customer`, for a key store of another crate.
    pub fn wrap_key(&self, customer: Uuid, key: &DataKey) -> String {
        self.wrap(customer, key)
    }

    /// The data key of `customer` from its wrapped form, for a key store of another crate.
    pub fn unwrap_key(&self, customer: Uuid, wrapped: &str) -> Result<DataKey, VaultError> {
        self.unwrap(customer, wrapped)
    }

    /// `key` wrapped for `customer`.
    pub(crate) fn wrap(&self, customer: Uuid, key: &DataKey) -> String {
        self.0.seal(customer, &hex::encode(key.0))
    }

    /// The data key of `customer` from its wrapped form.
    pub(crate) fn unwrap(&self, customer: Uuid, wrapped: &str) -> Result<DataKey, VaultError> {
        let text = self
            .0
            .open(customer, wrapped)
            .map_err(|_| VaultError::WrongMasterKey)?;
        let bytes = hex::decode(text).map_err(|_| VaultError::WrongMasterKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| VaultError::WrongMasterKey)?;
        Ok(DataKey(key))
    }
}

#[cfg(unix)]
fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict(_: &Path) -> std::io::Result<()> {
    Ok(())
}
