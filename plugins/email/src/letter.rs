//! The RFC 5322 message: headers, and the two MIME parts, each Base64 so that any text and
//! any line length travel safely (and the boundary, holding `=_`, can never occur in them).

use msghub_compose::Locale;
use msghub_compose::time::rfc5322;
use msghub_sdk::sign::base64_encode;
use msghub_sdk::{Delivery, DeliveryKind, Recipient};

use crate::Config;
use crate::content::{Content, render};

const BOUNDARY: &str = "=_msghub_alternative";

/// A mail ready to render.
#[derive(Debug, Clone)]
pub struct Letter {
    headers: Vec<(&'static str, String)>,
    message_id: String,
    content: Content,
}

impl Letter {
    /// The mail of `delivery` from `sender` (the operator's From) to `recipients`.
    pub fn new(
        config: &Config,
        delivery: &Delivery,
        sender: &str,
        recipients: &[Recipient],
    ) -> Letter {
        let locale = Locale::pick(config.locale.as_deref(), delivery);
        let sender = one_line(sender);
        let message_id = format!(
            "<{}@{}>",
            atom(&delivery.idempotency_key),
            domain_of(&sender)
        );
        let unsubscribe = config.unsubscribe_url.as_deref();
        let mut headers = vec![
            ("From", sender.clone()),
            ("To", to_header(recipients)),
            ("Subject", encode_words(&subject(delivery, locale))),
            ("Date", rfc5322(delivery.timestamp_ms)),
            ("Message-ID", message_id.clone()),
            ("MIME-Version", "1.0".to_owned()),
            ("Auto-Submitted", "auto-generated".to_owned()),
        ];
        let mailto = format!("<mailto:{}?subject=unsubscribe>", bare_address(&sender));
        match unsubscribe {
            Some(url) => {
                headers.push(("List-Unsubscribe", format!("<{url}>, {mailto}")));
                headers.push((
                    "List-Unsubscribe-Post",
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
            }
            // RFC 8058 forbids the Post header without an https URI.
            None => headers.push(("List-Unsubscribe", mailto)),
        }
        headers.push((
            "Content-Type",
            format!("multipart/alternative; boundary=\"{BOUNDARY}\""),
        ));
        Letter {
            headers,
            message_id,
            content: render(delivery, locale, unsubscribe),
        }
    }

    /// The `Message-ID`, the same on every retry of the delivery.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The whole message, CRLF line ends.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        for (kind, text) in [("plain", &self.content.text), ("html", &self.content.html)] {
            out.push_str(&format!(
                "--{BOUNDARY}\r\nContent-Type: text/{kind}; charset=utf-8\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{}",
                wrapped_base64(text.as_bytes())
            ));
        }
        out.push_str(&format!("--{BOUNDARY}--\r\n"));
        out
    }
}

/// `[Security] DDoS attack`, or for a digest `[Security] Digest: 3 messages` (the category
/// when all share one).
fn subject(delivery: &Delivery, locale: Locale) -> String {
    let messages = &delivery.messages;
    let category = messages
        .first()
        .map(|m| m.category)
        .filter(|first| messages.iter().all(|m| m.category == *first));
    let what = match (delivery.kind, messages.as_slice()) {
        (DeliveryKind::Single, [message]) => message.title.clone(),
        _ => locale.digest_headline(messages.len()),
    };
    let subject = match category {
        Some(category) => format!("[{}] {what}", locale.category(category)),
        None => what,
    };
    one_line(&subject)
}

/// `To`: each recipient as `"Name" <address>` or `address`, folded one a line.
fn to_header(recipients: &[Recipient]) -> String {
    recipients
        .iter()
        .map(|r| match r.name.as_deref().map(one_line) {
            Some(name) if !name.is_empty() => {
                format!("{} <{}>", display_name(&name), r.address)
            }
            _ => r.address.clone(),
        })
        .collect::<Vec<_>>()
        .join(",\r\n ")
}

fn display_name(name: &str) -> String {
    if name.is_ascii() {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        encode_words(name)
    }
}

/// A header value as is when it is printable ASCII, else RFC 2047 encoded words of at most
/// 75 characters each, cut on character boundaries, folded one a line.
fn encode_words(text: &str) -> String {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return text.to_owned();
    }
    // 45 bytes make 60 Base64 characters: with `=?UTF-8?B?` and `?=`, 72 in all.
    const CHUNK: usize = 45;
    let mut words = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + CHUNK).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        words.push(format!(
            "=?UTF-8?B?{}?=",
            base64_encode(&text.as_bytes()[start..end])
        ));
        start = end;
    }
    words.join("\r\n ")
}

