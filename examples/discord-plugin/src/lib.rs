//! A msghub channel for Discord incoming webhooks, written only with `msghub-sdk`.
//!
//! Each message becomes one embed (title, body, link, category and severity fields, a
//! colour by severity); a digest sends up to ten embeds in one post. The webhook is asked to
//! `wait`, so the answer carries the id of the Discord message, kept as the receipt.

use msghub_sdk::http::{self, Request};
use msghub_sdk::text::{escape_markdown, truncate};
use msghub_sdk::{
    Channel, Delivery, DeliveryKind, Message, PluginInfo, Receipt, SendError, Severity,
    export_channel,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// The plugin.
pub struct Discord;

/// A channel's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `https://discord.com/api/webhooks/<id>/<token>`, as Discord shows it.
    pub webhook_url: String,
    /// The name the posts appear under; the webhook's own name by default.
    pub username: Option<String>,
    /// `en` or `zh-CN`, for the fixed words; the delivery's locale by default.
    pub locale: Option<String>,
}

/// Discord's limits: embeds per post, and characters of a title and a description.
const MAX_EMBEDS: usize = 10;
const MAX_TITLE: usize = 256;
const MAX_DESCRIPTION: usize = 4096;

const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["webhook_url"],
  "additionalProperties": false,
  "properties": {
    "webhook_url": {"type": "string", "description": "The webhook URL Discord shows (Server Settings > Integrations > Webhooks); it holds the token.", "writeOnly": true},
    "username": {"type": "string", "description": "The name the posts appear under."},
    "locale": {"type": "string", "enum": ["en", "zh-CN"]}
  }
}"#;

impl Channel for Discord {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "discord",
            env!("CARGO_PKG_VERSION"),
            "Posts messages to a Discord channel through an incoming webhook.",
        )
        .with_config_schema(SCHEMA)
        .with_hosts([
            "discord.com",
            "discordapp.com",
            "canary.discord.com",
            "ptb.discord.com",
        ])
        .with_rate_limit(30, 60)
    }

    fn check_config(config: &Config) -> Result<(), String> {
        let url = &config.webhook_url;
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || !url.contains("/api/webhooks/") {
            return Err("webhook_url must be the webhook URL Discord shows, like \
                 https://discord.com/api/webhooks/<id>/<token>"
                .to_owned());
        }
        Ok(())
    }

    fn send(config: Config, delivery: &Delivery) -> Result<Receipt, SendError> {
        let body = render(&config, delivery);
        let separator = if config.webhook_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!("{}{separator}wait=true", config.webhook_url);
        let request = Request::post(&url).json(&body);
        let response = http::send(&request)?;
        if response.status == 429 {
            return Err(SendError::rate_limited(
                "Discord throttled the webhook",
                retry_after(&response),
            ));
        }
        response.error_for_status()?;
        let id = serde_json::from_slice::<Value>(&response.body)
            .ok()
            .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned));
        Ok(Receipt {
            remote_id: id,
            detail: Some(format!("HTTP {}", response.status)),
        })
    }
}

/// Discord says when to retry in the `Retry-After` header, or in `retry_after` (seconds,
/// fractional) in the body.
fn retry_after(response: &http::Response) -> Option<u32> {
    response.retry_after_secs().or_else(|| {
        let body: Value = serde_json::from_slice(&response.body).ok()?;
        let secs = body.get("retry_after")?.as_f64()?;
        Some(secs.ceil().clamp(0.0, f64::from(u32::MAX)) as u32)
    })
}

/// The webhook's JSON body for a delivery.
pub fn render(config: &Config, delivery: &Delivery) -> Value {
    let locale = config.locale.as_deref().unwrap_or(&delivery.locale);
    let embeds: Vec<Value> = delivery
        .messages
        .iter()
        .take(MAX_EMBEDS)
        .map(|m| embed(m, locale))
        .collect();
    let mut body = json!({
        "embeds": embeds,
        // Message text must never ping anyone.
        "allowed_mentions": {"parse": []},
    });
    if delivery.kind == DeliveryKind::Digest {
        let total = delivery.messages.len();
        let mut content = match locale {
            "zh-CN" => format!("{total} 条消息"),
            _ if total == 1 => "1 message".to_owned(),
            _ => format!("{total} messages"),
        };
        if total > MAX_EMBEDS {
            content.push_str(&match locale {
                "zh-CN" => format!("（另有 {} 条未显示）", total - MAX_EMBEDS),
                _ => format!(" ({} more not shown)", total - MAX_EMBEDS),
            });
        }
        body["content"] = json!(content);
    }
    if let Some(username) = &config.username {
        body["username"] = json!(username);
    }
    body
}

