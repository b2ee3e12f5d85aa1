//! The custom webhook channel: posts each delivery as JSON to a URL the user chooses,
//! signed as [Standard Webhooks](https://www.standardwebhooks.com/) say, so that receivers
//! can verify it with any Standard Webhooks library.
//!
//! - `payload`: the body, `{"type": "message.created" | "message.digest", "timestamp",
//!   "data"}`.
//! - `signature`: the `webhook-*` headers, signed with every active secret during a
//!   rotation.
//!
//! The target host is the user's: the plugin declares a user-supplied host, and the host
//! lets it reach public addresses only (or the operator's allow-listed networks).
#![deny(missing_docs)]

mod payload;
mod signature;

use std::collections::BTreeMap;

use msghub_compose::endpoint::{Endpoint, PathRule};
use msghub_compose::words::check_locale;
use msghub_sdk::http::{self, Request, Response};
use msghub_sdk::{Channel, Delivery, PluginInfo, Receipt, SendError, export_channel};
use serde::Deserialize;

pub use payload::payload;
pub use signature::{Secret, sign};

/// The plugin.
pub struct Webhook;

/// A custom webhook channel's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to post.
    pub url: String,
    /// The signing secret, `whsec_` + Base64.
    pub secret: Option<String>,
    /// Several signing secrets, during a rotation: every one signs each delivery.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Extra headers to send, e.g. a receiver's own token.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Accepted like every channel's; the payload itself has no fixed words.
    pub locale: Option<String>,
}

impl Config {
    /// The active secrets, in order.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.secret.iter().chain(&self.secrets).map(String::as_str)
    }
}

const ENDPOINT: Endpoint<'static> = Endpoint {
    field: "url",
    hosts: &[],
    path: PathRule::Any,
    query_key: None,
    example: "https://hooks.example.com/msghub",
};

/// Headers the plugin sets itself, or that HTTP reserves.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "connection",
    "transfer-encoding",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["url"],
  "additionalProperties": false,
  "properties": {
    "url": {"type": "string", "format": "uri", "description": "Where to post, an https URL on a public host."},
    "secret": {"type": "string", "pattern": "^whsec_", "writeOnly": true, "description": "The Standard Webhooks signing secret, whsec_ followed by Base64."},
    "secrets": {"type": "array", "items": {"type": "string", "pattern": "^whsec_"}, "writeOnly": true, "description": "Several signing secrets during a rotation; each delivery is signed with every one."},
    "headers": {"type": "object", "additionalProperties": {"type": "string"}, "writeOnly": true, "description": "Extra headers to send, e.g. the receiver's own token."},
    "locale": {"type": "string", "enum": ["en", "zh-CN"]}
  }
}"#;

impl Channel for Webhook {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "webhook",
            env!("CARGO_PKG_VERSION"),
            "Posts messages as JSON to your own URL, signed as Standard Webhooks.",
        )
        .with_config_schema(SCHEMA)
        .with_user_supplied_host()
    }

    fn check_config(config: &Config) -> Result<(), String> {
        ENDPOINT.check(&config.url)?;
        match (&config.secret, config.secrets.is_empty()) {
            (None, true) => {
                return Err("set secret (whsec_...) so that the receiver can verify \
                            deliveries, or secrets: [...] during a rotation"
                    .to_owned());
            }
            (Some(_), false) => {
                return Err("set either secret or secrets, not both: list every active \
                            secret in secrets during a rotation"
                    .to_owned());
            }
            _ => {}
        }
        for secret in config.secrets() {
            Secret::parse(secret)?;
        }
        for (name, value) in &config.headers {
            check_header(name, value)?;
        }
        check_locale(config.locale.as_deref())
    }

    fn send(config: Config, delivery: &Delivery) -> Result<Receipt, SendError> {
        let secrets = config
            .secrets()
            .map(Secret::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(SendError::Permanent)?;
        let body = payload(delivery).to_string();
        let timestamp = delivery.timestamp_ms / 1000;
        let signature = sign(
            &secrets,
            &delivery.idempotency_key,
            timestamp,
            body.as_bytes(),
        );
        let mut request = Request::post(&config.url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.idempotency_key)
            .header("webhook-timestamp", &timestamp.to_string())
            .header("webhook-signature", &signature);
        for (name, value) in &config.headers {
            request = request.header(name, value);
        }
        outcome(&http::send(&request.body(body))?)
    }
}

fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(format!(
            "headers: '{name}' is not a valid header name (letters, digits and - only)"
        ));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "headers: '{name}' is set by msghub itself; remove it from headers"
        ));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(format!(
            "headers: the value of '{name}' holds a control character (a line break?)"
        ));
    }
    Ok(())
}

