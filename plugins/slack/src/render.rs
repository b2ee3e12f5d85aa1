//! The Block Kit message of a delivery: a header with the title, a context line with the
//! severity and category, the body in `mrkdwn`, a button to the details; a digest lists the
//! messages in sections.

use msghub_compose::Locale;
use msghub_compose::fit::{cut_notice, fit, fit_items, truncate_chars};
use msghub_compose::markdown::{Dialect, convert};
use msghub_sdk::{Delivery, DeliveryKind, Message};
use serde_json::{Value, json};

use crate::Config;

/// Slack's limits: characters of a header's text, of a section's text, and blocks in a
/// message.
pub const MAX_HEADER_CHARS: usize = 150;
/// See [`MAX_HEADER_CHARS`].
pub const MAX_SECTION_CHARS: usize = 3000;
/// See [`MAX_HEADER_CHARS`].
pub const MAX_BLOCKS: usize = 50;

const MARKUP: Dialect = Dialect::Slack;

/// The webhook's JSON body for `delivery`.
pub fn render(config: &Config, delivery: &Delivery) -> Value {
    let locale = Locale::pick(config.locale.as_deref(), delivery);
    match (delivery.kind, delivery.messages.as_slice()) {
        (DeliveryKind::Single, [message]) => single(message, locale),
        (_, messages) => digest(messages, locale),
    }
}

fn single(message: &Message, locale: Locale) -> Value {
    let mut blocks = vec![header(&message.title), context(message, locale)];
    if let Some(body) = message.body.as_deref().filter(|b| !b.trim().is_empty()) {
        let text = fit(
            body,
            MAX_SECTION_CHARS,
            |text: &String| text.chars().count(),
            |body, cut| {
                let mut text = convert(body, MARKUP);
                if cut {
                    text.push_str("\n\n");
                    text.push_str(&cut_notice(locale, MARKUP, message.link.as_deref()));
                }
                text
            },
        );
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
    }
    if let Some(link) = &message.link {
        blocks.push(json!({"type": "actions", "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": locale.view_details()},
            "url": link,
        }]}));
    }
    json!({"text": fallback(message, locale), "blocks": blocks})
}

fn digest(messages: &[Message], locale: Locale) -> Value {
    let headline = locale.digest_headline(messages.len());
    fit_items(
        messages,
        MAX_BLOCKS,
        |body: &Value| body["blocks"].as_array().map_or(0, Vec::len),
        |shown, left_out| {
            let mut blocks = vec![header(&headline)];
            blocks.extend(shown.iter().map(|m| {
                let title = MARKUP.escape(&m.title);
                let title = match &m.link {
                    Some(link) => MARKUP.link(&title, link),
                    None => title,
                };
                let text = format!("*{title}*\n{}", facts(m, locale));
                json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
            }));
            if left_out > 0 {
                blocks.push(json!({"type": "context", "elements": [
                    {"type": "mrkdwn", "text": locale.more_not_shown(left_out)}
                ]}));
            }
            json!({"text": MARKUP.escape(&headline), "blocks": blocks})
        },
    )
}

fn header(title: &str) -> Value {
    json!({"type": "header", "text": {
        "type": "plain_text",
        "text": truncate_chars(title, MAX_HEADER_CHARS),
        "emoji": true,
    }})
}

fn context(message: &Message, locale: Locale) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": facts(message, locale)}]})
}

/// `*Critical* · Security · Resource: ecs/i-123`
fn facts(message: &Message, locale: Locale) -> String {
    let mut facts = format!(
        "*{}* · {}",
        locale.severity(message.severity),
        locale.category(message.category)
    );
    if let Some(resource) = &message.resource {
        facts.push_str(&format!(
            " · {}: {}",
            locale.resource(),
            MARKUP.escape(resource)
        ));
    }
    facts
}

/// The notification preview: `[Critical] Security: title`.
fn fallback(message: &Message, locale: Locale) -> String {
    MARKUP.escape(&format!(
        "[{}] {}: {}",
        locale.severity(message.severity),
        locale.category(message.category),
        message.title
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use msghub_compose::sample::{delivery, message};

    fn config() -> Config {
        Config {
            webhook_url: "https://hooks.slack.com/services/T/B/X".to_owned(),
            locale: None,
        }
    }

    #[test]
    fn a_message_becomes_blocks_with_a_button() {
        let body = render(&config(), &delivery(vec![message("CPU > 90% & rising")]));
        assert_eq!(
            body,
            json!({
                "text": "[Critical] Security: CPU &gt; 90% &amp; rising",
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": "CPU > 90% & rising", "emoji": true}},
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": "*Critical* · Security · Resource: ecs/i-123"}]},
                    {"type": "section", "text": {"type": "mrkdwn", "text": "Traffic is *10x* normal."}},
                    {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "View details"}, "url": "https://console.example.com/ddos"}]},
                ],
            })
        );
    }

    #[test]
    fn long_titles_and_bodies_are_cut_to_slack_limits() {
        let mut long = message(&"标题".repeat(200));
        long.body = Some("正文 *x* ".repeat(2000));
        let body = render(&config(), &delivery(vec![long]));
        let header = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(header.chars().count(), MAX_HEADER_CHARS);
        let section = body["blocks"][2]["text"]["text"].as_str().unwrap();
        assert!(section.chars().count() <= MAX_SECTION_CHARS);
        assert!(
            section.ends_with("<https://console.example.com/ddos|Read the full message>"),
            "{section}"
        );
    }

    #[test]
    fn a_digest_is_one_message_within_fifty_blocks() {
        let messages: Vec<_> = (0..60).map(|i| message(&format!("m{i}"))).collect();
        let body = render(&config(), &delivery(messages));
        let blocks = body["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), MAX_BLOCKS);
        assert_eq!(body["text"], "Digest: 60 messages");
        assert_eq!(
            blocks[1]["text"]["text"],
            "*<https://console.example.com/ddos|m0>*\n*Critical* · Security · Resource: ecs/i-123"
        );
        assert_eq!(blocks[49]["elements"][0]["text"], "…and 12 more not shown");
    }
}
