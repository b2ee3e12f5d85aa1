//! The Standard Webhooks payload of a delivery.

use msghub_compose::time::rfc3339;
use msghub_sdk::{Delivery, DeliveryKind, Message};
use serde_json::{Value, json};

/// `{"type": "message.created", "timestamp", "data": <the message>}` for one message;
/// `{"type": "message.digest", "timestamp", "data": {"messages": [...]}}` for a digest.
/// The timestamp is the delivery's time, RFC 3339.
pub fn payload(delivery: &Delivery) -> Value {
    let timestamp = rfc3339(delivery.timestamp_ms);
    match (delivery.kind, delivery.messages.as_slice()) {
        (DeliveryKind::Single, [message]) => json!({
            "type": "message.created",
            "timestamp": timestamp,
            "data": data(message),
        }),
        (_, messages) => json!({
            "type": "message.digest",
            "timestamp": timestamp,
            "data": {"messages": messages.iter().map(data).collect::<Vec<_>>()},
        }),
    }
}

/// A message as the API shows it, without the reader's `read` flag.
fn data(message: &Message) -> Value {
    json!({
        "id": message.id,
        "account_id": message.account_id,
        "category": message.category.as_str(),
        "subtype": message.subtype,
        "title": message.title,
        "body": message.body,
        "severity": message.severity.as_str(),
        "link": message.link,
        "resource": message.resource,
        "created_at": message.created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use msghub_compose::sample::{delivery, message};

    #[test]
    fn a_message_is_sent_as_message_created() {
        let mut quiet = message("Disk full");
        quiet.link = None;
        assert_eq!(
            payload(&delivery(vec![quiet])),
            json!({
                "type": "message.created",
                "timestamp": "2023-11-14T22:13:20Z",
                "data": {
                    "id": "msg_1", "account_id": "acc_1", "category": "security",
                    "subtype": "ddos-attack", "title": "Disk full",
                    "body": "Traffic is **10x** normal.", "severity": "critical",
                    "link": null, "resource": "ecs/i-123",
                    "created_at": "2026-11-28T12:00:00Z",
                },
            })
        );
    }

    #[test]
    fn a_digest_is_sent_as_message_digest() {
        let body = payload(&delivery(vec![message("a"), message("b")]));
        assert_eq!(body["type"], "message.digest");
        assert_eq!(body["data"]["messages"][1]["title"], "b");
    }
}
