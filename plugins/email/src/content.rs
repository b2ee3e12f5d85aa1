//! The two bodies of a mail: plain text, and HTML in which every piece of user text is
//! escaped (titles, bodies, resources, links).

use msghub_compose::Locale;
use msghub_compose::markdown::{Dialect, convert};
use msghub_sdk::{Delivery, DeliveryKind, Message, Severity};

/// The text and HTML bodies of a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// The `text/plain` part.
    pub text: String,
    /// The `text/html` part.
    pub html: String,
}

const HTML: Dialect = Dialect::Html;

/// The bodies for `delivery`; a digest lists every message, with its body.
pub fn render(delivery: &Delivery, locale: Locale, unsubscribe: Option<&str>) -> Content {
    let (headline, messages) = match (delivery.kind, delivery.messages.as_slice()) {
        (DeliveryKind::Single, [message]) => (None, std::slice::from_ref(message)),
        (_, messages) => (Some(locale.digest_headline(messages.len())), messages),
    };
    let mut text = String::new();
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"></head>\n\
         <body style=\"font-family:sans-serif;color:#222;max-width:640px\">\n",
        locale.tag()
    );
    if let Some(headline) = &headline {
        text.push_str(&format!("{headline}\n\n"));
        html.push_str(&format!("<h1>{}</h1>\n", HTML.escape(headline)));
    }
    for (i, message) in messages.iter().enumerate() {
        if i > 0 {
            text.push_str("\n----\n\n");
            html.push_str("<hr>\n");
        }
        text.push_str(&message_text(message, locale));
        html.push_str(&message_html(message, locale, headline.is_some()));
    }
    if let Some(url) = unsubscribe {
        let words = locale.unsubscribe();
        text.push_str(&format!("\n--\n{words}: {url}\n"));
        html.push_str(&format!(
            "<p style=\"font-size:12px;color:#777\">{}</p>\n",
            HTML.link(words, url)
        ));
    }
    html.push_str("</body></html>\n");
    Content { text, html }
}

/// `Critical · Security · Resource: ecs/i-123`, unescaped.
fn facts(message: &Message, locale: Locale) -> String {
    let mut facts = locale.severity_and_category(message.severity, message.category);
    if let Some(resource) = &message.resource {
        facts.push_str(&format!(" · {}: {resource}", locale.resource()));
    }
    facts
}

fn message_text(message: &Message, locale: Locale) -> String {
    let mut text = format!("{}\n{}\n", message.title, facts(message, locale));
    if let Some(body) = message.body.as_deref().filter(|b| !b.trim().is_empty()) {
        text.push_str(&format!("\n{}\n", convert(body, Dialect::Plain)));
    }
    if let Some(link) = &message.link {
        text.push_str(&format!("\n{}: {link}\n", locale.view_details()));
    }
    text
}

fn message_html(message: &Message, locale: Locale, in_digest: bool) -> String {
    let heading = if in_digest { "h2" } else { "h1" };
    let colour = match message.severity {
        Severity::Info => "#1f6feb",
        Severity::Warning => "#b7791f",
        Severity::Critical => "#c53030",
    };
    let mut html = format!(
        "<p style=\"color:{colour};font-weight:bold;margin:0\">{}</p>\n\
         <{heading}>{}</{heading}>\n",
        HTML.escape(&facts(message, locale)),
        HTML.escape(&message.title)
    );
    if let Some(body) = message.body.as_deref().filter(|b| !b.trim().is_empty()) {
        html.push_str(&format!("<div>{}</div>\n", convert(body, HTML)));
    }
    if let Some(link) = &message.link {
        html.push_str(&format!(
            "<p>{}</p>\n",
            HTML.link(locale.view_details(), link)
        ));
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use msghub_compose::sample::{delivery, message};

    #[test]
    fn every_piece_of_user_text_is_escaped_in_html() {
        let mut evil = message("<img src=x onerror=alert(1)>");
        evil.body = Some("**bold** & <script>steal()</script> [x](javascript:alert(1))".to_owned());
        evil.resource = Some("<b>res</b>".to_owned());
        evil.link = Some("https://e.example/?a=1&b=\"2\"".to_owned());
        let content = render(&delivery(vec![evil]), Locale::En, None);
        let html = &content.html;
        assert!(
            html.contains("<h1>&lt;img src=x onerror=alert(1)&gt;</h1>"),
            "{html}"
        );
        assert!(
            html.contains("<strong>bold</strong> &amp; &lt;script&gt;steal()&lt;/script&gt; x"),
            "{html}"
        );
        assert!(html.contains("Resource: &lt;b&gt;res&lt;/b&gt;"), "{html}");
        assert!(
            html.contains(
                "<a href=\"https://e.example/?a=1&amp;b=&quot;2&quot;\">View details</a>"
            ),
            "{html}"
        );
        assert!(
            !html.contains("<script>") && !html.contains("<img") && !html.contains("javascript:")
        );
    }

    #[test]
    fn the_text_part_reads_well_without_markup() {
        let content = render(
            &delivery(vec![message("Disk full")]),
            Locale::En,
            Some("https://u.example/1"),
        );
        assert_eq!(
            content.text,
            "Disk full\nCritical · Security · Resource: ecs/i-123\n\n\
             Traffic is 10x normal.\n\n\
             View details: https://console.example.com/ddos\n\n\
             --\nUnsubscribe: https://u.example/1\n"
        );
    }

    #[test]
    fn a_digest_lists_every_message_in_the_locale() {
        let content = render(
            &delivery(vec![message("a"), message("b")]),
            Locale::ZhCn,
            None,
        );
        assert!(
            content
                .text
                .starts_with("消息摘要：2 条消息\n\na\n严重 · 安全"),
            "{}",
            content.text
        );
        assert!(content.html.contains("<h1>消息摘要：2 条消息</h1>"));
        assert_eq!(content.html.matches("<h2>").count(), 2);
        assert!(content.html.contains("<html lang=\"zh-CN\">"));
    }
}
