//! Channel secrets: sealed at rest (XChaCha20-Poly1305) with the operator's key, or with a
//! key generated on first start and kept 0600 beside the store, and redacted in every
//! answer. Only an in-memory store without a key keeps configurations plain.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::{Error, StorageError};

/// What redacted secrets read as in every answer.
pub const REDACTED: &str = "***";

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
pub(crate) struct Secrets {
    cipher: Option<XChaCha20Poly1305>,
    fingerprint: Option<u64>,
    /// The key that signs unsubscribe tokens: derived from the sealing key, so links stay
    /// valid across restarts; random for a store without a key (in memory), whose links
    /// die with it.
    unsubscribe: [u8; 32],
}

impl Secrets {
    pub(crate) fn new(key: Option<&SecretKey>) -> Secrets {
        Secrets {
            cipher: key.map(|k| XChaCha20Poly1305::new((&k.0).into())),
            fingerprint: key.map(SecretKey::fingerprint),
            unsubscribe: match key {
                Some(k) => {
                    use sha2::Digest as _;
                    sha2::Sha256::new()
                        .chain_update(b"msghub unsubscribe token key v1")
                        .chain_update(k.0)
                        .finalize()
                        .into()
                }
                None => rand::random(),
            },
        }
    }

    /// The key that signs unsubscribe tokens (never the sealing key itself).
    pub(crate) fn unsubscribe_key(&self) -> &[u8; 32] {
        &self.unsubscribe
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

/// `config` as callers may see it: every field the plugin's `schema` marks secret
/// (`"writeOnly": true` or `"x-secret": true`, at any depth of `properties` and `items`)
/// reads `***`, and so do the credentials inside any URL (its userinfo and every query or
/// fragment value), whatever field holds it.
pub(crate) fn redact(
    mut config: serde_json::Value,
    schema: &serde_json::Value,
) -> serde_json::Value {
    redact_marked(&mut config, schema);
    redact_urls(&mut config);
    config
}

/// `config` as callers may see it when its plugin's schema is not known (the plugin is
/// still loading, failed to load, or is gone): any field may be secret, so every value
/// reads `***` and only the shape (names, lists, nulls) shows.
pub(crate) fn redact_all(config: serde_json::Value) -> serde_json::Value {
    match config {
        serde_json::Value::Null => serde_json::Value::Null,
        serde_json::Value::Array(items) => items.into_iter().map(redact_all).collect(),
        serde_json::Value::Object(fields) => fields
            .into_iter()
            .map(|(name, value)| (name, redact_all(value)))
            .collect(),
        _ => serde_json::Value::String(REDACTED.to_owned()),
    }
}

/// Whether a property's schema marks it secret.
fn is_secret(schema: &serde_json::Value) -> bool {
    ["writeOnly", "x-secret"]
        .iter()
        .any(|mark| schema.get(mark) == Some(&serde_json::Value::Bool(true)))
}

/// Replaces the values the schema marks secret, walking objects and arrays alongside it.
fn redact_marked(value: &mut serde_json::Value, schema: &serde_json::Value) {
    match value {
        serde_json::Value::Object(object) => {
            let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) else {
                return;
            };
            for (name, property) in properties {
                let Some(field) = object.get_mut(name) else {
                    continue;
                };
                if is_secret(property) {
                    if !field.is_null() {
                        *field = serde_json::Value::String(REDACTED.to_owned());
                    }
                } else {
                    redact_marked(field, property);
                }
            }
        }
        serde_json::Value::Array(items) => {
            let Some(item_schema) = schema.get("items") else {
                return;
            };
            for item in items {
                if is_secret(item_schema) {
                    *item = serde_json::Value::String(REDACTED.to_owned());
                } else {
                    redact_marked(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

/// Redacts the credentials of every string that is a URL, at any depth.
fn redact_urls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) => {
            if let Some(shown) = redact_url(text) {
                *text = shown;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_urls),
        serde_json::Value::Object(object) => object.values_mut().for_each(redact_urls),
        _ => {}
    }
}

/// `text` with the credentials of a URL replaced by `***`: the userinfo
/// (`https://***@host/`) and the value of every query and fragment parameter
/// (`?token=***`), since any of them may be a key. `None` when it is not a URL or holds
/// nothing to hide.
fn redact_url(text: &str) -> Option<String> {
    let (scheme, rest) = text.split_once("://")?;
    let is_scheme = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !is_scheme {
        return None;
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("{}@{host}", REDACTED),
        None => authority.to_owned(),
    };
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (tail, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (before_fragment, None),
    };
    let mut shown = format!("{scheme}://{host}{path}");
    if let Some(query) = query {
        shown.push('?');
        shown.push_str(&redact_parameters(query));
    }
    if let Some(fragment) = fragment {
        shown.push('#');
        shown.push_str(&redact_parameters(fragment));
    }
    (shown != text).then_some(shown)
}

/// `a=1&b=2` as `a=***&b=***`; a part without `=` stays as it is.
fn redact_parameters(parameters: &str) -> String {
    parameters
        .split('&')
        .map(|part| match part.split_once('=') {
            Some((name, _)) => format!("{name}={}", REDACTED),
            None => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
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
    fn without_a_schema_every_value_is_redacted_and_the_shape_kept() {
        let config = serde_json::json!({
            "url": "https://x", "secret": "s", "none": null, "port": 25,
            "to": ["a@example.com"], "auth": {"user": "ops"}
        });
        assert_eq!(
            redact_all(config),
            serde_json::json!({
                "url": "***", "secret": "***", "none": null, "port": "***",
                "to": ["***"], "auth": {"user": "***"}
            })
        );
    }

    #[test]
    fn redaction_hides_only_secret_fields() {
        let schema = serde_json::json!({"properties": {
            "webhook_url": {"type": "string"},
            "secret": {"type": "string", "writeOnly": true},
            "none": {"type": "string", "x-secret": true}
        }});
        let config = serde_json::json!({"webhook_url": "https://x", "secret": "s", "none": null});
        assert_eq!(
            redact(config, &schema),
            serde_json::json!({"webhook_url": "https://x", "secret": "***", "none": null})
        );
    }

    #[test]
    fn a_secret_in_a_nested_object_of_the_schema_is_redacted() {
        let schema = serde_json::json!({"properties": {
            "auth": {"type": "object", "properties": {
                "user": {"type": "string"},
                "password": {"type": "string", "writeOnly": true}
            }},
            "headers": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"},
                "value": {"type": "string", "x-secret": true}
            }}}
        }});
        let config = serde_json::json!({
            "auth": {"user": "ops", "password": "hunter2"},
            "headers": [{"name": "X-Api-Key", "value": "k-123"}]
        });
        assert_eq!(
            redact(config, &schema),
            serde_json::json!({
                "auth": {"user": "ops", "password": "***"},
                "headers": [{"name": "X-Api-Key", "value": "***"}]
            })
        );
    }

    #[test]
    fn credentials_inside_urls_are_redacted_in_any_field() {
        let schema = serde_json::json!({"properties": {"url": {"type": "string"}}});
        let shown = |url: &str| {
            redact(
                serde_json::json!({"url": url, "nested": {"also": url}}),
                &schema,
            )
        };
        for (url, want) in [
            (
                "https://user:pass@hooks.example.com/in",
                "https://***@hooks.example.com/in",
            ),
            (
                "https://hooks.example.com/path?token=abc&sig=x",
                "https://hooks.example.com/path?token=***&sig=***",
            ),
            (
                "https://api.example.com/send?access_token=abc#key=1",
                "https://api.example.com/send?access_token=***#key=***",
            ),
            (
                "https://hooks.example.com/in",
                "https://hooks.example.com/in",
            ),
        ] {
            let config = shown(url);
            assert_eq!(config["url"], want, "{url}");
            assert_eq!(config["nested"]["also"], want, "{url}");
        }
        assert_eq!(
            redact(serde_json::json!("plain text"), &schema),
            "plain text"
        );
    }
}
