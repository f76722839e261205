//! Secrets at rest: AES-256-GCM with a key id in every ciphertext, so keys can rotate.
//!
//! Layout of a sealed value: `1` (format version) · key-id length · key id · 12-byte nonce ·
//! ciphertext with its 16-byte tag. The key id is authenticated as associated data.

use std::collections::HashMap;

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use rand::RngCore;

use crate::{config::SecretSettings, error::ApiError};

const VERSION: u8 = 1;

/// Encrypts with the current key; decrypts with any configured key.
#[derive(Clone)]
pub struct Cipher {
    current: String,
    keys: HashMap<String, Aes256Gcm>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Cipher(current key id {:?}, {} keys)",
            self.current,
            self.keys.len()
        )
    }
}

impl Cipher {
    /// Parses `id:base64key[,id:base64key…]`; `None` when no key is configured.
    pub fn from_settings(settings: &SecretSettings) -> anyhow::Result<Option<Self>> {
        let text = settings.keys.expose().trim();
        if text.is_empty() {
            return Ok(None);
        }
        let mut current = None;
        let mut keys = HashMap::new();
        for pair in text.split(',') {
            let (id, key) = pair
                .trim()
                .split_once(':')
                .ok_or_else(|| anyhow::anyhow!("secrets.keys entries are `id:base64key`"))?;
            anyhow::ensure!(
                !id.is_empty() && id.len() < 64,
                "secrets key id must be 1-63 bytes"
            );
            let raw = STANDARD
                .decode(key)
                .map_err(|_| anyhow::anyhow!("secrets key `{id}` is not base64"))?;
            anyhow::ensure!(raw.len() == 32, "secrets key `{id}` must be 32 bytes");
            let cipher = Aes256Gcm::new_from_slice(&raw).expect("32-byte key");
            current.get_or_insert_with(|| id.to_string());
            keys.insert(id.to_string(), cipher);
        }
        Ok(Some(Self {
            current: current.expect("at least one key"),
            keys,
        }))
    }

    /// A new random key in the configuration format (`id:base64`).
    pub fn generate_key(id: &str) -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        format!("{id}:{}", STANDARD.encode(key))
    }

    /// Encrypts `plaintext` with the current key.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let cipher = &self.keys[&self.current];
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let id = self.current.as_bytes();
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: id,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer");
        let mut out = Vec::with_capacity(2 + id.len() + 12 + sealed.len());
        out.push(VERSION);
        out.push(id.len() as u8);
        out.extend_from_slice(id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts a value sealed with any configured key.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, ApiError> {
        self.try_open(sealed).ok_or_else(|| {
            ApiError::internal(
                "a stored secret could not be decrypted (key missing or data damaged)",
            )
        })
    }

    /// Decrypts a value sealed with any configured key; `None`, quietly, when it is not
    /// one (for values clients hand back, whose damage is theirs, not the appliance's).
    pub fn try_open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        let (&version, rest) = sealed.split_first()?;
        let (&id_len, rest) = rest.split_first()?;
        if version != VERSION || rest.len() < id_len as usize + 12 + 16 {
            return None;
        }
        let (id, rest) = rest.split_at(id_len as usize);
        let (nonce, ciphertext) = rest.split_at(12);
        let key = std::str::from_utf8(id)
            .ok()
            .and_then(|id| self.keys.get(id))?;
        key.decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: id,
            },
        )
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    fn cipher(keys: &str) -> Cipher {
        Cipher::from_settings(&SecretSettings {
            keys: Secret::new(keys),
        })
        .unwrap()
        .unwrap()
    }

    #[test]
    fn round_trip_and_rotation() {
        let old = Cipher::generate_key("k1");
        let new = Cipher::generate_key("k2");
        let before = cipher(&old).seal(b"token");
        let rotated = cipher(&format!("{new},{old}"));
        assert_eq!(
            rotated.open(&before).unwrap(),
            b"token",
            "old values still open"
        );
        let after = rotated.seal(b"token");
        assert_eq!(after[2..4], *b"k2", "new values use the first key");
        assert!(
            cipher(&new).open(&before).is_err(),
            "a removed key cannot open"
        );
    }

    #[test]
    fn tampering_is_detected() {
        let c = cipher(&Cipher::generate_key("k"));
        let mut sealed = c.seal(b"secret");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(c.open(&sealed).is_err());
        assert!(c.open(b"").is_err());
        assert!(!String::from_utf8_lossy(&c.seal(b"plaintext-marker")).contains("plaintext-marker"));
    }

    #[test]
    fn configuration_errors() {
        let s = |k: &str| {
            Cipher::from_settings(&SecretSettings {
                keys: Secret::new(k),
            })
        };
        assert!(s("").unwrap().is_none());
        assert!(s("nocolon").is_err());
        assert!(s("k:notbase64!").is_err());
        assert!(s("k:AAAA").is_err());
    }
}
