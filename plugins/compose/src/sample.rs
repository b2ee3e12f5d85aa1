//! Sample messages and deliveries, for the unit tests of the plugins.

use msghub_sdk::{Category, Delivery, DeliveryKind, Message, Severity};

/// A critical security message with a Markdown body, a link and a resource.
pub fn message(title: &str) -> Message {
    Message {
        id: "msg_1".to_owned(),
        account_id: "acc_1".to_owned(),
        category: Category::Security,
        subtype: Some("ddos-attack".to_owned()),
        title: title.to_owned(),
        body: Some("Traffic is **10x** normal.".to_owned()),
        severity: Severity::Critical,
        link: Some("https://console.example.com/ddos".to_owned()),
        resource: Some("ecs/i-123".to_owned()),
        created_at: "2026-11-28T12:00:00Z".to_owned(),
    }
}

/// A first attempt at `2023-11-14T22:13:20Z`, in English: single for one message, a digest
/// for several.
pub fn delivery(messages: Vec<Message>) -> Delivery {
    Delivery {
        kind: if messages.len() == 1 {
            DeliveryKind::Single
        } else {
            DeliveryKind::Digest
        },
        messages,
        recipients: Vec::new(),
        attempt: 1,
        idempotency_key: "dlv-1".to_owned(),
        locale: "en".to_owned(),
        timestamp_ms: 1_700_000_000_000,
    }
}
