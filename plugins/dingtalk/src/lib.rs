//! The DingTalk channel: posts each delivery to a DingTalk custom robot as one markdown
//! message, signed when the robot has a signing secret.
//!
//! - `render`: the markdown message (title, severity and category, the body in DingTalk
//!   markdown, the link, the robot's keywords), within DingTalk's size limit.
//! - `answer`: DingTalk's answer, which is HTTP 200 even on error, read by its `errcode`.
//!
//! Signing (the robot's "additional signature" security setting): `timestamp` is the
//! delivery's time in milliseconds, `sign` the URL-encoded Base64 of
//! HMAC-SHA256(key = secret, message = timestamp + "\n" + secret), both added to the query.
#![deny(missing_docs)]

mod answer;
mod render;

use msghub_compose::endpoint::{Endpoint, PathRule};
use msghub_compose::words::check_locale;
use msghub_sdk::http::{self, Request};
use msghub_sdk::sign::{base64_encode, hmac_sha256};
use msghub_sdk::text::percent_encode;
use msghub_sdk::{Channel, Delivery, PluginInfo, Receipt, SendError, export_channel};
use serde::Deserialize;

pub use answer::outcome;
pub use render::render;

/// The plugin.
pub struct DingTalk;

/// A DingTalk channel's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The robot's webhook URL, access token included.
    pub webhook_url: String,
    /// The robot's signing secret (`SEC...`), when its security setting asks for signatures.
    pub secret: Option<String>,
    /// The robot's custom keywords: a message must contain one to be accepted, so the
    /// missing ones are added at its end.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// `en` or `zh-CN` for the fixed words; the delivery's locale when absent.
    pub locale: Option<String>,
}

/// The robot API's host.
pub const HOST: &str = "oapi.dingtalk.com";

const ENDPOINT: Endpoint<'static> = Endpoint {
    field: "webhook_url",
    hosts: &[HOST],
    path: PathRule::Exact("/robot/send"),
    query_key: Some("access_token"),
    example: "https://oapi.dingtalk.com/robot/send?access_token=...",
};

/// DingTalk accepts at most 10 keywords per robot.
const MAX_KEYWORDS: usize = 10;

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["webhook_url"],
  "additionalProperties": false,
  "properties": {
    "webhook_url": {"type": "string", "format": "uri", "writeOnly": true, "description": "The robot's webhook URL from the group's robot settings, https://oapi.dingtalk.com/robot/send?access_token=...; it holds the robot's token."},
    "secret": {"type": "string", "pattern": "^SEC[0-9A-Za-z]+$", "writeOnly": true, "description": "The robot's signing secret (security settings > additional signature), starting with SEC."},
    "keywords": {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 10, "description": "The robot's custom keywords; each message is made to contain them."},
    "locale": {"type": "string", "enum": ["en", "zh-CN"], "description": "The language of the fixed words; the delivery's locale by default."}
  }
}"#;

impl Channel for DingTalk {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "dingtalk",
            env!("CARGO_PKG_VERSION"),
            "Posts messages to a DingTalk group through a custom robot, as markdown.",
        )
        .with_config_schema(SCHEMA)
        .with_hosts([HOST])
        // 20 messages a minute per robot; beyond it DingTalk throttles the robot 10 minutes.
        .with_rate_limit(20, 60)
    }

    fn check_config(config: &Config) -> Result<(), String> {
        ENDPOINT.check(&config.webhook_url)?;
        if let Some(secret) = &config.secret {
            check_secret(secret)?;
        }
        if config.keywords.len() > MAX_KEYWORDS {
            return Err(format!(
                "keywords: DingTalk robots take at most {MAX_KEYWORDS} keywords"
            ));
        }
        if config.keywords.iter().any(|k| k.trim().is_empty()) {
            return Err("keywords: remove the empty keyword".to_owned());
        }
        check_locale(config.locale.as_deref())
    }

    fn send(config: Config, delivery: &Delivery) -> Result<Receipt, SendError> {
        let url = match &config.secret {
            Some(secret) => signed_url(&config.webhook_url, secret, delivery.timestamp_ms),
            None => config.webhook_url.clone(),
        };
        let request = Request::post(&url)
            .header("content-type", "application/json;charset=utf-8")
            .body(render(&config, delivery).to_string());
        outcome(&http::send(&request)?)
    }
}

fn check_secret(secret: &str) -> Result<(), String> {
    let well_formed = secret.len() > 3
        && secret.starts_with("SEC")
        && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    if well_formed {
        Ok(())
    } else {
        Err(
            "secret must be the robot's signing secret as DingTalk shows it (security \
             settings > additional signature): letters and digits starting with SEC"
                .to_owned(),
        )
    }
}

/// The signature of a request at `timestamp_ms`: Base64(HMAC-SHA256(key = secret,
/// message = timestamp_ms + "\n" + secret)), before URL-encoding.
pub fn signature(secret: &str, timestamp_ms: u64) -> String {
    let message = format!("{timestamp_ms}\n{secret}");
    base64_encode(&hmac_sha256(secret.as_bytes(), message.as_bytes()))
}

/// The webhook URL with `timestamp` and the URL-encoded `sign` added to its query.
pub fn signed_url(webhook_url: &str, secret: &str, timestamp_ms: u64) -> String {
    let sign = percent_encode(&signature(secret, timestamp_ms));
    format!("{webhook_url}&timestamp={timestamp_ms}&sign={sign}")
}

export_channel!(DingTalk);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_the_documented_test_vector() {
        assert_eq!(
            signature("SECtestsecret", 1_700_000_000_000),
            "7LVwF0dAF3/+MRRulbpE4y72Ogzykc6bS2nG4I99T4s="
        );
    }

    #[test]
    fn the_signed_url_carries_milliseconds_and_the_url_encoded_signature() {
        assert_eq!(
            signed_url(
                "https://oapi.dingtalk.com/robot/send?access_token=T",
                "SECtestsecret",
                1_700_000_000_000
            ),
            "https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=1700000000000\
             &sign=7LVwF0dAF3%2F%2BMRRulbpE4y72Ogzykc6bS2nG4I99T4s%3D"
        );
    }

    #[test]
    fn configurations_are_checked_with_actionable_messages() {
        let ok = r#"{"webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=t", "secret": "SECabc123", "keywords": ["alert"]}"#;
        assert_eq!(DingTalk::validate_config(ok), Ok(()));
        let bad = [
            (r#"{}"#, "missing field `webhook_url`"),
            (
                r#"{"webhook_url": "http://oapi.dingtalk.com/robot/send?access_token=t"}"#,
                "https://",
            ),
            (
                r#"{"webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=t", "secret": "abc"}"#,
                "starting with SEC",
            ),
            (
                r#"{"webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=t", "keywords": [" "]}"#,
                "empty keyword",
            ),
            (
                r#"{"webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=t", "locale": "fr"}"#,
                "locale",
            ),
        ];
        for (config, expected) in bad {
            let e = DingTalk::validate_config(config).unwrap_err();
            assert!(e.contains(expected), "{config}: {e}");
        }
    }

    #[test]
    fn info_marks_secrets_and_declares_the_host_and_limit() {
        let info = DingTalk::info();
        let schema: serde_json::Value = serde_json::from_str(&info.config_schema).unwrap();
        assert_eq!(schema["properties"]["webhook_url"]["writeOnly"], true);
        assert_eq!(schema["properties"]["secret"]["writeOnly"], true);
        assert_eq!(info.hosts, ["oapi.dingtalk.com"]);
        assert_eq!(
            info.rate_limit.map(|r| (r.count, r.period_secs)),
            Some((20, 60))
        );
    }
}
