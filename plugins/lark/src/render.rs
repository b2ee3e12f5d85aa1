//! The Lark interactive card of a delivery: a coloured header with the title, the facts and
//! body in card markdown, and a button to the details; the whole request within 20 KB.

use msghub_compose::Locale;
use msghub_compose::fit::{fit, fit_items, push_body};
use msghub_compose::markdown::Dialect;
use msghub_sdk::{Delivery, DeliveryKind, Message, Severity};
use serde_json::{Value, json};

use crate::Config;

/// Lark refuses request bodies over 20 KB; the card keeps room for the signature fields.
pub const MAX_CARD_BYTES: usize = 19_000;

const MARKUP: Dialect = Dialect::Lark;

fn size(card: &Value) -> usize {
    card.to_string().len()
}

/// The card for `delivery`; a digest is one card listing every message.
pub fn card(config: &Config, delivery: &Delivery) -> Value {
    let locale = Locale::pick(config.locale.as_deref(), delivery);
    match (delivery.kind, delivery.messages.as_slice()) {
        (DeliveryKind::Single, [message]) => single(message, locale),
        (_, messages) => digest(messages, locale),
    }
}

fn single(message: &Message, locale: Locale) -> Value {
    let body = message.body.as_deref().unwrap_or_default();
    fit(body, MAX_CARD_BYTES, size, |body, cut| {
        let mut content = facts(message, locale);
        push_body(
            &mut content,
            body,
            cut,
            locale,
            MARKUP,
            message.link.as_deref(),
        );
        let mut elements = vec![json!({"tag": "markdown", "content": content})];
        if let Some(link) = &message.link {
            elements.push(button(locale.view_details(), link));
        }
        json!({
            "config": {"wide_screen_mode": true},
            "header": header(&message.title, colour(message.severity)),
            "elements": elements,
        })
    })
}

fn digest(messages: &[Message], locale: Locale) -> Value {
    let worst = messages.iter().map(|m| m.severity).max_by_key(|s| rank(*s));
    fit_items(messages, MAX_CARD_BYTES, size, |shown, left_out| {
        let mut lines: Vec<String> = shown
            .iter()
            .map(|m| {
                let title = MARKUP.escape(&m.title);
                let title = match &m.link {
                    Some(link) => MARKUP.link(&title, link),
                    None => title,
                };
                format!("- {title}\n  {}", facts(m, locale))
            })
            .collect();
        if left_out > 0 {
            lines.push(locale.more_not_shown(left_out));
        }
        json!({
            "config": {"wide_screen_mode": true},
            "header": header(
                &locale.digest_headline(messages.len()),
                worst.map_or("blue", colour),
            ),
            "elements": [{"tag": "markdown", "content": lines.join("\n")}],
        })
    })
}

fn header(title: &str, template: &str) -> Value {
    json!({"template": template, "title": {"tag": "plain_text", "content": title}})
}

fn button(label: &str, url: &str) -> Value {
    json!({"tag": "action", "actions": [{
        "tag": "button",
        "text": {"tag": "plain_text", "content": label},
        "type": "primary",
        "url": url,
    }]})
}

/// `**Critical** · Security · Resource: ecs/i-123`
fn facts(message: &Message, locale: Locale) -> String {
    let mut facts = format!(
        "**{}** · {}",
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

fn rank(severity: Severity) -> u8 {
    match severity {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Critical => 2,
    }
}

/// The header's colour template by severity.
fn colour(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "blue",
        Severity::Warning => "orange",
        Severity::Critical => "red",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msghub_compose::sample::{delivery, message};

    fn config() -> Config {
        Config {
            webhook_url: "https://open.feishu.cn/open-apis/bot/v2/hook/t".to_owned(),
            secret: None,
            locale: None,
        }
    }

    #[test]
    fn a_message_becomes_a_card_with_a_button() {
        let card = card(&config(), &delivery(vec![message("DDoS *now*")]));
        assert_eq!(
            card,
            json!({
                "config": {"wide_screen_mode": true},
                "header": {"template": "red", "title": {"tag": "plain_text", "content": "DDoS *now*"}},
                "elements": [
                    {"tag": "markdown", "content": "**Critical** · Security · Resource: ecs/i-123\n\nTraffic is **10x** normal."},
                    {"tag": "action", "actions": [{"tag": "button", "text": {"tag": "plain_text", "content": "View details"}, "type": "primary", "url": "https://console.example.com/ddos"}]},
                ],
            })
        );
    }

    #[test]
    fn a_long_body_keeps_the_card_within_the_limit() {
        let mut long = message("big");
        long.body = Some("\"quoted\" 告警 ".repeat(3000));
        let card = card(&config(), &delivery(vec![long]));
        assert!(size(&card) <= MAX_CARD_BYTES, "{}", size(&card));
        let content = card["elements"][0]["content"].as_str().unwrap();
        assert!(
            content.ends_with("[Read the full message](https://console.example.com/ddos)"),
            "{content}"
        );
    }

    #[test]
    fn a_digest_is_one_card_in_the_chosen_locale() {
        let mut config = config();
        config.locale = Some("zh-CN".to_owned());
        let card = card(&config, &delivery(vec![message("a"), message("b")]));
        assert_eq!(card["header"]["title"]["content"], "消息摘要：2 条消息");
        assert_eq!(card["header"]["template"], "red");
        assert_eq!(
            card["elements"][0]["content"],
            "- [a](https://console.example.com/ddos)\n  **严重** · 安全 · 资源: ecs/i-123\n\
             - [b](https://console.example.com/ddos)\n  **严重** · 安全 · 资源: ecs/i-123"
        );
    }
}
