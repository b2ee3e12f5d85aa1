//! The fixed words of a notification, in English or Simplified Chinese.

use msghub_sdk::{Category, Delivery, Severity};

/// The language of a notification's fixed words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    /// English, the default.
    En,
    /// Simplified Chinese.
    ZhCn,
}

/// The locales a channel's `locale` setting accepts.
pub const LOCALES: [&str; 2] = ["en", "zh-CN"];

impl Locale {
    /// The channel's own `locale` when set, else the delivery's; anything but `zh-CN`
    /// (any case, or `zh` and its variants) reads as English.
    pub fn pick(configured: Option<&str>, delivery: &Delivery) -> Locale {
        let tag = configured.unwrap_or(&delivery.locale);
        let lower = tag.to_ascii_lowercase();
        if lower == "zh" || lower.starts_with("zh-") || lower.starts_with("zh_") {
            Locale::ZhCn
        } else {
            Locale::En
        }
    }

    /// The tag the SDK's labels take.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::ZhCn => "zh-CN",
        }
    }

    /// The category's name, e.g. `Security` or `安全`.
    pub fn category(self, category: Category) -> &'static str {
        category.label(self.tag())
    }

    /// The severity's name, e.g. `Critical` or `严重`.
    pub fn severity(self, severity: Severity) -> &'static str {
        severity.label(self.tag())
    }

    /// The label of the link to a message's details.
    pub fn view_details(self) -> &'static str {
        match self {
            Locale::En => "View details",
            Locale::ZhCn => "查看详情",
        }
    }

    /// The label in front of a message's resource.
    pub fn resource(self) -> &'static str {
        match self {
            Locale::En => "Resource",
            Locale::ZhCn => "资源",
        }
    }

    /// What replaces the end of a body cut to fit a service's limit.
    pub fn truncated(self) -> &'static str {
        match self {
            Locale::En => "Message shortened to fit",
            Locale::ZhCn => "内容过长，已截断",
        }
    }

    /// The label of the link to the full text of a shortened message.
    pub fn full_message(self) -> &'static str {
        match self {
            Locale::En => "Read the full message",
            Locale::ZhCn => "查看完整消息",
        }
    }

    /// Where the full text of a shortened message without a link is.
    pub fn full_in_inbox(self) -> &'static str {
        match self {
            Locale::En => "the full message is in the msghub inbox",
            Locale::ZhCn => "完整消息请查看站内信",
        }
    }

    /// The label of a mail's unsubscribe link.
    pub fn unsubscribe(self) -> &'static str {
        match self {
            Locale::En => "Unsubscribe",
            Locale::ZhCn => "退订",
        }
    }

    /// The headline of a digest of `count` messages.
    pub fn digest_headline(self, count: usize) -> String {
        match (self, count) {
            (Locale::En, 1) => "Digest: 1 message".to_owned(),
            (Locale::En, n) => format!("Digest: {n} messages"),
            (Locale::ZhCn, n) => format!("消息摘要：{n} 条消息"),
        }
    }

    /// The line that counts the messages of a digest left out to fit a limit.
    pub fn more_not_shown(self, count: usize) -> String {
        match self {
            Locale::En => format!("…and {count} more not shown"),
            Locale::ZhCn => format!("……另有 {count} 条未显示"),
        }
    }

    /// The severity and category of a message, e.g. `Critical · Security`.
    pub fn severity_and_category(self, severity: Severity, category: Category) -> String {
        format!("{} · {}", self.severity(severity), self.category(category))
    }
}

/// Checks a channel's optional `locale` setting.
pub fn check_locale(locale: Option<&str>) -> Result<(), String> {
    match locale {
        Some(tag) if !LOCALES.contains(&tag) => Err(format!(
            "locale must be \"en\" or \"zh-CN\" (got \"{tag}\"), or left out to follow the \
             delivery's locale"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msghub_sdk::DeliveryKind;

    fn delivery(locale: &str) -> Delivery {
        Delivery {
            kind: DeliveryKind::Single,
            messages: Vec::new(),
            recipients: Vec::new(),
            attempt: 1,
            idempotency_key: "k".to_owned(),
            locale: locale.to_owned(),
            timestamp_ms: 0,
        }
    }

    #[test]
    fn the_channel_locale_wins_over_the_delivery_locale() {
        assert_eq!(Locale::pick(Some("zh-CN"), &delivery("en")), Locale::ZhCn);
        assert_eq!(Locale::pick(Some("en"), &delivery("zh-CN")), Locale::En);
        assert_eq!(Locale::pick(None, &delivery("zh-cn")), Locale::ZhCn);
        assert_eq!(Locale::pick(None, &delivery("fr")), Locale::En);
    }

    #[test]
    fn fixed_words_follow_the_locale() {
        assert_eq!(
            Locale::ZhCn.severity_and_category(Severity::Critical, Category::Security),
            "严重 · 安全"
        );
        assert_eq!(Locale::En.digest_headline(3), "Digest: 3 messages");
        assert_eq!(Locale::ZhCn.view_details(), "查看详情");
    }

    #[test]
    fn only_the_two_locales_are_accepted() {
        assert!(check_locale(Some("zh-CN")).is_ok());
        assert!(check_locale(None).is_ok());
        assert!(check_locale(Some("de")).unwrap_err().contains("\"de\""));
    }
}
