//! Standard Webhooks signatures: `v1,` + Base64(HMAC-SHA256(key = the secret's bytes,
//! message = id + "." + timestamp + "." + body)), one per active secret, separated by
//! spaces.

use msghub_sdk::sign::{base64_decode, base64_encode, hmac_sha256};

/// A signing secret's key bytes, from its `whsec_` form.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// Reads `whsec_` + Base64 of 24 to 64 bytes, as Standard Webhooks recommend.
    pub fn parse(text: &str) -> Result<Secret, String> {
        let Some(encoded) = text.strip_prefix("whsec_") else {
            return Err(
                "secret must start with whsec_ (a Standard Webhooks secret: whsec_ \
                        followed by the Base64 of 24 to 64 random bytes)"
                    .to_owned(),
            );
        };
        let key = base64_decode(encoded).ok_or_else(|| {
            "secret: what follows whsec_ is not Base64; generate it with e.g. \
             `echo whsec_$(openssl rand -base64 32)`"
                .to_owned()
        })?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "secret: its key is {} bytes; Standard Webhooks secrets hold 24 to 64 random \
                 bytes (`echo whsec_$(openssl rand -base64 32)`)",
                key.len()
            ));
        }
        Ok(Secret(key))
    }
}

/// The `webhook-signature` header for `body` sent as `id` at `timestamp` (Unix seconds).
pub fn sign(secrets: &[Secret], id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    secrets
        .iter()
        .map(|secret| format!("v1,{}", base64_encode(&hmac_sha256(&secret.0, &signed))))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn the_signature_matches_the_documented_test_vector() {
        let secret = Secret::parse(SECRET).unwrap();
        assert_eq!(
            sign(
                &[secret],
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_rotation_signs_with_every_secret_separated_by_spaces() {
        let old = Secret::parse(SECRET).unwrap();
        let new = Secret::parse("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        let header = sign(
            &[old, new],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(parts[1].starts_with("v1,") && parts[1] != parts[0]);
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let secret = Secret::parse(SECRET).unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(..)");
    }
}
