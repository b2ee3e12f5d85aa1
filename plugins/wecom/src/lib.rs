//! The WeCom channel: posts each delivery to a WeCom group robot as one markdown message.
//!
//! WeCom robots have no signature: the `key` in the URL is the credential. Like DingTalk,
//! WeCom answers errors with HTTP 200, so the `errcode` of the body decides.
#![deny(missing_docs)]

mod render;

use msghub_compose::answer::{http_failure, json_code};
use msghub_compose::endpoint::{Endpoint, PathRule};
use msghub_compose::words::check_locale;
use msghub_sdk::http::{self, Request, Response};
use msghub_sdk::{Channel, Delivery, PluginInfo, Receipt, SendError, export_channel};
use serde::Deserialize;

pub use render::render;

/// The plugin.
pub struct WeCom;

/// A WeCom channel's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The robot's webhook URL, key included.
    pub webhook_url: String,
    /// `en` or `zh-CN` for the fixed words; the delivery's locale when absent.
    pub locale: Option<String>,
}

/// The robot API's host.
pub const HOST: &str = "qyapi.weixin.qq.com";

const ENDPOINT: Endpoint<'static> = Endpoint {
    field: "webhook_url",
    hosts: &[HOST],
    path: PathRule::Exact("/cgi-bin/webhook/send"),
    query_key: Some("key"),
    example: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...",
};

/// The robot's key is wrong or the robot was removed.
const INVALID_KEY: i64 = 93_000;
/// The robot's frequency limit (20 a minute).
const TOO_FREQUENT: i64 = 45_009;

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["webhook_url"],
  "additionalProperties": false,
  "properties": {
    "webhook_url": {"type": "string", "format": "uri", "writeOnly": true, "description": "The group robot's webhook URL, https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...; the key is its credential."},
    "locale": {"type": "string", "enum": ["en", "zh-CN"], "description": "The language of the fixed words; the delivery's locale by default."}
  }
}"#;

impl Channel for WeCom {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "wecom",
            env!("CARGO_PKG_VERSION"),
            "Posts messages to a WeCom (WeChat Work) group through a group robot, as markdown.",
        )
        .with_config_schema(SCHEMA)
        .with_hosts([HOST])
        .with_rate_limit(20, 60)
    }

    fn check_config(config: &Config) -> Result<(), String> {
        ENDPOINT.check(&config.webhook_url)?;
        check_locale(config.locale.as_deref())
    }

    fn send(config: Config, delivery: &Delivery) -> Result<Receipt, SendError> {
        let request = Request::post(&config.webhook_url).json(&render(&config, delivery));
        outcome(&http::send(&request)?)
    }
}

/// What WeCom's answer means for the delivery: its `errcode`, whatever the HTTP status.
pub fn outcome(response: &Response) -> Result<Receipt, SendError> {
    let Some((code, message)) = json_code(&response.body, "errcode", "errmsg") else {
        if let Some(failure) = http_failure("WeCom", response) {
            return Err(failure);
        }
        response.error_for_status()?;
        return Err(SendError::permanent(format!(
            "WeCom answered HTTP {} without an errcode: is webhook_url a WeCom robot?",
            response.status
        )));
    };
    match code {
        0 => Ok(Receipt {
            remote_id: None,
            detail: Some(format!("errcode 0: {message}")),
        }),
        TOO_FREQUENT => Err(SendError::rate_limited(
            format!("WeCom throttled the robot (errcode {code}: {message})"),
            response.retry_after_secs(),
        )),
        INVALID_KEY => Err(SendError::permanent(format!(
            "WeCom does not know the robot's key (errcode {code}: {message}): copy the \
             webhook URL again from the robot's settings"
        ))),
        _ if response.status >= 500 => Err(SendError::retryable(format!(
            "WeCom failed for now (HTTP {}, errcode {code}: {message})",
            response.status
        ))),
        _ => Err(SendError::permanent(format!(
            "WeCom refused the message (errcode {code}: {message})"
        ))),
    }
}

export_channel!(WeCom);

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn errcodes_decide_whatever_the_status() {
        assert!(outcome(&answer(200, r#"{"errcode":0,"errmsg":"ok"}"#)).is_ok());
        assert!(matches!(
            outcome(&answer(
                200,
                r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#
            )),
            Err(SendError::RateLimited(_))
        ));
        let invalid = outcome(&answer(
            200,
            r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#,
        ));
        assert!(
            matches!(&invalid, Err(SendError::Permanent(m)) if m.contains("key")),
            "{invalid:?}"
        );
        assert!(matches!(
            outcome(&answer(502, "bad gateway")),
            Err(SendError::Retryable(_))
        ));
        assert!(matches!(
            outcome(&answer(429, "")),
            Err(SendError::RateLimited(_))
        ));
    }

    #[test]
    fn configurations_are_checked_with_actionable_messages() {
        let ok = r#"{"webhook_url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}"#;
        assert_eq!(WeCom::validate_config(ok), Ok(()));
        for (config, expected) in [
            (
                r#"{"webhook_url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"}"#,
                "key",
            ),
            (
                r#"{"webhook_url": "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}"#,
                "https://",
            ),
            (
                r#"{"webhook_url": "https://example.com/cgi-bin/webhook/send?key=k"}"#,
                "qyapi.weixin.qq.com",
            ),
            (r#"{"webhook_url": 5}"#, "invalid type"),
        ] {
            let e = WeCom::validate_config(config).unwrap_err();
            assert!(e.contains(expected), "{config}: {e}");
        }
    }

    #[test]
    fn info_marks_the_url_secret_and_declares_the_host_and_limit() {
        let info = WeCom::info();
        let schema: serde_json::Value = serde_json::from_str(&info.config_schema).unwrap();
        assert_eq!(schema["properties"]["webhook_url"]["writeOnly"], true);
        assert_eq!(info.hosts, [HOST]);
        assert_eq!(
            info.rate_limit.map(|r| (r.count, r.period_secs)),
            Some((20, 60))
        );
    }
}