/// What the receiver's answer means: 2xx is success; 3xx a failure (redirects are not
/// followed); 410 permanent; 429, 502, 503 and 504 throttling (with `Retry-After`); other
/// 5xx passing; other 4xx permanent.
pub fn outcome(response: &Response) -> Result<Receipt, SendError> {
    let status = response.status;
    let said = || msghub_sdk::text::truncate(response.text().trim(), 200);
    match status {
        200..=299 => Ok(Receipt {
            remote_id: None,
            detail: Some(format!("HTTP {status}")),
        }),
        429 | 502..=504 => Err(SendError::rate_limited(
            format!(
                "the receiver asked to slow down (HTTP {status}): {}",
                said()
            ),
            response.retry_after_secs(),
        )),
        500..=599 => Err(SendError::retryable(format!(
            "the receiver failed for now (HTTP {status}): {}",
            said()
        ))),
        300..=399 => Err(SendError::permanent(format!(
            "the receiver answered a redirect (HTTP {status}), which msghub does not follow: \
             set url to the final address"
        ))),
        410 => Err(SendError::permanent(format!(
            "the receiver is gone (HTTP 410): {}; remove or update the channel",
            said()
        ))),
        _ => Err(SendError::permanent(format!(
            "the receiver refused the delivery (HTTP {status}): {}",
            said()
        ))),
    }
}

export_channel!(Webhook);

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16) -> Response {
        Response {
            status,
            headers: vec![("retry-after".to_owned(), b"12".to_vec())],
            body: b"said".to_vec(),
        }
    }

    #[test]
    fn statuses_map_as_standard_webhooks_recommend() {
        assert!(outcome(&answer(204)).is_ok());
        for status in [301, 400, 401, 404, 410, 422] {
            assert!(
                matches!(outcome(&answer(status)), Err(SendError::Permanent(_))),
                "{status}"
            );
        }
        for status in [429, 502, 503, 504] {
            assert_eq!(
                outcome(&answer(status)).unwrap_err(),
                SendError::rate_limited(
                    format!("the receiver asked to slow down (HTTP {status}): said"),
                    Some(12)
                )
            );
        }
        for status in [500, 501, 507] {
            assert!(
                matches!(outcome(&answer(status)), Err(SendError::Retryable(_))),
                "{status}"
            );
        }
    }

    #[test]
    fn configurations_are_checked_with_actionable_messages() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let ok = format!(
            r#"{{"url": "https://hooks.example.com/in", "secret": "{secret}", "headers": {{"X-Token": "t"}}}}"#
        );
        assert_eq!(Webhook::validate_config(&ok), Ok(()));
        let rotation = format!(
            r#"{{"url": "https://hooks.example.com/in", "secrets": ["{secret}", "{secret}"]}}"#
        );
        assert_eq!(Webhook::validate_config(&rotation), Ok(()));
        for (config, expected) in [
            (
                r#"{"url": "https://hooks.example.com/in"}"#.to_owned(),
                "set secret",
            ),
            (
                format!(r#"{{"url": "ftp://x.example/in", "secret": "{secret}"}}"#),
                "https://",
            ),
            (
                format!(r#"{{"url": "http://x.example/in", "secret": "{secret}"}}"#),
                "https://",
            ),
            (
                r#"{"url": "https://x.example/in", "secret": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}"#
                    .to_owned(),
                "whsec_",
            ),
            (
                r#"{"url": "https://x.example/in", "secret": "whsec_not*base64"}"#.to_owned(),
                "Base64",
            ),
            (
                r#"{"url": "https://x.example/in", "secret": "whsec_c2hvcnQ="}"#.to_owned(),
                "24 to 64",
            ),
            (
                format!(
                    r#"{{"url": "https://x.example/in", "secret": "{secret}", "secrets": ["{secret}"]}}"#
                ),
                "not both",
            ),
            (
                format!(
                    r#"{{"url": "https://x.example/in", "secret": "{secret}", "headers": {{"webhook-id": "x"}}}}"#
                ),
                "set by msghub",
            ),
            (
                format!(
                    r#"{{"url": "https://x.example/in", "secret": "{secret}", "headers": {{"X-A": "a\r\nb"}}}}"#
                ),
                "control",
            ),
        ] {
            let e = Webhook::validate_config(&config).unwrap_err();
            assert!(e.contains(expected), "{config}: {e}");
        }
    }

    #[test]
    fn info_declares_a_user_supplied_host_and_secret_fields() {
        let info = Webhook::info();
        assert!(info.user_supplied_host);
        assert!(info.hosts.is_empty());
        let schema: serde_json::Value = serde_json::from_str(&info.config_schema).unwrap();
        for field in ["secret", "secrets", "headers"] {
            assert_eq!(schema["properties"][field]["writeOnly"], true, "{field}");
        }
    }
}