fn embed(message: &Message, locale: &str) -> Value {
    let (category, severity) = match locale {
        "zh-CN" => ("类别", "级别"),
        _ => ("Category", "Severity"),
    };
    let mut embed = json!({
        "title": truncate(&escape_markdown(&message.title), MAX_TITLE),
        "color": color(message.severity),
        "timestamp": message.created_at,
        "fields": [
            {"name": category, "value": message.category.label(locale), "inline": true},
            {"name": severity, "value": message.severity.label(locale), "inline": true},
        ],
    });
    if let Some(body) = &message.body {
        // The body is Markdown already, which Discord renders: pass it on, cut to fit.
        embed["description"] = json!(truncate(body, MAX_DESCRIPTION));
    }
    if let Some(link) = &message.link {
        embed["url"] = json!(link);
    }
    embed
}

fn color(severity: Severity) -> u32 {
    match severity {
        Severity::Info => 0x3498db,
        Severity::Warning => 0xf1c40f,
        Severity::Critical => 0xe74c3c,
    }
}

export_channel!(Discord);

#[cfg(test)]
mod tests {
    use super::*;
    use msghub_sdk::Category;

    fn message(title: &str) -> Message {
        Message {
            id: "msg_1".to_owned(),
            account_id: "acc_1".to_owned(),
            category: Category::Security,
            subtype: None,
            title: title.to_owned(),
            body: Some("Traffic **10x** normal".to_owned()),
            severity: Severity::Critical,
            link: Some("https://console.example.com/x".to_owned()),
            resource: None,
            created_at: "2026-11-28T12:00:00Z".to_owned(),
        }
    }

    fn delivery(kind: DeliveryKind, messages: Vec<Message>) -> Delivery {
        Delivery {
            kind,
            messages,
            recipients: Vec::new(),
            attempt: 1,
            idempotency_key: "key-1".to_owned(),
            locale: "en".to_owned(),
            timestamp_ms: 1_700_000_000_000,
        }
    }

    fn config() -> Config {
        Config {
            webhook_url: "https://discord.com/api/webhooks/1/t".to_owned(),
            username: Some("msghub".to_owned()),
            locale: None,
        }
    }

    #[test]
    fn a_message_becomes_one_embed_coloured_by_severity() {
        let body = render(
            &config(),
            &delivery(DeliveryKind::Single, vec![message("DDoS *attack*")]),
        );
        assert_eq!(
            body,
            json!({
                "embeds": [{
                    "title": "DDoS \\*attack\\*",
                    "color": 0xe74c3c,
                    "timestamp": "2026-11-28T12:00:00Z",
                    "description": "Traffic **10x** normal",
                    "url": "https://console.example.com/x",
                    "fields": [
                        {"name": "Category", "value": "Security", "inline": true},
                        {"name": "Severity", "value": "Critical", "inline": true},
                    ],
                }],
                "allowed_mentions": {"parse": []},
                "username": "msghub",
            })
        );
    }

    #[test]
    fn a_digest_posts_at_most_ten_embeds_and_counts_the_rest() {
        let messages = (0..12).map(|i| message(&format!("m{i}"))).collect();
        let body = render(&config(), &delivery(DeliveryKind::Digest, messages));
        assert_eq!(body["embeds"].as_array().map(Vec::len), Some(10));
        assert_eq!(body["content"], "12 messages (2 more not shown)");
    }

    #[test]
    fn chinese_locale_translates_the_fixed_words() {
        let mut config = config();
        config.locale = Some("zh-CN".to_owned());
        let body = render(&config, &delivery(DeliveryKind::Single, vec![message("x")]));
        assert_eq!(body["embeds"][0]["fields"][0]["name"], "类别");
        assert_eq!(body["embeds"][0]["fields"][0]["value"], "安全");
    }

    #[test]
    fn urls_that_are_not_webhooks_are_refused() {
        assert!(
            Discord::validate_config(r#"{"webhook_url": "https://discord.com/channels/1"}"#)
                .is_err()
        );
        assert!(
            Discord::validate_config(r#"{"webhook_url": "https://discord.com/api/webhooks/1/t"}"#)
                .is_ok()
        );
        let unknown = Discord::validate_config(
            r#"{"webhook_url": "https://discord.com/api/webhooks/1/t", "colour": 1}"#,
        );
        assert!(unknown.unwrap_err().contains("unknown field `colour`"));
    }
}
