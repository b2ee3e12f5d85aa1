//! The Lark / Feishu channel: posts each delivery to a custom bot as one interactive card,
//! signed when the bot has a signing secret.
//!
//! Signing differs from DingTalk's: the timestamp is in seconds, the HMAC-SHA256 **key** is
//! timestamp + "\n" + secret and the message is empty; the Base64 signature and the
//! timestamp go into the JSON body as strings, not into the URL.
#![deny(missing_docs)]

mod render;

use msghub_compose::answer::{http_failure, json_code};
use msghub_compose::endpoint::{Endpoint, PathRule};
use msghub_compose::words::check_locale;
use msghub_sdk::http::{self, Request, Response};
use msghub_sdk::sign::{base64_encode, hmac_sha256};
use msghub_sdk::{Channel, Delivery, PluginInfo, Receipt, SendError, export_channel};
use serde::Deserialize;
use serde_json::{Value, json};

pub use render::card;

/// The plugin.
pub struct Lark;

/// A Lark channel's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The bot's webhook URL, token included (Feishu or Lark).
    pub webhook_url: String,
    /// The bot's signing secret, when its security settings ask for signatures.
    pub secret: Option<String>,
    /// `en` or `zh-CN` for the fixed words; the delivery's locale when absent.
    pub locale: Option<String>,
}

/// Feishu's and Lark's API hosts.
pub const HOSTS: [&str; 2] = ["open.feishu.cn", "open.larksuite.com"];

const ENDPOINT: Endpoint<'static> = Endpoint {
    field: "webhook_url",
    hosts: &HOSTS,
    path: PathRule::Prefix("/open-apis/bot/v2/hook/"),
    query_key: None,
    example: "https://open.feishu.cn/open-apis/bot/v2/hook/...",
};

/// Bad signature, or a timestamp more than an hour from Lark's clock.
const BAD_SIGNATURE: i64 = 19_021;
/// The bot is throttled (100 a minute, 5 a second).
const THROTTLED: i64 = 11_232;

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["webhook_url"],
  "additionalProperties": false,
  "properties": {
    "webhook_url": {"type": "string", "format": "uri", "writeOnly": true, "description": "The custom bot's webhook URL, https://open.feishu.cn/open-apis/bot/v2/hook/... (or open.larksuite.com); it holds the bot's token."},
    "secret": {"type": "string", "minLength": 1, "writeOnly": true, "description": "The bot's signing secret (security settings > signature verification)."},
    "locale": {"type": "string", "enum": ["en", "zh-CN"], "description": "The language of the fixed words; the delivery's locale by default."}
  }
}"#;

impl Channel for Lark {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "lark",
            env!("CARGO_PKG_VERSION"),
            "Posts messages to a Lark / Feishu group through a custom bot, as interactive cards.",
        )
        .with_config_schema(SCHEMA)
        .with_hosts(HOSTS)
        // 100 a minute and 5 a second per bot: the minute is the tighter sustained limit.
        .with_rate_limit(100, 60)
    }

    fn check_config(config: &Config) -> Result<(), String> {
        ENDPOINT.check(&config.webhook_url)?;
        if let Some(secret) = &config.secret {
            let well_formed = !secret.is_empty() && secret.bytes().all(|b| b.is_ascii_graphic());
            if !well_formed {
                return Err("secret must be the bot's signing secret as Lark shows it \
                            (security settings > signature verification), without spaces"
                    .to_owned());
            }
        }
        check_locale(config.locale.as_deref())
    }

    fn send(config: Config, delivery: &Delivery) -> Result<Receipt, SendError> {
        let request = Request::post(&config.webhook_url).json(&body(&config, delivery));
        outcome(&http::send(&request)?)
    }
}

/// The bot's JSON body: the card, with `timestamp` and `sign` when a secret is configured.
pub fn body(config: &Config, delivery: &Delivery) -> Value {
    let mut body = json!({"msg_type": "interactive", "card": card(config, delivery)});
    if let Some(secret) = &config.secret {
        let seconds = delivery.timestamp_ms / 1000;
        body["timestamp"] = json!(seconds.to_string());
        body["sign"] = json!(signature(secret, seconds));
    }
    body
}

/// Base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = empty)).
pub fn signature(secret: &str, timestamp_secs: u64) -> String {
    let key = format!("{timestamp_secs}\n{secret}");
    base64_encode(&hmac_sha256(key.as_bytes(), b""))
}

