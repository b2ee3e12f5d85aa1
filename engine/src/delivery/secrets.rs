//! Channel secrets: sealed at rest (XChaCha20-Poly1305) with the operator's key, or with a
//! key generated on first start and kept 0600 beside the store, and redacted in every
//! answer. Only an in-memory store without a key keeps configurations plain.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::{Error, StorageError};

/// The name of the file, beside the store, that keeps a generated secret key.
pub const SECRET_KEY_FILE: &str = "secret-key";

/// The operator's key that seals channel configurations at rest: 32 bytes, given as
/// base64 (e.g. `MSGHUB_SECRET_KEY`, made with `openssl rand -base64 32`).
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// Reads a key from base64 text.
    pub fn from_base64(text: &str) -> Result<SecretKey, Error> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| {
            Error::invalid(
                "MSGHUB_SECRET_KEY",
                "the secret key is not base64; make one with 'openssl rand -base64 32'",
            )
        })?;
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            Error::invalid(
                "MSGHUB_SECRET_KEY",
                format!(
                    "the secret key has {} bytes, it needs 32; make one with 'openssl rand -base64 32'",
                    b.len()
                ),
            )
        })?;
        Ok(SecretKey(key))
    }

    /// A new random key.
    pub fn generate() -> SecretKey {
        let mut key = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut key);
        SecretKey(key)
    }

    /// The key kept in the file at `path` (base64, as `MSGHUB_SECRET_KEY` takes it), or a
    /// new one written there only its owner can read when the file does not exist yet.
    /// Returns the key and whether it was generated now.
    pub fn load_or_create(path: &std::path::Path) -> Result<(SecretKey, bool), Error> {
        let unusable = |e: std::io::Error| {
            Error::invalid(
                "secret_key_file",
                format!("cannot use the secret key file {}: {e}", path.display()),
            )
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let key = SecretKey::from_base64(&text).map_err(|e| {
                    Error::invalid(
                        "secret_key_file",
                        format!("the secret key file {} is not usable: {e}", path.display()),
                    )
                })?;
                Ok((key, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretKey::generate();
                let text = format!("{}\n", STANDARD.encode(key.0));
                crate::private_files::write(path, text.as_bytes()).map_err(unusable)?;
                Ok((key, true))
            }
            Err(e) => Err(unusable(e)),
        }
    }

    /// A short fingerprint of the key, stored with the sealed configurations so that a
    /// store opened with another key is refused at once instead of failing channel by
    /// channel. It reveals nothing useful about the key (64 bits of a SHA-256).
    pub(crate) fn fingerprint(&self) -> u64 {
        use sha2::Digest as _;
        let digest = sha2::Sha256::new()
            .chain_update(b"msghub secret key fingerprint v1")
            .chain_update(self.0)
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first)
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

/// Seals and opens channel configurations.
#[derive(Default)]
pub(crate) struct Secrets {
    cipher: Option<XChaCha20Poly1305>,
    fingerprint: Option<u64>,
}

impl Secrets {
    pub(crate) fn new(key: Option<&SecretKey>) -> Secrets {
        Secrets {
            cipher: key.map(|k| XChaCha20Poly1305::new((&k.0).into())),
            fingerprint: key.map(SecretKey::fingerprint),
        }
    }

    /// The fingerprint of the key, if there is one.
    pub(crate) fn fingerprint(&self) -> Option<u64> {
        self.fingerprint
    }

    /// The bytes to store for `text`, and whether they are sealed.
    pub(crate) fn seal(&self, text: &str) -> Result<(Vec<u8>, bool), Error> {
        let Some(cipher) = &self.cipher else {
            return Ok((text.as_bytes().to_vec(), false));
        };
        let mut nonce = [0u8; 24];
        rand::Rng::fill(&mut rand::rng(), &mut nonce);
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), text.as_bytes())
            .map_err(|_| StorageError::Commit("cannot seal a channel configuration".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok((out, true))
    }

    /// The text of stored bytes.
    pub(crate) fn open(&self, bytes: &[u8], sealed: bool) -> Result<String, String> {
        if !sealed {
            return String::from_utf8(bytes.to_vec())
                .map_err(|_| "the stored channel configuration is not UTF-8".to_owned());
        }
        let Some(cipher) = &self.cipher else {
            return Err(
                "the channel configuration is sealed; start msghub with the MSGHUB_SECRET_KEY it was sealed with"
                    .to_owned(),
            );
        };
        if bytes.len() < 24 {
            return Err("the sealed channel configuration is damaged".to_owned());
        }
        let (nonce, body) = bytes.split_at(24);
        let plain = cipher.decrypt(XNonce::from_slice(nonce), body).map_err(|_| {
            "the channel configuration cannot be opened with this MSGHUB_SECRET_KEY (was it changed?)"
                .to_owned()
        })?;
        String::from_utf8(plain).map_err(|_| "the channel configuration is not UTF-8".to_owned())
    }
}

/// `config` with every secret field replaced by `***`.
pub(crate) fn redact(mut config: serde_json::Value, secret_fields: &[String]) -> serde_json::Value {
    if let Some(object) = config.as_object_mut() {
        for field in secret_fields {
            if let Some(value) = object.get_mut(field)
                && !value.is_null()
            {
                *value = serde_json::Value::String(super::REDACTED.to_owned());
            }
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_configs_open_only_with_their_key() {
        let key = SecretKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        let secrets = Secrets::new(Some(&key));
        let (bytes, sealed) = secrets.seal(r#"{"secret":"s3cr3t"}"#).unwrap();
        assert!(sealed);
        assert!(!String::from_utf8_lossy(&bytes).contains("s3cr3t"));
        assert_eq!(
            secrets.open(&bytes, true).unwrap(),
            r#"{"secret":"s3cr3t"}"#
        );
        let other = SecretKey::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        assert!(Secrets::new(Some(&other)).open(&bytes, true).is_err());
        assert!(
            Secrets::new(None)
                .open(&bytes, true)
                .unwrap_err()
                .contains("MSGHUB_SECRET_KEY")
        );
        assert!(SecretKey::from_base64("c2hvcnQ=").is_err());
    }

    #[test]
    fn redaction_hides_only_secret_fields() {
        let config = serde_json::json!({"webhook_url": "https://x", "secret": "s", "none": null});
        let shown = redact(config, &["secret".into(), "none".into()]);
        assert_eq!(
            shown,
            serde_json::json!({"webhook_url": "https://x", "secret": "***", "none": null})
        );
    }
}
