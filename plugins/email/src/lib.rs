//! The email channel: renders each delivery as one `multipart/alternative` mail (plain
//! text, then HTML) and submits it through the host's `mail` import, which hands it to the
//! operator's SMTP relay.
//!
//! - `content`: the text and HTML parts; every piece of user text is escaped in HTML.
//! - `letter`: the RFC 5322 message: `From` (the operator's sender, from the host), `To`,
//!   `Subject` with the category and title, `Date` and `Message-ID` from the delivery (the
//!   same on every retry), `List-Unsubscribe` and `List-Unsubscribe-Post` (RFC 8058).
//!
//! Recipients are the channel's `to` plus the delivery's recipients (the contacts of a
//! subscription).
#![deny(missing_docs)]

mod content;
mod letter;

use msghub_compose::words::check_locale;
use msghub_sdk::{
    Channel, Delivery, PluginInfo, Receipt, Recipient, SendError, export_channel, log, mail,
};
use serde::Deserialize;

pub use letter::{Letter, is_address};

/// The plugin.
pub struct Email;

/// An email channel's configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The addresses every delivery goes to, besides the delivery's own recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// The https URL that unsubscribes a recipient in one click (RFC 8058: it must accept a
    /// `POST` with `List-Unsubscribe=One-Click`).
    pub unsubscribe_url: Option<String>,
    /// `en` or `zh-CN` for the fixed words; the delivery's locale when absent.
    pub locale: Option<String>,
}

/// More recipients than this in one mail is a mistake, not a notification.
const MAX_RECIPIENTS: usize = 100;

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["to"],
  "additionalProperties": false,
  "properties": {
    "to": {"type": "array", "items": {"type": "string", "format": "email"}, "minItems": 1, "maxItems": 100, "description": "The addresses every message goes to, e.g. [\"ops@example.com\"]."},
    "unsubscribe_url": {"type": "string", "format": "uri", "pattern": "^https://", "description": "An https URL that unsubscribes in one click (RFC 8058), sent as List-Unsubscribe."},
    "locale": {"type": "string", "enum": ["en", "zh-CN"], "description": "The language of the fixed words; the delivery's locale by default."}
  }
}"#;

impl Channel for Email {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "email",
            env!("CARGO_PKG_VERSION"),
            "Mails messages as text and HTML through the operator's SMTP relay.",
        )
        .with_config_schema(SCHEMA)
    }

    /// A channel must name its recipients; only the check at delivery time (through
    /// `check_config`) lets `to` be empty, for contacts, whose deliveries carry their own
    /// recipient.
    fn validate_config(config: &str) -> Result<(), String> {
        let config: Config =
            serde_json::from_str(config).map_err(|e| format!("invalid configuration: {e}"))?;
        if config.to.is_empty() {
            return Err(
                "to: list at least one address, e.g. [\"ops@example.com\"]; a channel \
                 without recipients delivers nowhere"
                    .to_owned(),
            );
        }
        Self::check_config(&config)
    }

    fn check_config(config: &Config) -> Result<(), String> {
        if let Some(bad) = config.to.iter().find(|a| !is_address(a)) {
            return Err(format!(
                "to: '{}' is not an email address like ops@example.com",
                bad.escape_debug()
            ));
        }
        if config.to.len() > MAX_RECIPIENTS {
            return Err(format!(
                "to: at most {MAX_RECIPIENTS} addresses; use a mailing list for more"
            ));
        }
        if let Some(url) = &config.unsubscribe_url {
            let plain = url.starts_with("https://")
                && url.len() > "https://".len()
                && !url
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '>');
            if !plain {
                return Err(
                    "unsubscribe_url must be an https:// URL (RFC 8058 one-click \
                            unsubscribe needs https), without spaces"
                        .to_owned(),
                );
            }
        }
        check_locale(config.locale.as_deref())
    }

    fn send(config: Config, delivery: &Delivery) -> Result<Receipt, SendError> {
        let recipients = recipients(&config, &delivery.recipients);
        if recipients.is_empty() {
            return Err(SendError::permanent(
                "no recipients: add addresses to the channel's `to`, or contacts to the \
                 subscription",
            ));
        }
        let letter = Letter::new(&config, delivery, &mail::sender(), &recipients);
        let addresses: Vec<String> = recipients.iter().map(|r| r.address.clone()).collect();
        let answer = mail::submit(&addresses, letter.render().as_bytes())?;
        Ok(Receipt {
            remote_id: Some(letter.message_id().to_owned()),
            detail: Some(answer),
        })
    }
}

/// The channel's addresses and the delivery's, each once (compared without case), invalid
/// ones left out with a warning.
pub fn recipients(config: &Config, extra: &[Recipient]) -> Vec<Recipient> {
    let configured = config.to.iter().map(|address| Recipient {
        address: address.clone(),
        name: None,
    });
    let mut chosen: Vec<Recipient> = Vec::new();
    for recipient in configured.chain(extra.iter().cloned()) {
        let address = recipient.address.trim().to_owned();
        if !is_address(&address) {
            log::warn(&format!(
                "skipping recipient '{}': not an email address",
                address.escape_debug()
            ));
            continue;
        }
        if chosen
            .iter()
            .any(|r| r.address.eq_ignore_ascii_case(&address))
        {
            continue;
        }
        chosen.push(Recipient {
            address,
            name: recipient.name,
        });
    }
    chosen
}

export_channel!(Email);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_are_checked_with_actionable_messages() {
        let ok = r#"{"to": ["ops@example.com"], "unsubscribe_url": "https://hub.example.com/u/1", "locale": "zh-CN"}"#;
        assert_eq!(Email::validate_config(ok), Ok(()));
        for (config, expected) in [
            (r#"{"to": ["ops.example.com"]}"#, "not an email address"),
            (
                r#"{"to": ["a@b.com\r\nBcc: x@y.com"]}"#,
                "not an email address",
            ),
            (
                r#"{"to": ["ops@example.com"], "unsubscribe_url": "http://hub.example.com/u"}"#,
                "https://",
            ),
            (
                r#"{"to": ["ops@example.com"], "cc": []}"#,
                "unknown field `cc`",
            ),
            (r#"{}"#, "to: list at least one address"),
            (r#"{"to": []}"#, "to: list at least one address"),
        ] {
            let e = Email::validate_config(config).unwrap_err();
            assert!(e.contains(expected), "{config}: {e}");
        }
    }

    #[test]
    fn a_contact_delivery_without_a_channel_to_still_passes_the_send_check() {
        assert_eq!(Email::check_config(&Config::default()), Ok(()));
    }

    #[test]
    fn recipients_are_merged_once_and_invalid_ones_skipped() {
        let config = Config {
            to: vec!["ops@example.com".to_owned()],
            ..Config::default()
        };
        let extra = [
            Recipient {
                address: "OPS@example.com".to_owned(),
                name: None,
            },
            Recipient {
                address: "fin@example.com".to_owned(),
                name: Some("Finance".to_owned()),
            },
            Recipient {
                address: "not an address".to_owned(),
                name: None,
            },
        ];
        let chosen = recipients(&config, &extra);
        let addresses: Vec<&str> = chosen.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(addresses, ["ops@example.com", "fin@example.com"]);
        assert_eq!(chosen[1].name.as_deref(), Some("Finance"));
    }

    #[test]
    fn without_recipients_sending_fails_permanently() {
        let delivery = msghub_compose::sample::delivery(vec![msghub_compose::sample::message("x")]);
        let e = Email::send(Config::default(), &delivery).unwrap_err();
        assert!(matches!(e, SendError::Permanent(m) if m.contains("no recipients")));
    }
}
