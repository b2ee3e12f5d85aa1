//! A msghub channel plugin: posts each delivery as JSON to the URL of the channel's
//! configuration, with an optional bearer token. Built on `msghub-sdk`: implement
//! [`Channel`], export it with [`export_channel!`].

use msghub_sdk::http::{self, Request};
use msghub_sdk::{Channel, Delivery, PluginInfo, Receipt, SendError, export_channel, log};
use serde::Deserialize;
use serde_json::{Value, json};

/// The plugin.
pub struct Plugin;

/// A channel's configuration, parsed from the JSON object the user saved.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to POST each delivery.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>`; a secret (`writeOnly` in the schema).
    pub token: Option<String>,
}

const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["url"],
  "additionalProperties": false,
  "properties": {
    "url": {"type": "string", "description": "Where to POST each delivery (https:// or http://)."},
    "token": {"type": "string", "description": "Sent as `Authorization: Bearer <token>`.", "writeOnly": true}
  }
}"#;

impl Channel for Plugin {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "{{name}}",
            env!("CARGO_PKG_VERSION"),
            "Posts each delivery as JSON to a configured URL.",
        )
        .with_config_schema(SCHEMA)
        // The only hosts this plugin may reach: the host refuses every other one. Name your
        // service's hosts here ("*.example.com" allows the subdomains), or call
        // `with_user_supplied_host()` when the user's configuration names the host.
        .with_hosts(["hooks.example.com"])
    }

    /// Runs after the JSON parsed as [`Config`]: the error names the field.
    fn check_config(config: &Config) -> Result<(), String> {
        let rest = config
            .url
            .strip_prefix("https://")
            .or_else(|| config.url.strip_prefix("http://"));
        if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
            return Err(
                "url must be an http:// or https:// URL, e.g. https://hooks.example.com/in".into(),
            );
        }
        if config.token.as_deref() == Some("") {
            return Err("token must be a non-empty string when given".into());
        }
        Ok(())
    }

    /// `?` turns the SDK's HTTP errors into the right [`SendError`]: a refusal by the
    /// host's sandbox is permanent, a timeout or a network failure retryable; and
    /// `error_for_status` maps 429/503 to rate limited, 408/5xx to retryable, other
    /// answers to permanent.
    fn send(config: Config, delivery: &Delivery) -> Result<Receipt, SendError> {
        let mut request = Request::post(&config.url)
            .header("idempotency-key", &delivery.idempotency_key)
            .json(&render(delivery));
        if let Some(token) = &config.token {
            request = request.header("authorization", &format!("Bearer {token}"));
        }
        let response = http::send(&request)?;
        response.error_for_status()?;
        log::info(&format!(
            "posted {} message(s), HTTP {}",
            delivery.messages.len(),
            response.status
        ));
        Ok(Receipt {
            remote_id: None,
            detail: Some(format!("HTTP {}", response.status)),
        })
    }
}

export_channel!(Plugin);

/// The JSON body posted for one delivery: every message, oldest first.
pub fn render(delivery: &Delivery) -> Value {
    let messages: Vec<Value> = delivery
        .messages
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "category": m.category.as_str(),
                "severity": m.severity.as_str(),
                "title": m.title,
                "body": m.body,
                "link": m.link,
                "created_at": m.created_at,
            })
        })
        .collect();
    let kind = match delivery.kind {
        msghub_sdk::DeliveryKind::Single => "single",
        msghub_sdk::DeliveryKind::Digest => "digest",
    };
    json!({
        "kind": kind,
        "idempotency_key": delivery.idempotency_key,
        "attempt": delivery.attempt,
        "messages": messages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use msghub_sdk::{Category, DeliveryKind, Message, Severity};

    fn delivery(titles: &[&str]) -> Delivery {
        let messages = titles
            .iter()
            .enumerate()
            .map(|(i, title)| Message {
                id: format!("m{i}"),
                account_id: "acc".into(),
                category: Category::Security,
                subtype: None,
                title: (*title).into(),
                body: Some("**bold**".into()),
                severity: Severity::Critical,
                link: None,
                resource: None,
                created_at: "2026-01-01T00:00:00Z".into(),
            })
            .collect();
        Delivery {
            kind: if titles.len() == 1 {
                DeliveryKind::Single
            } else {
                DeliveryKind::Digest
            },
            messages,
            recipients: Vec::new(),
            attempt: 1,
            idempotency_key: "key-1".into(),
            locale: "en".into(),
            timestamp_ms: 0,
        }
    }

    #[test]
    fn a_configuration_without_an_http_url_is_refused_naming_the_field() {
        let refused = Plugin::validate_config(r#"{"url": "ftp://x"}"#).unwrap_err();
        assert!(refused.starts_with("url must be"), "{refused}");
        let refused = Plugin::validate_config(r#"{"url": "https://x", "tokn": "t"}"#).unwrap_err();
        assert!(refused.contains("unknown field `tokn`"), "{refused}");
        assert!(Plugin::validate_config(r#"{"url": "https://hooks.example.com/in"}"#).is_ok());
    }

    #[test]
    fn a_digest_posts_every_message_oldest_first() {
        let body = render(&delivery(&["first", "second"]));
        assert_eq!(body["kind"], "digest");
        assert_eq!(body["messages"][0]["title"], "first");
        assert_eq!(body["messages"][1]["title"], "second");
        assert_eq!(body["messages"][0]["severity"], "critical");
        assert_eq!(body["idempotency_key"], "key-1");
    }
}
