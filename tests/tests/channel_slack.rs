//! The bundled Slack channel through the real host, against a loopback server standing in
//! for `hooks.slack.com`: the exact request, and each error Slack answers in plain text.

use std::time::Duration;

use msghub::plugin::{FailureKind, PluginRegistry};
use msghub_tests::channels::{bundled, failure};
use msghub_tests::{Recorded, Reply, TestServer, delivery, message, test_config};
use serde_json::json;

/// Answers by the webhook's last path segment, so one server plays every case.
fn slack(request: &Recorded) -> Reply {
    let text =
        |status: u16, body: &str| Reply::Answer(status, Vec::new(), body.as_bytes().to_vec());
    match request.path.rsplit('/').next().unwrap_or_default() {
        "invalid" => text(400, "invalid_payload"),
        "prohibited" => text(403, "action_prohibited"),
        "gone" => text(404, "channel_not_found"),
        "archived" => text(410, "channel_is_archived"),
        "throttled" => Reply::Answer(
            429,
            vec![("retry-after", "30".to_owned())],
            b"rate_limited".to_vec(),
        ),
        "down" => text(500, "internal_error"),
        _ => text(200, "ok"),
    }
}

fn config(server: &TestServer, last: &str) -> String {
    json!({"webhook_url": server.url(&format!("/services/T000/B000/{last}"))}).to_string()
}

async fn setup() -> (PluginRegistry, TestServer) {
    (bundled(test_config()).await, TestServer::start(slack).await)
}

#[tokio::test]
async fn blocks_in_mrkdwn_reach_the_webhook_as_documented() {
    let (registry, server) = setup().await;
    let config = config(&server, "XXXX");
    registry.validate_config("slack", &config).await.unwrap();
    let receipt = registry
        .send(
            "slack",
            &config,
            &delivery(vec![message("CPU > 90% & <rising>")]),
        )
        .await
        .unwrap();
    assert_eq!(receipt.detail.as_deref(), Some("ok"));
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/services/T000/B000/XXXX");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.json(),
        json!({
            "text": "[Critical] Security: CPU &gt; 90% &amp; &lt;rising&gt;",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "CPU > 90% & <rising>", "emoji": true}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "*Critical* · Security · Resource: ecs/i-123"}]},
                {"type": "section", "text": {"type": "mrkdwn", "text": "Traffic is *10x* normal."}},
                {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "View details"}, "url": "https://console.example.com/ddos"}]},
            ],
        })
    );
}

#[tokio::test]
async fn errors_map_to_outcomes() {
    let (registry, server) = setup().await;
    let single = delivery(vec![message("x")]);
    for (last, kind, says) in [
        ("invalid", FailureKind::Permanent, "invalid_payload"),
        ("prohibited", FailureKind::Permanent, "action_prohibited"),
        ("gone", FailureKind::Permanent, "channel_not_found"),
        ("archived", FailureKind::Permanent, "channel_is_archived"),
        (
            "throttled",
            FailureKind::RateLimited {
                retry_after: Some(Duration::from_secs(30)),
            },
            "429",
        ),
        ("down", FailureKind::Retryable, "500"),
    ] {
        let (got, message) = failure(
            registry
                .send("slack", &config(&server, last), &single)
                .await,
        );
        assert_eq!(got, kind, "{last}: {message}");
        assert!(message.contains(says), "{last}: {message}");
    }
}

#[tokio::test]
async fn a_digest_is_one_message_with_a_section_per_message() {
    let (registry, server) = setup().await;
    let mut zh = delivery(vec![message("a"), message("b"), message("c")]);
    zh.locale = "zh-CN".to_owned();
    registry
        .send("slack", &config(&server, "XXXX"), &zh)
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let body = requests[0].json();
    assert_eq!(body["text"], "消息摘要：3 条消息");
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 4);
    assert_eq!(
        blocks[3]["text"]["text"],
        "*<https://console.example.com/ddos|c>*\n*严重* · 安全 · 资源: ecs/i-123"
    );
}
