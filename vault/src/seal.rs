//! Sealing one value: XChaCha20-Poly1305 under the customer's data key, with a random
//! 24-byte nonce and the customer's id as associated data (a value sealed for one
//! customer never opens as another's), written `sealed:v1:` + base64url(nonce ‖
//! ciphertext) (a third longer than the plaintext, plus 54 bytes).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use uuid::Uuid;

use crate::VaultError;

/// The start of every sealed value.
pub const SEALED_PREFIX: &str = "sealed:v1:";

/// What readers see in place of a personal field whose key was shredded.
pub const PURGED: &str = "[purged]";

const NONCE_BYTES: usize = 24;

/// A customer's data key (32 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey(pub(crate) [u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let key = chacha20poly1305::Key::generate();
        Self(key.into())
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }

    /// `plaintext` sealed for `customer`.
    pub fn seal(&self, customer: Uuid, plaintext: &str) -> String {
        let nonce = chacha20poly1305::XNonce::generate();
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: customer.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 seals any message that fits in memory");
        let mut bytes = Vec::with_capacity(NONCE_BYTES + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The plaintext of `sealed`, sealed for `customer` under this key.
    pub fn open(&self, customer: Uuid, sealed: &str) -> Result<String, VaultError> {
        let text = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or(VaultError::NotSealed)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| VaultError::NotSealed)?;
        if bytes.len() < NONCE_BYTES {
            return Err(VaultError::NotSealed);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let nonce = chacha20poly1305::XNonce::try_from(nonce).map_err(|_| VaultError::NotSealed)?;
        let plain = self
            .cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: customer.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Unsealable)?;
        String::from_utf8(plain).map_err(|_| VaultError::Unsealable)
    }
}

/// Whether `value` is a sealed value.
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_customer() {
        let key = DataKey::generate();
        let customer = Uuid::from_u128(7);
        let sealed = key.seal(customer, "青岛海鲜贸易 138-0000-0000");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("青岛"));
        assert_eq!(
            key.open(customer, &sealed).unwrap(),
            "青岛海鲜贸易 138-0000-0000"
        );
        assert!(matches!(
            key.open(Uuid::from_u128(8), &sealed),
            Err(VaultError::Unsealable)
        ));
        assert!(matches!(
            DataKey::generate().open(customer, &sealed),
            Err(VaultError::Unsealable)
        ));
        let mut tampered = sealed.clone();
        let middle = tampered.len() / 2;
        let flipped = if &tampered[middle..=middle] == "A" {
            "B"
        } else {
            "A"
        };
        tampered.replace_range(middle..=middle, flipped);
        assert!(matches!(
            key.open(customer, &tampered),
            Err(VaultError::Unsealable)
        ));
        assert!(matches!(
            key.open(customer, "plain"),
            Err(VaultError::NotSealed)
        ));
    }

    #[test]
    fn the_same_value_seals_differently_each_time() {
        let key = DataKey::generate();
        let customer = Uuid::from_u128(7);
        assert_ne!(key.seal(customer, "x"), key.seal(customer, "x"));
    }
}
