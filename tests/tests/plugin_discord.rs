//! The example third-party plugin (examples/discord-plugin), built only with the SDK, sends
//! through the real host to a loopback server standing in for Discord.

use msghub::plugin::{FailureKind, SendError};
use msghub_tests::{Reply, TestServer, delivery, message, registry, test_config};
use serde_json::json;

#[tokio::test]
async fn a_message_is_posted_as_discord_expects() {
    let registry = registry(test_config(), &["discord"]).await;
    let server =
        TestServer::start(|_| Reply::ok(r#"{"id": "1180000000000000001", "type": 0}"#)).await;
    let config = json!({
        "webhook_url": server.url("/api/webhooks/123/secret-token"),
        "username": "msghub",
    })
    .to_string();
    registry.validate_config("discord", &config).await.unwrap();

    let receipt = registry
        .send(
            "discord",
            &config,
            &delivery(vec![message("DDoS attack on 203.0.113.7")]),
        )
        .await
        .unwrap();
    assert_eq!(receipt.remote_id.as_deref(), Some("1180000000000000001"));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/api/webhooks/123/secret-token?wait=true");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let length = request.body.len().to_string();
    assert_eq!(request.header("content-length"), Some(length.as_str()));
    assert_eq!(request.header("transfer-encoding"), None, "not chunked");
    assert_eq!(
        request.header("host"),
        Some(format!("127.0.0.1:{}", server.port()).as_str())
    );
    assert_eq!(
        request.json(),
        json!({
            "username": "msghub",
            "allowed_mentions": {"parse": []},
            "embeds": [{
                "title": "DDoS attack on 203\\.0\\.113\\.7",
                "description": "Traffic is **10x** normal.",
                "url": "https://console.example.com/ddos",
                "color": 0xe74c3c,
                "timestamp": "2026-11-28T12:00:00Z",
                "fields": [
                    {"name": "Category", "value": "Security", "inline": true},
                    {"name": "Severity", "value": "Critical", "inline": true},
                ],
            }],
        })
    );
}

#[tokio::test]
async fn discord_throttling_becomes_rate_limited_with_its_retry_after() {
    let registry = registry(test_config(), &["discord"]).await;
    let server = TestServer::start(|_| {
        Reply::Answer(
            429,
            Vec::new(),
            br#"{"message": "You are being rate limited.", "retry_after": 2.5}"#.to_vec(),
        )
    })
    .await;
    let config = json!({"webhook_url": server.url("/api/webhooks/1/t")}).to_string();
    match registry
        .send(
            "discord",
            &config,
            &delivery(vec![message("a"), message("b")]),
        )
        .await
    {
        Err(e @ SendError::Failed { .. }) => assert_eq!(
            e.kind(),
            FailureKind::RateLimited {
                retry_after: Some(std::time::Duration::from_secs(3))
            }
        ),
        other => panic!("expected throttling, got {other:?}"),
    }
    let body = server.requests()[0].json();
    assert_eq!(body["content"], "2 messages", "a digest is one post");
    assert_eq!(body["embeds"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn the_real_discord_host_is_declared_but_other_hosts_are_refused() {
    let config = msghub::plugin::PluginConfig {
        allow_networks: Vec::new(),
        ..test_config()
    };
    let registry = registry(config, &["discord"]).await;
    let hook = json!({"webhook_url": "https://discord.evil.example/api/webhooks/1/t"}).to_string();
    match registry
        .send("discord", &hook, &delivery(vec![message("x")]))
        .await
    {
        Err(SendError::Failed { kind, refusals, .. }) => {
            assert_eq!(kind, FailureKind::Permanent);
            assert!(
                refusals[0]
                    .contains("host 'discord.evil.example' is not declared by plugin 'discord'"),
                "{refusals:?}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