/// What Lark's answer means for the delivery: its `code` (or the older `StatusCode`).
pub fn outcome(response: &Response) -> Result<Receipt, SendError> {
    if let Some(failure) = http_failure("Lark", response) {
        return Err(failure);
    }
    let code = json_code(&response.body, "code", "msg")
        .or_else(|| json_code(&response.body, "StatusCode", "StatusMessage"));
    let Some((code, message)) = code else {
        response.error_for_status()?;
        return Err(SendError::permanent(format!(
            "Lark answered HTTP {} without a code: is webhook_url a Lark bot?",
            response.status
        )));
    };
    match code {
        0 => Ok(Receipt {
            remote_id: None,
            detail: Some(format!("code 0: {message}")),
        }),
        THROTTLED => Err(SendError::rate_limited(
            format!("Lark throttled the bot (code {code}: {message})"),
            response.retry_after_secs(),
        )),
        BAD_SIGNATURE => Err(SendError::permanent(format!(
            "Lark refused the signature (code {code}: {message}): check the channel's \
             secret, and that the host's clock is right"
        ))),
        _ => Err(SendError::permanent(format!(
            "Lark refused the message (code {code}: {message})"
        ))),
    }
}

export_channel!(Lark);

#[cfg(test)]
mod tests {
    use super::*;
    use msghub_compose::sample::{delivery, message};

    #[test]
    fn the_signature_matches_the_documented_test_vector() {
        assert_eq!(
            signature("testsecret", 1_700_000_000),
            "AOc8oJ7//5OlQlfWC3nRL0R+IkuzcD1FKcAyibRK9Q8="
        );
    }

    #[test]
    fn a_signed_body_carries_seconds_and_the_signature_as_strings() {
        let config = Config {
            webhook_url: "https://open.feishu.cn/open-apis/bot/v2/hook/t".to_owned(),
            secret: Some("testsecret".to_owned()),
            locale: None,
        };
        let body = body(&config, &delivery(vec![message("x")]));
        assert_eq!(body["timestamp"], "1700000000");
        assert_eq!(body["sign"], "AOc8oJ7//5OlQlfWC3nRL0R+IkuzcD1FKcAyibRK9Q8=");
        assert_eq!(body["msg_type"], "interactive");
    }

    fn answer(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn codes_are_mapped_to_outcomes() {
        assert!(outcome(&answer(200, r#"{"code":0,"msg":"success","data":{}}"#)).is_ok());
        assert!(
            outcome(&answer(
                200,
                r#"{"StatusCode":0,"StatusMessage":"success"}"#
            ))
            .is_ok()
        );
        assert!(matches!(
            outcome(&answer(200, r#"{"code":11232,"msg":"frequency limited"}"#)),
            Err(SendError::RateLimited(_))
        ));
        let bad = outcome(&answer(200, r#"{"code":19021,"msg":"sign match fail"}"#));
        assert!(
            matches!(&bad, Err(SendError::Permanent(m)) if m.contains("secret")),
            "{bad:?}"
        );
        assert!(matches!(
            outcome(&answer(500, "")),
            Err(SendError::Retryable(_))
        ));
        assert!(matches!(
            outcome(&answer(400, "x")),
            Err(SendError::Permanent(_))
        ));
    }

    #[test]
    fn configurations_are_checked_with_actionable_messages() {
        let ok = r#"{"webhook_url": "https://open.larksuite.com/open-apis/bot/v2/hook/abc", "secret": "s3cr3t"}"#;
        assert_eq!(Lark::validate_config(ok), Ok(()));
        for (config, expected) in [
            (
                r#"{"webhook_url": "https://open.feishu.cn/open-apis/bot/v2/hook/"}"#,
                "wrong path",
            ),
            (
                r#"{"webhook_url": "http://open.feishu.cn/open-apis/bot/v2/hook/a"}"#,
                "https://",
            ),
            (
                r#"{"webhook_url": "https://open.feishu.cn/open-apis/bot/v2/hook/a", "secret": "a b"}"#,
                "secret",
            ),
        ] {
            let e = Lark::validate_config(config).unwrap_err();
            assert!(e.contains(expected), "{config}: {e}");
        }
        let info = Lark::info();
        let schema: Value = serde_json::from_str(&info.config_schema).unwrap();
        assert_eq!(schema["properties"]["secret"]["writeOnly"], true);
        assert_eq!(
            info.rate_limit.map(|r| (r.count, r.period_secs)),
            Some((100, 60))
        );
    }
}
