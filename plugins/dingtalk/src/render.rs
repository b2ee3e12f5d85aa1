//! The DingTalk markdown message of a delivery.

use msghub_compose::Locale;
use msghub_compose::fit::{fit, fit_items, push_body};
use msghub_compose::markdown::Dialect;
use msghub_sdk::{Delivery, DeliveryKind, Message};
use serde_json::{Value, json};

use crate::Config;

/// DingTalk documents no firm size for a markdown text and its clients fold long ones, so
/// a message stays within 5,000 bytes; a longer body is cut, with a pointer to the full one.
pub const MAX_TEXT_BYTES: usize = 5000;

const MARKUP: Dialect = Dialect::DingTalk;

/// The robot's JSON body for `delivery`: one markdown message, a digest as one summary.
pub fn render(config: &Config, delivery: &Delivery) -> Value {
    let locale = Locale::pick(config.locale.as_deref(), delivery);
    let (title, text) = match (delivery.kind, delivery.messages.as_slice()) {
        (DeliveryKind::Single, [message]) => (
            message.title.clone(),
            single(message, locale, &config.keywords),
        ),
        (_, messages) => (
            locale.digest_headline(messages.len()),
            digest(messages, locale, &config.keywords),
        ),
    };
    json!({"msgtype": "markdown", "markdown": {"title": title, "text": text}})
}

fn single(message: &Message, locale: Locale, keywords: &[String]) -> String {
    let body = message.body.as_deref().unwrap_or_default();
    fit(body, MAX_TEXT_BYTES, String::len, |body, cut| {
        let mut text = format!(
            "#### {}\n\n{}",
            MARKUP.escape(&message.title),
            facts(message, locale)
        );
        push_body(
            &mut text,
            body,
            cut,
            locale,
            MARKUP,
            message.link.as_deref(),
        );
        if let Some(link) = &message.link {
            text.push_str("\n\n");
            text.push_str(&MARKUP.link(locale.view_details(), link));
        }
        with_keywords(text, keywords)
    })
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

fn digest(messages: &[Message], locale: Locale, keywords: &[String]) -> String {
    fit_items(messages, MAX_TEXT_BYTES, String::len, |shown, left_out| {
        let mut text = format!("#### {}\n", locale.digest_headline(messages.len()));
        for message in shown {
            let title = MARKUP.escape(&message.title);
            let title = match &message.link {
                Some(link) => MARKUP.link(&title, link),
                None => title,
            };
            text.push_str(&format!("\n- {} · {title}", facts(message, locale)));
        }
        if left_out > 0 {
            text.push_str(&format!("\n\n{}", locale.more_not_shown(left_out)));
        }
        with_keywords(text, keywords)
    })
}

/// Adds, at the end, the robot's keywords that the text lacks: DingTalk refuses messages
/// without one (errcode 310000).
fn with_keywords(mut text: String, keywords: &[String]) -> String {
    let missing: Vec<String> = keywords
        .iter()
        .filter(|k| !text.contains(k.as_str()))
        .map(|k| MARKUP.escape(k))
        .collect();
    if !missing.is_empty() {
        text.push_str("\n\n");
        text.push_str(&missing.join(" "));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use msghub_compose::sample::{delivery, message};

    fn config() -> Config {
        Config {
            webhook_url: "https://oapi.dingtalk.com/robot/send?access_token=t".to_owned(),
            secret: None,
            keywords: vec!["msghub".to_owned(), "DDoS".to_owned()],
            locale: None,
        }
    }

    #[test]
    fn a_message_becomes_one_markdown_message_with_the_missing_keywords() {
        let body = render(&config(), &delivery(vec![message("DDoS on <b>web</b>")]));
        assert_eq!(
            body,
            json!({"msgtype": "markdown", "markdown": {
                "title": "DDoS on <b>web</b>",
                "text": "#### DDoS on &lt;b&gt;web&lt;/b&gt;\n\n\
                         **Critical** · Security · Resource: ecs/i-123\n\n\
                         Traffic is **10x** normal.\n\n\
                         [View details](https://console.example.com/ddos)\n\nmsghub",
            }})
        );
    }

    #[test]
    fn chinese_locale_translates_the_fixed_words() {
        let mut config = config();
        config.locale = Some("zh-CN".to_owned());
        let body = render(&config, &delivery(vec![message("x")]));
        let text = body["markdown"]["text"].as_str().unwrap();
        assert!(text.contains("**严重** · 安全 · 资源: ecs/i-123"), "{text}");
        assert!(
            text.contains("[查看详情](https://console.example.com/ddos)"),
            "{text}"
        );
    }

    #[test]
    fn a_long_body_is_cut_to_the_limit_with_a_pointer() {
        let mut long = message("big");
        long.body = Some("磁盘已满。".repeat(2000));
        let body = render(&config(), &delivery(vec![long]));
        let text = body["markdown"]["text"].as_str().unwrap();
        assert!(text.len() <= MAX_TEXT_BYTES, "{}", text.len());
        assert!(
            text.contains("… Message shortened to fit: [Read the full message](https://console.example.com/ddos)"),
            "{text}"
        );
    }

    #[test]
    fn a_digest_is_one_summary_of_every_message() {
        let messages = vec![message("first"), message("second")];
        let body = render(&config(), &delivery(messages));
        assert_eq!(body["markdown"]["title"], "Digest: 2 messages");
        let text = body["markdown"]["text"].as_str().unwrap();
        assert_eq!(
            text,
            "#### Digest: 2 messages\n\n\
             - **Critical** · Security · Resource: ecs/i-123 · [first](https://console.example.com/ddos)\n\
             - **Critical** · Security · Resource: ecs/i-123 · [second](https://console.example.com/ddos)\n\n\
             msghub DDoS"
        );
    }

    #[test]
    fn a_huge_digest_counts_what_it_leaves_out() {
        let messages = (0..200).map(|i| message(&format!("alert {i}"))).collect();
        let body = render(&config(), &delivery(messages));
        let text = body["markdown"]["text"].as_str().unwrap();
        assert!(text.len() <= MAX_TEXT_BYTES);
        assert!(text.contains("more not shown"), "{text}");
    }
}