fn wrapped_base64(bytes: &[u8]) -> String {
    let encoded = base64_encode(bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 38 + 2);
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

/// Line breaks and other controls removed, so a value can never start a new header.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The idempotency key as a Message-ID's left part (dot-atom characters only).
fn atom(key: &str) -> String {
    let atom: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c) {
                c
            } else {
                '.'
            }
        })
        .collect();
    let atom = atom.trim_matches('.');
    if atom.is_empty() {
        "delivery".to_owned()
    } else {
        atom.to_owned()
    }
}

/// `hub@example.com` from `msghub <hub@example.com>` or `hub@example.com`.
fn bare_address(sender: &str) -> &str {
    match (sender.rfind('<'), sender.rfind('>')) {
        (Some(open), Some(close)) if open < close => &sender[open + 1..close],
        _ => sender.trim(),
    }
}

fn domain_of(sender: &str) -> &str {
    bare_address(sender)
        .rsplit_once('@')
        .map(|(_, domain)| domain)
        .filter(|d| !d.is_empty())
        .unwrap_or("msghub.localhost")
}

/// A plain `local@domain` address: no spaces, controls, quotes or angle brackets, and a
/// domain without empty labels (`a@b..com` is refused).
pub fn is_address(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    let plain = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[]\\,;:\"@".contains(c))
    };
    plain(local) && plain(domain) && domain.split('.').all(|label| !label.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use msghub_compose::sample::{delivery, message};

    fn letter(config: &Config, title: &str) -> String {
        let recipients = [
            Recipient {
                address: "ops@example.com".to_owned(),
                name: None,
            },
            Recipient {
                address: "fin@example.com".to_owned(),
                name: Some("财务 \"team\"".to_owned()),
            },
        ];
        Letter::new(
            config,
            &delivery(vec![message(title)]),
            "msghub <hub@example.com>",
            &recipients,
        )
        .render()
    }

    #[test]
    fn headers_carry_sender_recipients_subject_date_id_and_unsubscribe() {
        let config = Config {
            unsubscribe_url: Some("https://hub.example.com/u/1".to_owned()),
            ..Config::default()
        };
        let mail = letter(&config, "DDoS attack");
        let head = mail.split("\r\n\r\n").next().unwrap();
        assert_eq!(
            head,
            "From: msghub <hub@example.com>\r\n\
             To: ops@example.com,\r\n =?UTF-8?B?6LSi5YqhICJ0ZWFtIg==?= <fin@example.com>\r\n\
             Subject: [Security] DDoS attack\r\n\
             Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
             Message-ID: <dlv-1@example.com>\r\n\
             MIME-Version: 1.0\r\n\
             Auto-Submitted: auto-generated\r\n\
             List-Unsubscribe: <https://hub.example.com/u/1>, <mailto:hub@example.com?subject=unsubscribe>\r\n\
             List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\
             Content-Type: multipart/alternative; boundary=\"=_msghub_alternative\""
        );
    }

    #[test]
    fn without_an_https_unsubscribe_url_there_is_no_one_click_header() {
        let mail = letter(&Config::default(), "x");
        assert!(
            mail.contains("List-Unsubscribe: <mailto:hub@example.com?subject=unsubscribe>\r\n")
        );
        assert!(!mail.contains("List-Unsubscribe-Post"));
    }

    #[test]
    fn non_ascii_and_injected_subjects_are_encoded_on_one_header() {
        let mail = letter(&Config::default(), "磁盘已满\r\nBcc: evil@example.com");
        let subject = mail.lines().find(|l| l.starts_with("Subject:")).unwrap();
        assert!(subject.starts_with("Subject: =?UTF-8?B?"), "{subject}");
        assert!(!mail.contains("\r\nBcc:"));
        for word in encode_words(&"告警".repeat(40)).split("\r\n ") {
            assert!(word.len() <= 75, "{word}");
        }
    }

    #[test]
    fn the_parts_are_text_then_html_in_base64() {
        let mail = letter(&Config::default(), "x");
        let text = mail
            .find("Content-Type: text/plain; charset=utf-8")
            .unwrap();
        let html = mail.find("Content-Type: text/html; charset=utf-8").unwrap();
        assert!(text < html);
        assert!(mail.ends_with("--=_msghub_alternative--\r\n"));
        assert!(mail.lines().all(|l| l.len() <= 998));
    }

    #[test]
    fn addresses_must_be_plain() {
        assert!(is_address("ops@example.com"));
        for bad in [
            "ops",
            "@example.com",
            "ops@",
            "a b@example.com",
            "a@b..com",
            "<a@b.com>",
        ] {
            assert!(!is_address(bad), "{bad}");
        }
    }
}
