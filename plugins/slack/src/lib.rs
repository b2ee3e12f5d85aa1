//! The Slack channel: posts each delivery to an incoming webhook as one Block Kit message
//! in `mrkdwn`.
//!
//! Slack answers `ok` with HTTP 200, and errors as plain text with a 4xx status (all
//! permanent: the webhook was revoked, the channel archived, the payload refused), 429 with
//! `Retry-After` when throttled, 5xx when failing for now.
#![deny(missing_docs)]

mod render;

use msghub_compose::answer::http_failure;
use msghub_compose::endpoint::{Endpoint, PathRule};
use msghub_compose::words::check_locale;
use msghub_sdk::http::{self, Request, Response};
use msghub_sdk::{Channel, Delivery, PluginInfo, Receipt, SendError, export_channel};
use serde::Deserialize;

pub use render::render;

/// The plugin.
pub struct Slack;

/// A Slack channel's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The incoming webhook's URL, which is its credential.
    pub webhook_url: String,
    /// `en` or `zh-CN` for the fixed words; the delivery's locale when absent.
    pub locale: Option<String>,
}

/// The incoming webhooks' host.
pub const HOST: &str = "hooks.slack.com";

const ENDPOINT: Endpoint<'static> = Endpoint {
    field: "webhook_url",
    hosts: &[HOST],
    path: PathRule::Prefix("/services/"),
    query_key: None,
    example: "https://hooks.slack.com/services/T.../B.../...",
};

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["webhook_url"],
  "additionalProperties": false,
  "properties": {
    "webhook_url": {"type": "string", "format": "uri", "writeOnly": true, "description": "The incoming webhook's URL, https://hooks.slack.com/services/...; it is the webhook's credential."},
    "locale": {"type": "string", "enum": ["en", "zh-CN"], "description": "The language of the fixed words; the delivery's locale by default."}
  }
}"#;

impl Channel for Slack {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "slack",
            env!("CARGO_PKG_VERSION"),
            "Posts messages to a Slack channel through an incoming webhook, as Block Kit.",
        )
        .with_config_schema(SCHEMA)
        .with_hosts([HOST])
        // About one message a second per webhook, short bursts allowed.
        .with_rate_limit(1, 1)
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

/// What Slack's answer means for the delivery.
pub fn outcome(response: &Response) -> Result<Receipt, SendError> {
    if let Some(failure) = http_failure("Slack", response) {
        return Err(failure);
    }
    let said = response.text();
    let said = said.trim();
    if (200..300).contains(&response.status) {
        return Ok(Receipt {
            remote_id: None,
            detail: Some(msghub_sdk::text::truncate(said, 100)),
        });
    }
    let hint = match (response.status, said) {
        (410, _) | (_, "channel_is_archived") => {
            "the channel is archived: unarchive it or create a new webhook"
        }
        (404, _) | (_, "channel_not_found" | "no_service") => {
            "the webhook or its channel no longer exists: create a new webhook"
        }
        (403, _) => "Slack forbids posting with this webhook: check the app's permissions",
        (400, _) => "Slack refused the message's format",
        _ => "the webhook answered an error",
    };
    Err(SendError::permanent(format!(
        "Slack answered HTTP {} {}: {hint}",
        response.status,
        msghub_sdk::text::truncate(said, 200)
    )))
}

export_channel!(Slack);

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>, body: &str) -> Response {
        Response {
            status,
            headers: retry_after
                .map(|v| vec![("retry-after".to_owned(), v.as_bytes().to_vec())])
                .unwrap_or_default(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn answers_are_mapped_to_outcomes() {
        assert!(outcome(&answer(200, None, "ok")).is_ok());
        for (status, body) in [
            (400, "invalid_payload"),
            (403, "action_prohibited"),
            (404, "channel_not_found"),
            (404, "no_service"),
            (410, "channel_is_archived"),
        ] {
            let e = outcome(&answer(status, None, body)).unwrap_err();
            assert!(
                matches!(&e, SendError::Permanent(m) if m.contains(body)),
                "{status} {body}: {e:?}"
            );
        }
        assert_eq!(
            outcome(&answer(429, Some("30"), "rate_limited")).unwrap_err(),
            SendError::rate_limited(
                "Slack throttled the sender (HTTP 429): rate_limited",
                Some(30)
            )
        );
        assert!(matches!(
            outcome(&answer(500, None, "")),
            Err(SendError::Retryable(_))
        ));
    }

    #[test]
    fn configurations_are_checked_with_actionable_messages() {
        let ok = r#"{"webhook_url": "https://hooks.slack.com/services/T1/B2/x3"}"#;
        assert_eq!(Slack::validate_config(ok), Ok(()));
        for (config, expected) in [
            (
                r#"{"webhook_url": "https://hooks.slack.com/workflows/x"}"#,
                "wrong path",
            ),
            (
                r#"{"webhook_url": "http://hooks.slack.com/services/T1/B2/x3"}"#,
                "https://",
            ),
            (
                r#"{"webhook_url": "https://slack.com/services/T1/B2/x3"}"#,
                "hooks.slack.com",
            ),
            (
                r##"{"webhook_url": "https://hooks.slack.com/services/T1", "channel": "#x"}"##,
                "unknown field",
            ),
        ] {
            let e = Slack::validate_config(config).unwrap_err();
            assert!(e.contains(expected), "{config}: {e}");
        }
        let info = Slack::info();
        assert!(info.config_schema.contains(r#""writeOnly": true"#));
        assert_eq!(
            info.rate_limit.map(|r| (r.count, r.period_secs)),
            Some((1, 1))
        );
    }
}
