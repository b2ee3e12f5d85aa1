//! The WeCom markdown message of a delivery, at most 4096 bytes.

use msghub_compose::Locale;
use msghub_compose::fit::{fit, fit_items, push_body};
use msghub_compose::markdown::Dialect;
use msghub_sdk::{Delivery, DeliveryKind, Message, Severity};
use serde_json::{Value, json};

use crate::Config;

/// WeCom refuses markdown content over 4096 bytes of UTF-8.
pub const MAX_CONTENT_BYTES: usize = 4096;

const MARKUP: Dialect = Dialect::WeCom;

/// The robot's JSON body for `delivery`: one markdown message, a digest as one summary.
pub fn render(config: &Config, delivery: &Delivery) -> Value {
    let locale = Locale::pick(config.locale.as_deref(), delivery);
    let content = match (delivery.kind, delivery.messages.as_slice()) {
        (DeliveryKind::Single, [message]) => single(message, locale),
        (_, messages) => digest(messages, locale),
    };
    json!({"msgtype": "markdown", "markdown": {"content": content}})
}

fn single(message: &Message, locale: Locale) -> String {
    let body = message.body.as_deref().unwrap_or_default();
    fit(body, MAX_CONTENT_BYTES, String::len, |body, cut| {
        let mut text = format!(
            "### {}\n{}",
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
        text
    })
}

/// The severity in WeCom's colours, then the category and resource, as a grey line:
/// `<font color="warning">Critical</font> · <font color="comment">Security · ...</font>`.
fn facts(message: &Message, locale: Locale) -> String {
    let colour = match message.severity {
        Severity::Info => "info",
        Severity::Warning | Severity::Critical => "warning",
    };
    let mut rest = locale.category(message.category).to_owned();
    if let Some(resource) = &message.resource {
        rest.push_str(&format!(
            " · {}: {}",
            locale.resource(),
            MARKUP.escape(resource)
        ));
    }
    format!(
        "<font color=\"{colour}\">{}</font> · <font color=\"comment\">{rest}</font>",
        locale.severity(message.severity)
    )
}

fn digest(messages: &[Message], locale: Locale) -> String {
    fit_items(
        messages,
        MAX_CONTENT_BYTES,
        String::len,
        |shown, left_out| {
            let mut text = format!("### {}\n", locale.digest_headline(messages.len()));
            for message in shown {
                let title = MARKUP.escape(&message.title);
                let title = match &message.link {
                    Some(link) => MARKUP.link(&title, link),
                    None => title,
                };
                text.push_str(&format!("\n> {title}\n> {}", facts(message, locale)));
            }
            if left_out > 0 {
                text.push_str(&format!("\n\n{}", locale.more_not_shown(left_out)));
            }
            text
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use msghub_compose::sample::{delivery, message};

    fn config() -> Config {
        Config {
            webhook_url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k".to_owned(),
            locale: None,
        }
    }

    #[test]
    fn a_message_becomes_coloured_markdown() {
        let body = render(&config(), &delivery(vec![message("Disk <@all> full")]));
        assert_eq!(
            body,
            json!({"msgtype": "markdown", "markdown": {"content":
                "### Disk &lt;@all&gt; full\n\
                 <font color=\"warning\">Critical</font> · <font color=\"comment\">Security · Resource: ecs/i-123</font>\n\n\
                 Traffic is **10x** normal.\n\n\
                 [View details](https://console.example.com/ddos)"}})
        );
    }

    #[test]
    fn content_stays_within_4096_bytes_cut_on_a_character_boundary() {
        let mut long = message("big");
        long.body = Some("告警".repeat(3000));
        let body = render(&config(), &delivery(vec![long]));
        let content = body["markdown"]["content"].as_str().unwrap();
        assert!(content.len() <= MAX_CONTENT_BYTES, "{}", content.len());
        assert!(content.contains("Read the full message"), "{content}");
    }

    #[test]
    fn a_digest_is_one_summary_in_the_chosen_locale() {
        let mut config = config();
        config.locale = Some("zh-CN".to_owned());
        let body = render(&config, &delivery(vec![message("a"), message("b")]));
        let content = body["markdown"]["content"].as_str().unwrap();
        assert!(content.starts_with("### 消息摘要：2 条消息\n"), "{content}");
        assert!(
            content.contains(
                "> [b](https://console.example.com/ddos)\n> <font color=\"warning\">严重</font>"
            ),
            "{content}"
        );
    }
}
