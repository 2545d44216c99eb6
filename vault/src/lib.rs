//! Personal data under a key per customer, so that it can be erased without touching the
//! hash-chained log (crypto-shredding).
//!
//! Fields that can hold personal data (a customer's name and free fields, follow-up
//! notes and comments, free-text remarks) are sealed in the event payload with the
//! customer's data key before the event is appended: the log and its hash chain only
//! ever hold the ciphertext. The data keys live outside the log, wrapped by a master key
//! ([`MasterKey`]), in a key store ([`KeyStore`]); shredding a customer's key leaves
//! every sealed field of that customer unreadable, and readers see [`PURGED`] instead.
//!
//! - [`seal`]: sealing one value with a data key (XChaCha20-Poly1305, the customer's id
//!   as associated data), and [`DataKey`].
//! - [`master`]: the master key that wraps the data keys, from the configuration or a
//!   development file, and its fingerprint.
//! - [`keys`]: the key store on SQLite (`secure_delete` on), with shredding and master
//!   key rotation.
//! - [`personal`]: which payload fields of which event types are personal, and sealing
//!   or opening a whole payload.
//!
//! - [`log`]: [`SealingStore`], the event store wrapper that seals on append, opens on
//!   reads and shreds a customer's key once its purge is appended.

pub mod error;
pub mod keys;
pub mod log;
pub mod master;
pub mod personal;
pub mod seal;

pub use error::VaultError;
pub use keys::{KeyCache, KeyStore, Keys};
pub use log::{PersonalData, SealingStore, customer_of};
pub use master::MasterKey;
pub use personal::{
    PURGED_EVENT, has_personal_fields, holds_sealed_fields, open_payload, personal_fields,
    seal_payload,
};
pub use seal::{DataKey, PURGED, SEALED_PREFIX, is_sealed};
