//! Signatures and encodings that chat robots and webhooks ask for.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Standard Base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard Base64 with padding; `None` when `text` is not Base64.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dingtalk_signature_matches_the_documented_vector() {
        let secret = "SECtestsecret";
        let mac = hmac_sha256(
            secret.as_bytes(),
            format!("1700000000000\n{secret}").as_bytes(),
        );
        assert_eq!(
            base64_encode(&mac),
            "7LVwF0dAF3/+MRRulbpE4y72Ogzykc6bS2nG4I99T4s="
        );
    }

    #[test]
    fn standard_webhooks_signature_matches_the_documented_vector() {
        let key = base64_decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let mac = hmac_sha256(
            &key,
            br#"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}"#,
        );
        assert_eq!(
            base64_encode(&mac),
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn base64_rejects_what_is_not_base64() {
        assert_eq!(base64_decode("not base64!"), None);
    }
}
