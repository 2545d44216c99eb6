//! [`VaultError`].

/// Why a key or a sealed value could not be used.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// A master key given as text is not 64 hexadecimal digits.
    #[error("a master key is 64 hexadecimal digits (32 bytes)")]
    MalformedMasterKey,
    /// A sealed value does not decrypt: tampered with, or sealed under another key or
    /// for another customer.
    #[error("a sealed value does not open with this customer's key")]
    Unsealable,
    /// A sealed value is not in the `sealed:v1:` form.
    #[error("not a sealed value")]
    NotSealed,
    /// A wrapped data key does not unwrap under the master key in use.
    #[error("a data key does not unwrap: the master key is not the one it was wrapped with")]
    WrongMasterKey,
    /// The customer's key was shredded: nothing may be sealed for it any more.
    #[error("the customer's key was shredded")]
    Shredded,
    /// The key store's database failed.
    #[error("key store: {0}")]
    Store(#[from] rusqlite::Error),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
